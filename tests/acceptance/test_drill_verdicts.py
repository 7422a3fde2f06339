"""How a drill judges a job: it must fail, fast, with a clear message (without a Slurm here:
jobs refused at submission carry no job id, so nothing is asked of qrmid)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance.checks.drills import FAIL_FAST_S, _judge
from acceptance.context import Context
from acceptance.slurm_jobs import RESULT_PREFIX, JobOutcome
from acceptance.spec import CheckFailed
from site_survey.model import Site


def refused(message: str) -> JobOutcome:
    return JobOutcome("", 1, "NOT SUBMITTED", "", "", message, None)


def ctx(site: Site) -> Context:
    return Context(site=site, site_dir=Path("."), log=lambda _line: None)


def test_a_fast_clear_refusal_passes(lab_site: Site) -> None:
    verdict = _judge(ctx(lab_site), refused("sbatch: error: Requested time limit is invalid"), 1.0,
                     ("time limit",), "zero time limit")
    assert verdict.startswith("failed in 1 s")


def test_a_job_that_succeeds_fails_the_drill(lab_site: Site) -> None:
    ok = JobOutcome("7", 0, "COMPLETED", "c1", RESULT_PREFIX + '{"value": 1.0}\n', "", 3.0)
    with pytest.raises(CheckFailed, match="succeeded; it must be refused"):
        _judge(ctx(lab_site), ok, 3.0, ("policy",), "unauthorised user")


def test_a_slow_refusal_fails_the_drill(lab_site: Site) -> None:
    with pytest.raises(CheckFailed, match="took .* to fail"):
        _judge(ctx(lab_site), refused("policy says no"), FAIL_FAST_S + 5, ("policy",), "unauthorised user")


def test_a_refusal_without_a_clear_message_fails_the_drill(lab_site: Site) -> None:
    with pytest.raises(CheckFailed, match="without a clear message"):
        _judge(ctx(lab_site), refused("error 17"), 1.0, ("maintenance",), "QPU in maintenance")


def test_benchmark_verdicts_use_the_model_threshold(lab_site: Site) -> None:
    from acceptance.checks.benchmarks import _judge as judge_benchmark
    from acceptance.results import Metric

    c = ctx(lab_site)
    assert judge_benchmark(c, Metric("sc_twin", "ghz_fidelity", 0.87, 0.8)).endswith("(threshold >= 0.8)")
    assert "reported; the model sets no threshold" in judge_benchmark(c, Metric("sc_twin", "qscore", 6.0, None))
    with pytest.raises(CheckFailed, match="below its threshold"):
        judge_benchmark(c, Metric("sc_twin", "mirror_survival", 0.5, 0.6))
    with pytest.raises(CheckFailed, match="above its limit"):
        judge_benchmark(c, Metric("FRESNEL", "ising_quench_error", 0.2, 0.1, higher_is_better=False))
    assert [m.benchmark for m in c.metrics] == ["ghz_fidelity", "qscore", "mirror_survival", "ising_quench_error"]
