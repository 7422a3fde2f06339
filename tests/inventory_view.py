"""The inventory as Ansible sees it: `ansible-inventory --list` run on a site model, and what a play
sees on one host in its export form (ansible.cfg's `[inventory] export`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")


def list_inventory(site_file: Path) -> subprocess.CompletedProcess[str]:
    if not ANSIBLE_INVENTORY.exists():
        pytest.fail("ansible-inventory is not installed in the controller environment (./bootstrap setup)")
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    return subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(site_file), "--list"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=env, check=False,
    )


def plain(value: Any) -> Any:
    """Undo ansible-inventory's `__ansible_unsafe` wrapping: model values are data, never templates."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def seen_by(data: dict[str, Any], host: str) -> dict[str, Any]:
    """What a play sees on `host`: all's vars, then its groups' vars, then its own."""
    out = dict(data["all"].get("vars", {}))
    for group, spec in data.items():
        if group not in ("_meta", "all") and host in spec.get("hosts", []):
            out.update(spec.get("vars", {}))
    out.update(data["_meta"]["hostvars"].get(host, {}))
    return out
