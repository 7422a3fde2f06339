"""The reaper against a real Slurm (Debian's slurmctld + slurmd on 127.0.0.1, own ports, every
file in a temp dir, authenticated by the test's munged; no plugin): array tasks and the
components of a heterogeneous job keep their QPU while they run, whatever `squeue %i` prints
for them (`1_1`, `3+1`); an array task that ends, and a job Slurm never had, are reaped."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import harness
import pytest
from conftest import without_windows
from test_acquire import acquire

OP = f"Bearer {harness.OPERATOR_TOKEN}"

pytestmark = pytest.mark.skipif(
    not (shutil.which("slurmctld") and shutil.which("slurmd") and os.geteuid() == 0),
    reason="needs Debian's slurmctld and slurmd, run as root",
)


@pytest.fixture
def backend() -> str:
    return "sqlite"


def test_the_reaper_with_real_array_and_het_jobs(tmp_path: Path, site, emulator, munged) -> None:
    tmp = tmp_path / "slurm"
    for sub in ("state", "spool"):
        (tmp / sub).mkdir(parents=True)
    conf = harness.slurm_conf(tmp, munged.socket, "reapertest", scheduler="sched/backfill",  # het jobs need it
                              kill_wait_s=2)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs: list[subprocess.Popen[bytes]] = []

    def run(*args: str) -> str:
        out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out
        return out.stdout

    q = None
    try:
        procs.append(subprocess.Popen(["slurmctld", "-D", "-i", "-f", str(conf)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while subprocess.run(["scontrol", "ping"], env=env, capture_output=True).returncode != 0:
            assert time.monotonic() < deadline and procs[0].poll() is None, "slurmctld did not start"
            time.sleep(0.3)
        procs.append(subprocess.Popen(["slurmd", "-D", "-N", "qnode", "-f", str(conf)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        while run("sinfo", "-h", "-o", "%T").strip() not in ("idle", "mixed", "allocated"):
            assert time.monotonic() < deadline and procs[1].poll() is None, "slurmd did not register"
            time.sleep(0.5)
        array = run("sbatch", "--parsable", "--array=0-1", "-n1", "-o", "/dev/null", "--wrap", "sleep 120").strip()
        script = tmp / "het.sh"
        script.write_text("#!/bin/sh\n#SBATCH -n1\n#SBATCH -o /dev/null\n#SBATCH hetjob\n#SBATCH -n1\nsleep 120\n")
        het = run("sbatch", "--parsable", str(script)).strip().split("+")[0]
        # what the plugin sends is each task's own job id (SLURM_JOB_ID = %A); squeue's %i differs
        deadline = time.monotonic() + 60
        listing: dict[str, str] = {}
        while time.monotonic() < deadline:
            listing = dict(line.split("|", 1) for line in run("squeue", "-h", "-o", "%i|%A").split())
            if f"{array}_1" in listing and f"{het}+1" in listing:
                break
            time.sleep(0.5)
        task0, task1 = listing[f"{array}_0"], listing[f"{array}_1"]
        het0, het1 = listing[f"{het}+0"], listing[f"{het}+1"]
        assert task1 != f"{array}_1" and het1 != f"{het}+1", listing
        port = harness.free_port()
        q = harness.Qrmid(
            harness.qrmid_config(tmp_path, site, emulator.url, munged.socket, port,
                                 qpus=[{**x, "slots": 8} for x in without_windows(site)], cluster="reapertest",
                                 reaper={"slurm": "on", "interval_s": 1, "grace_s": 0}),
            f"http://127.0.0.1:{port}", tmp_path / "qrmid.log")
        q.env = {"SLURM_CONF": str(conf)}
        q.start()
        client = harness.Client(q.url, munged.socket)
        jobs = {task0, task1, het0, het1, "999999"}
        for job in jobs:
            code, a = acquire(client, job, qpus=["FRESNEL"])
            assert code == 201, a

        def states() -> dict[str, tuple[str, str | None]]:
            _, rows = client.request("GET", "/v1/acquisitions", auth=OP)
            return {r["job_id"]: (r["state"], r["outcome"]) for r in rows}

        deadline = time.monotonic() + 15
        while states()["999999"][0] != "released" and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(2.5)  # more rounds
        s = states()
        assert s["999999"] == ("released", "reaped"), s
        for job in (task0, task1, het0, het1):
            assert s[job] == ("granted", None), (job, s, listing)
        # array task 1 ends: its acquisition is reaped; the other task and the het job keep theirs
        run("scancel", f"{array}_1")
        deadline = time.monotonic() + 20
        while states()[task1][0] != "released" and time.monotonic() < deadline:
            time.sleep(0.3)
        s = states()
        assert s[task1] == ("released", "reaped"), s
        assert s[task0] == s[het0] == s[het1] == ("granted", None), s
    finally:
        if q is not None:
            q.stop()
        subprocess.run(["scancel", "--full", "-u", "root"], env=env, capture_output=True, timeout=30)
        deadline = time.monotonic() + 20  # the job steps end before slurmd does
        while time.monotonic() < deadline and procs and procs[0].poll() is None:
            out = subprocess.run(["squeue", "-h", "-t", "R,CG"], env=env, capture_output=True, text=True, timeout=30)
            if out.returncode != 0 or not out.stdout.strip():
                break
            time.sleep(0.5)
        for p in reversed(procs):
            harness.stop(p, timeout=20)
