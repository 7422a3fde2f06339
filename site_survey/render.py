"""Write what the rollout derives from a site model, so a reviewer can read it
before anything is deployed. No secret values exist in the model, so none can
be written; secrets appear as the names of their vaulted variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from site_survey import derive, service_configs
from site_survey.model import HostRole, Site


def _write(path: Path, text: str, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    written.append(path)


def inventory_json(inv: dict[str, Any]) -> str:
    """The inventory as JSON with one line per group, per host and per site-wide variable.

    As readable in a diff as an indented dump, and written by json's C encoder (an indented dump goes
    through the pure-Python one: seconds for a 10,000-host site)."""

    def block(mapping: dict[str, Any], indent: str) -> str:
        rows = [f"{indent}{json.dumps(key)}: {json.dumps(value)}" for key, value in mapping.items()]
        return "{\n" + ",\n".join(rows) + "\n" + indent[:-2] + "}" if rows else "{}"

    parts = []
    for key, value in inv.items():
        if key == "_meta":
            shown = "{\n    \"hostvars\": " + block(value["hostvars"], "      ") + "\n  }"
        elif key == "all":
            rest = {k: v for k, v in value.items() if k != "vars"}
            inner = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in rest.items()]
            inner.append('    "vars": ' + block(value.get("vars", {}), "      "))
            shown = "{\n" + ",\n".join(inner) + "\n  }"
        else:
            shown = json.dumps(value)
        parts.append(f"  {json.dumps(key)}: {shown}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def render_site(site: Site, out: Path) -> list[Path]:
    written: list[Path] = []
    inv = derive.inventory(site)
    _write(out / "inventory.json", inventory_json(inv), written)
    # the services' own documents, shaped once (site_survey/service_configs.py); secrets as placeholders
    placeholder = "<secret from {}>".format
    qrmi = service_configs.qrmi_config(site, secret=placeholder)
    _write(out / "qrmi_config.preview.json", json.dumps(qrmi, indent=2) + "\n", written)
    service = service_configs.rollout_qrmid_service(site)
    if service is not None:
        qrmid = service_configs.qrmid_config(site, service)
        _write(out / "qrmid-config.preview.json", json.dumps(qrmid, indent=2) + "\n", written)
    for host in site.hosts_with(HostRole.emulator):
        emulator = service_configs.rollout_emulator_config(site, host, placeholder)
        if emulator["twins"]:
            _write(out / f"emulator-{host.name}.preview.yaml", yaml.safe_dump(emulator, sort_keys=False), written)
    site_wide = inv["all"]["vars"]
    if site.software.scheduler.kind == "gridengine":
        _write(out / "gridengine.preview", gridengine_preview(site_wide["qpusite_gridengine"]), written)
    else:
        licenses = ",".join(f"{name}:{slots}" for name, slots in derive.qpu_licenses(site).items())
        _write(out / "slurm-licenses.txt", f"Licenses={licenses}\n" if licenses else "", written)
        node_groups, partitions = site_wide["qpusite_slurm_node_groups"], site_wide["qpusite_slurm_partitions"]
        _write(out / "slurm.conf.preview", slurm_conf_preview(site, node_groups, partitions), written)
    _write(out / "monitoring-targets.json", json.dumps(derive.monitoring_targets(site), indent=2) + "\n", written)
    _write(out / "emulator-twins.json", json.dumps(derive.emulator_twins(site), indent=2) + "\n", written)
    return written


def gridengine_preview(ge: dict[str, Any]) -> str:
    """What the gridengine roles configure from the model: the QPUs' complexes (qconf -sc lines) and their
    capacity on the global host, host groups and queues, execution and submit hosts."""
    lines = [
        "# From the site model; roles/gridengine_master applies these with qconf.",
        f"# qmaster {ge['qmaster']} port {ge['qmaster_port']}, execd port {ge['execd_port']}, cell {ge['cell']}",
        "# complexes (name shortcut type relop requestable consumable default urgency)",
    ]
    lines += [f"{c['name']} {c['name']} INT <= YES YES 0 0" for c in ge["complexes"]]
    capacity = ",".join(f"{c['name']}={c['capacity']}" for c in ge["complexes"])
    if capacity:
        lines.append(f"# exechost global: complex_values {capacity}")
    for q in ge["queues"]:
        lines.append(f"# hostgroup {q['host_group']}: {' '.join(q['hosts'])}")
        lines.append(f"# queue {q['name']}: hostlist {q['host_group']} h_rt {q['h_rt']}")
    lines += [f"# exechost {h['name']} ({h['address']}): slots {h['slots']}" for h in ge["exec_hosts"]]
    lines.append(f"# submit hosts: {' '.join(ge['submit_hosts'])}")
    return "\n".join(lines) + "\n"


def slurm_conf_preview(
    site: Site, node_groups: list[dict[str, Any]] | None = None, partitions: list[dict[str, Any]] | None = None
) -> str:
    """The model's part of slurm.conf as the slurm role writes it: licenses, one NodeName line per group
    of alike nodes and one PartitionName line per partition, all with compressed hostlists."""
    lines = ["# From the site model; the slurm role adds its defaults and conf_overrides around these lines."]
    licenses = ",".join(f"{name}:{slots}" for name, slots in derive.qpu_licenses(site).items())
    if licenses:
        lines.append(f"Licenses={licenses}")
    for group in derive.slurm_node_groups(site) if node_groups is None else node_groups:
        lines.append(
            f"NodeName={group['names']} NodeAddr={group['addresses']} CPUs={group['cpus']} "
            f"RealMemory={group['memory_mb']} State=UNKNOWN"
        )
    for part in derive.slurm_partitions(site) if partitions is None else partitions:
        max_time = part["max_time_minutes"] or "INFINITE"
        lines.append(
            f"PartitionName={part['name']} Nodes={part['nodelist']} Default={'YES' if part['default'] else 'NO'} "
            f"MaxTime={max_time} State=UP"
        )
    return "\n".join(lines) + "\n"
