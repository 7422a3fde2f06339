"""The job queue: bounded concurrency, states, cancellation, restart recovery.

Jobs wait in a FIFO; each of `workers` slots owns one worker process and runs
one job at a time. Cancelling a queued job removes it; cancelling a running job
kills that slot's worker (a simulation cannot be interrupted) and starts a new
one. On start, jobs a previous run left queued or running are queued again:
simulations are deterministic enough to redo, and nobody waits on a lost job.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from qpu_emulator import procs
from qpu_emulator.config import Config
from qpu_emulator.errors import ApiError
from qpu_emulator.metrics import Metrics
from qpu_emulator.store import CANCELLED, COMPLETED, FAILED, QUEUED, RUNNING, Job, Store

log = logging.getLogger("qpu_emulator.scheduler")

POLL_S = 0.05
RAN_TOO_LONG = "Ran too long"  # how often a busy slot looks for a cancel request
WORKER_START_TIMEOUT_S = 120.0


class _Slot:
    def __init__(self, index: int, ctx: Any, memory_bytes: int = 0) -> None:
        self.index = index
        self._ctx = ctx
        self._memory_bytes = memory_bytes
        self.proc: Any = None
        self.conn: Any = None
        self.ready = False

    def start(self) -> None:
        from qpu_emulator import worker

        parent, child = self._ctx.Pipe()
        self.proc = self._ctx.Process(
            target=worker.main,
            args=(child, self._memory_bytes, self.index),
            name=f"qpu-emulator-worker-{self.index}",
            daemon=True,
        )
        procs.start_process(self.proc)
        child.close()
        self.conn = parent
        if not parent.poll(WORKER_START_TIMEOUT_S):
            raise RuntimeError(f"worker {self.index} did not start")
        parent.recv()
        self.ready = True

    def kill(self) -> None:
        self.ready = False
        if self.proc is not None:
            self.proc.kill()
            self.proc.join(5)
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None

    def stop(self) -> None:
        self.ready = False
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        if self.proc is not None:
            self.proc.join(3)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(3)


class Scheduler:
    def __init__(self, config: Config, store: Store, metrics: Metrics) -> None:
        self._config = config
        self._store = store
        self._metrics = metrics
        self._queue: collections.deque[str] = collections.deque()
        self._cv = threading.Condition()
        self._cancel_running: dict[str, threading.Event] = {}
        self._stopping = False
        self._ctx = procs.context()
        self._slots = [_Slot(i, self._ctx, config.limits.worker_memory_bytes) for i in range(config.workers)]
        self._threads: list[threading.Thread] = []
        self.on_finished: Callable[[Job], None] | None = None
        metrics.queue_depth.set_function(lambda: len(self._queue))
        metrics.workers_ready.set_function(lambda: sum(1 for s in self._slots if s.ready))

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        for job in self._store.unfinished():
            if job.status == RUNNING:
                self._store.transition(
                    job.id,
                    QUEUED,
                    only_from=(RUNNING,),
                    started=None,
                    logs=job.logs + "re-queued after an emulator restart\n",
                )
            self._queue.append(job.id)
        for slot in self._slots:
            t = threading.Thread(target=self._run_slot, args=(slot,), name=f"slot-{slot.index}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Stop taking jobs; a job still running goes back to the queue for the next start."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        for t in self._threads:
            t.join(5)
        for slot in self._slots:
            slot.stop()

    @property
    def workers_ready(self) -> int:
        return sum(1 for s in self._slots if s.ready)

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def pending_count(self, twin: str) -> int:
        return sum(
            n
            for (t, state), n in self._store.counts_by_twin_state().items()
            if t == twin and state in (QUEUED, RUNNING)
        )

    # -- submitting and cancelling -------------------------------------------------
    def submit(self, job: Job) -> None:
        with self._cv:
            if self._stopping:
                raise ApiError(503, "The emulator is restarting; retry shortly.", retry_after=5)
            if len(self._queue) >= self._config.queue_limit:
                raise ApiError(
                    429, f"The emulator queue is full ({self._config.queue_limit} jobs); retry later.", retry_after=10
                )
            self._store.add_job(job)
            self._queue.append(job.id)
            self._cv.notify()
        self._metrics.submitted.labels(job.twin, job.program).inc()

    def cancel(self, job_id: str, wait_s: float = 10.0) -> str:
        """Cancel a job: returns 'cancelled', or 'final' if it had already finished."""
        with self._cv:
            with contextlib.suppress(ValueError):
                self._queue.remove(job_id)
            if self._store.transition(job_id, CANCELLED, only_from=(QUEUED,), finished=time.time()):
                self._finished(job_id)
                return "cancelled"
            job = self._store.get_job(job_id)
            if job is None or job.final:
                return "final"
            event = self._cancel_running.setdefault(job_id, threading.Event())
        event.wait(wait_s)
        job = self._store.get_job(job_id)
        return "cancelled" if job is not None and job.status == CANCELLED else "final"

    # -- execution -------------------------------------------------------------------
    def _next(self) -> str | None:
        with self._cv:
            while not self._queue and not self._stopping:
                self._cv.wait(1.0)
            if self._stopping:
                return None
            return self._queue.popleft()

    def _ensure_worker(self, slot: _Slot) -> None:
        if slot.proc is None or not slot.proc.is_alive():
            slot.kill()
            slot.start()

    def _run_slot(self, slot: _Slot) -> None:
        try:
            self._ensure_worker(slot)
        except Exception:
            log.exception("worker %d failed to start", slot.index)
        while True:
            job_id = self._next()
            if job_id is None:
                return
            try:
                self._run_one(slot, job_id)
            except Exception as exc:  # keep the slot alive whatever happens to one job
                log.exception("job %s: scheduler error", job_id)
                self._store.transition(
                    job_id, FAILED, only_from=(QUEUED, RUNNING), finished=time.time(), error=f"emulator error: {exc}"
                )
                self._finished(job_id)
                slot.kill()

    def _run_one(self, slot: _Slot, job_id: str) -> None:
        job = self._store.get_job(job_id)
        if job is None:
            return
        self._ensure_worker(slot)
        started = time.time()
        if not self._store.transition(job_id, RUNNING, only_from=(QUEUED,), started=started):
            return  # cancelled meanwhile
        # IBM jobs carry `cost`, the most seconds they may run (QRMI sends its job timeout there).
        limit_s = job.cost if job.api in ("ibm", "ibm-quantum-system") and job.cost > 0 else None
        twin = self._config.twin(job.twin)
        if twin is None:
            self._store.transition(
                job_id,
                FAILED,
                only_from=(RUNNING,),
                finished=time.time(),
                error=f"twin {job.twin!r} is no longer configured",
            )
            self._finished(job_id)
            return
        lim = self._config.limits
        msg = {
            "api": job.api,
            "program": job.program,
            "twin": twin.model_dump(mode="json"),
            "params": job.params,
            "seed": job.extra.get("seed"),
            "bounds": [twin.num_qubits, lim.max_clbits, lim.max_instructions, lim.max_inflated_bytes],
        }
        slot.conn.send(msg)
        while True:
            if slot.conn.poll(POLL_S):
                try:
                    reply = slot.conn.recv()
                except (EOFError, OSError):
                    reply = self._died(slot)
                break
            with self._cv:
                event = self._cancel_running.get(job_id)
                stopping = self._stopping
            if stopping:
                slot.kill()
                self._store.transition(
                    job_id,
                    QUEUED,
                    only_from=(RUNNING,),
                    started=None,
                    logs=job.logs + "interrupted by an emulator shutdown; queued again\n",
                )
                return
            if limit_s is not None and time.time() - started > limit_s:
                slot.kill()
                self._store.transition(
                    job_id,
                    CANCELLED,
                    only_from=(RUNNING,),
                    finished=time.time(),
                    error=f"{RAN_TOO_LONG}: the job's limit is {limit_s} s",
                    logs=job.logs + f"cancelled: ran longer than its {limit_s} s limit\n",
                )
                self._finished(job_id)
                return
            if event is not None:
                slot.kill()
                self._store.transition(
                    job_id,
                    CANCELLED,
                    only_from=(RUNNING,),
                    finished=time.time(),
                    logs=job.logs + "cancelled while running\n",
                )
                self._finished(job_id)
                return
            if not slot.proc.is_alive():
                reply = self._died(slot)
                break
        held = reply[0] == "ok" and twin.shot_time_s > 0
        if held and not self._occupy(job_id, job.logs, started + reply[4] * twin.shot_time_s):
            return  # cancelled, or the emulator stops, while it held the QPU
        now = time.time()
        if reply[0] == "ok":
            _, text, logs, seconds, shots = reply
            moved = self._store.transition(
                job_id, COMPLETED, only_from=(RUNNING,), finished=now, result=text, logs=job.logs + logs
            )
            if moved:
                self._metrics.execution_seconds.labels(job.twin, job.program).observe(seconds)
                self._metrics.shots.labels(job.twin).inc(shots)
        else:
            _, message, logs, seconds = reply
            self._store.transition(
                job_id, FAILED, only_from=(RUNNING,), finished=now, error=message, logs=job.logs + logs
            )
        self._finished(job_id)

    def _occupy(self, job_id: str, logs: str, until: float) -> bool:
        """Hold the slot until `until` (the twin's emulated QPU time); False if the job was
        cancelled or the emulator stops meanwhile (its state is then set here)."""
        while time.time() < until:
            with self._cv:
                event = self._cancel_running.get(job_id)
                stopping = self._stopping
            if stopping or event is not None:
                state, note = (QUEUED, "interrupted by an emulator shutdown; queued again\n") if stopping else (
                    CANCELLED, "cancelled while running\n")
                self._store.transition(job_id, state, only_from=(RUNNING,), logs=logs + note,
                                       **({"started": None} if stopping else {"finished": time.time()}))
                if not stopping:
                    self._finished(job_id)
                return False
            time.sleep(min(POLL_S, max(0.0, until - time.time())))
        return True

    def _died(self, slot: _Slot) -> tuple[str, str, str, float]:
        """The reply for a job whose worker died under it; the slot gets a fresh worker for the next job."""
        slot.proc.join(2)
        how = procs.describe_exit(slot.proc.exitcode)
        log.error("worker %d died while executing a job (%s); starting a new one", slot.index, how)
        slot.kill()
        message = f"the worker process executing this job died ({how}); other jobs are unaffected"
        return ("error", message, f"worker died during execution ({how})\n", 0.0)

    def _finished(self, job_id: str) -> None:
        with self._cv:
            event = self._cancel_running.pop(job_id, None)
        if event is not None:
            event.set()
        job = self._store.get_job(job_id)
        if job is not None:
            self._metrics.finished.labels(job.twin, job.status).inc()
            if self.on_finished is not None:
                self.on_finished(job)
        self._store.purge(self._config.retention.max_jobs, self._config.retention.max_age_s)
