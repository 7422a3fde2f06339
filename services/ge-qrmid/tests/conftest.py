"""Fixtures for the Grid Engine prolog/epilog tests: munged, the emulator and qrmid from
services/qrmid/tests/harness.py, and a job spool directory as sge_execd writes it.

Grid Engine's daemons cannot run here (qmaster and execd bind every address), so the one piece
of Grid Engine the scripts call, `qstat -j <job>`, is a script that prints what Grid Engine
8.1.9's qstat prints for the job (source/clients/common/show_job.c). Jobs run as existing system
accounts: `daemon` is in the production profile, `bin` in development, `nobody` in none."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "qrmid" / "tests"))

import harness  # noqa: E402

munged, site, emulator = harness.munged, harness.site, harness.emulator  # the session fixtures the suites share


def _load_prolog() -> None:
    """qpu-prolog is also the module both scripts share: importable here as ge_qrmid."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("ge_qrmid", str(HERE.parent / "qpu-prolog"))
    spec = importlib.util.spec_from_loader("ge_qrmid", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ge_qrmid"] = module
    loader.exec_module(module)


_load_prolog()

PROFILE_USER, DEV_USER, OUTSIDER = "daemon", "bin", "nobody"
PYTHON = "/usr/bin/python3"  # the node's python3, as Grid Engine runs the scripts


def profiles(site: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**p, "users": [PROFILE_USER] if p["name"] == "production" else [DEV_USER], "groups": []}
            for p in site["qpusite_policy_profiles"]]


@pytest.fixture
def qrmid(tmp_path: Path, site: dict[str, Any], emulator: harness.Emulator,
          munged: harness.Munged) -> Iterator[harness.Qrmid]:
    q = harness.configure_qrmid(tmp_path, site, emulator.url, munged.socket, cluster="labge", scheduler="gridengine",
                                qpus=harness.without_windows(site), policy_profiles=profiles(site)).start()
    yield q
    q.stop()


@pytest.fixture
def client(qrmid: harness.Qrmid, munged: harness.Munged) -> harness.Client:
    return harness.Client(qrmid.url, munged.socket)


def qstat_j(number: str, owner: str, hard: str, context: str = "", tasks: str = "") -> str:
    """`qstat -j` as Grid Engine 8.1.9 prints it (labels padded to column 28)."""
    lines = [
        "==============================================================",
        f"job_number:                 {number}",
        "exec_file:                  job_scripts/" + number,
        "submission_time:            Wed Dec  2 19:00:00 2026",
        f"owner:                      {owner}",
        "uid:                        1",
        "group:                      daemon",
        "sge_o_home:                 /usr/sbin",
        "sge_o_shell:                /bin/sh",
        "sge_o_workdir:              /tmp",
        "account:                    sge",
        "cwd:                        /tmp",
    ]
    if hard:
        lines.append(f"hard resource_list:         {hard}")
    lines += ["mail_list:                  daemon@c1", "notify:                     FALSE",
              "job_name:                   job.sh", "jobshare:                   0", "env_list:                   "]
    if context:
        lines.append(f"context:                    {context}")
    lines.append("script_file:                job.sh")
    if tasks:
        lines.append(f"job-array tasks:            {tasks}")
    lines.append("scheduling info:            (Collecting of scheduler job information is turned off)")
    return "\n".join(lines) + "\n"


@dataclass
class GeJob:
    spool: Path
    config: Path  # the node's ge-qrmid.json
    number: str
    task: str | None

    @property
    def job_id(self) -> str:
        return f"{self.number}.{self.task}" if self.task else self.number

    def run(self, script: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "SGE_JOB_SPOOL_DIR": str(self.spool), "NHOSTS": "2",
               "JOB_ID": self.number, "SGE_ROOT": "/var/lib/gridengine", "SGE_CELL": "default"}
        return subprocess.run([PYTHON, "-I", str(HERE.parent / script), "--config", str(self.config)],
                              env=env, capture_output=True, text=True, timeout=timeout, check=False)

    def environment(self) -> dict[str, str]:
        out = {}
        for line in (self.spool / "environment").read_text().splitlines():
            key, _, value = line.partition("=")
            out[key] = value
        return out


GeJobFactory = Callable[..., GeJob]


@pytest.fixture
def ge_job(tmp_path: Path, qrmid: harness.Qrmid, munged: harness.Munged, site: dict[str, Any]) -> GeJobFactory:
    counter = iter(range(1000))

    def make(owner: str = PROFILE_USER, hard: str = "qpu_sc_twin=1", number: str = "1234", task: str | None = None,
             context: str = "", user_env: dict[str, str] | None = None, **settings: Any) -> GeJob:
        root = tmp_path / f"ge{next(counter)}"
        spool = root / "active_jobs" / f"{number}.{task or 1}"
        spool.mkdir(parents=True)
        (spool / "config").write_text(
            f"job_owner={owner}\njob_name=job.sh\njob_id={number}\nja_task_id={task or 0}\nqueue=all.q\n")
        env = {"HOME": "/usr/sbin", "JOB_ID": number, "SGE_JOB_SPOOL_DIR": str(spool), **(user_env or {})}
        (spool / "environment").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        (spool / "environment").chmod(0o644)
        qstat = root / "qstat"
        out = root / "qstat.out"
        out.write_text(qstat_j(number, owner, hard, context, f"{task}-{task}:1" if task else ""))
        qstat.write_text(f"#!/bin/sh\n[ \"$1\" = -j ] && [ \"$2\" = {number} ] || exit 1\nexec cat {out}\n")
        qstat.chmod(0o755)
        conf = {"url": qrmid.url, "cluster": "labge", "qpus": [q["name"] for q in site["qpusite_qpus"]],
                "munge_socket": munged.socket, "qstat": str(qstat), "munge": shutil.which("munge") or "/usr/bin/munge",
                "timeout_s": 10, **settings}
        config = root / "ge-qrmid.json"
        config.write_text(json.dumps(conf))
        return GeJob(spool, config, number, task)

    return make


def env_of(job: GeJob) -> dict[str, str]:
    return {k: v for k, v in job.environment().items() if k != "SGE_JOB_SPOOL_DIR"}

