"""IQM's own client (iqm-client 35) inside a job, through qrmid, with nothing but the job's environment.

iqm-client takes a server's root URL only (a URL with a path must end in `/`, and it then rebuilds
it with the port after the path), so qrmid serves the IQM Server API at its root for iqm-server
job tokens, routed by the token's QPU, with the same allow-list and scoping as under
/proxy/<qpu> (proxy.prepare_at_root). The client runs from its own environment (its pins conflict
with qrmi[ibm]): IQM_CLIENT_PYTHON names its python (tools/test.d/45-qrmid.sh sets it to
.venv-iqm's; skipped where nothing names one). The job script is the one the emulator's tests
run against a twin directly (a laptop).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import harness
import pytest
from conftest import QrmidFactory, without_windows
from test_acquire import acquire

IQM_PYTHON = os.environ.get("IQM_CLIENT_PYTHON", "")
JOB = harness.REPO / "services" / "qpu-emulator" / "tests" / "iqm_client_job.py"
QPU = "spark"  # the lab's IQM Server twin: five qubits, a star around QB3

pytestmark = pytest.mark.skipif(not IQM_PYTHON, reason="IQM_CLIENT_PYTHON names no iqm-client environment")

# What a job could try on a job id with IQM's client: each call prints its outcome, never raises.
PROBE = r"""
import json, os, sys, uuid
from iqm.iqm_client import IQMClient
qpu = os.environ["QRMI_JOB_QPU_RESOURCES"].split(",")[0]
client = IQMClient(os.environ[f"{qpu}_QRMI_IQM_ISA_ENDPOINT"], quantum_computer=qpu,
                   token=os.environ[f"{qpu}_QRMI_IQM_ISA_TOKEN"])
target = uuid.UUID(sys.argv[1])
out = {}
for name in sys.argv[2:]:
    try:
        got = getattr(client, name)(target)
        out[name] = {"ok": True, "value": str(getattr(got, "status", got))[:300]}
    except Exception as exc:
        out[name] = {"ok": False, "error": type(exc).__name__, "message": str(exc)[:300]}
print(json.dumps(out))
"""
FOREIGN_CALLS = ("get_job", "get_job_measurements", "get_job_measurement_counts", "cancel_job", "delete_job")


@pytest.fixture
def backend() -> str:
    """The proxy's scoping reads one table (remote_objects): SQLite is enough here."""
    return "sqlite"


def iqm_python() -> str:
    if not Path(IQM_PYTHON).exists():
        pytest.fail(f"IQM_CLIENT_PYTHON={IQM_PYTHON} does not exist: run ./bootstrap setup (it makes .venv-iqm)")
    return IQM_PYTHON


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """A process with only what a job gets (PATH and HOME aside): no qrmid or site setting."""
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run([iqm_python(), *argv], env=clean, capture_output=True, text=True, timeout=300)


def bell(env: dict[str, str], shots: int) -> dict[str, Any]:
    done = run(env, str(JOB), str(shots))
    assert done.returncode == 0, done.stderr[-3000:]
    got: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return got


def probe(env: dict[str, str], job_id: str, *calls: str) -> dict[str, dict[str, Any]]:
    done = run(env, "-c", PROBE, job_id, *calls)
    assert done.returncode == 0, done.stderr[-3000:]
    out: dict[str, dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def test_iqm_client_runs_a_bell_circuit_through_qrmid(client: harness.Client, qrmid: harness.Qrmid) -> None:
    code, a = acquire(client, "811", qpus=[QPU])
    assert code == 201, a
    env = a["environment"]
    assert env[f"{QPU}_QRMI_IQM_ISA_ENDPOINT"] == qrmid.url  # qrmid's root, no path
    got = bell(env, 400)
    assert got["qpu"] == QPU and got["status"].endswith("completed") and got["shots"] == 400, got
    assert got["qubits"] == ["QB1", "QB2", "QB3", "QB4", "QB5"] and "QB3" in got["pair"], got  # a coupled pair
    # a Bell pair on the twin (its model noise: a few % 01/10): 00 and 11 about half each
    assert got["p00_p11"] > 0.85 and 0.3 < got["p11"] < 0.7, got
    for secret in harness.SITE_SECRETS:
        assert secret not in json.dumps(env) + json.dumps(got)
    # the job's own job reads back through qrmid with IQM's client
    own = probe(env, got["job"], "get_job", "get_job_measurement_counts")
    assert own["get_job"] == {"ok": True, "value": "completed"}, own
    assert own["get_job_measurement_counts"]["ok"], own
    client.request("DELETE", "/v1/jobs/811/acquisitions")
    after = run(env, str(JOB), "10")
    # the token died with the acquisition: qrmid answers 401, which iqm-client raises as AuthenticationError
    assert after.returncode != 0 and "AuthenticationError" in after.stderr, after.stderr[-2000:]


def test_iqm_client_cannot_reach_another_jobs_jobs(make_qrmid: QrmidFactory, site: dict[str, Any],
                                                   munged: harness.Munged) -> None:
    """Two jobs hold the IQM twin at once; the attacker, with its own valid job token, names the
    victim's IQM job in every call IQM's client has for a job id: each is refused by qrmid (nothing of
    the victim's job in the answer), and the victim still reads its job and results."""
    q = make_qrmid(qpus=[{**p, "slots": 2} for p in without_windows(site)])
    client = harness.Client(q.url, munged.socket)
    code, v = acquire(client, "821", user="bob", uid=2002, qpus=[QPU])
    assert code == 201, v
    code, a = acquire(client, "822", user="alice", uid=2001, qpus=[QPU])
    assert code == 201, a
    victim, attacker = v["environment"], a["environment"]
    v_job = bell(victim, 50)["job"]
    a_job = bell(attacker, 50)["job"]
    assert v_job != a_job
    seen = probe(attacker, v_job, *FOREIGN_CALLS)
    for call, outcome in seen.items():
        assert not outcome["ok"], (call, outcome)
        # qrmid's own refusals (the job is not the acquisition's; deletion is not forwarded)
        assert ("in this job's acquisition" in outcome["message"]
                or "is not allowed on this path through qrmid" in outcome["message"]), (call, outcome)
        assert "counts" not in outcome["message"] and "[[" not in outcome["message"], (call, outcome)  # no results
    assert seen["get_job"]["error"] != "ClientConfigurationError", seen  # the client reached qrmid
    # the victim's job is intact, and the attacker's own calls work
    still = probe(victim, v_job, "get_job", "get_job_measurement_counts")
    assert still["get_job"] == {"ok": True, "value": "completed"} and still["get_job_measurement_counts"]["ok"], still
    assert probe(attacker, a_job, "get_job")["get_job"] == {"ok": True, "value": "completed"}
