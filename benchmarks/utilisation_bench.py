"""Reference-trace benchmark: job-exclusive QPU holds (today) against task-level sharing.

A fast simulation (the same trace, both policies, one run); the time-scaled replay of a slice
of it on a real local Slurm with qrmid and the emulator is benchmarks/replay_bench.py. The sharing policy is
qrmid's own: the simulation calls services/qrmid/qrmid/dispatch.py, the module qrmid's task
queue dispatches with (docs/qrmid.md, "Task-level sharing").

    .venv/bin/python benchmarks/utilisation_bench.py [--jobs 10000] [--seed 1] [--nodes 32]
        [--share 8] [--json out.json]

The trace (every parameter with its source or assumption):

- One QPU, one execution slot; a quantum partition of ``--nodes`` nodes (assumption: a
  site dedicates a partition to QPU jobs, as the lab does).
- Job kinds (assumption, after the shapes in arXiv 2604.14955 "Three ways to share a QPU":
  hybrid variational loops with classical phases between short quantum tasks, short
  sampling jobs, long production runs):
  * variational, 50 %: 1-4 nodes, 20-80 iterations, each a 2-8 s quantum task then a 5-30 s
    classical optimiser step;
  * sampling, 35 %: 1 node, 1-3 tasks of 5-60 s, 1-5 s of classical work around each;
  * production, 15 %: 4-8 nodes, 5-15 tasks of 60-240 s with 30-120 s of classical work.
- Accounts and profiles: ``chem`` (production profile, priority 50, 50 % share), ``ml`` and
  ``edu`` (development profile, priority 10, 30 % and 20 %) (assumption, the lab's two
  profiles plus a third account).
- Arrivals: Poisson, rate set so that the offered QPU work is 80 % of the QPU's available time
  (assumption: a busy but not saturated QPU; no public per-job QPU trace exists).
- A 30-minute calibration window every day at 02:00 (the lab model's window).

Policies:

- exclusive (today): a job holds the QPU's one license from start to end; jobs start in FIFO
  order when nodes and the license are free; a task submitted during a window waits for its
  end, the job holding its nodes (no reservations: today's rollout).
- sharing: the license is opened to ``--share`` concurrent jobs; each task queues at qrmid,
  which dispatches by qrmid's dispatch.choose(): profile priority with an age boost, then the
  account's decayed fair-share (QPU seconds used over its share), then age; no task starts
  that would run into a window (durations are known to the simulation: an oracle; qrmid
  estimates them from shots), shorter ones that end before it still run.

Figures per policy: QPU utilisation (busy over available time from the first arrival to the
last completion) against the work-conserving bound (offered work over available time across
the arrival span, at most 1); HPC node-seconds idle waiting for the QPU (nodes allocated to a
job while it waits for the QPU beyond its own task's execution: queueing and window waits;
plus nodes of the partition left free while the queue's head waits only for the license);
turnaround p50/p95 per profile; each account's share of QPU time against its entitlement.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services" / "qrmid"))
from qrmid import dispatch  # noqa: E402 - qrmid's policy module (standard library only)

DAY = 86400.0
WINDOW_START, WINDOW_LEN = 2 * 3600.0, 1800.0
ACCOUNTS = {"chem": ("production", 50, 0.5), "ml": ("development", 10, 0.3), "edu": ("development", 10, 0.2)}


@dataclass
class Job:
    id: int
    arrival: float
    account: str
    nodes: int
    phases: list[tuple[float, float]]  # (quantum task seconds, classical seconds after it)
    start: float = 0.0
    end: float = 0.0
    waited: float = 0.0  # node-idle seconds waiting on the QPU beyond its own execution
    next_phase: int = 0

    @property
    def profile(self) -> str:
        return ACCOUNTS[self.account][0]

    @property
    def priority(self) -> int:
        return ACCOUNTS[self.account][1]


def trace(n: int, seed: int) -> list[Job]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible trace, not a secret
    jobs = []
    for i in range(n):
        account = rng.choices(list(ACCOUNTS), weights=[a[2] for a in ACCOUNTS.values()])[0]
        kind = rng.choices(["variational", "sampling", "production"], weights=[50, 35, 15])[0]
        if kind == "variational":
            nodes = rng.randint(1, 4)
            phases = [(rng.uniform(2, 8), rng.uniform(5, 30)) for _ in range(rng.randint(20, 80))]
        elif kind == "sampling":
            nodes = 1
            phases = [(rng.uniform(5, 60), rng.uniform(1, 5)) for _ in range(rng.randint(1, 3))]
        else:
            nodes = rng.randint(4, 8)
            phases = [(rng.uniform(60, 240), rng.uniform(30, 120)) for _ in range(rng.randint(5, 15))]
        jobs.append(Job(i, 0.0, account, nodes, phases))
    work = sum(q for j in jobs for q, _ in j.phases)
    available_fraction = 1 - WINDOW_LEN / DAY
    span = work / (0.8 * available_fraction)  # offered load 80 % of available QPU time
    t = 0.0
    for j in jobs:
        t += rng.expovariate(n / span)
        j.arrival = t
    return jobs


def window_end_if_open(t: float) -> float | None:
    into = (t - WINDOW_START) % DAY
    return t - into + WINDOW_LEN if into < WINDOW_LEN else None


def next_window(t: float) -> float:
    start = (t // DAY) * DAY + WINDOW_START
    return start if start > t else start + DAY


def available(a: float, b: float) -> float:
    """Seconds of [a, b] outside the daily window."""
    total, t = 0.0, a
    while t < b:
        w = next_window(t - WINDOW_LEN)  # the window that may cover t
        if w <= t < w + WINDOW_LEN:
            t = min(b, w + WINDOW_LEN)
            continue
        nxt = min(b, next_window(t))
        total += nxt - t
        t = nxt
    return total


@dataclass(order=True)
class Event:
    at: float
    seq: int
    kind: str = field(compare=False)
    job: Job | None = field(compare=False, default=None)


class Sim:
    def __init__(self, jobs: list[Job], nodes: int, share: int, exclusive: bool):
        self.jobs = [Job(j.id, j.arrival, j.account, j.nodes, j.phases) for j in jobs]
        self.free_nodes, self.share, self.exclusive = nodes, share, exclusive
        self.events: list[Event] = []
        self.seq = 0
        self.queue: list[Job] = []  # Slurm's FIFO
        self.running = 0
        self.task_queue: list[tuple[Job, int, float]] = []  # (job, phase index, queued at)
        self.qpu_busy_until = 0.0
        self.qpu_busy = 0.0
        self.used: dict[str, float] = defaultdict(float)
        self.policy = dispatch.Policy()
        self.fair = dispatch.FairShare(self.policy.half_life_s)
        self.shares = {a: v[2] for a, v in ACCOUNTS.items()}
        self.idle_partition = 0.0
        self.last_t = 0.0

    def push(self, at: float, kind: str, job: Job | None = None) -> None:
        self.seq += 1
        heapq.heappush(self.events, Event(at, self.seq, kind, job))

    def run(self) -> dict[str, Any]:
        for j in self.jobs:
            self.push(j.arrival, "arrive", j)
        while self.events:
            ev = heapq.heappop(self.events)
            self._account_partition(ev.at)
            if ev.kind == "arrive":
                self.queue.append(ev.job)  # type: ignore[arg-type]
            elif ev.kind == "phase":
                self._submit(ev.job, ev.at)  # type: ignore[arg-type]
            elif ev.kind == "qpu_free" or ev.kind == "window_end":
                pass
            elif ev.kind == "end":
                job = ev.job
                assert job is not None
                self.free_nodes += job.nodes
                self.running -= 1
            self._start_jobs(ev.at)
            self._dispatch(ev.at)
        return self._report()

    def _account_partition(self, t: float) -> None:
        # nodes left free while the queue's head could start but for the QPU license
        if self.queue and self.queue[0].nodes <= self.free_nodes and self._license_busy():
            self.idle_partition += self.free_nodes * (t - self.last_t)
        self.last_t = t

    def _license_busy(self) -> bool:
        return self.running >= (1 if self.exclusive else self.share)

    def _start_jobs(self, t: float) -> None:
        while self.queue and self.queue[0].nodes <= self.free_nodes and not self._license_busy():
            job = self.queue.pop(0)
            self.free_nodes -= job.nodes
            self.running += 1
            job.start = t
            self.push(t, "phase", job)

    def _submit(self, job: Job, t: float) -> None:
        i = job.next_phase
        if i >= len(job.phases):
            job.end = t
            self.push(t, "end", job)
            return
        self.task_queue.append((job, i, t))

    def _choose(self, t: float) -> tuple[Job, int, float] | None:
        """qrmid's dispatch.choose() on the queue (one slot); None: nothing may start now."""
        by_key = {f"{j.id}:{i}": (j, i, q) for j, i, q in self.task_queue}
        tasks = [dispatch.Task(k, j.priority, j.account, q, j.phases[i][0]) for k, (j, i, q) in by_key.items()]
        blocked = window_end_if_open(t) is not None
        choice = dispatch.choose(tasks, 1, t, self.fair, self.policy, next_window(t), blocked, self.shares)
        if not choice.dispatch:
            return None
        picked = by_key[choice.dispatch[0].key]
        self.task_queue.remove(picked)
        return picked

    def _dispatch(self, t: float) -> None:
        while self.task_queue and self.qpu_busy_until <= t and not self.exclusive:
            picked = self._choose(t)
            if picked is None:  # a window is open, or nothing queued ends before the next one
                end = window_end_if_open(t) or next_window(t) + WINDOW_LEN
                self.push(end, "window_end")
                self.qpu_busy_until = end
                return
            job, i, queued = picked
            seconds, classical = job.phases[i]
            job.waited += (t - queued) * job.nodes
            self.qpu_busy += seconds
            self.used[job.account] += seconds
            self.fair.add(job.account, seconds, t + seconds)
            self.qpu_busy_until = t + seconds
            job.next_phase = i + 1
            self.push(t + seconds + classical, "phase", job)
            self.push(t + seconds, "qpu_free")
        while self.task_queue and self.qpu_busy_until <= t and self.exclusive:
            job, i, queued = self.task_queue.pop(0)
            seconds, classical = job.phases[i]
            start = t
            open_until = window_end_if_open(t)
            if open_until is not None:
                start = open_until
            if start > t:  # the job waits with its QPU held
                self.task_queue.insert(0, (job, i, queued))
                self.push(start, "window_end")
                self.qpu_busy_until = start
                return
            job.waited += (t - queued) * job.nodes
            self.qpu_busy += seconds
            self.used[job.account] += seconds
            self.qpu_busy_until = t + seconds
            job.next_phase = i + 1
            self.push(t + seconds + classical, "phase", job)
            self.push(t + seconds, "qpu_free")

    def _report(self) -> dict[str, Any]:
        first = min(j.arrival for j in self.jobs)
        last = max(j.end for j in self.jobs)
        work = sum(q for j in self.jobs for q, _ in j.phases)
        span_end = max(j.arrival for j in self.jobs)
        out: dict[str, Any] = {
            "utilisation": round(self.qpu_busy / available(first, last), 4),
            "bound": round(min(1.0, work / available(first, span_end)), 4),
            "idle_node_hours": round((sum(j.waited for j in self.jobs) + self.idle_partition) / 3600, 1),
            "makespan_days": round((last - first) / DAY, 2),
        }
        for profile in sorted({j.profile for j in self.jobs}):
            times = sorted(j.end - j.arrival for j in self.jobs if j.profile == profile)
            out[f"turnaround_p50_min[{profile}]"] = round(statistics.median(times) / 60, 1)
            out[f"turnaround_p95_min[{profile}]"] = round(times[int(0.95 * (len(times) - 1))] / 60, 1)
        total = sum(self.used.values())
        for account, (_, _, share) in ACCOUNTS.items():
            out[f"qpu_share[{account}] (entitled {share:.0%})"] = round(self.used[account] / total, 3)
        return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=10000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--nodes", type=int, default=32)
    p.add_argument("--share", type=int, default=8, help="concurrent jobs per QPU under sharing")
    p.add_argument("--json")
    a = p.parse_args()
    jobs = trace(a.jobs, a.seed)
    results = {
        "exclusive FIFO": Sim(jobs, a.nodes, a.share, exclusive=True).run(),
        "task-level sharing": Sim(jobs, a.nodes, a.share, exclusive=False).run(),
    }
    keys = list(results["exclusive FIFO"])
    width = max(map(len, keys))
    print(f"{'':{width}}  {'exclusive FIFO':>16}  {'task-level sharing':>18}")
    for k in keys:
        print(f"{k:{width}}  {results['exclusive FIFO'][k]!s:>16}  {results['task-level sharing'][k]!s:>18}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"jobs": a.jobs, "seed": a.seed, "nodes": a.nodes, "share": a.share, **results}, fh, indent=1)


if __name__ == "__main__":
    main()
