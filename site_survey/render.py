"""Write what the rollout derives from a site model, so a reviewer can read it
before anything is deployed. No secret values exist in the model, so none can
be written; secrets appear as the names of their vaulted variables."""

from __future__ import annotations

import json
from pathlib import Path

from site_survey import derive
from site_survey.model import Site


def _write(path: Path, text: str, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    written.append(path)


def render_site(site: Site, out: Path) -> list[Path]:
    written: list[Path] = []
    inv = derive.inventory(site)
    _write(out / "inventory.json", json.dumps(inv, indent=2) + "\n", written)
    qrmi = {
        "resources": [
            {
                "name": r["name"],
                "type": r["type"],
                "is_dynamic": False,
                "environment": {
                    **r["environment"],
                    **{k: f"<secret from {v}>" for k, v in r["secrets"].items()},
                },
            }
            for r in derive.qrmi_resources(site)
        ]
    }
    _write(out / "qrmi_config.preview.json", json.dumps(qrmi, indent=2) + "\n", written)
    licenses = ",".join(f"{name}:{slots}" for name, slots in derive.qpu_licenses(site).items())
    _write(out / "slurm-licenses.txt", f"Licenses={licenses}\n" if licenses else "", written)
    _write(out / "slurm.conf.preview", slurm_conf_preview(site), written)
    _write(out / "monitoring-targets.json", json.dumps(derive.monitoring_targets(site), indent=2) + "\n", written)
    _write(out / "emulator-twins.json", json.dumps(derive.emulator_twins(site), indent=2) + "\n", written)
    return written


def slurm_conf_preview(site: Site) -> str:
    """The model's part of slurm.conf as the slurm role writes it: licenses, one NodeName line per group
    of alike nodes and one PartitionName line per partition, all with compressed hostlists."""
    lines = ["# From the site model; the slurm role adds its defaults and conf_overrides around these lines."]
    licenses = ",".join(f"{name}:{slots}" for name, slots in derive.qpu_licenses(site).items())
    if licenses:
        lines.append(f"Licenses={licenses}")
    for group in derive.slurm_node_groups(site):
        lines.append(
            f"NodeName={group['names']} NodeAddr={group['addresses']} CPUs={group['cpus']} "
            f"RealMemory={group['memory_mb']} State=UNKNOWN"
        )
    for part in derive.slurm_partitions(site):
        max_time = part["max_time_minutes"] or "INFINITE"
        lines.append(
            f"PartitionName={part['name']} Nodes={part['nodelist']} Default={'YES' if part['default'] else 'NO'} "
            f"MaxTime={max_time} State=UP"
        )
    return "\n".join(lines) + "\n"
