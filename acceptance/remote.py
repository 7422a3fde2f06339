"""Run commands on a site's hosts over SSH with the model's connection settings.

Plain ``ssh`` (the same transport Ansible uses): every call has a timeout, and
a host that cannot be reached is told apart (exit 255) from a command that ran
and failed. Nothing here changes a host; checks decide what they run.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from site_survey.model import Host, Site

SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR")
# Host keys are checked as the rollout checks them: against the rehearsal's own known_hosts
# (keys read from inside its containers) when the site is a rehearsal, else the operator's.
# QPUSITE_SSH_RELAXED=1 turns checking off, for a lab whose hosts are rebuilt outside the rehearsal.
RELAXED_HOST_KEYS = ("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null")
SSH_UNREACHABLE = 255
TRANSPORT_VARIABLE = "QPUSITE_ACCEPT_TRANSPORT"  # "ssh" (default) or "local"


class HostUnreachable(Exception):
    def __init__(self, host: str, detail: str) -> None:
        super().__init__(f"host {host} unreachable over SSH: {detail}")
        self.host = host


@dataclass(frozen=True)
class Completed:
    command: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Remote:
    """SSH to the hosts of one site; ``log`` receives every command and its output."""

    def __init__(self, site: Site, site_dir: Path, log: Callable[[str], None] = lambda _line: None) -> None:
        self.site = site
        self.site_dir = site_dir
        self.log = log

    def host(self, name: str) -> Host:
        host = self.site.host(name)
        if host is None:
            raise KeyError(f"host {name!r} is not in the site model")
        return host

    def argv(self, host: Host, command: str) -> list[str]:
        if os.environ.get(TRANSPORT_VARIABLE) == "local":
            # Every host is this machine: run the per-host checks on a node itself, and in tests.
            return ["sh", "-c", command]
        conn = self.site.connection_for(host)  # the same user, port, key and become the rollout uses
        remote = f"sudo -n sh -c {shlex.quote(command)}" if conn.become else command
        argv = ["ssh", *SSH_OPTIONS, *self.host_key_options(), "-p", str(conn.port)]
        if conn.proxy_jump:
            argv += ["-J", conn.proxy_jump]
        if conn.private_key_file:
            key = Path(conn.private_key_file)
            argv += ["-i", str(key if key.is_absolute() else self.site_dir / key)]
        return [*argv, f"{conn.user}@{host.address}", remote]

    def host_key_options(self) -> tuple[str, ...]:
        if os.environ.get("QPUSITE_SSH_RELAXED") == "1":
            return RELAXED_HOST_KEYS
        rehearsal = self.site_dir / ".rehearsal" / "known_hosts"
        if rehearsal.is_file():
            return ("-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={rehearsal}")
        return ("-o", "StrictHostKeyChecking=yes")

    def run(self, host_name: str, command: str, timeout_s: float = 30, stdin: str | None = None) -> Completed:
        """Run ``command`` (a shell line) on the host; raises HostUnreachable when SSH cannot log in."""
        host = self.host(host_name)
        self.log(f"$ [{host_name}] {command}")
        try:
            proc = subprocess.run(
                self.argv(host, command), input=stdin, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            self.log(f"  (timed out after {timeout_s:.0f} s)")
            return Completed(command, 124, "", f"timed out after {timeout_s:.0f} s")
        done = Completed(command, proc.returncode, proc.stdout, proc.stderr)
        for line in (done.stdout.rstrip() + "\n" + done.stderr.rstrip()).strip().splitlines()[:200]:
            self.log(f"  {line}")
        local = os.environ.get(TRANSPORT_VARIABLE) == "local"
        if not local and proc.returncode == SSH_UNREACHABLE and _looks_like_ssh_failure(proc.stderr):
            raise HostUnreachable(host_name, (proc.stderr.strip().splitlines() or ["no output"])[-1])
        self.log(f"  (exit {proc.returncode})")
        return done


def _looks_like_ssh_failure(stderr: str) -> bool:
    markers = ("Connection refused", "Connection timed out", "No route to host", "Permission denied",
               "Could not resolve", "Host key verification failed", "Connection closed", "port 22", "ssh:")
    return any(m in stderr for m in markers) or not stderr.strip()
