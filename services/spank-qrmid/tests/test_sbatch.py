"""Real `sbatch --qpu` jobs: Slurm (licenses through job_submit.lua) → spank_qrmid →
qrmid (munge) → qrmi → emulator, and back through the job's own credentials."""

from __future__ import annotations

import json
import time
from pathlib import Path

import harness
import slurm_harness
from conftest import DEV_USER, OUTSIDER, PROFILE_USER

SAMPLE = Path(harness.__file__).with_name("job_sample.py")
SITE_PACKAGES = next((harness.REPO / ".venv-node" / "lib").glob("python3*/site-packages"))


def script(workdir: Path, name: str, body: str) -> Path:
    path = workdir / f"{name}.sh"
    path.write_text(
        "#!/bin/sh\n"
        "export HOME=/tmp MPLCONFIGDIR=$(mktemp -d)\n"
        f"env | sort > {workdir}/job-$SLURM_JOB_ID.env\n" + body + "\n"
    )
    path.chmod(0o755)
    return path


def sample_script(workdir: Path, shots: int = 300) -> Path:
    return script(workdir, f"sample{shots}",
                  f"PYTHONPATH={SITE_PACKAGES} exec /usr/bin/python3 {SAMPLE} {shots}")


def submit(slurm, workdir: Path, job: Path, *opts: str, user: str = PROFILE_USER) -> str:
    r = slurm.run("sbatch", "--parsable", f"--output={workdir}/job-%j.out", f"--error={workdir}/job-%j.err",
                  *opts, str(job), user=user)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().split(";")[0]


def output(workdir: Path, job_id: str) -> tuple[str, str]:
    out, err = workdir / f"job-{job_id}.out", workdir / f"job-{job_id}.err"
    return (out.read_text() if out.exists() else "", err.read_text() if err.exists() else "")


def acquisitions(q: harness.Qrmid, job_id: str) -> list[dict]:
    c = harness.Client(q.url, "")
    _, rows = c.request("GET", f"/v1/acquisitions?job_id={job_id}", auth=f"Bearer {harness.OPERATOR_TOKEN}")
    return rows


def test_sbatch_qpu_samples_a_bell_pair(stack, workdir) -> None:
    q, slurm = stack
    job = submit(slurm, workdir, sample_script(workdir), "--qpu=sc_twin")
    st = slurm.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED"}, 240)
    out, err = output(workdir, job)
    assert st["JobState"] == "COMPLETED", (st, out, err)
    assert st["Licenses"] == "sc_twin:1"  # added by job_submit.lua from --qpu
    counts = json.loads(out.strip().splitlines()[-1])["counts"]
    assert sum(counts.values()) == 300
    assert (counts.get("00", 0) + counts.get("11", 0)) / 300 > 0.85, counts
    env = (workdir / f"job-{job}.env").read_text()
    assert "QRMI_JOB_QPU_RESOURCES=sc_twin" in env and "QRMI_JOB_QPU_TYPES=ibm-quantum-compute-service" in env
    assert "SLURM_JOB_QPU_RESOURCES=sc_twin" in env and f"QRMI_JOB_ID={job}" in env
    assert "sc_twin_QRMI_JOB_ACQUISITION_TOKEN=" in env and "sc_twin_QRMI_JOB_TIMEOUT_SECONDS=" in env
    for secret in harness.SITE_SECRETS:
        assert secret not in env + out + err
    rows = acquisitions(q, job)
    deadline = time.monotonic() + 10  # the release at the service finishes in the background
    while rows[0]["state"] != "released" and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = acquisitions(q, job)
    assert len(rows) == 1 and rows[0]["state"] == "released" and rows[0]["user"] == PROFILE_USER
    assert rows[0]["cluster"] == slurm_harness.CLUSTER  # the plugin's cluster= argument went with the request


def test_two_qpu_job(stack, workdir) -> None:
    q, slurm = stack
    job = submit(slurm, workdir, sample_script(workdir, 200), "--qpu=sc_twin,FRESNEL")
    st = slurm.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED"}, 300)
    out, err = output(workdir, job)
    assert st["JobState"] == "COMPLETED", (st, out, err)
    got = {d["qpu"]: d["counts"] for d in map(json.loads, out.strip().splitlines())}
    assert set(got) == {"sc_twin", "FRESNEL"}
    assert sum(got["FRESNEL"].values()) == 200 and got["FRESNEL"].get("1", 0) > 150
    assert sorted(acquisitions(q, job)[0]["qpus"]) == ["FRESNEL", "sc_twin"]


def test_busy_qpu_keeps_the_next_job_in_the_queue_and_scancel_releases(stack, workdir) -> None:
    q, slurm = stack
    holder = submit(slurm, workdir, script(workdir, "hold", "sleep 300"), "--qpu=FRESNEL")
    slurm.wait_state(holder, {"RUNNING"}, 120)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not acquisitions(q, holder) or
                                           acquisitions(q, holder)[0]["state"] != "granted"):
        time.sleep(0.3)
    assert acquisitions(q, holder)[0]["state"] == "granted"
    waiter = submit(slurm, workdir, sample_script(workdir, 100), "--qpu=FRESNEL")
    time.sleep(3)
    st = slurm.job_state(waiter)
    assert st["JobState"] == "PENDING" and st["Reason"] == "Licenses", st
    assert acquisitions(q, waiter) == []  # it never reached a node, so never asked qrmid
    cancelled = time.monotonic()
    assert slurm.run("scancel", holder).returncode == 0
    while time.monotonic() - cancelled < 30 and acquisitions(q, holder)[0]["state"] != "released":
        time.sleep(0.2)
    released_after = time.monotonic() - cancelled
    assert acquisitions(q, holder)[0]["state"] == "released"
    print(f"scancel → released in {released_after:.1f} s")
    assert released_after < 15
    st = slurm.wait_state(waiter, {"COMPLETED", "FAILED", "CANCELLED"}, 240)
    assert st["JobState"] == "COMPLETED", (st, output(workdir, waiter))


def test_user_outside_every_profile_is_refused_at_submission(stack, workdir) -> None:
    q, slurm = stack
    r = slurm.run("sbatch", "--parsable", "--qpu=sc_twin", str(sample_script(workdir, 10)), user=OUTSIDER)
    assert r.returncode != 0, r.stdout
    assert "no QPU policy profile" in r.stderr and OUTSIDER in r.stderr, r.stderr


def test_qrmid_refusal_fails_the_job_with_its_message(stack, workdir) -> None:
    # admitted at submission (PROFILE_USER may use sc_twin), refused by qrmid, the final check:
    # the profile asked for is not one of the user's
    q, slurm = stack
    job = submit(slurm, workdir, sample_script(workdir, 10), "--qpu=sc_twin", "--qpu-profile=development")
    st = slurm.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED"}, 120)
    out, err = output(workdir, job)
    assert st["JobState"] == "FAILED", (st, out, err)
    assert "qrmid:" in err and "not in policy profile 'development'" in err and PROFILE_USER in err, err
    assert "counts" not in out


def test_unknown_qpu_is_refused_at_submission(stack, workdir) -> None:
    _, slurm = stack
    r = slurm.run("sbatch", "--qpu=no_such_qpu", str(sample_script(workdir, 10)), user=PROFILE_USER)
    assert r.returncode != 0
    assert "icense" in r.stderr, r.stderr  # "Invalid license specification"


def test_maintenance_per_policy(stack, workdir) -> None:
    q, slurm = stack
    op = harness.Client(q.url, "")
    auth = f"Bearer {harness.OPERATOR_TOKEN}"
    code, _ = op.request("PUT", "/v1/qpus/sc_twin/maintenance", {"message": "cryostat refill"}, auth=auth)
    assert code == 200
    try:
        # development fails fast, with why and until when
        dev = submit(slurm, workdir, sample_script(workdir, 10), "--qpu=sc_twin", user=DEV_USER)
        st = slurm.wait_state(dev, {"COMPLETED", "FAILED", "CANCELLED"}, 120)
        out, err = output(workdir, dev)
        assert st["JobState"] == "FAILED", (st, err)
        assert "cryostat refill" in err and "until further notice" in err, err
        # production waits in qrmid until the maintenance is switched off, then runs
        prod = submit(slurm, workdir, sample_script(workdir, 50), "--qpu=sc_twin", user=PROFILE_USER)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(a["state"] == "waiting" for a in acquisitions(q, prod)):
            time.sleep(0.3)
        waiting = acquisitions(q, prod)
        assert waiting and waiting[0]["state"] == "waiting" and "cryostat refill" in waiting[0]["message"]
        time.sleep(5)  # long enough for the job's stderr to report a wait
        op.request("DELETE", "/v1/qpus/sc_twin/maintenance", auth=auth)
        st = slurm.wait_state(prod, {"COMPLETED", "FAILED", "CANCELLED"}, 240)
        out, err = output(workdir, prod)
        assert st["JobState"] == "COMPLETED", (st, out, err)
        assert "granted after waiting" in err, err
    finally:
        op.request("DELETE", "/v1/qpus/sc_twin/maintenance", auth=auth)


def test_accounting_has_every_job_with_its_times(stack) -> None:
    q, _ = stack
    c = harness.Client(q.url, "")
    _, acct = c.request("GET", "/v1/accounting", auth=f"Bearer {harness.OPERATOR_TOKEN}")
    recs = acct["records"]
    assert recs, acct
    granted = [r for r in recs if r["granted_at"]]
    assert granted
    for r in granted:
        assert r["requested_at"] <= r["granted_at"] <= (r["hold_released_at"] or time.time())
        assert r["job_id"] and r["user"] in (PROFILE_USER, DEV_USER) and r["hold_s"] >= 0
    assert acct["totals_hold_s"]["by_user"][PROFILE_USER] > 0


# what a user might export before submitting, to stretch or redirect QPU access
BOGUS = {
    "sc_twin_QRMI_JOB_TIMEOUT_SECONDS": "0",  # qrmi reads 0 as "no time limit"
    "QRMI_JOB_QPU_RESOURCES": "other",
    "QRMI_JOB_QPU_TYPES": "pasqal-local",
    "SLURM_JOB_QPU_RESOURCES": "other",
    "sc_twin_QRMI_IBM_QCS_ENDPOINT": "http://127.0.0.1:9/v1",
    "sc_twin_QRMI_JOB_ACQUISITION_TOKEN": "my-own-session",
    "QRMI_LIST_DELIMITER": ";",
    "QRMID_ACQUISITION_ID": "acq-forged",
    "other_QRMI_PASQAL_CLOUD_AUTH_TOKEN": "x",
}


def env_lines(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_qrmid_values_replace_what_the_user_exported(stack, workdir) -> None:
    q, slurm = stack
    job_path = script(workdir, "envonly", "true")
    r = slurm.run("env", *(f"{k}={v}" for k, v in BOGUS.items()), "sbatch", "--parsable", "--time=5",
                  f"--output={workdir}/job-%j.out", f"--error={workdir}/job-%j.err", "--qpu=sc_twin",
                  str(job_path), user=PROFILE_USER)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip().split(";")[0]
    st = slurm.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED"}, 120)
    assert st["JobState"] == "COMPLETED", (st, output(workdir, job))
    env = env_lines(workdir / f"job-{job}.env")
    row = acquisitions(q, job)[0]
    assert env["QRMI_JOB_QPU_RESOURCES"] == "sc_twin" and env["SLURM_JOB_QPU_RESOURCES"] == "sc_twin"
    assert env["QRMI_JOB_QPU_TYPES"] == "ibm-quantum-compute-service"
    assert env["QRMID_ACQUISITION_ID"] == row["id"]
    assert env["sc_twin_QRMI_IBM_QCS_ENDPOINT"] == f"{q.url}/proxy/sc_twin/v1"
    assert env["sc_twin_QRMI_JOB_ACQUISITION_TOKEN"] not in ("", "my-own-session")
    # the job's time limit (5 min) went to qrmid, which capped the hold with it
    assert 0 < row["hold_s"] <= 300, row
    assert 0 < int(env["sc_twin_QRMI_JOB_TIMEOUT_SECONDS"]) <= row["hold_s"], env
    for gone in ("QRMI_LIST_DELIMITER", "other_QRMI_PASQAL_CLOUD_AUTH_TOKEN"):
        assert gone not in env, (gone, env[gone])


def test_reaper_asks_the_real_slurm(stack) -> None:
    # an acquisition for a job id slurmctld has never seen is released by qrmid's reaper (real squeue)
    q, _ = stack
    c = harness.Client(q.url, "")
    auth = f"Bearer {harness.OPERATOR_TOKEN}"
    code, a = c.request("POST", "/v1/acquisitions",
                        {"job_id": "987654", "user": PROFILE_USER, "uid": 1, "qpus": ["FRESNEL"], "wait_s": 10},
                        auth=auth)
    assert code == 201, a
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and acquisitions(q, "987654")[0]["state"] != "released":
        time.sleep(0.5)
    row = acquisitions(q, "987654")[0]
    assert row["state"] == "released" and row["outcome"] == "reaped", row
    assert "gone from Slurm" in row["message"]
