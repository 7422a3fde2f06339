"""Benchmark: validate and render the inventory of a large generated site.

Generates a site with 10,000 hosts and 50 QPUs (YAML text, as an operator would
write it), then times, best of N runs: YAML parse + validation + consistency
rules (`load_site`), and inventory derivation (what the Ansible inventory
plugin computes). Target on the project's 2-core machine: under 2 s in total.

    .venv/bin/python benchmarks/site_model_bench.py [--hosts 10000] [--qpus 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from site_survey import load_site
from site_survey.derive import inventory


def generate(hosts: int, qpus: int, sets: bool = False) -> dict[str, Any]:
    """A site of ``hosts`` hosts and ``qpus`` QPUs. With ``sets`` the compute nodes are one host set
    (``n[00000-09992]`` from 10.0.1.1) and the partitions hostlists, as a centre would write them;
    without, every host and every partition member is written out."""
    doc: dict[str, Any] = yaml.safe_load((Path(__file__).parent.parent / "inventories/lab/site.yaml").read_text())
    doc["site"]["name"] = "big"
    doc["facility"]["network"]["vlans"] = [
        {"name": "cluster", "vlan_id": 10, "cidr": "10.0.0.0/16", "routed_to": ["quantum"]},
        {"name": "quantum", "vlan_id": 20, "cidr": "10.1.0.0/24"},
    ]
    doc["facility"]["network"]["admin_cidrs"] = ["10.0.0.0/16"]
    qpu_list = []
    for i in range(qpus):
        qpu_list.append({
            "name": f"qpu_{i:02d}",
            "vendor": "IBM",
            "modality": "superconducting",
            "qubits": 27,
            "access": {"mode": "onprem", "access_host": f"qgw{i % 5}", "endpoint_url": f"http://10.1.0.{100 + i}:8000"},
            "room": "server-room",
            "qrmi": {
                "type": "ibm-quantum-system",
                "settings": {
                    "QRMI_IBM_QS_IAM_ENDPOINT": "http://10.1.0.99:8001",
                    "QRMI_IBM_QS_SERVICE_CRN": f"crn:v1:bench:onprem:quantum-computing:qpu-{i:02d}::",
                    "QRMI_IBM_QS_S3_ENDPOINT": "http://10.1.0.98:9000",
                    "QRMI_IBM_QS_S3_BUCKET": f"qpu-{i:02d}",
                    "QRMI_IBM_QS_S3_REGION": "bench-1",
                },
                "secrets": {
                    "QRMI_IBM_QS_IAM_APIKEY": {"vault": f"vault_qpu_{i:02d}_apikey"},
                    "QRMI_IBM_QS_AWS_ACCESS_KEY_ID": {"vault": f"vault_qpu_{i:02d}_s3_key_id"},
                    "QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY": {"vault": f"vault_qpu_{i:02d}_s3_secret"},
                },
            },
            "slots": 1 + i % 4,
            "calibration_windows": [
                {"name": "nightly", "weekdays": ["mon", "thu"], "start": "02:00", "duration_minutes": 45}
            ],
        })
    doc["qpus"] = qpu_list
    host_list: list[dict[str, Any]] = [
        {"name": "ctl", "address": "10.0.0.1", "roles": ["controller", "monitoring"]},
        {"name": "login1", "address": "10.0.0.2", "roles": ["login"]},
    ]
    host_list += [{"name": f"qgw{i}", "address": f"10.1.0.{10 + i}", "roles": ["qpu_access"]} for i in range(5)]
    computes = hosts - len(host_list)
    half = computes // 2
    if sets:
        doc["hosts"] = host_list
        doc["host_sets"] = [{
            "name": "compute", "hosts": f"n[00000-{computes - 1:05d}]", "first_address": "10.0.1.1",
            "roles": ["compute"], "cpus": 64, "memory_mb": 256000,
        }]
        doc["software"]["scheduler"]["partitions"] = [
            {"name": "batch", "hosts": f"n[00000-{half - 1:05d}]", "default": True},
            {"name": "quantum", "hosts": f"n[{half:05d}-{computes - 1:05d}]"},
        ]
    else:
        host_list += [
            {"name": f"n{i:05d}", "address": f"10.0.{1 + i // 250}.{1 + i % 250}", "roles": ["compute"],
             "cpus": 64, "memory_mb": 256000}
            for i in range(computes)
        ]
        doc["hosts"] = host_list
        names = [h["name"] for h in host_list if "compute" in h["roles"]]
        doc["software"]["scheduler"]["partitions"] = [
            {"name": "batch", "hosts": names[:half], "default": True},
            {"name": "quantum", "hosts": names[half:]},
        ]
    doc["software"]["scheduler"]["conf_overrides"] = {}
    doc["facility"]["network"]["links"] = [
        {"from_role": "compute", "to_qpu": q["name"], "latency_ms": 0.2, "bandwidth_mbps": 10000} for q in qpu_list
    ]
    all_qpus = [q["name"] for q in qpu_list]
    for profile in doc["software"]["policy_profiles"]:
        profile["qpus"] = all_qpus
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--qpus", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sets", action="store_true", help="write the compute nodes as a host set")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "site.yaml"
        path.write_text(yaml.safe_dump(generate(args.hosts, args.qpus, args.sets), sort_keys=False))
        size_kb = path.stat().st_size / 1024
        best_load = best_inv = float("inf")
        for _ in range(args.runs):
            t0 = time.perf_counter()
            site = load_site(path)
            t1 = time.perf_counter()
            inv = inventory(site, tmp)
            json.dumps(inv)
            t2 = time.perf_counter()
            best_load, best_inv = min(best_load, t1 - t0), min(best_inv, t2 - t1)
    total = best_load + best_inv
    print(f"site: {len(site.hosts)} hosts, {len(site.qpus)} QPUs, {size_kb:.0f} KiB of YAML")
    print(f"load + validate + consistency: {best_load:.3f} s (best of {args.runs})")
    print(f"inventory derivation + JSON:   {best_inv:.3f} s")
    print(f"total: {total:.3f} s — target < 2 s: {'met' if total < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
