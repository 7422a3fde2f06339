"""QPU licenses only through --qpu, only for users the policy admits, kept on
modification (issue 11, finding 4), and private output files for --qpu jobs
(finding 8: job bearer keys were readable from 0644 output files).

Against the real slurmctld of the suite: job_submit.lua with the
job_submit_qrmid.conf that roles/spank_qrmid's template renders from the policy."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from conftest import DEV_USER, GROUP_USER, OUTSIDER, PROFILE_USER
from test_sbatch import acquisitions, output, script

REFUSED = "only through --qpu"


def sbatch(slurm, workdir: Path, *opts: str, user: str = PROFILE_USER, hold: bool = True):
    job = script(workdir, "licensed", "true")
    args = ["sbatch", "--parsable", f"--output={workdir}/job-%j.out", f"--error={workdir}/job-%j.err"]
    if hold:
        args.append("--hold")  # accepted jobs stay pending: nothing reaches a node or qrmid
    return slurm.run(*args, *opts, str(job), user=user)


def cancel(slurm, r) -> None:
    if r.returncode == 0 and r.stdout.strip():
        slurm.run("scancel", r.stdout.strip().split(";")[0])


@pytest.mark.parametrize(
    "licenses",
    [
        "sc_twin:1",
        "FRESNEL:1",
        "sc_twin:1,FRESNEL:1",  # the example
        "SC_TWIN:1",  # case
        "Fresnel:1",
        "sc_twin*1",  # '*' separator
        "sc_twin",  # no count
        "sc_twin@remote:1",  # remote license syntax
        "sc_twin@db",
        " sc_twin:1",  # spaces
        "sc_twin :1",
        "sc_twin:0",
        "sc_twin:1,sc_twin:1",  # duplicates
    ],
)
def test_a_qpu_license_without_qpu_is_refused(stack, workdir, licenses) -> None:
    _, slurm = stack
    # PROFILE_USER is admitted to every QPU: the license is refused because it bypasses qrmid
    r = sbatch(slurm, workdir, "-L", licenses)
    cancel(slurm, r)
    assert r.returncode != 0, (licenses, r.stdout)
    assert REFUSED in r.stderr, r.stderr


@pytest.mark.parametrize(
    ("qpu", "licenses"),
    [
        ("sc_twin", "FRESNEL:1"),  # a QPU --qpu does not name
        ("sc_twin", "sc_twin:2"),  # more than --qpu asks for
        ("sc_twin", "sc_twin*2"),
        ("sc_twin", "sc_twin:1,sc_twin:1"),
        ("sc_twin", "SC_TWIN:1"),
        ("FRESNEL", "FRESNEL@remote:1"),
    ],
)
def test_a_qpu_license_beyond_the_qpu_request_is_refused(stack, workdir, qpu, licenses) -> None:
    _, slurm = stack
    r = sbatch(slurm, workdir, f"--qpu={qpu}", "-L", licenses)
    cancel(slurm, r)
    assert r.returncode != 0, (qpu, licenses, r.stdout)
    assert REFUSED in r.stderr, r.stderr


def test_the_license_qpu_asks_for_is_accepted_once(stack, workdir) -> None:
    _, slurm = stack
    r = sbatch(slurm, workdir, "--qpu=sc_twin", "-L", "sc_twin:1")
    try:
        assert r.returncode == 0, r.stderr
        assert slurm.job_state(r.stdout.strip())["Licenses"] == "sc_twin:1"
    finally:
        cancel(slurm, r)


def test_root_may_hold_a_qpu_license_by_hand(stack, workdir) -> None:
    _, slurm = stack
    r = sbatch(slurm, workdir, "-L", "FRESNEL:1", user=None)
    try:
        assert r.returncode == 0, r.stderr
        assert slurm.job_state(r.stdout.strip())["Licenses"] == "FRESNEL:1"
    finally:
        cancel(slurm, r)


@pytest.mark.parametrize("opts", [("--qpu=sc_twin",), ("--qpu=FRESNEL",), ("--qpu=sc_twin,FRESNEL",),
                                  ("--qpu=sc_twin", "-L", "sc_twin:1")])
def test_a_user_in_no_profile_is_refused_at_submission(stack, workdir, opts) -> None:
    q, slurm = stack
    r = sbatch(slurm, workdir, *opts, user=OUTSIDER)
    cancel(slurm, r)
    assert r.returncode != 0, r.stdout
    assert "no QPU policy profile" in r.stderr and OUTSIDER in r.stderr, r.stderr


def test_a_group_of_a_profile_admits_only_to_its_qpus(stack, workdir) -> None:
    _, slurm = stack
    ok = sbatch(slurm, workdir, "--qpu=FRESNEL", user=GROUP_USER)
    cancel(slurm, ok)
    assert ok.returncode == 0, ok.stderr  # admitted through its primary group
    no = sbatch(slurm, workdir, "--qpu=sc_twin", user=GROUP_USER)
    cancel(slurm, no)
    assert no.returncode != 0 and "allows QPU sc_twin" in no.stderr, no.stderr


def test_qpu_names_are_exact(stack, workdir) -> None:
    _, slurm = stack
    r = sbatch(slurm, workdir, "--qpu=SC_TWIN")
    cancel(slurm, r)
    assert r.returncode != 0 and "did you mean 'sc_twin'" in r.stderr, r.stderr
    r = sbatch(slurm, workdir, "--qpu=sc_twin,sc_twin")
    cancel(slurm, r)
    assert r.returncode != 0 and "named twice" in r.stderr, r.stderr


@pytest.mark.parametrize("new", ["", "FRESNEL:1", "sc_twin:1,FRESNEL:1", "sc_twin:2", "sc_twin@remote:1"])
def test_the_owner_cannot_change_the_qpu_licenses_of_a_pending_job(stack, workdir, new) -> None:
    _, slurm = stack
    r = sbatch(slurm, workdir, "--qpu=sc_twin")
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip()
    try:
        u = slurm.run("scontrol", "update", f"job={job}", f"licenses={new}", user=PROFILE_USER)
        assert u.returncode != 0, (new, u.stdout)
        assert "denied" in u.stderr, u.stderr  # scontrol shows the error code, not log_user text
        assert slurm.job_state(job)["Licenses"] == "sc_twin:1"
    finally:
        slurm.run("scancel", job)


def test_a_job_without_qpu_cannot_gain_a_qpu_license(stack, workdir) -> None:
    _, slurm = stack
    r = sbatch(slurm, workdir, user=DEV_USER)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip()
    try:
        for new in ("sc_twin:1", "FRESNEL*1", "Fresnel:1"):
            u = slurm.run("scontrol", "update", f"job={job}", f"licenses={new}", user=DEV_USER)
            assert u.returncode != 0, (new, u.stdout)
            assert slurm.job_state(job).get("Licenses") in (None, "(null)"), slurm.job_state(job)
    finally:
        slurm.run("scancel", job)


def test_root_can_still_change_qpu_licenses(stack, workdir) -> None:
    _, slurm = stack
    r = sbatch(slurm, workdir, "--qpu=sc_twin")
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip()
    try:
        u = slurm.run("scontrol", "update", f"job={job}", "licenses=FRESNEL:1")
        assert u.returncode == 0, u.stderr
        assert slurm.job_state(job)["Licenses"] == "FRESNEL:1"
    finally:
        slurm.run("scancel", job)


def test_the_output_of_a_qpu_job_is_not_readable_by_others(stack, workdir) -> None:
    q, slurm = stack
    job_path = script(workdir, "secret-out", "env | grep -c _QRMI_ ; echo to-stderr >&2")
    r = slurm.run("sbatch", "--parsable", f"--output={workdir}/job-%j.out", f"--error={workdir}/job-%j.err",
                  "--qpu=FRESNEL", str(job_path), user=PROFILE_USER)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip()
    st = slurm.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED"}, 120)
    assert st["JobState"] == "COMPLETED", (st, output(workdir, job))
    for name in (f"job-{job}.out", f"job-{job}.err"):
        path = workdir / name
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o077 == 0, (name, oct(mode))
        peek = slurm.run("cat", str(path), user=DEV_USER)
        assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and acquisitions(q, job)[0]["state"] != "released":
        time.sleep(0.3)
    assert acquisitions(q, job)[0]["state"] == "released"


def test_the_output_file_of_a_qpu_srun_is_not_readable_by_others(stack, workdir) -> None:
    _, slurm = stack
    marker = workdir / "srun-private-job"
    r = slurm.run("srun", "--qpu=FRESNEL", f"--output={workdir}/srun-%j.out", "sh", "-c",
                  f"echo $SLURM_JOB_ID > {marker}; env | grep -c _QRMI_", user=PROFILE_USER, timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    path = workdir / f"srun-{marker.read_text().strip()}.out"
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode & 0o077 == 0, oct(mode)
    peek = slurm.run("cat", str(path), user=DEV_USER)
    assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek
