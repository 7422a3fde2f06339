"""qrmid/dispatch.py, the policy task-level sharing and the benchmark share: order by priority
(with the age boost), then decayed fair-share, then age; no dispatch into a window; who a new
task preempts."""

from __future__ import annotations

from qrmid import dispatch

POLICY = dispatch.Policy(age_boost_s=60.0, half_life_s=3600.0)


def task(key: str, priority: int = 10, account: str = "a", queued_at: float = 0.0, estimate_s: float = 5.0
         ) -> dispatch.Task:
    return dispatch.Task(key, priority, account, queued_at, estimate_s)


def keys(tasks: list[dispatch.Task]) -> list[str]:
    return [t.key for t in tasks]


def test_priority_then_fair_share_then_age() -> None:
    usage = dispatch.FairShare(3600.0)
    usage.add("heavy", 100.0, 0.0)
    queue = [task("old-heavy", account="heavy", queued_at=1), task("new-light", account="light", queued_at=2),
             task("high", priority=50, queued_at=3), task("old-light", account="light", queued_at=1.5)]
    assert keys(dispatch.order(queue, 4.0, usage, POLICY)) == ["high", "old-light", "new-light", "old-heavy"]


def test_age_boost_bounds_the_wait() -> None:
    usage = dispatch.FairShare(3600.0)
    low, high = task("low", priority=10, queued_at=0), task("high", priority=50, queued_at=2400)
    assert keys(dispatch.order([low, high], 2399.0, usage, POLICY)) == ["high", "low"]  # 39 levels: one short
    assert keys(dispatch.order([low, high], 2461.0, usage, POLICY)) == ["low", "high"]  # 41 levels: ahead


def test_fair_share_decays() -> None:
    usage = dispatch.FairShare(3600.0)
    usage.add("x", 100.0, 0.0)
    assert usage.used("x", 3600.0) == 50.0 and usage.used("x", 7200.0) == 25.0
    same = dispatch.FairShare.of(3600.0, [("x", 50.0, 3600.0), ("x", 100.0, 0.0)])
    assert same.used("x", 3600.0) == 100.0


def test_no_dispatch_into_a_window_shorter_tasks_still_run() -> None:
    usage = dispatch.FairShare(3600.0)
    queue = [task("long", priority=50, estimate_s=500.0), task("short", estimate_s=50.0)]
    c = dispatch.choose(queue, 1, 1000.0, usage, POLICY, next_block=1100.0, blocked_now=False)
    assert keys(c.dispatch) == ["short"] and keys(c.held) == ["long"]
    assert dispatch.choose(queue, 1, 1000.0, usage, POLICY, None, blocked_now=True).dispatch == []
    assert dispatch.choose(queue, 0, 1000.0, usage, POLICY, None, blocked_now=False).dispatch == []
    c = dispatch.choose(queue, 2, 1000.0, usage, POLICY, next_block=None, blocked_now=False)
    assert keys(c.dispatch) == ["long", "short"]


def test_a_higher_priority_task_preempts_queued_lower_ones_only() -> None:
    usage = dispatch.FairShare(3600.0)
    queued = [task("a1", queued_at=1), task("a2", queued_at=2), task("p", priority=90, queued_at=3)]
    new = task("b", priority=50, queued_at=4)
    assert keys(dispatch.overtaken(new, [*queued, new], 4.0, usage, POLICY)) == ["a1", "a2"]
    late = task("c", priority=10, queued_at=5)
    assert dispatch.overtaken(late, [*queued, late], 5.0, usage, POLICY) == []


def test_estimate() -> None:
    assert dispatch.estimate(1000, 0.002, 1.0) == 3.0
    assert dispatch.estimate(-5, 0.002, 1.0) == 1.0


def test_the_service_queue_model_of_forwarded_tasks() -> None:
    # one slot: a task running since 990 (estimated 20 s) frees it at 1010; one waiting behind it at 1030
    assert dispatch.vendor_slots(1, [(990.0, 20.0)], 1000.0) == [1010.0]
    assert dispatch.vendor_slots(1, [(990.0, 20.0), (None, 20.0)], 1000.0) == [1030.0]
    # a running task past its estimate may end any moment; two slots: the waiting task takes the first free
    assert dispatch.vendor_slots(1, [(900.0, 20.0)], 1000.0) == [1000.0]
    assert dispatch.vendor_slots(2, [(995.0, 10.0), (990.0, 100.0), (None, 5.0)], 1000.0) == [1010.0, 1090.0]
    assert dispatch.vendor_slots(2, [], 1000.0) == [1000.0, 1000.0]


def test_a_task_forwarded_ahead_is_judged_from_its_start_at_the_service() -> None:
    usage = dispatch.FairShare(3600.0)
    queue = [task("big", queued_at=1, estimate_s=150.0), task("small", queued_at=2, estimate_s=10.0)]
    behind = dispatch.vendor_slots(1, [(1000.0, 100.0)], 1000.0)  # the slot runs a 100-s task
    c = dispatch.choose(queue, 1, 1000.0, usage, POLICY, 1240.0, False, slot_free=behind)
    # big would end at 1250 behind the running task (at 1150 if it started now): held; small fits
    assert keys(c.dispatch) == ["small"] and keys(c.held) == ["big"]
    # no window: both forwarded in policy order (the lookahead's room: 2)
    c = dispatch.choose(queue, 2, 1000.0, usage, POLICY, None, False, slot_free=behind)
    assert keys(c.dispatch) == ["big", "small"]
    # the second one queued at the service is judged behind the first one forwarded in the same round
    c = dispatch.choose(queue, 2, 1000.0, usage, POLICY, 1255.0, False, slot_free=behind)
    assert keys(c.dispatch) == ["big"] and keys(c.held) == ["small"]
