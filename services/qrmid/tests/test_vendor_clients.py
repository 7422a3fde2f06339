"""The vendors' own clients inside a job, through qrmid, with the job's JWT credentials.

The job script (services/qpu-emulator/tests/vendor_job.py) is the one the emulator's
tests run against the twins directly (a laptop); here it gets nothing but the
environment qrmid hands a job: qrmid's IAM endpoint and proxy, a job key that
qiskit-ibm-runtime exchanges for a JWT bearer (ibm-cloud-sdk-core decodes it), a
Pasqal job token. qiskit-ibm-runtime samples and reads job.metrics()/usage()/
properties(); pasqal-cloud and Pulser's QPUBackend read the device specs, run a
closed batch and an open one (jobs added, then closed) and list the job's batches.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import harness
import pytest
from test_acquire import acquire

JOB = harness.REPO / "services" / "qpu-emulator" / "tests" / "vendor_job.py"
SHOTS = 200

pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("qiskit_ibm_runtime", "pasqal_cloud")),
    reason="needs the vendors' SDKs",
)


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run([sys.executable, str(JOB), str(SHOTS)], env=clean, capture_output=True, text=True,
                          timeout=600)


def test_vendor_clients_run_unchanged_inside_a_job(client: harness.Client, qrmid: harness.Qrmid) -> None:
    sys.path.insert(0, str(JOB.parent))
    try:
        import vendor_job
    finally:
        sys.path.remove(str(JOB.parent))
    code, a = acquire(client, "801", qpus=["sc_twin", "FRESNEL"])
    assert code == 201, a
    env = a["environment"]
    done = run(env)
    assert done.returncode == 0, done.stderr[-4000:]
    seen = {d["qpu"]: d for d in map(json.loads, done.stdout.splitlines())}
    vendor_job.check(seen, "sc_twin", "FRESNEL", SHOTS)
    # no site secret reached the job or what it printed
    for secret in harness.SITE_SECRETS:
        assert secret not in json.dumps(env) + done.stdout + done.stderr
    # the batch listing through qrmid names this job's own batches, none of another job's
    assert set(seen["FRESNEL"]["listed"]) == set(seen["FRESNEL"]["created"]), seen["FRESNEL"]
    client.request("DELETE", "/v1/jobs/801/acquisitions")
    after = run(env)
    assert after.returncode != 0  # the credentials died with the acquisition


IQM_JOB = harness.REPO / "services" / "qpu-emulator" / "tests" / "iqm_job.py"


def test_iqm_job_runs_unchanged_through_qrmid(client: harness.Client, qrmid: harness.Qrmid) -> None:
    """The IQM job script (qrmi's own iqm-server resource: target, task start/status/result) with only
    what qrmid gives a job holding the lab's IQM twin; it fails once the acquisition has ended."""
    code, a = acquire(client, "802", qpus=["spark"])
    assert code == 201, a
    env = a["environment"]
    assert env["spark_QRMI_IQM_ISA_ENDPOINT"] == qrmid.url  # its root: IQM's client takes no path
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    done = subprocess.run([sys.executable, str(IQM_JOB), "400"], env=clean, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["qpu"] == "spark" and got["shots"] == 400 and got["p00_p11"] > 0.85, got
    for secret in harness.SITE_SECRETS:
        assert secret not in json.dumps(env) + done.stdout + done.stderr
    client.request("DELETE", "/v1/jobs/802/acquisitions")
    after = subprocess.run([sys.executable, str(IQM_JOB), "10"], env=clean, capture_output=True, text=True,
                           timeout=300)
    assert after.returncode != 0  # the job token died with the acquisition
