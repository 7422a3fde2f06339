"""Configuration validation apart from the resource graph: everything a program
needs from the model and the machine is checked before any resource is
declared, and reported as field-located problems (exit 2 in the CLI)."""

from __future__ import annotations

from pathlib import Path

from site_survey.cloud import cloud_hosts
from site_survey.errors import Problem
from site_survey.model import HostRole, Site
from stacks.common.stack_config import Program

SSH_KEY_PREFIXES = ("ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-", "sk-ssh-ed25519@openssh.com ", "sk-ecdsa-")


def ssh_key_path(site: Site, site_dir: Path) -> Path | None:
    if site.cloud is None or site.cloud.ssh_public_key_file is None:
        return None
    path = Path(site.cloud.ssh_public_key_file).expanduser()
    return path if path.is_absolute() else site_dir / path


def read_ssh_public_key(site: Site, site_dir: Path) -> str:
    path = ssh_key_path(site, site_dir)
    assert path is not None
    return path.read_text(encoding="utf-8").strip()


def _ssh_key_problems(site: Site, site_dir: Path) -> list[Problem]:
    path = ssh_key_path(site, site_dir)
    field = "cloud.ssh_public_key_file"
    if path is None:
        return [Problem(field, "VMs need an SSH public key for Ansible; give the path of a .pub file")]
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        return [Problem(field, f"cannot read the public key ({exc.strerror}); create it with ssh-keygen", str(path))]
    if not text.startswith(SSH_KEY_PREFIXES) or "PRIVATE KEY" in text:
        return [Problem(field, "not an OpenSSH public key (expected 'ssh-ed25519 AAAA…'); point at the .pub file")]
    return []


def check_program(site: Site, site_dir: Path, program: Program) -> list[Problem]:
    cloud = site.cloud
    if site.software.topology == "onprem" or cloud is None:
        return [
            Problem(
                "software.topology",
                "this site has nothing in the cloud; set topology 'cloud' or 'hybrid' and add a 'cloud:' section",
                site.software.topology,
            )
        ]
    problems: list[Problem] = []
    if program == "ovh":
        if not cloud_hosts(site) and not cloud.kubernetes.enabled and not cloud.object_storage:
            problems.append(Problem("hosts", "no host has location: cloud; the ovh program would create nothing"))
        if cloud_hosts(site):
            problems += _ssh_key_problems(site, site_dir)
    else:
        if not cloud.kubernetes.enabled:
            problems.append(
                Problem("cloud.kubernetes.enabled", "the kubernetes program needs cloud.kubernetes.enabled: true")
            )
        served = any(q.emulator for q in site.qpus) or site.hosts_with(HostRole.qpu_access)
        if not served:
            problems.append(Problem("qpus", "no emulated QPU and no QPU access host: nothing to run on Kubernetes"))
    return problems
