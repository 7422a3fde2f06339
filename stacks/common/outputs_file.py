"""Writes cloud-outputs.json (read back by site_survey.cloud_outputs for the
inventory) from the ovh program's stack outputs. Secret outputs (the
kubeconfig) are never written."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from site_survey.cloud_outputs import FORMAT_VERSION, outputs_path

# the stack outputs that are safe to keep beside the model
PUBLIC_OUTPUTS = ("hosts", "gateway_public_address", "object_storage_container")


def cloud_outputs_document(site_name: str, stack_name: str, outputs: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"format": FORMAT_VERSION, "site": site_name, "stack": stack_name}
    for key in PUBLIC_OUTPUTS:
        if key in outputs:
            doc[key] = outputs[key]
    hosts = doc.get("hosts") or {}
    doc["hosts"] = {
        name: {"private_address": h["private_address"], "public_address": h.get("public_address")}
        for name, h in sorted(hosts.items())
    }
    return doc


def write_cloud_outputs(site_dir: Path, doc: dict[str, Any]) -> Path:
    path = outputs_path(site_dir)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # never leave a half-written file for the inventory
    return path


def remove_cloud_outputs(site_dir: Path) -> bool:
    path = outputs_path(site_dir)
    if path.exists():
        path.unlink()
        return True
    return False
