"""Stand-in secrets for a rehearsal: one random value per vaulted variable the model names.

Real sites keep these values in an ansible-vault file; a rehearsal has no real
credentials, so it makes random ones once and keeps them (a second run must see
the same munge key and API keys, or it would not be a no-op).
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import yaml

from site_survey.derive import qrmi_resources
from site_survey.model import Site

MUNGE_KEY_VARIABLE = "vault_munge_key"
MUNGE_KEY_BYTES = 1024
SLURMDBD_PASSWORD_VARIABLE = "vault_slurmdbd_storage_password"  # noqa: S105 - a variable name (roles/slurmdbd)


def vaulted_variables(site: Site) -> list[str]:
    names = {var for resource in qrmi_resources(site) for var in resource["secrets"].values()}
    names.add(MUNGE_KEY_VARIABLE)
    if site.software.scheduler.kind == "slurm" and site.software.scheduler.accounting.enabled:
        names.add(SLURMDBD_PASSWORD_VARIABLE)
    return sorted(names)


def new_value(variable: str) -> str:
    if variable == MUNGE_KEY_VARIABLE:
        return base64.b64encode(os.urandom(MUNGE_KEY_BYTES)).decode("ascii")
    return secrets.token_urlsafe(32)


def ensure_secrets(path: Path, variables: list[str]) -> list[str]:
    """Add a value for every variable missing from `path`, keep the rest; returns the names added."""
    current: dict[str, str] = {}
    if path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(loaded, dict):
            current = {str(k): str(v) for k, v in loaded.items()}
    added = [v for v in variables if v not in current]
    if added or not path.is_file():
        current.update({v: new_value(v) for v in added})
        _write(path, current)
    path.chmod(0o600)
    return added


def _write(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Rehearsal-only random secrets (qpusite up); real sites use an ansible-vault file.\n"
    text += yaml.safe_dump(dict(sorted(values.items())), default_flow_style=False, width=1 << 16)
    # Created 0600 from the first byte: the values never sit in a readable file.
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def put_secrets(path: Path, values: dict[str, str]) -> list[str]:
    """Set `values` (e.g. the rehearsal CA's host certificates and keys) in `path`; returns the names changed."""
    current: dict[str, str] = {}
    if path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(loaded, dict):
            current = {str(k): str(v) for k, v in loaded.items()}
    changed = sorted(k for k, v in values.items() if current.get(k) != v)
    if changed or not path.is_file():
        current.update(values)
        _write(path, current)
    path.chmod(0o600)
    return changed
