"""`reports/<site>/rehearsal/summary.json`: what `qpusite up` did, for CI and the benchmark to read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rehearsal.paths import display_path
from rehearsal.progress import PhaseRecord
from rehearsal.recap import totals
from rehearsal.site_up import UpReport


def report_document(report: UpReport, phases: list[PhaseRecord]) -> dict[str, Any]:
    rollout = report.rollout
    return {
        "site": report.site,
        "ok": report.ok,
        "seconds": round(report.seconds, 2),
        "network": {"name": report.network.name, "subnet": str(report.network.subnet)} if report.network else None,
        "image": report.image,
        "hosts": {
            host: {
                "address": address,
                "container": report.container_actions.get(host),
                "ssh_ready_s": round(report.ssh_seconds[host], 2) if host in report.ssh_seconds else None,
                "recap": report.recap[host].counts if host in report.recap else None,
            }
            for host, address in report.hosts.items()
        },
        "phases": [{"name": p.name, "seconds": round(p.seconds, 2), "ok": p.ok, "detail": p.detail} for p in phases],
        "rollout": None
        if rollout is None
        else {
            "returncode": rollout.returncode,
            "seconds": round(rollout.seconds, 2),
            "totals": totals(rollout.recap),
            "log": display_path(rollout.log),
            "failures": rollout.failures,
            "unavailable": rollout.unavailable,
        },
        "smoke": [
            {"name": r.name, "ok": r.ok, "detail": r.detail, "seconds": round(r.seconds, 2)} for r in report.smoke
        ],
        "notes": report.notes,
    }


def write_report(path: Path, report: UpReport, phases: list[PhaseRecord]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_document(report, phases), indent=2) + "\n", encoding="utf-8")
    return path
