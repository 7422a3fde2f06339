"""The server-side JSV (roles/gridengine_master/files/qpu-jsv) over Grid Engine's JSV protocol: `-l qpu=<name>`
becomes `-l qpu_<name>=1`, an unknown QPU is refused at submission, every other job passes unchanged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

JSV = REPO / "roles" / "gridengine_master" / "files" / "qpu-jsv"


def converse(tmp_path: Path, *jobs: list[str]) -> list[str]:
    qpus = tmp_path / "qpus"
    qpus.write_text("sc_twin\nFRESNEL\n")
    lines = []
    for params in jobs:
        lines += ["START", *params, "BEGIN"]
    lines.append("QUIT")
    done = subprocess.run(
        [sys.executable, str(JSV), str(qpus)], input="\n".join(lines) + "\n", capture_output=True, text=True,
        timeout=30, check=True,
    )
    return done.stdout.splitlines()


def test_qpu_becomes_the_qpus_consumable(tmp_path: Path) -> None:
    out = converse(tmp_path, ["PARAM l_hard qpu=sc_twin,h_rt=60", "PARAM CLIENT qsub"])
    assert out == [
        "SEND ENV", "STARTED", "PARAM l_hard h_rt=60,qpu_sc_twin=1",
        "RESULT STATE CORRECT -l qpu=sc_twin is -l qpu_sc_twin=1",
    ]


def test_other_jobs_pass_unchanged_and_each_job_starts_afresh(tmp_path: Path) -> None:
    out = converse(tmp_path, ["PARAM l_hard qpu=FRESNEL"], ["PARAM l_hard h_rt=60"], [])
    assert out[-6:] == ["SEND ENV", "STARTED", "RESULT STATE ACCEPT", "SEND ENV", "STARTED", "RESULT STATE ACCEPT"]


@pytest.mark.parametrize("request_", ["qpu=nope", "qpu=sc_twin,qpu=FRESNEL", "qpu=$(id)"])
def test_an_unknown_or_second_qpu_is_refused(tmp_path: Path, request_: str) -> None:
    out = converse(tmp_path, [f"PARAM l_hard {request_}"])
    assert out[2].startswith("RESULT STATE REJECT"), out
    assert not any(line.startswith("PARAM") for line in out)


def test_a_loader_variable_in_the_jobs_environment_is_refused(tmp_path: Path) -> None:
    out = converse(tmp_path, ["PARAM l_hard qpu=sc_twin", "ENV ADD LD_PRELOAD /tmp/x.so", "ENV ADD HOME /home/a"],
                   ["PARAM l_hard h_rt=60", "ENV ADD LD_LIBRARY_PATH /tmp"], ["ENV ADD PATH /bin"])
    rejects = [line for line in out if line.startswith("RESULT")]
    assert rejects[0].startswith("RESULT STATE REJECT") and "LD_PRELOAD" in rejects[0]
    assert rejects[1].startswith("RESULT STATE REJECT") and "LD_LIBRARY_PATH" in rejects[1]
    assert rejects[2] == "RESULT STATE ACCEPT"
