"""Task-level sharing: qrmid's queue of the tasks jobs submit to a QPU in ``task`` sharing mode.

Up to ``sharing.max_jobs`` jobs hold such a QPU at once (the broker admits them; Slurm's
license count is the same number), but only ``slots`` of their tasks run on it at a time.
A task-creating request through the proxy (IBM ``POST /v1/jobs``, Pasqal ``POST
…/v1/batches``) becomes a row in the ``tasks`` table (task_store.py):

- when a slot is free and the policy picks it, it is forwarded at once and the job gets the
  service's answer (the service's id);
- otherwise qrmid answers as the service answers a task that waits (IBM ``Queued``, Pasqal
  ``PENDING``) under an id it mints, which is owned by the job's acquisition like any id the
  proxy recorded (another job's minted id is refused as any other job's object is). Polls of
  a queued task are answered by qrmid (queued_answers.py); once it is dispatched, the minted
  ids are translated to the service's ids on the way out.

Every ``poll_s`` qrmid asks the service (with the site's credential) about the tasks it
dispatched; when one has ended its slot is free, its QPU seconds are recorded and the next
queued task is dispatched by the policy of dispatch.py (priority with an age boost, then the
account's decayed fair-share, then age; nothing that would run into a calibration window).

Lookahead (``sharing.lookahead``): up to ``slots + lookahead`` tasks are forwarded, so the
service's own FIFO holds the next task(s) and starts one the moment another ends, with no
poll in between. The policy still picks which task is forwarded next; a forwarded task can no
longer be overtaken or held, so the window rule judges it from when it would start at the
service (dispatch.vendor_slots). Its start and end are the service's own (service_times.py):
forwarded-but-waiting shows as waiting at the service, not running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from qrmid import dispatch, service_times, utilisation
from qrmid import queued_answers as qa
from qrmid import task_store as ts
from qrmid import vendor_routes as vr
from qrmid.config import Config
from qrmid.store import Store, StoreUnavailable
from qrmid.windows import active_window, next_window_start

if TYPE_CHECKING:
    from qrmid.metrics import Metrics
    from qrmid.proxy import CredentialExchange, JobGrant, Prepared, Upstream

log = logging.getLogger("qrmid.tasks")

CREATE_ROUTES = {"job.create": "ibm-job", "batch.create": "pasqal-batch"}
CANCEL_ROUTES = frozenset({"job.cancel", "job.delete", "batch.cancel.v1", "batch.cancel.v2", "job.cancel.v1",
                           "job.cancel.v2"})
STATUS_ROUTE = {"ibm-job": ("GET", "v1/jobs/{id}", {"exclude_params": "true"}),
                "pasqal-batch": ("GET", "core-fast/api/v1/batches/{id}", {})}
MAX_PARTS = 1000  # jobs of one Pasqal batch that get minted ids


@dataclass(frozen=True)
class Local:
    """qrmid's own answer to a request about a task it holds."""

    status: int
    content: bytes


class TaskQueue:
    def __init__(self, config: Config, store: Store, exchange: CredentialExchange, metrics: Metrics | None = None,
                 blocked: Callable[[str], bool] | None = None):
        self.config = config
        self.store = store
        self.exchange = exchange
        self.metrics = metrics
        self.policy = dispatch.Policy(config.task_sharing.age_boost_s, config.task_sharing.half_life_s)
        self.qpus = [q.name for q in config.qpus if q.task_mode and exchange.proxied(q.name) is not None]
        self._locks = {q: asyncio.Lock() for q in self.qpus}
        self._tz = config.timezone
        # (qpu) -> whether a window or the operator's maintenance switch blocks the QPU now (the broker's view)
        self._blocked = blocked
        self._background: set[asyncio.Task[None]] = set()
        self._timing: set[str] = set()  # tasks whose service times are being asked for (IBM metrics)

    def shares(self, qpu: str) -> bool:
        return qpu in self._locks

    # ------------------------------------------------------------ the proxy's hooks
    def queues(self, p: Prepared) -> bool:
        return p.grant is not None and p.match.route.name in CREATE_ROUTES and self.shares(p.resource.name)

    def resolve(self, p: Prepared, name: str, value: str) -> str | Local:
        """The id to send for an id the job named: the service's id for a minted one that was
        dispatched; qrmid's own answer when the task is still queued (or ended before it ran)."""
        assert p.grant is not None
        found = self.store.tasks.alias(p.grant.qpu, value)
        if found is None:
            return value
        task_id, remote = found
        row = self.store.tasks.get(task_id)
        if remote is not None or row is None:
            return remote or value
        route = p.match.route.name
        if route in CANCEL_ROUTES:
            self.store.tasks.finish(task_id, ts.CANCELLED, "cancelled by the job while queued at qrmid")
            row = self.store.tasks.get(task_id) or row
            if route in ("job.cancel", "job.delete"):
                return Local(204, b"")
            route = "batch.v1" if route.startswith("batch") else "job.v1"
        body = qa.body_of(row, row["body"])
        status, content = qa.local(route, row, body, self.store.tasks.parts(task_id), value, p.grant.session)
        return Local(status, content)

    async def submit(self, p: Prepared, content: bytes | None) -> Upstream:
        """Queue a task-creating request; forward it at once when the policy dispatches it now."""
        from qrmid.proxy import Upstream

        assert p.grant is not None
        grant, qpu = p.grant, p.grant.qpu
        kind = CREATE_ROUTES[p.match.route.name]
        doc = vr.parse_json_object(content or b"{}")
        acq = self.store.get(grant.acquisition_id)
        if acq is None:
            raise vr.Refused(401, "credential expired: the job's QPU acquisition has ended")
        mine = [t for t in self.store.tasks.in_state(qpu, ts.QUEUED) if t["acquisition_id"] == acq["id"]]
        if len(mine) >= self.config.task_sharing.max_queued_per_job:
            raise vr.Refused(429, f"this job has {len(mine)} tasks queued on {qpu} (at most "
                                  f"{self.config.task_sharing.max_queued_per_job}); wait for one to finish")
        shots = qa.ibm_shots(doc) if kind == "ibm-job" else qa.pasqal_shots(doc)
        parts = [str(uuid.uuid4()) for _ in qa.pasqal_jobs(doc)[:MAX_PARTS]] if kind == "pasqal-batch" else []
        now = time.time()
        row: ts.TaskRow = {
            "id": str(uuid.uuid4()), "acquisition_id": acq["id"], "qpu": qpu, "kind": kind, "state": ts.QUEUED,
            "priority": int(acq["priority"]), "account": acq["user"], "remote_id": None,
            "body": ts.dumps_body(doc), "shots": shots, "estimate_s": self.estimate(qpu, shots),
            "queued_at": now, "dispatched_at": None, "started_at": None, "ended_at": None, "qpu_seconds": None,
            "preempted": 0, "status": None, "message": None,
        }
        async with self._locks[qpu]:
            self.store.tasks.add(row, parts)
            self._count(qpu, "queued")
            usage = self._usage(qpu, now)
            queued = [self._task(t) for t in self.store.tasks.in_state(qpu, ts.QUEUED)]
            new = self._task(row)
            passed = dispatch.overtaken(new, queued, now, usage, self.policy)
            self.store.tasks.overtaken([t.key for t in passed])
            choice = self._choose(qpu, now, queued, usage)
            answer: Upstream | None = None
            for t in choice.dispatch:
                if t.key == row["id"]:
                    answer = await self._forward(row, grant, content)
                else:
                    self._spawn(self._dispatch_one(t.key))
        if answer is not None:
            return answer
        current = self.store.tasks.get(row["id"]) or row
        body = doc
        if kind == "ibm-job":
            created = {"id": row["id"], "backend": qpu, "session_id": grant.session, "private": False}
            return Upstream(200, httpx.Headers({"content-type": "application/json"}), json.dumps(created).encode())
        answer_doc = qa.jsend(qa.pasqal_batch(current, body, parts, v2=False))
        return Upstream(200, httpx.Headers({"content-type": "application/json"}), json.dumps(answer_doc).encode())

    # ------------------------------------------------------------ dispatch
    def estimate(self, qpu: str, shots: int) -> float:
        cfg = self.config.task_sharing
        learned = self.store.tasks.seconds_per_shot(qpu)
        per_shot = learned[0] if learned is not None and learned[1] >= cfg.learn_after else cfg.seconds_per_shot
        return dispatch.estimate(shots, per_shot, cfg.overhead_s)

    @staticmethod
    def _task(row: ts.TaskRow) -> dispatch.Task:
        return dispatch.Task(row["id"], int(row["priority"]), row["account"], float(row["queued_at"]),
                             float(row["estimate_s"]))

    def _usage(self, qpu: str, now: float) -> dispatch.FairShare:
        horizon = now - 8 * self.policy.half_life_s
        return dispatch.FairShare.of(self.policy.half_life_s, self.store.tasks.usage(qpu, horizon))

    def window(self, qpu: str, now: float) -> tuple[bool, float | None, str]:
        """(blocked now, start of the next block, its name) of the QPU's windows and maintenance."""
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(self._tz)
        windows = self.config.qpu(qpu).calibration_windows
        at = datetime.fromtimestamp(now, UTC)
        if active_window(windows, at, tz) is not None:
            return True, None, "a calibration window is open"
        if self._blocked is not None and self._blocked(qpu):
            return True, None, "operator maintenance"
        nxt = next_window_start(windows, at, tz)
        return False, (nxt.timestamp() if nxt else None), "the next calibration window"

    def _choose(self, qpu: str, now: float, queued: list[dispatch.Task], usage: dispatch.FairShare) -> dispatch.Choice:
        cfg = self.config.qpu(qpu)
        forwarded = sorted(self.store.tasks.in_state(qpu, ts.DISPATCHED), key=lambda r: r["dispatched_at"] or 0.0)
        # what may be forwarded now: the free slots and the room the lookahead gives in the service's queue
        free = cfg.slots + cfg.sharing.lookahead - len(forwarded)
        slot_free = dispatch.vendor_slots(cfg.slots, [(r["started_at"], float(r["estimate_s"])) for r in forwarded],
                                          now)
        blocked, nxt, what = self.window(qpu, now)
        choice = dispatch.choose(queued, free, now, usage, self.policy, nxt, blocked, slot_free=slot_free)
        for t in choice.held:
            when = datetime.fromtimestamp(nxt or now, UTC).isoformat(timespec="seconds")
            self.store.tasks.set_message(t.key, f"held: its estimated {t.estimate_s:.0f} s would run into {what} "
                                                f"at {when}")
        if blocked:
            for t in queued:
                self.store.tasks.set_message(t.key, f"held: {what}")
        elif free <= 0:
            ahead = f" and {cfg.sharing.lookahead} wait(s) at the service" if cfg.sharing.lookahead else ""
            for t in queued:
                self.store.tasks.set_message(t.key, f"queued: {qpu}'s {cfg.slots} slot(s) run other tasks{ahead}")
        return choice

    async def pump(self, qpu: str) -> None:
        async with self._locks[qpu]:
            now = time.time()
            rows = self.store.tasks.in_state(qpu, ts.QUEUED)
            live: dict[str, bool] = {}
            for r in rows:
                if r["acquisition_id"] not in live:
                    acq = self.store.get(r["acquisition_id"])
                    live[r["acquisition_id"]] = acq is not None and acq["state"] == "granted"
                    if not live[r["acquisition_id"]]:
                        self.acquisition_ended(r["acquisition_id"])
            queued = [self._task(r) for r in rows if live[r["acquisition_id"]]]
            if not queued:
                return
            choice = self._choose(qpu, now, queued, self._usage(qpu, now))
            for t in choice.dispatch:
                await self._dispatch_locked(t.key)

    async def _dispatch_one(self, task_id: str) -> None:
        row = self.store.tasks.get(task_id)
        if row is None:
            return
        try:
            async with self._locks[row["qpu"]]:
                await self._dispatch_locked(task_id)
        except (StoreUnavailable, httpx.HTTPError, vr.Refused) as exc:  # the task is failed already, or stays queued
            log.warning("dispatch of task %s on %s: %s", task_id, row["qpu"], exc)

    async def _dispatch_locked(self, task_id: str) -> None:
        row = self.store.tasks.get(task_id)
        if row is None or row["state"] != ts.QUEUED:
            return
        grant = self.exchange.grant_of(row["acquisition_id"], row["qpu"])
        if grant is None:
            self.store.tasks.finish(task_id, ts.CANCELLED, "the job's QPU acquisition ended before the task ran")
            self._count(row["qpu"], "cancelled")
            return
        await self._forward(row, grant, (row["body"] or "{}").encode())

    async def _forward(self, row: ts.TaskRow, grant: JobGrant, content: bytes | None) -> Upstream:
        """Send a queued task upstream as the job would have; record the service's ids."""
        kind = row["kind"]
        path = "v1/jobs" if kind == "ibm-job" else "core-fast/api/v1/batches"
        p = self.exchange.prepared(row["qpu"], "POST", path, {}, grant)
        try:
            resp = await self.exchange.forward(p, {}, vr.rewrite_body(p.match.route.body, content or b"{}",
                                                                         p.context))
        except (vr.Refused, httpx.HTTPError) as exc:
            self.store.tasks.finish(row["id"], ts.FAILED, f"the QPU service did not take the task: {exc}")
            self._count(row["qpu"], "failed")
            raise
        if resp.status_code >= 300:
            text = resp.content[:300].decode(errors="replace")
            self.store.tasks.finish(row["id"], ts.FAILED, f"the QPU service refused the task ({resp.status_code}): "
                                                          f"{text}", status=str(resp.status_code))
            self._count(row["qpu"], "failed")
            return resp
        remote, parts = _created(kind, resp.content)
        if remote is None:
            self.store.tasks.finish(row["id"], ts.FAILED, "the QPU service's answer named no task id")
            self._count(row["qpu"], "failed")
            return resp
        now = time.time()
        self.store.tasks.dispatched(row["id"], remote, parts, now)
        self._count(row["qpu"], "dispatched")
        if self.metrics is not None:
            self.metrics.task_queued_seconds.labels(row["qpu"]).inc(max(0.0, now - row["queued_at"]))
        return resp

    # ------------------------------------------------------------ polling
    async def run(self) -> None:
        """Every poll_s: the service's view of the dispatched tasks, then dispatch."""
        while True:
            try:
                await self.tick()
            except Exception:  # the loop must survive one bad round
                log.exception("task queue round failed")
            await asyncio.sleep(self.config.task_sharing.poll_s)

    async def tick(self) -> None:
        """Ask the service about dispatched tasks; free their slots when they ended; dispatch."""
        for qpu in self.qpus:
            try:
                for row in self.store.tasks.in_state(qpu, ts.DISPATCHED):
                    await self._poll(row)
                await self.pump(qpu)
            except (StoreUnavailable, httpx.HTTPError, vr.Refused) as exc:
                log.warning("task queue of %s: %s", qpu, exc)
        self.refresh_gauges()

    async def _poll(self, row: ts.TaskRow) -> None:
        from qrmid.proxy import JobGrant

        method, template, query = STATUS_ROUTE[row["kind"]]
        grant = JobGrant(row["acquisition_id"], row["qpu"], None, time.time() + 60)
        p = self.exchange.prepared(row["qpu"], method, template.format(id=row["remote_id"]), query, grant)
        resp = await self.exchange.forward(p, {}, None)  # an answer that shows the end calls seen()
        if resp.status_code == 404:
            self.store.tasks.finish(row["id"], ts.FAILED, "the QPU service no longer knows the task")
            self._count(row["qpu"], "failed")

    def seen(self, route: str, qpu: str, content: bytes) -> None:
        """An answer of the service about a task (to a job's poll or qrmid's own): when it shows a
        dispatched task ended, its slot is free now and the next task is dispatched at once."""
        try:
            doc = json.loads(content)
        except ValueError:
            return
        mark = service_times.progress(route, doc)
        ended = utilisation.ended_task(route, doc)
        if ended is None:
            if mark is not None and mark.started:
                self._started(qpu, mark)
            return
        row = self.store.tasks.running(qpu, ended[0])
        if row is None:
            return
        data = doc.get("data") if row["kind"] == "pasqal-batch" else doc
        status = data.get("status") if isinstance(data, dict) else None
        # the service's end: Pasqal says it; IBM's is its start plus the QPU seconds it reports
        started = mark.started_at if mark is not None and mark.started_at is not None else row["started_at"]
        end = mark.ended_at if mark is not None else None
        if end is None and row["kind"] == "ibm-job" and started is not None and ended[1] > 0:
            end = started + ended[1]
        if self.store.tasks.finish(row["id"], ts.ENDED, None, status=str(status)[:40] if status else None,
                                   qpu_seconds=ended[1], at=end):
            self._count(qpu, "ended")
            self._spawn(self._pump_logged(qpu))
            if mark is not None and mark.started_at is not None:
                self.store.tasks.started(row["id"], mark.started_at)
            elif row["kind"] == "ibm-job" and ended[1] > 0:
                self._ask_times(row, "end")  # the service's own start and end (qrmid's may be a poll late)

    def _started(self, qpu: str, mark: service_times.Progress) -> None:
        """The service started a forwarded task (it no longer waits in the service's queue)."""
        row = self.store.tasks.running(qpu, mark.task)
        if row is None or (row["started_at"] is not None and mark.started_at is None):
            return
        if mark.started_at is not None:
            if row["started_at"] != mark.started_at:
                self.store.tasks.started(row["id"], mark.started_at)
            return
        self.store.tasks.started(row["id"], time.time())  # as seen; the service's own start follows
        if row["kind"] == "ibm-job":
            self._ask_times(row, "start")

    def _ask_times(self, row: ts.TaskRow, at: str) -> None:
        key = f"{row['id']}:{at}"
        if key not in self._timing and row["remote_id"]:
            self._timing.add(key)
            self._spawn(self._ibm_times(row, key))

    async def _ibm_times(self, row: ts.TaskRow, key: str) -> None:
        """An IBM task's start and end by the service's clock (its metrics' timestamps)."""
        from qrmid.proxy import JobGrant

        try:
            grant = JobGrant(row["acquisition_id"], row["qpu"], None, time.time() + 60)
            p = self.exchange.prepared(row["qpu"], "GET", f"v1/jobs/{row['remote_id']}/metrics", {}, grant)
            resp = await self.exchange.forward(p, {}, None)
            if resp.status_code != 200:
                return
            running, finished = service_times.ibm_metrics(json.loads(resp.content))
            self.store.tasks.service_times(row["id"], running, finished)
        except (StoreUnavailable, httpx.HTTPError, vr.Refused, ValueError) as exc:
            log.warning("service times of task %s on %s: %s", row["id"], row["qpu"], exc)
        finally:
            self._timing.discard(key)

    async def _pump_logged(self, qpu: str) -> None:
        try:
            await self.pump(qpu)
        except (StoreUnavailable, httpx.HTTPError, vr.Refused) as exc:
            log.warning("task queue of %s: %s", qpu, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def acquisition_ended(self, acquisition_id: str) -> None:
        """A job's acquisition ended: its queued tasks will never run."""
        self.store.tasks.cancel_queued_of(acquisition_id, "the job's QPU acquisition ended before the task ran")

    # ------------------------------------------------------------ metrics
    def _count(self, qpu: str, event: str) -> None:
        if self.metrics is not None:
            self.metrics.tasks.labels(qpu, event).inc()

    def refresh_gauges(self) -> None:
        if self.metrics is None:
            return
        counts = self.store.tasks.counts()
        for qpu in self.qpus:
            self.metrics.task_queue.labels(qpu).set(counts.get((qpu, ts.QUEUED), 0))
            self.metrics.tasks_running.labels(qpu).set(counts.get((qpu, ts.DISPATCHED), 0))


def _created(kind: str, content: bytes) -> tuple[str | None, list[str]]:
    """The service's id of a created task, and (Pasqal) its jobs' ids in order."""
    try:
        doc = json.loads(content)
    except ValueError:
        return None, []
    if kind == "ibm-job":
        i = doc.get("id") if isinstance(doc, dict) else None
        return (i if isinstance(i, str) and vr.ID.fullmatch(i) else None), []
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not vr.ID.fullmatch(data["id"]):
        return None, []
    jobs = data.get("jobs")
    parts = [j["id"] for j in jobs if isinstance(j, dict) and isinstance(j.get("id"), str)] if isinstance(jobs, list) \
        else []
    return data["id"], [p for p in parts if vr.ID.fullmatch(p)]
