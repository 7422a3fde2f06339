"""Jobs without a batch script: `srun --qpu` and `salloc --qpu` + `srun` steps.

A job acquires once, however many steps and tasks it runs: every step asks qrmid,
which answers the job's one acquisition; the acquisition outlives its steps and is
released by the job epilog (slurmd) when the job ends. And a job that outlives its
QPU hold loses QPU access, whatever the job sets in its environment."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import harness
from conftest import PROFILE_USER, SHORT_PROFILE
from test_sbatch import BOGUS, SAMPLE, SITE_PACKAGES, acquisitions, env_lines, output, script


def step_script(workdir: Path) -> Path:
    """One task of a step: its environment to a file per job/step/task, then (optionally) sampling."""
    path = workdir / "step.sh"
    path.write_text(
        "#!/bin/sh\n"
        "export HOME=/tmp MPLCONFIGDIR=$(mktemp -d)\n"
        f"env | sort > {workdir}/step-$SLURM_JOB_ID.$SLURM_STEP_ID.$SLURM_PROCID.env\n"
        'echo "test-job=$SLURM_JOB_ID" >&2\n'
        'if [ -n "$1" ]; then\n'
        f"  PYTHONPATH={SITE_PACKAGES} exec /usr/bin/python3 {SAMPLE} \"$1\"\n"
        "fi\n"
    )
    path.chmod(0o755)
    return path


def wait_released(q: harness.Qrmid, job: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    rows = acquisitions(q, job)
    while time.monotonic() < deadline and not (rows and rows[0]["state"] == "released"):
        time.sleep(0.3)
        rows = acquisitions(q, job)
    assert len(rows) == 1, rows
    return rows[0]


def job_of(workdir: Path, marker: str) -> str:
    return (workdir / marker).read_text().strip()


def test_srun_without_batch_script_samples_and_releases_at_job_end(stack, workdir) -> None:
    q, slurm = stack
    step = step_script(workdir)
    # two tasks in one step: one acquisition, the same environment for both
    r = slurm.run("srun", "--qpu=sc_twin", "-n2", "--time=10", str(step), "300", user=PROFILE_USER, timeout=240)
    assert r.returncode == 0, (r.stdout, r.stderr)
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 2, r.stdout
    for line in lines:
        counts = line["counts"]
        assert line["qpu"] == "sc_twin" and sum(counts.values()) == 300
        assert (counts.get("00", 0) + counts.get("11", 0)) / 300 > 0.85, counts
    job = r.stderr.split("test-job=")[1].split()[0]
    e0, e1 = (env_lines(workdir / f"step-{job}.0.{task}.env") for task in (0, 1))
    assert e0["QRMI_JOB_ID"] == job and e0["QRMI_JOB_QPU_RESOURCES"] == "sc_twin"
    for key in ("QRMID_ACQUISITION_ID", "sc_twin_QRMI_JOB_ACQUISITION_TOKEN", "sc_twin_QRMI_IBM_QCS_IAM_APIKEY"):
        assert e0[key] and e0[key] == e1[key], key
    for secret in harness.SITE_SECRETS:
        assert secret not in json.dumps(e0) + r.stdout + r.stderr
    row = wait_released(q, job)
    assert row["id"] == e0["QRMID_ACQUISITION_ID"] and row["outcome"] == "released", row
    assert 0 < row["hold_s"] <= 600, row  # srun's --time=10 went to qrmid


def test_salloc_steps_share_one_acquisition_released_when_the_allocation_ends(stack, workdir) -> None:
    q, slurm = stack
    step = step_script(workdir)
    go = workdir / "salloc-go"
    go.unlink(missing_ok=True)
    # step 0 looks, the allocation idles between steps until the test says go, step 1 samples
    body = (f"echo $SLURM_JOB_ID > {workdir}/salloc-job; srun {step}; touch {workdir}/salloc-between; "
            f"while [ ! -e {go} ]; do sleep 0.2; done; srun {step} 50")
    cmd = ["runuser", "-u", PROFILE_USER, "--", "env", f"SLURM_CONF={slurm.conf}",
           "salloc", "--qpu=FRESNEL", "sh", "-c", body]
    (workdir / "salloc-between").unlink(missing_ok=True)
    proc = subprocess.Popen(cmd, env=slurm.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (workdir / "salloc-between").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        job = job_of(workdir, "salloc-job")
        # the first step has ended; the allocation still holds the acquisition
        rows = acquisitions(q, job)
        assert len(rows) == 1 and rows[0]["state"] == "granted", rows
        go.touch()
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, (out, err)
    counts = json.loads(out.strip().splitlines()[-1])["counts"]
    assert sum(counts.values()) == 50 and counts.get("1", 0) > 35, counts
    s0, s1 = env_lines(workdir / f"step-{job}.0.0.env"), env_lines(workdir / f"step-{job}.1.0.env")
    for key in ("QRMID_ACQUISITION_ID", "FRESNEL_QRMI_JOB_ACQUISITION_TOKEN", "QRMI_JOB_ID"):
        assert s0[key] and s0[key] == s1[key], key
    # each step got its own job token for the one acquisition
    assert s0["FRESNEL_QRMI_PASQAL_CLOUD_AUTH_TOKEN"] != s1["FRESNEL_QRMI_PASQAL_CLOUD_AUTH_TOKEN"]
    row = wait_released(q, job)
    assert row["id"] == s0["QRMID_ACQUISITION_ID"] and row["outcome"] == "released", row


def test_srun_overwrites_what_the_user_exported(stack, workdir) -> None:
    q, slurm = stack
    step = step_script(workdir)
    r = slurm.run("env", *(f"{k}={v}" for k, v in BOGUS.items()), "srun", "--qpu=sc_twin", "--time=3",
                  "sh", "-c", f"echo $SLURM_JOB_ID > {workdir}/srun-bogus-job; exec {step}", user=PROFILE_USER)
    assert r.returncode == 0, (r.stdout, r.stderr)
    job = job_of(workdir, "srun-bogus-job")
    env = env_lines(workdir / f"step-{job}.0.0.env")
    assert env["QRMI_JOB_QPU_RESOURCES"] == "sc_twin" and env["SLURM_JOB_QPU_RESOURCES"] == "sc_twin"
    assert env["QRMI_JOB_QPU_TYPES"] == "ibm-quantum-compute-service"
    assert env["sc_twin_QRMI_IBM_QCS_ENDPOINT"] == f"{q.url}/proxy/sc_twin/v1"
    assert 0 < int(env["sc_twin_QRMI_JOB_TIMEOUT_SECONDS"]) <= 180, env
    assert env["QRMID_ACQUISITION_ID"] == acquisitions(q, job)[0]["id"]
    assert "QRMI_LIST_DELIMITER" not in env and "other_QRMI_PASQAL_CLOUD_AUTH_TOKEN" not in env


def test_a_step_cannot_take_a_qpu_its_job_was_not_submitted_with(stack, workdir) -> None:
    # the job holds no license for the QPU: --qpu on a step alone must not reach qrmid
    q, slurm = stack
    r = slurm.run("salloc", "sh", "-c",
                  f"echo $SLURM_JOB_ID > {workdir}/nolicense-job; srun --qpu=FRESNEL true",
                  user=PROFILE_USER, timeout=120)
    job = job_of(workdir, "nolicense-job")
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert f"job {job} was not submitted with QPU(s) FRESNEL" in r.stderr, r.stderr
    assert acquisitions(q, job) == []


def test_a_job_outliving_its_qpu_hold_loses_the_qpu(stack, workdir) -> None:
    """Profile 'short' holds for 60 s; the job runs longer (--time=5). Past the hold the
    job's own credentials are dead, even with qrmi's time limit switched off inside the
    job, and a later step does not get a second acquisition."""
    q, slurm = stack
    step = step_script(workdir)
    job_path = script(
        workdir, "outlive",
        f"PYTHONPATH={SITE_PACKAGES} /usr/bin/python3 {SAMPLE} 20 > {workdir}/outlive-$SLURM_JOB_ID.first\n"
        "sleep 66\n"
        "export FRESNEL_QRMI_JOB_TIMEOUT_SECONDS=0\n"
        f"PYTHONPATH={SITE_PACKAGES} /usr/bin/python3 {SAMPLE} 20; echo direct=$?\n"
        f"srun {step} 20; echo step=$?\n",
    )
    r = slurm.run("sbatch", "--parsable", "--time=5", f"--qpu-profile={SHORT_PROFILE}", "--qpu=FRESNEL",
                  f"--output={workdir}/job-%j.out", f"--error={workdir}/job-%j.err", str(job_path),
                  user=PROFILE_USER)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip().split(";")[0]
    st = slurm.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}, 240)
    out, err = output(workdir, job)
    assert st["JobState"] == "COMPLETED", (st, out, err)
    first = json.loads((workdir / f"outlive-{job}.first").read_text().strip().splitlines()[-1])
    assert sum(first["counts"].values()) == 20  # within the hold
    env = env_lines(workdir / f"job-{job}.env")
    assert 0 < int(env["FRESNEL_QRMI_JOB_TIMEOUT_SECONDS"]) <= 60, env
    # the job's credential died with the hold, though the job told qrmi "no time limit"
    assert "direct=0" not in out and "direct=" in out, (out, err)
    # the credential is a JWT whose exp is the hold's end: qrmi itself stops using it then
    # ("expired"); had it sent it, qrmid would have answered 401 (revoked, maybe purged)
    expired_at_client = "auth token is missing or expired" in err
    refused_by_qrmid = "401" in err and ("the job's QPU acquisition has ended" in err or "unknown credential" in err)
    assert expired_at_client or refused_by_qrmid, err
    assert "step=0" not in out and "step=" in out, (out, err)
    assert "QPU acquisition" in err and "has ended (expired" in err, err
    rows = acquisitions(q, job)
    assert len(rows) == 1 and rows[0]["outcome"] == "expired" and rows[0]["hold_s"] == 60, rows
