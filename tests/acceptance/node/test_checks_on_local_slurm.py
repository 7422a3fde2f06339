"""The suite's functional checks, drills, GHZ and Q-score end to end on real components:
Debian's slurmctld + slurmd with the spank_qrmid plugin and job_submit.lua, qrmid, the
qpu-emulator with the lab's twins and a private munged — all on 127.0.0.1, started by
the plugin's own test harness (services/spank-qrmid/tests) and stopped by PID.

The site model is the lab's, re-addressed to this machine; the checks reach "hosts"
with the local transport, so `sbatch --qpu`, qrmid's API and the drills run for real.
Jobs run as existing system accounts (`bin` is in a fail-fast profile, `nobody` in none).
"""

from __future__ import annotations

import copy
import io
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

JOB_USER, PRODUCTION_USER = "bin", "daemon"

needs = [shutil.which(b) for b in ("slurmctld", "slurmd", "munged", "sbatch", "gcc")]
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(needs), reason="needs root, Slurm, munge and gcc (tools/apt/qrmid.txt)"
)


def _build_plugin() -> None:
    subprocess.run(["make", "-s", "-C", str(PLUGIN_DIR), "spank_qrmid.so"], check=True, capture_output=True,
                   timeout=300)


def _site_document(lab: dict[str, Any], qrmid_port: int, runtime_prefix: Path) -> dict[str, Any]:
    """The lab model on this machine: the access node at 127.0.0.1 (where qrmid listens),
    the harness's one compute node 'qnode', no VLANs (loopback addresses)."""
    doc = copy.deepcopy(lab)
    doc["facility"]["network"] = {"domain": "local.test"}
    conn = {"user": "root"}
    doc["hosts"] = [
        {"name": "ctl", "address": "127.0.0.2", "roles": ["controller", "login"], "connection": conn},
        {"name": "qnode", "address": "127.0.0.3", "roles": ["compute"], "cpus": 2, "connection": conn},
        {"name": "qgw", "address": "127.0.0.1", "roles": ["qpu_access", "emulator"], "connection": conn},
    ]
    doc["software"]["scheduler"]["partitions"] = [{"name": "debug", "hosts": ["qnode"], "default": True,
                                                   "max_time_minutes": 60}]
    for profile in doc["software"]["policy_profiles"]:
        profile["users"] = [PRODUCTION_USER] if profile["name"] == "production" else [JOB_USER]
        profile["groups"] = []
    # qrmid here holds each QPU whole (harness.lab_site_vars): the model must say the same, or
    # 022 compares Slurm's licenses (slots) with a task-shared QPU's max_jobs.
    for qpu in doc["qpus"]:
        qpu.pop("sharing", None)
    doc["software"]["qrmid_port"] = qrmid_port
    doc["software"]["runtime"]["prefix"] = str(runtime_prefix)
    return doc


def _profiles(site_vars: dict[str, Any]) -> list[dict[str, Any]]:
    """The lab's profiles with existing system accounts as their users."""
    return [{**p, "users": [PRODUCTION_USER] if p["name"] == "production" else [JOB_USER], "groups": []}
            for p in site_vars["qpusite_policy_profiles"]]


@pytest.fixture(scope="module")
def local_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    _build_plugin()
    import harness
    import slurm_harness

    tmp = Path(tempfile.mkdtemp(prefix="qpusite-accept-e2e-"))
    tmp.chmod(0o755)
    site_vars = harness.lab_site_vars()
    munged = harness.start_munged(tmp / "munge")
    emulator = harness.start_emulator(tmp / "emu", site_vars)
    stack = tmp / "stack"
    stack.mkdir()
    stack.chmod(0o755)
    port = harness.free_port()
    while DEFAULT_SRUN_PORT_RANGE[0] <= port <= DEFAULT_SRUN_PORT_RANGE[1]:
        port = harness.free_port()  # the model refuses a kit port inside srun's range; the kernel may pick one
    qpus = [{**q, "calibration_windows": []} for q in site_vars["qpusite_qpus"]]
    cfg = harness.qrmid_config(stack, site_vars, emulator.url, munged.socket, port, qpus=qpus,
                               policy_profiles=_profiles(site_vars), reaper={"slurm": "on", "interval_s": 2,
                                                                            "grace_s": 5},
                               cluster=slurm_harness.CLUSTER)
    qrmid = harness.Qrmid(cfg, f"http://127.0.0.1:{port}", stack / "qrmid.log")
    # job_submit.lua's facts (QPU names, who each admits) as roles/spank_qrmid renders them
    submit_conf = slurm_harness.render_submit_conf(list(site_vars["qpusite_qpu_licenses"]), _profiles(site_vars))
    slurm = slurm_harness.start_slurm(stack / "slurm", munged.socket, qrmid.url, site_vars["qpusite_qpu_licenses"],
                                      submit_conf)
    qrmid.env = {"SLURM_CONF": str(slurm.conf)}
    qrmid.start()
    # The "node runtime" jobs use: the system python3 with the node environment's packages
    # (the node venv's own interpreter lives under /root, which job users cannot enter).
    runtime = tmp / "runtime"
    (runtime / "bin").mkdir(parents=True)
    site_packages = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    wrapper = runtime / "bin" / "python"
    wrapper.write_text(f'#!/bin/sh\nexec env PYTHONPATH={site_packages} /usr/bin/python3 "$@"\n')
    wrapper.chmod(0o755)
    lab = yaml.safe_load((REPO / "inventories" / "lab" / "site.yaml").read_text())
    site_file = tmp / "site.yaml"
    site_file.write_text(yaml.safe_dump(_site_document(lab, port, runtime)))
    env = {"QPUSITE_ACCEPT_TRANSPORT": "local", "SLURM_CONF": str(slurm.conf),
           "QPUSITE_ACCEPT_MUNGE_SOCKET": munged.socket, "QPUSITE_ACCEPT_QRMID_CONFIG": str(cfg)}
    try:
        yield site_file, env
    finally:
        slurm.stop()
        qrmid.stop()
        harness.stop(emulator.proc)
        harness.stop(munged.proc)
        if not os.environ.get("QPUSITE_ACCEPT_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


CHECKS = ("021", "022", "040", "041", "042", "043", "044", "045", "046", "060", "061", "062", "063", "064",
          "065", "066", "070", "074", "080")


def test_functional_checks_drills_and_ghz_through_sbatch_qpu(
    local_site: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from acceptance import suite
    from acceptance.runner import RunOptions
    from acceptance.spec import Status, Tier

    site_file, env = local_site
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    console = Console(file=io.StringIO(), width=200)
    outcome = suite.run(str(site_file), Tier.l2, tmp_path / "out", CHECKS, console=console,
                        options=RunOptions(job_user=JOB_USER))
    by = {r.id: r for r in outcome.record.results}
    summary = "\n".join(f"{r.id}: {r.status.value}: {r.message}" for r in outcome.record.results)

    def passed(check_id: str) -> None:
        assert by[check_id].status == Status.passed, f"{check_id}\n{by[check_id].log[-3000:]}\n{summary}"

    for check_id in ("021_slurm_nodes_idle", "022_slurm_qpu_licenses", "040_batch_job_runs",
                     "041_qpu_job_correct[sc_twin]", "041_qpu_job_correct[FRESNEL]", "042_multi_qpu_job",
                     "043_accounting_record", "044_scancel_releases[sc_twin]", "044_scancel_releases[FRESNEL]",
                     "045_srun_qpu_job[sc_twin]", "045_srun_qpu_job[FRESNEL]", "046_salloc_qpu_steps[sc_twin]",
                     "046_salloc_qpu_steps[FRESNEL]", "060_drill_wrong_endpoint[sc_twin]",
                     "060_drill_wrong_endpoint[FRESNEL]", "061_drill_unauthorised_user[sc_twin]",
                     "063_drill_qpu_maintenance[sc_twin]", "063_drill_qpu_maintenance[FRESNEL]",
                     "070_ghz_fidelity[sc_twin]", "074_qscore[sc_twin]", "080_nothing_left_behind"):
        passed(check_id)
    # the broker cannot be bypassed: no QPU license without --qpu, none removed by its owner, no
    # other job's task through the proxy (each drill also proves legitimate use still works)
    for qpu in ("sc_twin", "FRESNEL"):
        for check_id in (f"064_drill_license_without_qpu[{qpu}]", f"065_drill_license_kept_on_update[{qpu}]",
                         f"066_drill_cross_job_objects[{qpu}]"):
            passed(check_id)
        assert "refused (4xx)" in by[f"066_drill_cross_job_objects[{qpu}]"].message
    assert "no QPU policy profile" in by["061_drill_unauthorised_user[sc_twin]"].message
    assert "maintenance" in by["063_drill_qpu_maintenance[sc_twin]"].message
    # scancel released within the bound; srun/salloc: one acquisition, released by the job epilog
    assert "after scancel" in by["044_scancel_releases[FRESNEL]"].message
    assert "2 steps on acq-" in by["046_salloc_qpu_steps[FRESNEL]"].message
    # This Slurm has a partition MaxTime and no EnforcePartLimits: a zero time limit (Slurm's
    # "unlimited") pends for ever. The drill must say so, cancel the job, and not hang.
    zero = by["062_drill_zero_time_limit[sc_twin]"]
    assert zero.status == Status.failed and "EnforcePartLimits" in zero.message, zero.message
    assert "PartitionTimeLimit" in zero.message
    ghz = next(m for m in outcome.record.metrics() if m.benchmark == "ghz_fidelity")
    assert ghz.threshold == 0.8 and ghz.value >= 0.8
    qscore = next(m for m in outcome.record.metrics() if m.benchmark == "qscore")
    assert qscore.threshold is None and 4 <= qscore.value <= 8  # reported, not judged: lab sets no qscore_min
    assert set(qscore.detail["per_size"]) == {"4", "5", "6", "7", "8"}
