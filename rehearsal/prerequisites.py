"""What the rehearsal needs on this machine, and the one command that installs what is missing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rehearsal.errors import RehearsalInputError


@dataclass(frozen=True)
class Requirement:
    package: str  # Debian package that provides it
    probe: str  # executable on PATH, or an absolute path that must exist
    why: str


REQUIREMENTS = (
    Requirement("podman", "podman", "runs the hosts' containers"),
    Requirement("debootstrap", "debootstrap", "builds the node image from the Debian mirror"),
    Requirement("runc", "runc", "the OCI runtime that works on this cgroup layout"),
    Requirement("uidmap", "newuidmap", "user-namespace id mapping for podman"),
    Requirement("slirp4netns", "slirp4netns", "podman's user-mode networking"),
    Requirement("fuse-overlayfs", "fuse-overlayfs", "overlay storage where the kernel's cannot be used"),
    Requirement("containernetworking-plugins", "/usr/lib/cni/bridge", "the podman network bridge"),
    Requirement("iptables", "iptables", "NAT from the containers to the package mirror"),
    Requirement("openssh-client", "ssh", "Ansible's connection to the hosts"),
)


def _present(probe: str, which: Callable[[str], str | None]) -> bool:
    if probe.startswith("/"):
        return Path(probe).exists()
    return which(probe) is not None


def missing_requirements(which: Callable[[str], str | None] | None = None) -> list[Requirement]:
    return [r for r in REQUIREMENTS if not _present(r.probe, which or shutil.which)]


def install_command(missing: list[Requirement]) -> str:
    return "apt-get install -y --no-install-recommends " + " ".join(r.package for r in missing)


def check_prerequisites(which: Callable[[str], str | None] | None = None, uid: int | None = None) -> None:
    """Raise a message naming each missing tool and the exact command that installs them all."""
    problems = []
    missing = missing_requirements(which)
    if missing:
        listed = "\n".join(f"  - {r.package} ({r.why})" for r in missing)
        problems.append(f"missing on this machine:\n{listed}\ninstall them with:\n  {install_command(missing)}")
    if (os.geteuid() if uid is None else uid) != 0:
        problems.append(
            "the rehearsal runs rootful podman (containers at fixed addresses on their own bridge): run it as root"
        )
    if problems:
        raise RehearsalInputError("\n".join(problems))
