"""The acquisition state machine: admission (policy), waiting (slots, windows,
maintenance, priority among waiters), acquire/release through qrmi, job-scoped
credentials, hold deadlines, and recovery after a restart.

States: waiting → acquiring → granted → releasing → released, or → failed.
Every transition is committed to the store before it is acted on or announced.

Calls that open something at the service are bracketed by durable rows: the hold's
intent (state 'acquiring', started_at, the acquirer process) is committed before
the call, the token (the session id) by the acquirer process before it answers;
recover() releases every recorded token after a restart. The acquirer process also
releases the sessions it opened (on the qrmi instance that opened them, which it then
reuses); qrmid records each release's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets as pysecrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from qrmid import credentials as creds
from qrmid.acquirer import alive
from qrmid.config import CONTROL, Config
from qrmid.job_tokens import Signer, signer_for
from qrmid.metrics import Metrics
from qrmid.models import AcquireRequest, AcquisitionRow, HoldState, Outcome, State
from qrmid.policy import PolicyRefusal, decide
from qrmid.resources import QrmiResource
from qrmid.store import Store, StoreUnavailable
from qrmid.utilisation import Availability, UtilisationCollector, blocked_by
from qrmid.windows import Block, active_window

log = logging.getLogger("qrmid")

# retries of a failed release at the service: 1 s, 2 s, 4 s … at most every 60 s
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0


class UnknownQpu(Exception):
    pass


class FailFast(Exception):
    """The QPU is in a window/maintenance and the profile says fail: 409 with why and until when."""


class IdentityConflict(Exception):
    """The job id (on this cluster) has an acquisition of another user/uid: 409, and nothing of it."""


class UnsafeEnvironment(RuntimeError):
    """A variable qrmid would hand a job does not pass the allow-list (never emitted)."""


def check_environment(env: dict[str, str], qpus: list[str]) -> None:
    """Every key is one of the job variables (QRMI_*, QRMID_*, SLURM_JOB_QPU_*, <qpu>_QRMI_*) and
    no value holds a control character (the plugin's env= lines and the job's environment)."""
    prefixes = "|".join(re.escape(q) + "_QRMI" for q in qpus)
    allowed = re.compile(rf"^(QRMI|QRMID|SLURM_JOB_QPU{'|' + prefixes if prefixes else ''})_[A-Z0-9_]{{1,100}}$")
    for key, value in env.items():
        if not allowed.match(key):
            raise UnsafeEnvironment(f"refusing to hand a job the variable {key!r}: not a QRMI job variable")
        if CONTROL.search(value):
            raise UnsafeEnvironment(f"refusing to hand a job {key}: its value contains a control character")


@dataclass
class Waiter:
    event: asyncio.Event = field(default_factory=asyncio.Event)


def fmt_time(ts: float | None, tz: ZoneInfo) -> str:
    if ts is None:
        return "further notice"
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M %Z")


class Broker:
    def __init__(
        self,
        config: Config,
        store: Store,
        resources: dict[str, QrmiResource],
        metrics: Metrics,
        tokens: Signer | None = None,
    ):
        self.config = config
        # signs the job credentials (JWTs) that environment() hands out; qrmid's proxy verifies them
        self.tokens = tokens or signer_for(config.job_token_key_file, config.database)
        self.store = store
        self.resources = resources
        self.metrics = metrics
        self.tz = ZoneInfo(config.timezone)
        self._lock = asyncio.Lock()
        self._waiters: dict[str, Waiter] = {}
        # the process that calls qrmi's acquire() (shared by all resources); None: in-process
        self.acquirer = next((r.acquirer for r in resources.values() if r.acquirer is not None), None)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._finishing: dict[str, asyncio.Task[None]] = {}
        # releases whose record could not be written (database unavailable): retried by tick()
        self._unsaved_releases: dict[str, tuple[str, str | None]] = {}
        # failed releases at the service: acquisition id -> (attempts, next attempt at)
        self._retry: dict[str, tuple[int, float]] = {}
        self.availability = Availability(list(resources), self._blocked_seconds)
        metrics.registry.register(UtilisationCollector(self.utilisation))

    # ------------------------------------------------------------ blocks
    def block(self, qpu: str, now: float | None = None) -> Block | None:
        now = time.time() if now is None else now
        m = self.store.maintenance().get(qpu)
        if m and (m["until"] is None or m["until"] > now):
            until = datetime.fromtimestamp(m["until"], self.tz) if m["until"] else None
            return Block(kind="maintenance", name="maintenance", message=f"maintenance: {m['message']}", until=until)
        return active_window(self.config.qpu(qpu).calibration_windows, datetime.fromtimestamp(now, UTC), self.tz)

    def _blocked_seconds(self, qpu: str, a: float, b: float) -> float:
        return blocked_by(self.config.qpu(qpu).calibration_windows, self.store.maintenance().get(qpu), self.tz, a, b)

    def utilisation(self, now: float | None = None) -> dict[str, dict[str, float]]:
        """Per QPU: seconds available, held, executing; node-seconds waited (utilisation.py)."""
        now = time.time() if now is None else now
        totals = self.store.usage_totals(now)
        known = dict.fromkeys(self.resources, 0.0)
        return {
            "qrmid_qpu_available_seconds": self.availability.advance(now),
            "qrmid_qpu_held_seconds": {**known, **{q: v for q, v in totals["held"].items() if q in known}},
            "qrmid_qpu_executing_seconds": {**known, **{q: v for q, v in totals["executing"].items() if q in known}},
            "qrmid_qpu_wait_node_seconds": {**known, **{q: v for q, v in totals["wait_node"].items() if q in known}},
        }

    def _block_text(self, qpu: str, b: Block) -> str:
        until = b.until.strftime("%Y-%m-%d %H:%M %Z") if b.until else "further notice"
        return f"QPU {qpu} is unavailable ({b.message}) until {until}"

    # ------------------------------------------------------------ admission
    async def request(self, req: AcquireRequest) -> AcquisitionRow:
        """Admit or refuse a request; returns the (possibly existing) acquisition row. An acquisition
        is the job's on its cluster: (cluster, job id) names it, and only the same user and uid get
        it again; anyone else gets IdentityConflict and nothing of it."""
        qpus: list[str] = list(dict.fromkeys(req.qpus))  # keep order, drop repeats
        unknown = [q for q in qpus if q not in self.resources]
        if unknown:
            raise UnknownQpu(
                f"unknown QPU(s): {', '.join(unknown)}; this site has {', '.join(sorted(self.resources)) or 'none'}"
            )
        cluster = req.cluster or self.config.cluster
        existing = self.store.active_for_job(cluster, req.job_id)
        if existing is not None:
            if existing["user"] != req.user or existing["uid"] != req.uid:
                raise IdentityConflict(
                    f"job {req.job_id} on cluster {cluster} has an acquisition of another user; a job id is "
                    f"not reused while its acquisition is active (user {req.user}, uid {req.uid} refused)"
                )
            if sorted(existing["qpus"]) != sorted(qpus):
                raise PolicyRefusal(
                    f"job {req.job_id} already holds an acquisition for {', '.join(existing['qpus'])}"
                )
            return existing  # idempotent: a retried request gets the same acquisition
        decision = decide(
            self.config.policy_profiles,
            req.user,
            req.groups,
            qpus,
            req.time_limit_s,
            req.profile,
        )
        profile = decision.profile
        now = time.time()
        if profile.during_calibration == "fail":
            for q in qpus:
                b = self.block(q, now)
                if b is not None:
                    self.metrics.acquisitions.labels(q, "refused").inc()
                    raise FailFast(
                        self._block_text(q, b) + f"; profile '{profile.name}' fails fast during windows, "
                        "resubmit after the window (e.g. sbatch --begin=<time>)"
                    )
        acq: dict[str, Any] = {
            "id": "acq-" + pysecrets.token_hex(8),
            "cluster": cluster,
            "job_id": req.job_id,
            "user": req.user,
            "uid": req.uid,
            "profile": profile.name,
            "priority": profile.priority,
            "qpus": qpus,
            "state": State.WAITING,
            "message": "; ".join(decision.warnings) or None,
            "hold_s": decision.hold_s,
            "nodes": req.nodes,
            "wait_deadline": now + profile.max_wait_minutes * 60,
            "during_calibration": profile.during_calibration,
            "requested_at": now,
        }
        self.store.insert_acquisition(acq)
        await self.dispatch()
        row = self.store.get(acq["id"])
        assert row is not None
        return row

    async def wait_for_change(self, acq_id: str, timeout: float) -> AcquisitionRow | None:
        """Block until the acquisition leaves 'waiting'/'acquiring' or the timeout passes."""
        deadline = time.monotonic() + timeout
        while True:
            a = self.store.get(acq_id)
            if a is None or a["state"] not in (State.WAITING, State.ACQUIRING):
                return a
            left = deadline - time.monotonic()
            if left <= 0:
                return a
            w = self._waiters.setdefault(acq_id, Waiter())
            w.event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(w.event.wait(), left)

    def _notify(self, acq_id: str) -> None:
        w = self._waiters.get(acq_id)
        if w:
            w.event.set()

    # ------------------------------------------------------------ dispatch
    async def dispatch(self) -> None:
        """Grant what can be granted, in priority order; fail what waited too long."""
        async with self._lock:
            now = time.time()
            waiting = self.store.in_states(State.WAITING)
            if not waiting:
                return
            used = self.store.occupied()
            claimed: set[str] = set()  # QPUs a higher-priority waiter is first in line for
            waiting.sort(key=lambda a: (-a["priority"], a["requested_at"]))
            for a in waiting:
                blocks = {q: b for q in a["qpus"] if (b := self.block(q, now)) is not None}
                if blocks:
                    q, b = next(iter(blocks.items()))
                    text = self._block_text(q, b)
                    if a["during_calibration"] == "fail":
                        self._fail(a, Outcome.REFUSED, text + f"; profile '{a['profile']}' fails fast during windows")
                    elif now >= (a["wait_deadline"] or now):
                        self._fail(a, Outcome.TIMEOUT, text + "; waited the profile's maximum")
                    else:
                        self._set_message(a, "waiting: " + text)
                    continue
                busy = [q for q in a["qpus"] if used.get(q, 0) >= self.config.qpu(q).admitted or q in claimed]
                if busy:
                    if now >= (a["wait_deadline"] or now):
                        text = f"QPU {', '.join(busy)} stayed busy for the profile's maximum wait"
                        self._fail(a, Outcome.TIMEOUT, text)
                    else:
                        self._set_message(a, f"waiting: QPU {', '.join(busy)} is held by other jobs")
                        claimed.update(a["qpus"])
                    continue
                for q in a["qpus"]:
                    used[q] = used.get(q, 0) + 1
                self.store.update_acquisition(a["id"], state=State.ACQUIRING)
                task = asyncio.get_running_loop().create_task(self._acquire(a))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _set_message(self, a: AcquisitionRow, message: str) -> None:
        if a.get("message") != message:
            self.store.update_acquisition(a["id"], message=message)

    def _fail(self, a: AcquisitionRow, outcome: str, message: str) -> None:
        self.store.update_acquisition(
            a["id"], state=State.FAILED, outcome=outcome, message=message, released_at=time.time()
        )
        for q in a["qpus"]:
            self.metrics.acquisitions.labels(q, outcome).inc()
        self._notify(a["id"])

    async def _acquire(self, a: AcquisitionRow) -> None:
        try:
            worker = await self.acquirer.start() if self.acquirer is not None else None
            for q in a["qpus"]:
                # the intent, durable before the service is asked
                self.store.update_hold(
                    a["id"], q, state=HoldState.ACQUIRING, started_at=time.time(), worker=worker, qrmi_token=None
                )
                token = await self.resources[q].acquire(a["id"])
                if self.acquirer is None:  # the acquirer process has committed the token already
                    self.store.update_hold(a["id"], q, qrmi_token=token, state=HoldState.HELD, acquired_at=time.time())
        except Exception as exc:
            log.warning("acquire of %s for job %s failed: %s", a["qpus"], a["job_id"], exc)
            # whatever the store says was acquired (also a token the acquirer recorded after its answer was lost)
            for h in self.store.holds(a["id"]):
                if h["state"] == HoldState.HELD and h["qrmi_token"]:
                    await self._release_hold(a["id"], h["qpu"], h["qrmi_token"], h["worker"])
            self._fail(a, Outcome.FAILED, f"QRMI could not acquire {', '.join(a['qpus'])}: {exc}")
            await self.dispatch()
            return
        now = time.time()
        cur = self.store.get(a["id"])
        self.store.update_acquisition(a["id"], state=State.GRANTED, granted_at=now, deadline=now + a["hold_s"])
        for q in a["qpus"]:
            self.metrics.wait_seconds.labels(q).observe(now - a["requested_at"])
            self.metrics.acquisitions.labels(q, "granted").inc()
        if cur is not None and cur["outcome"]:
            # the job released while its acquire was in flight: never hand this out, release it
            self._notify(a["id"])
            await self.release(a["id"], cur["outcome"], cur["message"], wait_s=0)
            return
        self._notify(a["id"])

    # ------------------------------------------------------------ job view
    def environment(self, a: AcquisitionRow) -> dict[str, str]:
        """Mint job-scoped credentials and return the job's environment (granted acquisitions only)."""
        env: dict[str, str] = {}
        types = []
        timeout = max(1, int((a["deadline"] or time.time()) - time.time()))
        holds = {h["qpu"]: h for h in self.store.holds(a["id"])}
        for qpu in a["qpus"]:  # the job's order: QRMI_JOB_QPU_TYPES must line up with _RESOURCES
            h = holds[qpu]
            res = self.config.resource(qpu)
            assert res is not None
            types.append(res.type)
            credential = ""
            if res.type in creds.PROXY_TYPES:
                expires = a["deadline"] or time.time()
                credential = self.tokens.mint(kind="job-key", acquisition_id=a["id"], qpu=qpu, job_id=a["job_id"],
                                              cluster=a["cluster"], user=a["user"], expires_at=expires)
                self.store.add_credential(creds.digest(credential), a["id"], h["qpu"], "job-key", expires)
            s3_secret = self.tokens.derive("s3", credential) if res.type == "ibm-quantum-system" else ""
            env.update(creds.job_environment(res, self.config.public_url, credential, h["qrmi_token"] or "", timeout,
                                             s3_secret))
        names = ",".join(a["qpus"])
        env.update(
            {
                "QRMI_JOB_QPU_RESOURCES": names,
                "QRMI_JOB_QPU_TYPES": ",".join(types),
                "SLURM_JOB_QPU_RESOURCES": names,
                "SLURM_JOB_QPU_TYPES": ",".join(types),
                "QRMI_JOB_ID": a["job_id"],
                "QRMID_ACQUISITION_ID": a["id"],
            }
        )
        if a["uid"] is not None:
            env["QRMI_JOB_UID"] = str(a["uid"])
        check_environment(env, a["qpus"])
        return env

    # ------------------------------------------------------------ release
    async def release(
        self, acq_id: str, outcome: str = Outcome.RELEASED, reason: str | None = None, wait_s: float | None = None
    ) -> AcquisitionRow | None:
        """End an acquisition: its job credentials die at once (committed before this returns);
        qrmi's release at the service follows in the background, or within `wait_s` seconds
        (None: wait until done). The QPU slot is free once the service has released it.

        An acquisition whose acquire is in flight is marked (its outcome, durable): the acquire
        task releases it as soon as it lands, and it is never handed out. When the database
        cannot be written, the release is kept in memory, its credentials are dead in memory,
        and tick() commits it once the database takes writes again (StoreUnavailable is raised
        to the caller meanwhile)."""
        self._revoke_in_memory(acq_id)
        try:
            return await self._release(acq_id, outcome, reason, wait_s)
        except StoreUnavailable:
            self._unsaved_releases.setdefault(acq_id, (outcome, reason))
            raise

    def _revoke_in_memory(self, acq_id: str) -> None:
        self.store._revoked_in_memory.add(acq_id)  # noqa: SLF001 - the store's own guard, set before any write

    async def _release(
        self, acq_id: str, outcome: str, reason: str | None, wait_s: float | None
    ) -> AcquisitionRow | None:
        a = self.store.get(acq_id)
        if a is None:
            self.store._revoked_in_memory.discard(acq_id)  # noqa: SLF001
            return None
        if a["state"] in (State.RELEASED, State.FAILED):
            self.store._revoked_in_memory.discard(acq_id)  # noqa: SLF001
            return a
        if a["state"] == State.WAITING:
            self._fail(a, Outcome.CANCELLED, reason or "released before it was granted")
            self.store._revoked_in_memory.discard(acq_id)  # noqa: SLF001
            return self.store.get(acq_id)
        if a["state"] == State.ACQUIRING:
            # the acquire is in flight: mark it (durably); the acquire task releases what it got
            self.store.update_acquisition(acq_id, outcome=outcome, message=reason or a["message"])
            self.store.revoke_credentials(acq_id)
            deadline = time.monotonic() + (wait_s if wait_s is not None else 1e9)
            while (cur := self.store.get(acq_id)) is not None and cur["state"] == State.ACQUIRING:
                if time.monotonic() >= deadline:
                    return cur
                await asyncio.sleep(0.05)
            finishing = self._finishing.get(acq_id)
            if finishing is not None:
                await self._wait(finishing, None if wait_s is None else max(0.0, deadline - time.monotonic()))
            return self.store.get(acq_id)
        if a["state"] == State.GRANTED:
            self.store.update_acquisition(
                acq_id, state=State.RELEASING, outcome=outcome, message=reason or a["message"]
            )
        self.store.revoke_credentials(acq_id)
        task = self._finishing.get(acq_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._finish_release(acq_id))
            self._track(acq_id, task)
        await self._wait(task, wait_s)
        return self.store.get(acq_id)

    def _track(self, acq_id: str, task: asyncio.Task[None]) -> None:
        self._finishing[acq_id] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._finishing.get(acq_id) is t:
                del self._finishing[acq_id]

        task.add_done_callback(done)

    @staticmethod
    async def _wait(task: asyncio.Task[None], wait_s: float | None) -> None:
        if wait_s is None:
            await asyncio.shield(task)
        elif wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), wait_s)

    async def _finish_release(self, acq_id: str) -> None:
        """Release every hold at the service. The acquisition is released (its slots free) only when
        all succeeded; otherwise it stays releasing and tick() retries with backoff."""
        ok = True
        for h in self.store.holds(acq_id):
            if h["state"] in (HoldState.HELD, HoldState.RELEASE_FAILED) and h["qrmi_token"] is not None:
                ok = await self._release_hold(acq_id, h["qpu"], h["qrmi_token"], h["worker"]) and ok
        if not ok:
            attempts, _ = self._retry.get(acq_id, (0, 0.0))
            delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2**attempts)
            self._retry[acq_id] = (attempts + 1, time.monotonic() + delay)
            self.store.update_acquisition(
                acq_id, message=f"the release at the QPU service failed; retrying (attempt {attempts + 1})"
            )
            self._notify(acq_id)
            return
        self._retry.pop(acq_id, None)
        self.store.update_acquisition(acq_id, state=State.RELEASED, released_at=time.time())
        self.store._revoked_in_memory.discard(acq_id)  # noqa: SLF001
        a = self.store.get(acq_id)
        if a and a["outcome"] in (Outcome.REAPED, Outcome.EXPIRED):
            for q in a["qpus"]:
                self.metrics.reaped.labels(q, a["outcome"]).inc()
        self._notify(acq_id)
        await self.dispatch()

    async def _release_hold(self, acq_id: str, qpu: str, token: str, worker: str | None = None) -> bool:
        """Release one recorded token; `worker` (the acquirer process that recorded it) releases
        it on the qrmi instance that opened the session while it runs, qrmid itself otherwise."""
        try:
            await self.resources[qpu].release(token, worker)
        except Exception as exc:
            log.warning("release of %s (%s) failed: %s", qpu, acq_id, exc)
            self.store.update_hold(
                acq_id, qpu, state=HoldState.RELEASE_FAILED, released_at=time.time(), error=str(exc)[:500]
            )
            self.metrics.releases.labels(qpu, "failed").inc()
            return False
        self.store.update_hold(acq_id, qpu, state=HoldState.RELEASED, released_at=time.time(), error=None)
        self.metrics.releases.labels(qpu, "ok").inc()
        return True

    async def retry_failed_releases(self) -> None:
        """Releases that failed at the service (due now), and releases the database could not record."""
        for acq_id, (outcome, reason) in list(self._unsaved_releases.items()):
            try:
                await self._release(acq_id, outcome, reason, 0)
            except StoreUnavailable:
                return  # still unwritable: next round
            del self._unsaved_releases[acq_id]
        now = time.monotonic()
        pending = {h["acquisition_id"] for h in self.store.failed_releases()}
        pending |= {a["id"] for a in self.store.in_states(State.RELEASING)}
        for acq_id in pending:
            if acq_id in self._finishing or self._retry.get(acq_id, (0, 0.0))[1] > now:
                continue
            a = self.store.get(acq_id)
            if a is None:
                continue
            if a["state"] in (State.RELEASED, State.FAILED):
                # an older qrmid marked it released although a hold failed: finish the hold only
                for h in self.store.holds(acq_id):
                    token = h["qrmi_token"]
                    if h["state"] != HoldState.RELEASE_FAILED or not token:
                        continue
                    if not await self._release_hold(acq_id, h["qpu"], token, h["worker"]):
                        attempts, _ = self._retry.get(acq_id, (0, 0.0))
                        self._retry[acq_id] = (attempts + 1, now + min(RETRY_MAX_S, 2**attempts))
                continue
            task = asyncio.get_running_loop().create_task(self._finish_release(acq_id))
            self._track(acq_id, task)

    # ------------------------------------------------------------ recovery and timers
    async def recover(self, worker_wait_s: float = 120.0) -> None:
        """After a restart: finish what a crash interrupted, from the tables alone."""
        interrupted = self.store.in_states(State.ACQUIRING)
        await self._wait_for_workers(interrupted, worker_wait_s)
        for a in interrupted:
            # roll back to waiting: release what was recorded, the request is granted again
            unreleased = []
            for h in self.store.holds(a["id"]):
                if h["qrmi_token"] and h["state"] in (HoldState.HELD, HoldState.ACQUIRING):
                    if not await self._release_hold(a["id"], h["qpu"], h["qrmi_token"]):
                        unreleased.append(h["qpu"])  # kept release_failed (token and slot): retried by tick()
                        continue
                elif h["state"] == HoldState.ACQUIRING:
                    # asked the service, no answer recorded: the acquirer process died too (or its
                    # record failed). IBM's API cannot list sessions, so a session it may have opened
                    # stays unknown; it cannot be used (the proxy admits only recorded sessions)
                    # and ends with its max_ttl, capped at the longest profile hold.
                    log.warning(
                        "acquisition %s: the call to %s started at %s by acquirer %s left no token; a session "
                        "the service may have opened then is unknown to qrmid and expires with its max_ttl",
                        a["id"],
                        h["qpu"],
                        datetime.fromtimestamp(h["started_at"] or 0, UTC).isoformat(),
                        h["worker"],
                    )
                self.store.update_hold(
                    a["id"], h["qpu"], state=HoldState.PENDING, qrmi_token=None, acquired_at=None, started_at=None,
                    worker=None,
                )
            if unreleased:  # its token must not be overwritten by a new grant: the job asks again
                self.store.update_acquisition(
                    a["id"], state=State.FAILED, outcome=Outcome.FAILED, released_at=time.time(),
                    message=f"qrmid restarted while acquiring; the release of {', '.join(unreleased)} failed "
                    "and is retried; ask again",
                )
                continue
            if a["outcome"]:  # the job released it while the acquire was in flight: it ends here
                self.store.update_acquisition(
                    a["id"], state=State.FAILED, outcome=Outcome.CANCELLED, released_at=time.time(),
                    message="released by the job while qrmid was acquiring; qrmid restarted",
                )
                continue
            self.store.update_acquisition(a["id"], state=State.WAITING, message="re-queued after a qrmid restart")
        for a in self.store.in_states(State.RELEASING):
            await self.release(a["id"], a.get("outcome") or Outcome.RELEASED, wait_s=None)
        if self.acquirer is not None:
            await self.acquirer.start()  # only now: recovery must not mistake it for the previous one
        await self.dispatch()

    async def _wait_for_workers(self, interrupted: list[AcquisitionRow], timeout: float) -> None:
        """An acquirer process of the previous qrmid still running finishes its calls and records
        their tokens; wait for it (bounded) so that recovery sees every token."""
        mine = self.acquirer.identity if self.acquirer is not None else None
        workers = {
            h["worker"]
            for a in interrupted
            for h in self.store.holds(a["id"])
            if h["state"] == HoldState.ACQUIRING and h["worker"] and h["worker"] != mine
        }
        deadline = time.monotonic() + timeout
        for w in workers:
            if alive(w):
                log.info("waiting for the previous acquirer process %s to record its calls", w)
            while alive(w) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if alive(w):
                log.warning("previous acquirer process %s still runs after %.0f s; recovering anyway", w, timeout)

    async def tick(self) -> None:
        """Once a second: hold deadlines, wait timeouts, windows that closed, releases to retry
        (whether or not the Slurm reaper runs)."""
        now = time.time()
        for a in self.store.in_states(State.GRANTED):
            if a["deadline"] and a["deadline"] <= now:
                await self.release(a["id"], Outcome.EXPIRED, f"hold limit of {a['hold_s']} s reached")
        await self.retry_failed_releases()
        await self.dispatch()
        self.refresh_gauges()

    def refresh_gauges(self) -> None:
        now = time.time()
        self.availability.advance(now)
        maint = self.store.maintenance()
        for q in self.resources:
            m = maint.get(q)
            self.metrics.qpu_maintenance.labels(q).set(1 if m and (m["until"] is None or m["until"] > now) else 0)
            w = active_window(self.config.qpu(q).calibration_windows, datetime.fromtimestamp(now, UTC), self.tz)
            self.metrics.qpu_calibrating.labels(q).set(1 if w else 0)
            st = self.resources[q].status
            if st.online is not None:
                self.metrics.qpu_up.labels(q).set(1 if st.online else 0)
        active: dict[tuple[str, str], int] = {}
        for p in self.config.policy_profiles:
            for q in self.resources:
                active[(q, p.name)] = 0
        waiting = dict.fromkeys(self.resources, 0)
        for a in self.store.in_states(State.GRANTED, State.WAITING, State.ACQUIRING):
            for q in a["qpus"]:
                if a["state"] == State.GRANTED:
                    active[(q, a["profile"])] = active.get((q, a["profile"]), 0) + 1
                else:
                    waiting[q] = waiting.get(q, 0) + 1
        for (q, prof), n in active.items():
            self.metrics.active.labels(q, prof).set(n)
        for q, n in waiting.items():
            self.metrics.waiting.labels(q).set(n)

    def view(self, a: AcquisitionRow) -> dict[str, Any]:
        """Public description of an acquisition (no credentials)."""
        holds = self.store.holds(a["id"])
        until = None
        if a["state"] == State.WAITING:
            for q in a["qpus"]:
                b = self.block(q)
                if b and b.until:
                    until = b.until.isoformat()
        return {
            "id": a["id"],
            "cluster": a["cluster"],
            "job_id": a["job_id"],
            "user": a["user"],
            "profile": a["profile"],
            "qpus": a["qpus"],
            "state": a["state"],
            "outcome": a["outcome"],
            "message": a["message"],
            "requested_at": a["requested_at"],
            "granted_at": a["granted_at"],
            "released_at": a["released_at"],
            "deadline": a["deadline"],
            "hold_s": a["hold_s"],
            "waiting_until": until,
            "holds": [
                {
                    "qpu": h["qpu"],
                    "state": h["state"],
                    "acquired_at": h["acquired_at"],
                    "released_at": h["released_at"],
                    "error": h["error"],
                }
                for h in holds
            ],
        }
