"""The rehearsal's known_hosts: each container's SSH host keys, read from inside the container.

A real site keeps strict host key checking (ansible.cfg does not turn it off).
The rehearsal's containers make fresh host keys whenever they are created, so the
rehearsal pins them itself: it reads each container's public host keys through
podman (not over the network, so nothing on the way can answer for the host) and
writes them to its own known_hosts, which its SSH and its Ansible runs use.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from rehearsal.errors import RehearsalError
from rehearsal.hosts import ContainerSpec
from rehearsal.podman import Podman

# One public key line as sshd writes it: type, base64 blob, optional comment (dropped).
_KEY_LINE = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa) ([A-Za-z0-9+/]+={0,3})(?: .*)?$")
READ_KEYS = "cat /etc/ssh/ssh_host_*_key.pub 2>/dev/null"


def host_pattern(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def parse_public_keys(text: str) -> list[str]:
    """'type blob' for each well-formed public key line of `text` (anything else is ignored)."""
    keys = []
    for line in text.splitlines():
        match = _KEY_LINE.match(line.strip())
        if match:
            keys.append(f"{match[1]} {match[2]}")
    return keys


def known_hosts_text(keys: dict[str, list[str]], patterns: dict[str, str]) -> str:
    return "".join(f"{patterns[host]} {key}\n" for host in sorted(keys) for key in keys[host])


def collect_host_keys(
    podman: Podman, specs: list[ContainerSpec], known_hosts: Path, timeout_s: float = 60, poll_s: float = 1.0
) -> dict[str, int]:
    """Write `known_hosts` with every container's host keys (waiting for first-boot key generation);
    returns how many keys each host has. Raises naming the containers that have none."""
    started = time.monotonic()
    keys: dict[str, list[str]] = {}
    while True:
        for spec in specs:
            if spec.host not in keys:
                done = podman.run(["exec", spec.name, "sh", "-c", READ_KEYS], check=False)
                found = parse_public_keys(done.stdout)
                if found:
                    keys[spec.host] = found
        if len(keys) == len(specs):
            break
        if time.monotonic() - started > timeout_s:
            missing = sorted(s.host for s in specs if s.host not in keys)
            raise RehearsalError(f"no SSH host key in the container(s) of {', '.join(missing)} after {timeout_s:.0f} s")
        time.sleep(poll_s)
    patterns = {s.host: host_pattern(s.address, s.port) for s in specs}
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    known_hosts.write_text(known_hosts_text(keys, patterns), encoding="utf-8")
    return {host: len(found) for host, found in keys.items()}
