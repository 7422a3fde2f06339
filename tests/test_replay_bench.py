"""The pure parts of benchmarks/replay_bench.py: slicing and time-scaling the reference trace,
the figures computed from measured records, squeue's license-blocked head, the arguments."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import replay_bench as rb  # noqa: E402
import utilisation_bench as ub  # noqa: E402


def test_the_slice_is_the_reference_trace_time_scaled() -> None:
    full = ub.trace(rb.TRACE_JOBS, 1)[:12]
    sliced = rb.slice_trace(12, 50.0, 0.002)
    assert [j.id for j in sliced] == [j.id for j in full] == list(range(12))
    assert sliced[0].arrival_s == 0.0
    for s, f in zip(sliced, full, strict=True):
        assert s.account == f.account and s.nodes == f.nodes and len(s.phases) == len(f.phases)
        assert s.arrival_s == pytest.approx((f.arrival - full[0].arrival) / 50)
        for (shots, classical), (q, c) in zip(s.phases, f.phases, strict=True):
            assert shots == max(1, round(q / 50 / 0.002))  # q trace seconds -> the shots that take q/50 s
            assert classical == pytest.approx(c / 50)
        assert s.qpu_s == pytest.approx(sum(sh for sh, _ in s.phases) * 0.002)
    # a coarser scale: never zero shots
    assert all(sh >= 1 for j in rb.slice_trace(5, 10000, 0.1) for sh, _ in j.phases)


@pytest.mark.parametrize(("jobs", "scale", "shot"), [(0, 10, 0.001), (10001, 10, 0.001), (5, 0, 0.001), (5, 10, 0)])
def test_slice_refuses_bad_sizes(jobs: int, scale: float, shot: float) -> None:
    with pytest.raises(ValueError):
        rb.slice_trace(jobs, scale, shot)


def _job(jid: int, account: str, nodes: int, qpu_s: float) -> rb.ReplayJob:
    return rb.ReplayJob(jid, account, nodes, 0.0, ((1, 0.0),), qpu_s)


def _task(submitted: float, running: float | None, finished: float | None) -> dict[str, Any]:
    return {"submitted": submitted, "running": running, "finished": finished, "status": "Completed",
            "seen_final": finished}


def test_metrics_from_records() -> None:
    jobs = [_job(0, "chem", 2, 3.0), _job(1, "ml", 1, 1.0), _job(2, "edu", 4, 1.0)]
    submitted = {0: 100.0, 1: 101.0, 2: 104.0}
    results = {
        0: {"end": 106.0, "tasks": [_task(100.5, 101.0, 103.0), _task(104.0, 104.0, 105.0)], "error": None},
        1: {"end": 110.0, "tasks": [_task(102.0, 103.0, 104.0)], "error": None},  # waited 1 s on 1 node
        2: {"end": 112.0, "error": "x",
            "tasks": [_task(105.0, 107.0, 108.0), {**_task(109.0, None, None), "status": "Failed"}]},
    }
    m = rb.metrics(jobs, submitted, results, partition_idle_s=2.0, scale=10.0)
    busy = 2 + 1 + 1 + 1
    assert m["qpu_busy_s (real)"] == busy
    assert m["utilisation"] == round(busy / (112 - 100), 4)
    assert m["bound"] == 1.0  # 5 s of QPU work over a 4 s arrival span
    # waits: 0.5 s x 2 nodes + 0 + 1 s x 1 node + 2 s x 4 nodes = 10 node-s, + 2 free: x 10 trace s
    assert m["idle_node_hours"] == round(12 * 10 / 3600, 1)
    assert m["idle_node_hours: task waits + free partition"] == f"{100 / 3600:.1f} + {20 / 3600:.1f}"
    assert m["turnaround_p50_min[production]"] == round(6 * 10 / 60, 1)
    # development: ml 9 s, edu 8 s -> median 8.5, p95 = index int(0.95 x 1) = 0 -> 8
    assert m["turnaround_p50_min[development]"] == round(8.5 * 10 / 60, 1)
    assert m["turnaround_p95_min[development]"] == round(8 * 10 / 60, 1)
    assert m["qpu_share[chem] (entitled 50%)"] == 0.6 and m["qpu_share[edu] (entitled 20%)"] == 0.2
    assert m["task wait mean s[edu]"] == 20.0 and m["task wait mean s[chem]"] == 2.5
    assert m["tasks ran"] == 4 and m["jobs failed"] == 1
    # the QPU idled 0.5 s (100.5-101) and 2 s (105-107) while a submitted task waited
    assert m["QPU idle with a task waiting, % of makespan"] == round(100 * 2.5 / 12, 1)
    assert m["QPU idle with no task waiting, % of makespan"] == round(100 * (12 - 5 - 2.5) / 12, 1)
    with pytest.raises(ValueError, match=r"\[2\]"):
        rb.metrics(jobs, submitted, {k: v for k, v in results.items() if k != 2}, 0.0, 10.0)


def test_bound_below_one_when_arrivals_spread() -> None:
    jobs = [_job(0, "chem", 1, 1.0), _job(1, "ml", 1, 1.0)]
    results = {0: {"end": 2.0, "tasks": [_task(0, 0, 1)]}, 1: {"end": 12.0, "tasks": [_task(10, 10, 11)]}}
    m = rb.metrics(jobs, {0: 0.0, 1: 10.0}, results, 0.0, 1.0)
    assert m["bound"] == 0.2 and m["utilisation"] == round(2 / 12, 4)
    assert m["utilisation / bound"] == round(m["utilisation"] / 0.2, 4)


def test_license_blocked_head_of_the_queue() -> None:
    out = "5|RUNNING|None|8\n7|PENDING|Priority|1\n6|PENDING|Licenses|4\n"
    assert rb.licence_blocked_free_cpus(out, 32) == 24  # job 6 heads the queue, fits, waits on the license
    assert rb.licence_blocked_free_cpus(out.replace("Licenses", "Resources"), 32) == 0
    assert rb.licence_blocked_free_cpus(out, 10) == 0  # 4 CPUs do not fit in the 2 free
    assert rb.licence_blocked_free_cpus("5|RUNNING|None|8\n", 32) == 0
    assert rb.licence_blocked_free_cpus("garbage\n", 32) == 0


@pytest.mark.parametrize("argv", [["--jobs", "0"], ["--scale", "0.5"], ["--nodes", "4"], ["--share", "1"],
                                  ["--shot-time", "2"], ["--json", "/nonexistent-dir/x.json"], ["--jobs", "x"],
                                  ["--lookahead", "9"], ["--lookahead", "-1"]])
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        rb.parse(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--" in err or "invalid" in err


def test_defaults_parse() -> None:
    a = rb.parse([])
    assert (a.jobs, a.scale, a.nodes, a.share) == (30, 100.0, 32, 8)
    # the replay's qrmid gets the lookahead the site model gives a task-shared QPU by default
    from site_survey.model import QpuSharing

    assert a.lookahead == QpuSharing().lookahead == 1


def test_intervals() -> None:
    assert rb.union([(3, 4), (0, 1), (0.5, 2), (5, 5)]) == [(0, 2), (3, 4)]
    assert rb.covered_outside([(0, 10)], [(2, 3), (2.5, 4), (8, 12)]) == 10 - 2 - 2
    assert rb.covered_outside([(0, 1)], []) == 1


def test_simulation_of_the_slice_has_no_window_and_leaves_the_module_as_it_was() -> None:
    before = ub.WINDOW_START, ub.WINDOW_LEN
    sim = rb.simulate_slice(6, 1, 32, 8)
    assert before == (ub.WINDOW_START, ub.WINDOW_LEN)
    shared, exclusive = sim[rb.LABELS["task"]], sim[rb.LABELS["job"]]
    assert shared["utilisation"] >= exclusive["utilisation"] > 0
    assert shared["idle_node_hours"] <= exclusive["idle_node_hours"]
