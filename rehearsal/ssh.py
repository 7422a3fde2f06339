"""Run commands on the rehearsal's hosts over SSH, exactly as Ansible reaches them."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from rehearsal.errors import RehearsalError

SSH_OPTIONS = (
    "-o", "BatchMode=yes",
    "-o", "ConnectTimeout=5",
    "-o", "LogLevel=ERROR",
)


def host_key_options(known_hosts: Path) -> tuple[str, ...]:
    """Strict checking against the rehearsal's own known_hosts (the keys read from inside each container)."""
    return ("-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}")


@dataclass(frozen=True)
class SshTarget:
    host: str
    address: str
    user: str
    port: int
    become: bool


class Ssh:
    def __init__(self, private_key: Path, known_hosts: Path):
        self.private_key = private_key
        self.known_hosts = known_hosts

    def command(self, target: SshTarget, remote: str) -> list[str]:
        if target.become:
            remote = f"sudo -n sh -c {_quote(remote)}"
        return [
            "ssh", "-i", str(self.private_key), *SSH_OPTIONS, *host_key_options(self.known_hosts),
            "-p", str(target.port), f"{target.user}@{target.address}", remote,
        ]

    def run(self, target: SshTarget, remote: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                self.command(target, remote), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess([], 124, "", f"timed out after {timeout:.0f} s")

    def wait_ready(self, targets: list[SshTarget], timeout_s: float = 120, poll_s: float = 1.0) -> dict[str, float]:
        """Poll until every target accepts a login; returns seconds per host, raises naming the laggards."""
        started = time.monotonic()
        ready: dict[str, float] = {}
        last_error: dict[str, str] = {}
        while True:
            for target in targets:
                if target.host in ready:
                    continue
                result = self.run(target, "true", timeout=10)
                if result.returncode == 0:
                    ready[target.host] = time.monotonic() - started
                else:
                    last_error[target.host] = (result.stderr.strip().splitlines() or ["no output"])[-1]
            if len(ready) == len(targets):
                return ready
            if time.monotonic() - started > timeout_s:
                waiting = [t for t in targets if t.host not in ready]
                detail = "; ".join(f"{t.host} ({t.address}): {last_error.get(t.host, '?')}" for t in waiting)
                raise RehearsalError(f"no SSH login within {timeout_s:.0f} s on {detail}")
            time.sleep(poll_s)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
