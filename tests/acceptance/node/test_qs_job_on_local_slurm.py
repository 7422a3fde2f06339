"""One IBM Quantum System job end to end on real components: check 041 submits `sbatch --qpu=qs_twin`
to Debian's slurmctld + slurmd with the spank_qrmid plugin, qrmid acquires the QPU and gives the job
its credentials, and the acceptance program inside the job runs qrmi's ibm-quantum-system resource
(IAM, upload of the input through qrmid's S3 gate, job submission, status, results from the store)
against the emulator's QS twin, whose payloads live in moto's S3 server — all on 127.0.0.1, started
here and stopped by PID.

The site model is one QS twin on this machine. Its QRMI settings are the kit's own derivation: the
model names no S3 endpoint, so the store is the twin host's (software.twin_s3_port, here moto's port),
as a rollout's roles/twin_s3 serves it; qrmid's resources and the emulator's s3_endpoints are
site_survey.derive's, unchanged.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from site_survey.catalogue.components import DEFAULT_SRUN_PORT_RANGE

REPO = Path(__file__).resolve().parents[3]
PLUGIN_DIR = REPO / "services" / "spank-qrmid"
sys.path.insert(0, str(PLUGIN_DIR / "tests"))
sys.path.insert(0, str(REPO / "services" / "qrmid" / "tests"))
sys.path.insert(0, str(REPO / "services" / "qpu-emulator" / "tests"))

JOB_USER = "bin"
QPU = "qs_twin"
SITE_QS_KEY = "site-qs-apikey-local-slurm-7c1e"

needs = [shutil.which(b) for b in ("slurmctld", "slurmd", "munged", "sbatch", "gcc")]
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(needs), reason="needs root, Slurm, munge and gcc (tools/apt/qrmid.txt)"
)


def _free_port() -> int:
    import harness

    port = harness.free_port()
    while DEFAULT_SRUN_PORT_RANGE[0] <= port <= DEFAULT_SRUN_PORT_RANGE[1]:
        port = harness.free_port()  # the model refuses a kit port inside srun's range; the kernel may pick one
    return port


def _site_document(ports: dict[str, int], bucket: str, region: str, runtime_prefix: Path) -> dict[str, Any]:
    """One QS twin on this machine: the access and emulator host at 127.0.0.1, one compute node."""
    conn = {"user": "root"}
    return {
        "schema_version": 1,
        "site": {"name": "qslocal", "timezone": "UTC", "organisation": "qpusite tests", "country": "FR",
                 "contacts": [{"name": "ops", "full_name": "Operations", "role": "operator",
                               "email": "ops@local.test"}]},
        "facility": {"network": {"domain": "local.test"}},
        "qpus": [{
            "name": QPU, "vendor": "IBM", "modality": "superconducting", "qubits": 5, "slots": 1,
            "access": {"mode": "emulator"},
            "qrmi": {
                "type": "ibm-quantum-system",
                "settings": {"QRMI_IBM_QS_SERVICE_CRN": "crn:v1:local:onprem:quantum-computing:local:a/local::",
                             "QRMI_IBM_QS_S3_BUCKET": bucket, "QRMI_IBM_QS_S3_REGION": region},
                "secrets": {"QRMI_IBM_QS_IAM_APIKEY": {"vault": "vault_qs_apikey"},
                            "QRMI_IBM_QS_AWS_ACCESS_KEY_ID": {"vault": "vault_qs_s3_id"},
                            "QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY": {"vault": "vault_qs_s3_secret"}},
            },
            "emulator": {"host": "qgw", "basis_gates": ["cz", "id", "rz", "sx", "x"],
                         "coupling_map": [[0, 1], [1, 0], [1, 2], [2, 1], [2, 3], [3, 2], [3, 4], [4, 3]],
                         "noise": {"readout_error": 0.02}},
        }],
        "hosts": [
            {"name": "ctl", "address": "127.0.0.2", "roles": ["controller", "login"], "connection": conn},
            {"name": "qnode", "address": "127.0.0.3", "roles": ["compute"], "cpus": 2, "connection": conn},
            {"name": "qgw", "address": "127.0.0.1", "roles": ["qpu_access", "emulator"], "connection": conn},
        ],
        "software": {
            "scheduler": {"kind": "slurm", "partitions": [{"name": "debug", "hosts": ["qnode"], "default": True,
                                                           "max_time_minutes": 60}]},
            "policy_profiles": [{"name": "development", "users": [JOB_USER], "qpus": [QPU], "max_hold_minutes": 30,
                                 "priority": 10, "during_calibration": "fail"}],
            "runtime": {"prefix": str(runtime_prefix)},
            "qrmid_port": ports["qrmid"], "emulator_port": ports["emulator"], "twin_s3_port": ports["s3"],
        },
    }


@pytest.fixture(scope="module")
def qs_site() -> Iterator[tuple[Path, dict[str, str]]]:
    import harness
    import s3_server
    import slurm_harness

    subprocess.run(["make", "-s", "-C", str(PLUGIN_DIR), "spank_qrmid.so"], check=True, capture_output=True,
                   timeout=300)
    from site_survey.derive import site_vars
    from site_survey.loader import parse_site

    tmp = Path(tempfile.mkdtemp(prefix="qpusite-accept-qs-"))
    tmp.chmod(0o755)
    ports = {"qrmid": _free_port(), "emulator": _free_port(), "s3": _free_port()}
    runtime = tmp / "runtime"
    (runtime / "bin").mkdir(parents=True)
    site_packages = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    wrapper = runtime / "bin" / "python"  # job users cannot enter the node venv under /root
    wrapper.write_text(f'#!/bin/sh\nexec env PYTHONPATH={site_packages} /usr/bin/python3 "$@"\n')
    wrapper.chmod(0o755)
    doc = _site_document(ports, s3_server.BUCKET, s3_server.REGION, runtime)
    site = parse_site(doc, "qslocal")
    sv = site_vars(site)
    # the kit's derivation: the twin host's store, which the emulator may fetch from
    [resource] = sv["qpusite_qrmi_resources"]
    store = f"http://127.0.0.1:{ports['s3']}"
    assert resource["environment"]["QRMI_IBM_QS_S3_ENDPOINT"] == store
    assert sv["qpusite_emulator_s3_endpoints"] == {"qgw": [store]}

    with s3_server.running(tmp / "s3", ports["s3"]):
        munged = harness.start_munged(tmp / "munge")
        twins = [{**t, "credentials": {"api_keys": [SITE_QS_KEY]}} for t in sv["qpusite_emulator_twins"]["qgw"]]
        emu_dir = tmp / "emu"
        emu_dir.mkdir()
        emu_cfg = {"listen": {"host": "127.0.0.1", "port": ports["emulator"]}, "state_dir": str(emu_dir / "state"),
                   "workers": 1, "s3_endpoints": sv["qpusite_emulator_s3_endpoints"]["qgw"], "twins": twins}
        (emu_dir / "emulator.json").write_text(json.dumps(emu_cfg))
        with open(emu_dir / "emulator.log", "wb") as out:
            emulator = subprocess.Popen(
                [sys.executable, "-m", "qpu_emulator", "--config", str(emu_dir / "emulator.json"), "--log-level",
                 "warning"], stdout=out, stderr=subprocess.STDOUT)
        stack = tmp / "stack"
        stack.mkdir()
        stack.chmod(0o755)
        qpus = [{**q, "calibration_windows": []} for q in sv["qpusite_qpus"]]
        # qrmid as roles/qrmid renders it, with the derived resource (no endpoint rewritten)
        cfg = harness.qrmid_config(stack, sv, f"http://127.0.0.1:{ports['emulator']}", munged.socket,
                                   ports["qrmid"], qpus=qpus, resources=sv["qpusite_qrmi_resources"],
                                   policy_profiles=sv["qpusite_policy_profiles"],
                                   reaper={"slurm": "on", "interval_s": 2, "grace_s": 5},
                                   cluster=slurm_harness.CLUSTER)
        secrets_file = Path(json.loads(cfg.read_text())["secrets_file"])
        secrets_file.write_text(json.dumps({**json.loads(secrets_file.read_text()), "vault_qs_apikey": SITE_QS_KEY,
                                            "vault_qs_s3_id": s3_server.ACCESS_KEY,
                                            "vault_qs_s3_secret": s3_server.SECRET_KEY}))
        qrmid = harness.Qrmid(cfg, f"http://127.0.0.1:{ports['qrmid']}", stack / "qrmid.log")
        submit_conf = slurm_harness.render_submit_conf([QPU], sv["qpusite_policy_profiles"])
        slurm = slurm_harness.start_slurm(stack / "slurm", munged.socket, qrmid.url, sv["qpusite_qpu_licenses"],
                                          submit_conf)
        qrmid.env = {"SLURM_CONF": str(slurm.conf)}
        try:
            harness.wait_http(f"http://127.0.0.1:{ports['emulator']}/health", 120, emulator)
            qrmid.start()
            site_file = tmp / "site.yaml"
            site_file.write_text(yaml.safe_dump(doc))
            yield site_file, {"QPUSITE_ACCEPT_TRANSPORT": "local", "SLURM_CONF": str(slurm.conf),
                              "QPUSITE_ACCEPT_MUNGE_SOCKET": munged.socket,
                              "QPUSITE_ACCEPT_QRMID_CONFIG": str(cfg)}
        finally:
            slurm.stop()
            qrmid.stop()
            harness.stop(emulator)
            harness.stop(munged.proc)
            if not os.environ.get("QPUSITE_ACCEPT_KEEP"):
                shutil.rmtree(tmp, ignore_errors=True)


def test_a_qs_job_runs_qrmis_full_cycle_through_sbatch_qpu_and_qrmid(
    qs_site: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from acceptance import suite
    from acceptance.runner import RunOptions
    from acceptance.spec import Status, Tier

    site_file, env = qs_site
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    console = Console(file=io.StringIO(), width=200)
    outcome = suite.run(str(site_file), Tier.smoke, tmp_path / "out", ("041",), console=console,
                        options=RunOptions(job_user=JOB_USER))
    by = {r.id: r for r in outcome.record.results}
    result = by[f"041_qpu_job_correct[{QPU}]"]
    assert result.status == Status.passed, f"{result.message}\n{result.log[-3000:]}"
