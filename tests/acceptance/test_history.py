"""Drift detection on synthetic run histories, and the record store."""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance import history
from acceptance.results import CheckResult, Metric, RunRecord
from acceptance.spec import Status
from site_survey.model import Site


def run(started: str, *metrics: Metric) -> RunRecord:
    result = CheckResult("070_ghz_fidelity[sc_twin]", 70, "ghz_fidelity", "sc_twin", "smoke", "benchmark",
                         Status.passed, "ok", 1.0, metrics=list(metrics))
    return RunRecord("lab", "smoke", started, started, [result])


def ghz(value: float, threshold: float = 0.8) -> Metric:
    return Metric("sc_twin", "ghz_fidelity", value, threshold)


def quench(value: float, limit: float = 0.1) -> Metric:
    return Metric("FRESNEL", "ising_quench_error", value, limit, higher_is_better=False)


def past(*values: float) -> list[RunRecord]:
    return [run(f"2026-11-{i + 1:02d}T00:00:00+00:00", ghz(v)) for i, v in enumerate(values)]


def test_no_history_only_the_threshold_counts(lab_site: Site) -> None:
    (d,) = history.compare(run("2026-11-21T00:00:00+00:00", ghz(0.9)), [], lab_site)
    assert not d.drifted and d.baseline is None and "no history" in d.message
    (d,) = history.compare(run("2026-11-21T00:00:00+00:00", ghz(0.7)), [], lab_site)
    assert d.kind == "below_threshold"


def test_a_drop_beyond_the_models_tolerance_is_drift(lab_site: Site) -> None:
    # lab: sc_twin drift_tolerance 0.1; history median 0.95 → floor 0.855
    earlier = past(0.94, 0.95, 0.96)
    (ok,) = history.compare(run("2026-11-21T00:00:00+00:00", ghz(0.86)), earlier, lab_site)
    assert not ok.drifted and ok.baseline == pytest.approx(0.95)
    (bad,) = history.compare(run("2026-11-21T00:00:00+00:00", ghz(0.85)), earlier, lab_site)
    assert bad.kind == "below_history" and "0.855" in bad.message and bad.runs_compared == 3


def test_tolerance_comes_from_the_site_model(lab: dict) -> None:
    from tests.acceptance.conftest import site_from

    lab["qpus"][0]["benchmarks"]["drift_tolerance"] = 0.01
    strict = site_from(lab)
    (d,) = history.compare(run("2026-11-21T00:00:00+00:00", ghz(0.93)), past(0.95, 0.95), strict)
    assert d.kind == "below_history"


def test_only_the_last_runs_form_the_baseline(lab_site: Site) -> None:
    # ten recent runs at 0.85 hide a distant past at 0.99
    earlier = past(*([0.99] * 5 + [0.85] * history.HISTORY_WINDOW))
    (d,) = history.compare(run("2026-11-30T00:00:00+00:00", ghz(0.84)), earlier, lab_site)
    assert not d.drifted and d.baseline == pytest.approx(0.85)


def test_lower_is_better_figures_drift_upwards(lab_site: Site) -> None:
    earlier = [run(f"2026-11-0{i + 1}T00:00:00+00:00", quench(0.02)) for i in range(3)]
    # FRESNEL tolerance 0.1 (default) of the limit 0.1: ceiling 0.02 + 0.01
    (ok,) = history.compare(run("2026-11-21T00:00:00+00:00", quench(0.029)), earlier, lab_site)
    (bad,) = history.compare(run("2026-11-21T00:00:00+00:00", quench(0.035)), earlier, lab_site)
    (over,) = history.compare(run("2026-11-21T00:00:00+00:00", quench(0.2)), earlier, lab_site)
    assert not ok.drifted and bad.kind == "below_history" and over.kind == "below_threshold"


def test_other_qpus_and_benchmarks_do_not_mix(lab_site: Site) -> None:
    other = [run("2026-11-01T00:00:00+00:00", Metric("FRESNEL", "ghz_fidelity", 0.99, 0.5))]
    (d,) = history.compare(run("2026-11-21T00:00:00+00:00", ghz(0.85)), other, lab_site)
    assert d.baseline is None


def test_records_round_trip_and_bad_ones_are_reported_not_fatal(tmp_path: Path) -> None:
    first = run("2026-11-21T06:00:00+00:00", ghz(0.9))
    second = run("2026-11-21T06:00:00+00:00", ghz(0.91))  # same second: both kept
    p1, p2 = history.save(first, tmp_path), history.save(second, tmp_path)
    assert p1 != p2 and p1.name == "20261121T060000Z.json"
    (tmp_path / "20261120T000000Z.json").write_text("{not json")
    loaded, problems = history.load(tmp_path)
    assert [r.metrics()[0].value for r in loaded] == [0.9, 0.91]
    assert len(problems) == 1 and "20261120T000000Z.json" in problems[0]
    assert loaded[0].results[0].status == Status.passed
