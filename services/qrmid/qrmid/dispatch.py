"""The dispatch policy of task-level sharing: which queued task a QPU runs next.

Pure functions over plain values (no I/O, no clock, standard library only), so that qrmid's
task queue (task_queue.py) and the benchmark's simulation (benchmarks/utilisation_bench.py)
run the same code:

1. profile priority, raised by one level for every ``age_boost_s`` a task has waited (the age
   boost: a task of a lower profile overtakes a higher one after waiting long enough, so no
   wait is unbounded);
2. then the account's fair-share: QPU seconds it used, decayed with ``half_life_s``, over its
   share (equal shares unless given);
3. then age (first queued first), then the id (a total order: the same queue always yields
   the same order).

No task is dispatched while a window is open, nor one whose estimated QPU time would run into
the next window: the QPU drains before it; shorter tasks that end before the window still run.
With a lookahead (``sharing.lookahead``) up to ``slots + lookahead`` tasks are forwarded, the
extra ones waiting in the service's own FIFO; a task forwarded to wait there starts when the
tasks ahead of it end (``slot_free``, from ``vendor_slots``), and that start, not now, is what
must leave room for its run before the window.
A task that is ordered ahead of tasks queued before it *preempts* them: they stay queued behind
it (a running task is never stopped).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Policy:
    age_boost_s: float = 60.0  # every this many seconds queued add one priority level
    half_life_s: float = 3600.0  # an account's used QPU seconds count half after this long


@dataclass(frozen=True)
class Task:
    key: str
    priority: int
    account: str
    queued_at: float
    estimate_s: float


@dataclass
class FairShare:
    """Each account's QPU seconds, decayed exponentially (kept as value-at-instant per account)."""

    half_life_s: float
    _used: dict[str, tuple[float, float]] = field(default_factory=dict)

    def _decayed(self, value: float, since: float, now: float) -> float:
        if self.half_life_s <= 0 or now <= since:
            return value
        return value * math.pow(0.5, (now - since) / self.half_life_s)

    def add(self, account: str, seconds: float, at: float) -> None:
        value, since = self._used.get(account, (0.0, at))
        if at >= since:
            self._used[account] = (self._decayed(value, since, at) + seconds, at)
        else:  # an older record (a store read in any order): decay it to the account's instant
            self._used[account] = (value + self._decayed(seconds, at, since), since)

    def used(self, account: str, now: float) -> float:
        value, since = self._used.get(account, (0.0, now))
        return self._decayed(value, since, now)

    @classmethod
    def of(cls, half_life_s: float, records: Iterable[tuple[str, float, float]]) -> FairShare:
        """From (account, seconds, ended at) records."""
        fs = cls(half_life_s)
        for account, seconds, at in sorted(records, key=lambda r: r[2]):
            fs.add(account, seconds, at)
        return fs


def effective_priority(task: Task, now: float, policy: Policy) -> int:
    waited = max(0.0, now - task.queued_at)
    return task.priority + (int(waited // policy.age_boost_s) if policy.age_boost_s > 0 else 0)


def order(tasks: Iterable[Task], now: float, usage: FairShare, policy: Policy,
          shares: Mapping[str, float] | None = None) -> list[Task]:
    """The queue in dispatch order."""

    def key(t: Task) -> tuple[int, float, float, str]:
        share = (shares or {}).get(t.account, 1.0) or 1.0
        return (-effective_priority(t, now, policy), usage.used(t.account, now) / share, t.queued_at, t.key)

    return sorted(tasks, key=key)


def fits(now: float, estimate_s: float, next_block: float | None) -> bool:
    """Whether a task started now ends before the next window (None: no window ahead)."""
    return next_block is None or now + estimate_s <= next_block


@dataclass(frozen=True)
class Choice:
    dispatch: list[Task]  # in this order, at most the free slots
    held: list[Task]  # would run into the next window: kept until it has passed


def vendor_slots(slots: int, in_flight: Sequence[tuple[float | None, float]], now: float) -> list[float]:
    """When each of the QPU's `slots` is free, given the tasks forwarded to the service already
    ((started at, estimated seconds) in forwarding order; started None: waiting in its FIFO).
    A running task that overran its estimate may end any moment (now)."""
    heap = [now] * max(1, slots)
    for started, est in in_flight:
        if started is not None:  # it holds a slot: the earliest free one is the one it took
            heapq.heapreplace(heap, max(now, started + est))
    for started, est in in_flight:
        if started is None:  # the service's FIFO: it starts when the first slot frees
            heapq.heapreplace(heap, heap[0] + est)
    return sorted(heap)


def choose(tasks: Sequence[Task], free_slots: int, now: float, usage: FairShare, policy: Policy,
           next_block: float | None, blocked_now: bool, shares: Mapping[str, float] | None = None,
           slot_free: Sequence[float] | None = None) -> Choice:
    """What to dispatch now: nothing while a window is open; else the first tasks in order that
    end before the next window, as many as `free_slots` (what may be forwarded now: free slots
    plus the lookahead's room in the service's queue). `slot_free`: when each QPU slot is free
    (vendor_slots; default: all now), so that a task that would wait at the service is checked
    against the window from when it would start there."""
    if blocked_now or free_slots <= 0:
        return Choice([], [])
    heap = sorted(max(now, f) for f in slot_free) if slot_free else [now] * free_slots
    go: list[Task] = []
    held: list[Task] = []
    for t in order(tasks, now, usage, policy, shares):
        if len(go) >= free_slots:
            break
        start = heap[0]
        if fits(start, t.estimate_s, next_block):
            go.append(t)
            heapq.heapreplace(heap, start + t.estimate_s)
        else:
            held.append(t)
    return Choice(go, held)


def overtaken(new: Task, queued: Iterable[Task], now: float, usage: FairShare, policy: Policy,
              shares: Mapping[str, float] | None = None) -> list[Task]:
    """The queued tasks that were ahead of `new` (queued before it) and that it now precedes:
    the tasks it preempts."""
    earlier = [t for t in queued if t.key != new.key and t.queued_at <= new.queued_at]
    ranked = order([*earlier, new], now, usage, policy, shares)
    return ranked[ranked.index(new) + 1 :]


def estimate(shots: int, seconds_per_shot: float, overhead_s: float) -> float:
    """A task's QPU seconds from its shots (learned seconds per shot of the QPU, plus a fixed cost)."""
    return overhead_s + max(0, shots) * max(0.0, seconds_per_shot)
