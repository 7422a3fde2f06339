"""Where the rehearsal keeps its files.

Per site: the SSH key pair, the generated secrets and the site CA live in
``inventories/<site>/.rehearsal/`` (the lab model's hosts point their
``connection.private_key_file`` there); logs go to ``reports/<site>/rehearsal/``.
Shared by all sites: the podman configuration, store and image cache under
``.state/podman/`` (override the root with QPUSITE_STATE_DIR).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def playbook_root() -> Path:
    """The release tree whose site.yml, roles and plugins are rolled out: this checkout, unless
    QPUSITE_PLAYBOOK_DIR names another (the upgrade rehearsal's previous release, extracted from git)."""
    return Path(os.environ.get("QPUSITE_PLAYBOOK_DIR") or PROJECT_ROOT).resolve()


def state_dir() -> Path:
    return Path(os.environ.get("QPUSITE_STATE_DIR") or PROJECT_ROOT / ".state").resolve()


@dataclass(frozen=True)
class SitePaths:
    site_name: str
    site_file: Path  # inventories/<site>/site.yaml

    @property
    def site_dir(self) -> Path:
        return self.site_file.parent

    @property
    def rehearsal_dir(self) -> Path:
        return self.site_dir / ".rehearsal"

    @property
    def private_key(self) -> Path:
        return self.rehearsal_dir / "id_ed25519"

    @property
    def public_key(self) -> Path:
        return self.rehearsal_dir / "id_ed25519.pub"

    @property
    def known_hosts(self) -> Path:
        """The containers' SSH host keys, read from inside each container (rehearsal/hostkeys.py)."""
        return self.rehearsal_dir / "known_hosts"

    @property
    def secrets_file(self) -> Path:
        return self.rehearsal_dir / "secrets.yml"

    @property
    def tls_dir(self) -> Path:
        """The rehearsal's site CA and host certificates (rehearsal/site_ca.py)."""
        return self.rehearsal_dir / "tls"

    @property
    def ca_certificate(self) -> Path:
        return self.tls_dir / "ca.crt"

    @property
    def reports_dir(self) -> Path:
        return PROJECT_ROOT / "reports" / self.site_name / "rehearsal"

    @property
    def summary_file(self) -> Path:
        return self.reports_dir / "summary.json"

    @property
    def playbook(self) -> Path:
        return playbook_root() / "site.yml"


def display_path(path: Path) -> str:
    """A path as a person in the project root would type it (relative when inside the project)."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
