"""qpu-prolog and qpu-epilog against a real qrmid, munged and the QPU emulator: the job's
environment file gets qrmid's contract (and nothing the user brought for it), unchanged qrmi
code samples through it, the epilog releases, refusals and waits end as Grid Engine expects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import harness
from conftest import DEV_USER, OUTSIDER, GeJobFactory, env_of

JOB_SAMPLE = Path(harness.__file__).with_name("job_sample.py")


def acquisitions(client: harness.Client, job_id: str) -> list[dict[str, object]]:
    status, rows = client.request("GET", f"/v1/acquisitions?job_id={job_id}&cluster=labge")
    assert status == 200, rows
    return list(rows)


def test_array_task_gets_the_contract_samples_and_is_released(ge_job: GeJobFactory, client: harness.Client) -> None:
    job = ge_job(task="5", hard="h_rt=600,qpu_sc_twin=1", user_env={
        "QRMI_JOB_QPU_RESOURCES": "other", "sc_twin_QRMI_JOB_TIMEOUT_SECONDS": "0", "OTHER_QRMI_X": "1",
        "SLURM_JOB_QPU_TYPES": "x", "KEEP_ME": "yes"})
    done = job.run("qpu-prolog")
    assert done.returncode == 0, done.stderr
    assert "job 1234.5: QPU(s) sc_twin granted" in done.stderr
    env = env_of(job)
    assert env["KEEP_ME"] == "yes" and "OTHER_QRMI_X" not in env
    assert env["QRMI_JOB_QPU_RESOURCES"] == env["SLURM_JOB_QPU_RESOURCES"] == "sc_twin"
    assert env["QRMI_JOB_ID"] == "1234.5"
    assert 0 < int(env["sc_twin_QRMI_JOB_TIMEOUT_SECONDS"]) <= 600  # h_rt capped the hold
    assert env["sc_twin_QRMI_IBM_QCS_ENDPOINT"].startswith(client.url + "/proxy/sc_twin")
    assert not any(secret in (job.spool / "environment").read_text() for secret in harness.SITE_SECRETS)
    [acq] = acquisitions(client, "1234.5")
    assert acq["state"] == "granted" and acq["user"] == "daemon"
    assert acq["id"] == env["QRMID_ACQUISITION_ID"]

    # the job: unchanged qrmi code with exactly that environment
    run = subprocess.run([sys.executable, str(JOB_SAMPLE), "200"], env={"PATH": os.environ["PATH"], **env},
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    counts = json.loads(run.stdout.splitlines()[-1])["counts"]
    assert sum(counts.values()) == 200 and counts.get("00", 0) + counts.get("11", 0) >= 180, counts

    done = job.run("qpu-epilog")
    assert done.returncode == 0 and "QPU(s) released" in done.stderr, done.stderr
    [acq] = acquisitions(client, "1234.5")
    assert acq["state"] in ("releasing", "released") and acq["outcome"] == "released"
    status, out = client.request("GET", "/v1/accounting?job_id=1234.5&cluster=labge")
    assert status == 200 and [(r["job_id"], r["nodes"]) for r in out["records"]] == [("1234.5", 2)], out


def test_two_qpus_and_the_profile_from_the_job_context(ge_job: GeJobFactory, client: harness.Client) -> None:
    job = ge_job(number="77", hard="QPU_FRESNEL=1,qpu_sc_twin=1", context="qpu_profile=production")
    done = job.run("qpu-prolog")
    assert done.returncode == 0, done.stderr
    env = env_of(job)
    assert sorted(env["QRMI_JOB_QPU_RESOURCES"].split(",")) == ["FRESNEL", "sc_twin"]
    assert "FRESNEL_QRMI_PASQAL_CLOUD_AUTH_TOKEN" in env and "sc_twin_QRMI_IBM_QCS_IAM_APIKEY" in env
    [acq] = acquisitions(client, "77")
    assert acq["profile"] == "production"
    assert job.run("qpu-epilog").returncode == 0


def test_a_job_without_qpus_is_left_alone(ge_job: GeJobFactory, client: harness.Client) -> None:
    job = ge_job(number="80", hard="h_rt=60,qpu_sc_twin=0")
    before = (job.spool / "environment").read_text()
    done = job.run("qpu-prolog")
    assert done.returncode == 0 and done.stderr == ""
    assert (job.spool / "environment").read_text() == before
    assert acquisitions(client, "80") == []
    assert job.run("qpu-epilog").returncode == 0


def test_refusals_put_the_job_in_error_state_with_the_reason(ge_job: GeJobFactory) -> None:
    job = ge_job(owner=OUTSIDER, number="81")
    done = job.run("qpu-prolog")
    assert done.returncode == 100
    assert "qrmid: job 81: no QPU acquired for sc_twin" in done.stderr and "no QPU policy profile" in done.stderr
    bad = ge_job(number="82", context="qpu_profile=no;rm")
    assert bad.run("qpu-prolog").returncode == 100
    broken = ge_job(number="83", url="ftp://x")
    done = broken.run("qpu-prolog")
    assert done.returncode == 100 and "url must be http(s)://host[:port]" in done.stderr
    # the epilog never fails, whatever it meets
    assert broken.run("qpu-epilog").returncode == 0


def test_unreachable_qrmid_fails_the_job_not_the_queue(ge_job: GeJobFactory) -> None:
    job = ge_job(number="84", url=f"http://127.0.0.1:{harness.free_port()}", max_wait_s=3, timeout_s=2)
    done = job.run("qpu-prolog")
    assert done.returncode == 100 and "the QPU service is unavailable" in done.stderr, done.stderr
    done = job.run("qpu-epilog")
    assert done.returncode == 0 and "release failed" in done.stderr


def test_a_busy_qpu_sends_the_job_back_to_the_queue(ge_job: GeJobFactory, client: harness.Client) -> None:
    first = ge_job(number="90", hard="qpu_FRESNEL=1")
    assert first.run("qpu-prolog").returncode == 0
    second = ge_job(number="91", hard="qpu_FRESNEL=1", owner=DEV_USER, max_wait_s=3)
    done = second.run("qpu-prolog")
    assert done.returncode == 99, done.stderr
    assert "not granted within 3 s" in done.stderr and "back to the queue" in done.stderr
    [waiting] = acquisitions(client, "91")
    assert waiting["state"] == "failed" and waiting["outcome"] == "cancelled"  # never granted into nothing
    assert first.run("qpu-epilog").returncode == 0
    done = second.run("qpu-prolog")  # Grid Engine runs it again once rescheduled
    assert done.returncode == 0, done.stderr
    assert second.run("qpu-epilog").returncode == 0


def test_a_prolog_not_run_as_root_says_how_to_configure_it(ge_job: GeJobFactory) -> None:
    job = ge_job(number="95")
    env = {"PATH": "/usr/bin:/bin", "SGE_JOB_SPOOL_DIR": str(job.spool)}
    done = subprocess.run(["/usr/bin/python3", "-I", str(Path(__file__).parents[1] / "qpu-prolog"), "--config",
                           str(job.config)], env=env, capture_output=True, text=True, timeout=60, check=False,
                          user="nobody", cwd="/")
    assert done.returncode == 100, done.stderr
    assert "not root: set the queue's prolog to root@/usr/local/libexec/qpusite/qpu-prolog" in done.stderr
