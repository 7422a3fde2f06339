"""Checking submissions in supervised processes, never in the API process.

Building a circuit (OpenQASM 3 importer, QPY loader) or a Pulser sequence runs
native code and can allocate whatever the input asks for. The API process must
outlive any input, so it only scans sizes (limits.py) and hands the real check
to a small pool of checker processes: each one holds one check at a time (so
qiskit's and Pulser's objects are only ever used by one thread), runs under an
address-space limit (RLIMIT_AS), dies with the service (PR_SET_PDEATHSIG), and
is replaced if it crashes or overruns its time. A crash costs that one request
a clear error; the service and every other request carry on.

Messages in: ``("ibm", program, params, twin_json, bounds)`` or
``("pasqal", sequence, runs, variables, twin_json)``. Messages out: ``("ready",)``, then per
check ``("ok", value)`` or ``("api_error", status, message, solution)``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import warnings
from multiprocessing.connection import Connection
from typing import Any

from qpu_emulator import procs
from qpu_emulator.errors import ApiError

log = logging.getLogger("qpu_emulator.checker")

START_TIMEOUT_S = 120.0


def _check(msg: tuple[Any, ...]) -> Any:
    from qpu_emulator.config import Twin

    kind = msg[0]
    if kind == "ibm":
        from qpu_emulator import ibm_primitives

        _, program, params, twin_json, bounds = msg
        return ibm_primitives.check_input(program, params, Twin.model_validate_json(twin_json), bounds)
    if kind == "pasqal":
        from qpu_emulator import pasqal_twin

        _, sequence, runs, variables, twin_json = msg
        return pasqal_twin.check_sequence(sequence, runs, variables, Twin.model_validate_json(twin_json))
    if kind == "pasqal-specs":
        from qpu_emulator import pasqal_twin

        return pasqal_twin.device_specs_json(msg[1])
    if kind == "crash-for-tests":  # only sent when the service runs with QPU_EMULATOR_TEST_HOOKS=1
        import os

        os.kill(os.getpid(), int(msg[1]))
        time.sleep(5)
    raise ValueError(f"unknown check {kind!r}")


def main(conn: Connection, memory_bytes: int, index: int = 0) -> None:
    procs.limit_child(memory_bytes, f"qpuemu-check{index}")
    warnings.simplefilter("ignore")
    # Import what a check needs once, before saying ready.
    import pulser  # noqa: F401
    from qiskit import qasm3, qpy  # noqa: F401
    from qiskit.primitives.containers.observables_array import ObservablesArray  # noqa: F401

    from qpu_emulator import ibm_primitives

    ibm_primitives.parse_qasm('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nx q[0];\n')
    conn.send(("ready",))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        try:
            conn.send(("ok", _check(msg)))
        except ApiError as exc:
            conn.send(("api_error", exc.status, exc.message, exc.solution))
        except MemoryError:
            conn.send(("api_error", 400, "The input needs more memory than a check may use.", ""))
        except RecursionError:
            conn.send(("api_error", 400, "The input is nested too deeply to be checked.", ""))
        except Exception as exc:  # an importer's failure on bad input is the caller's 400
            conn.send(("api_error", 400, f"The input could not be checked: {str(exc).strip()[:300]}", ""))


class _Checker:
    def __init__(self, index: int, memory_bytes: int) -> None:
        self.index = index
        self.memory_bytes = memory_bytes
        self.proc: Any = None
        self.conn: Any = None

    def start(self) -> None:
        ctx = procs.context()
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=main,
            args=(child, self.memory_bytes, self.index),
            name=f"qpu-emulator-checker-{self.index}",
            daemon=True,
        )
        procs.start_process(self.proc)
        child.close()
        self.conn = parent
        if not parent.poll(START_TIMEOUT_S) or parent.recv() != ("ready",):
            self.kill()
            raise RuntimeError(f"checker {self.index} did not start")

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.kill()
                self.proc.join(5)
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
        self.proc = self.conn = None

    def stop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        if self.proc is not None:
            self.proc.join(3)
        self.kill()


class CheckerPool:
    """`size` checker processes; `check()` borrows one for one request."""

    def __init__(self, size: int, memory_bytes: int, timeout_s: float) -> None:
        self._size = size
        self._memory_bytes = memory_bytes
        self._timeout_s = timeout_s
        self._idle: queue.Queue[_Checker] = queue.Queue()
        self._ready = 0
        self._lock = threading.Lock()
        self._stopping = False
        self.crashes = 0

    @property
    def ready(self) -> int:
        return self._ready

    def start(self) -> None:
        for i in range(self._size):
            threading.Thread(target=self._launch, args=(_Checker(i, self._memory_bytes),), daemon=True).start()

    def _launch(self, checker: _Checker) -> None:
        delay = 1.0
        while not self._stopping:
            try:
                checker.start()
            except Exception:
                log.exception("checker %d failed to start; retrying in %.0f s", checker.index, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            with self._lock:
                self._ready += 1
            self._idle.put(checker)
            return

    def _replace(self, checker: _Checker) -> None:
        with self._lock:
            self._ready -= 1
        checker.kill()
        threading.Thread(target=self._launch, args=(checker,), daemon=True).start()

    def stop(self) -> None:
        self._stopping = True
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return

    def check(self, msg: tuple[Any, ...], wait_s: float = 10.0) -> Any:
        """The check's value; ApiError for bad input, 503 + Retry-After when no checker can take it
        within `wait_s` (a short wait: a request waiting here holds one of the server's threads)."""
        if self._stopping:
            raise ApiError(503, "The emulator is restarting; retry shortly.", retry_after=5)
        checker: _Checker | None
        deadline = time.monotonic() + (wait_s if self._ready else min(wait_s, 2.0))
        while True:
            try:
                checker = self._idle.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise ApiError(
                    503, "The emulator's input checkers are busy or starting; retry shortly.", retry_after=5
                ) from None
            if checker.proc is not None and checker.proc.is_alive():
                break
            # Died while idle (killed from outside): replace it and take another.
            log.error(
                "checker %d died while idle (%s); replacing it",
                checker.index,
                procs.describe_exit(checker.proc.exitcode if checker.proc is not None else None),
            )
            self.crashes += 1
            self._replace(checker)
        try:
            conn = checker.conn
            with contextlib.suppress(OSError):  # a dead checker: seen below
                conn.send(msg)
            if not conn.poll(self._timeout_s):
                log.warning("checker %d overran %.0f s; replacing it", checker.index, self._timeout_s)
                self._replace(checker)
                checker = None
                raise ApiError(400, f"Checking the input took longer than {self._timeout_s:.0f} s; it is refused.")
            try:
                reply = conn.recv()
            except (EOFError, OSError):
                reply = None
            if reply is None:
                proc = checker.proc
                proc.join(2)
                how = procs.describe_exit(proc.exitcode)
                log.error("checker %d died (%s) while checking a submission; replacing it", checker.index, how)
                self.crashes += 1
                self._replace(checker)
                checker = None
                raise ApiError(
                    503,
                    f"The process checking this input died ({how}); the input was not accepted. "
                    "The service is unaffected; retry, or simplify the input if it fails again.",
                    retry_after=5,
                )
        finally:
            if checker is not None:
                self._idle.put(checker)
        if reply[0] == "ok":
            return reply[1]
        _, status, message, solution = reply
        raise ApiError(status, message, solution=solution)
