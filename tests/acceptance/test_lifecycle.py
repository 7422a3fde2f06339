"""The job-lifecycle checks (044–046) without a Slurm here: how a release is judged from
qrmid's records, how srun/salloc output is judged, and the salloc driver run for real with
a stand-in ``srun`` (two steps, the same acquisition, nothing left in the temp dir)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from acceptance import slurm_jobs
from acceptance.checks.lifecycle import RELEASE_BOUND_S, _judge_steps, judge_release
from acceptance.spec import CheckFailed


def acquisition(state: str = "released", outcome: str | None = "released", id_: str = "acq-1") -> dict[str, Any]:
    return {"id": id_, "job_id": "7", "state": state, "outcome": outcome, "message": None, "released_at": 12.5}


def hold(qpu: str = "sc_twin", state: str = "released", released_at: float | None = 12.4) -> dict[str, Any]:
    return {"acquisition_id": "acq-1", "job_id": "7", "qpu": qpu, "hold_state": state,
            "hold_released_at": released_at, "hold_s": 3.2}


def test_a_release_within_the_bound_with_the_hold_ended_passes() -> None:
    verdict = judge_release("7", "sc_twin", [acquisition()], [hold()], 0.6, RELEASE_BOUND_S, "scancel", "acq-1")
    assert verdict == "released 0.6 s after scancel, accounting hold 3.2 s"


@pytest.mark.parametrize(("rows", "records", "waited", "match"), [
    ([acquisition("granted", None)], [hold(state="held", released_at=None)], 40.0, "still granted 40.0 s after"),
    ([acquisition("releasing", "released")], [hold()], 40.0, "still releasing"),
    ([acquisition("released", "reaped")], [hold()], 2.0, "ended released/reaped, not released at job end"),
    ([acquisition("released", "expired")], [hold()], 2.0, "released/expired"),
    ([acquisition()], [hold()], 11.0, "released only 11.0 s after scancel"),
    ([], [], 40.0, "0 acquisitions, expected one"),
    ([acquisition(), acquisition(id_="acq-2")], [hold()], 1.0, "2 acquisitions, expected one"),
    ([acquisition()], [], 1.0, "no accounting record on sc_twin"),
    ([acquisition()], [hold(qpu="FRESNEL")], 1.0, "no accounting record on sc_twin"),
    ([acquisition()], [hold(state="release_failed")], 1.0, "hold on sc_twin not ended"),
    ([acquisition()], [hold(released_at=None)], 1.0, "hold on sc_twin not ended"),
])
def test_a_release_that_is_late_reaped_double_or_unaccounted_fails(
    rows: list[dict[str, Any]], records: list[dict[str, Any]], waited: float, match: str
) -> None:
    with pytest.raises(CheckFailed, match=match):
        judge_release("7", "sc_twin", rows, records, waited, RELEASE_BOUND_S, "scancel")


def test_the_acquisition_the_job_saw_must_be_the_one_qrmid_released() -> None:
    with pytest.raises(CheckFailed, match="the job saw acquisition acq-9, qrmid records acq-1"):
        judge_release("7", "sc_twin", [acquisition()], [hold()], 1.0, RELEASE_BOUND_S, "scancel", "acq-9")


def step_output(job: str, steps: list[tuple[str, str]], values: list[float], qpu: str = "FRESNEL") -> str:
    lines = []
    for (step, acq), value in zip(steps, values, strict=True):
        lines.append(f"QPUSITE-STEP job={job} step={step} acquisition={acq}")
        lines.append(slurm_jobs.RESULT_PREFIX + json.dumps({"benchmark": "probe", "qpu": qpu, "value": value}))
    return "\n".join(lines) + "\n"


def interactive(stdout: str, returncode: int = 0, stderr: str = "") -> slurm_jobs.Interactive:
    return slurm_jobs.Interactive("qpusite-accept-x", returncode, stdout, stderr)


def test_steps_of_one_job_on_one_acquisition_with_correct_answers_pass() -> None:
    run = interactive(step_output("27", [("0", "acq-a"), ("1", "acq-a")], [0.96, 0.97]))
    assert _judge_steps("FRESNEL", run, 2, "salloc") == ("27", "acq-a", [0.96, 0.97])


@pytest.mark.parametrize(("run", "match"), [
    (interactive(step_output("27", [("0", "acq-a"), ("1", "acq-b")], [0.96, 0.97])), "acquisitions .*acq-a.*acq-b"),
    (interactive(step_output("27", [("0", ""), ("1", "")], [0.96, 0.97])), "expected one and the same"),
    (interactive(step_output("27", [("0", "acq-a")], [0.96])), "1 step.s. ran, expected 2"),
    (interactive(step_output("27", [("0", "acq-a"), ("0", "acq-a")], [0.96, 0.97])), "2 steps of one job"),
    (interactive(step_output("27", [("0", "acq-a"), ("1", "acq-a")], [0.96, 0.5])), r"wrong answer.*0\.500"),
    (interactive(step_output("27", [("0", "acq-a"), ("1", "acq-a")], [0.96, 0.97]), returncode=1,
                 stderr="srun: error: c1: task 0: Exited with exit code 1"), "failed .exit 1.*Exited"),
    (interactive("", returncode=124, stderr="timed out after 260 s"), "did not end in time"),
    (interactive("", returncode=1, stderr="qrmid: job 8: no QPU acquired for FRESNEL: user 'x' is in no QPU "
                                          "policy profile"), "0 step.s. ran.*no QPU policy profile"),
])
def test_steps_that_differ_fail_or_answer_wrongly_fail(run: slurm_jobs.Interactive, match: str) -> None:
    with pytest.raises(CheckFailed, match=match):
        _judge_steps("FRESNEL", run, 2, "salloc")


FAKE_SRUN = """#!/bin/bash
# stands in for srun inside an allocation: one step per call, numbered from 0, one acquisition
n=$(cat "$STEPS_FILE" 2>/dev/null || echo 0); echo $((n + 1)) > "$STEPS_FILE"
export SLURM_JOB_ID=27 SLURM_STEP_ID=$n QRMID_ACQUISITION_ID=acq-a
while [ "$1" != bash ]; do shift; done
exec "$@"
"""


def test_the_allocation_script_runs_every_step_through_srun_and_cleans_up(tmp_path: Path) -> None:
    bin_dir, tmp = tmp_path / "bin", tmp_path / "tmp"
    bin_dir.mkdir()
    tmp.mkdir()
    (bin_dir / "srun").write_text(FAKE_SRUN)
    (bin_dir / "srun").chmod(0o755)
    step = slurm_jobs.batch_script(sys.executable, [["--help"]], announce=True)
    driver = slurm_jobs.allocation_script(step, steps=2)
    done = subprocess.run(["bash", "-s"], input=driver, capture_output=True, text=True, timeout=60,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "TMPDIR": str(tmp),
                               "STEPS_FILE": str(tmp_path / "steps")})
    assert done.returncode == 0, done.stderr
    assert slurm_jobs.steps_seen(done.stdout) == [slurm_jobs.StepSeen("27", "0", "acq-a"),
                                                  slurm_jobs.StepSeen("27", "1", "acq-a")]
    assert done.stdout.count("usage: python -m acceptance.node") == 2  # the node program ran in each step
    assert list(tmp.iterdir()) == []  # the step script and the unpacked programs are gone


def test_a_failing_step_fails_the_allocation_after_every_step_ran(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(FAKE_SRUN)
    (bin_dir / "srun").chmod(0o755)
    step = slurm_jobs.batch_script(sys.executable, [["probe", "--shots", "x"]], announce=True)
    done = subprocess.run(["bash", "-s"], input=slurm_jobs.allocation_script(step, steps=2), capture_output=True,
                          text=True, timeout=60, env={"PATH": f"{bin_dir}:/usr/bin:/bin", "TMPDIR": str(tmp_path),
                                                      "STEPS_FILE": str(tmp_path / "steps")})
    assert done.returncode == 1
    assert [s.step for s in slurm_jobs.steps_seen(done.stdout)] == ["0", "1"]


def test_a_batch_step_announces_itself_as_batch() -> None:
    script = "#!/bin/bash\nset -u\n" + slurm_jobs.ANNOUNCE  # as in a batch script: no SLURM_STEP_ID there
    done = subprocess.run(["bash", "-s"], input=script, capture_output=True, text=True, timeout=10,
                          env={"PATH": "/usr/bin:/bin", "SLURM_JOB_ID": "22", "QRMID_ACQUISITION_ID": "acq-d"})
    assert slurm_jobs.steps_seen(done.stdout) == [slurm_jobs.StepSeen("22", "batch", "acq-d")]
