"""What every child process of the service (job workers, input checkers) shares:
the spawn context, an address-space limit, and dying with the service."""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import multiprocessing as mp
import queue
import resource
import signal
import threading
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15


def context() -> Any:
    # spawn: a child never inherits the API process's threads or locks half-held.
    return mp.get_context("spawn")


class _Spawner:
    """Starts every child process from one thread that lives as long as the service.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process:
    a child started from a short-lived thread would be killed as soon as that thread ends."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Any, concurrent.futures.Future[None]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _run(self) -> None:
        while True:
            proc, done = self._jobs.get()
            try:
                proc.start()
                done.set_result(None)
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

    def start(self, proc: Any) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="qpu-emulator-spawner", daemon=True)
                self._thread.start()
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._jobs.put((proc, done))
        done.result()


_spawner = _Spawner()


def start_process(proc: Any) -> None:
    """``proc.start()``, from the service's long-lived spawner thread (see _Spawner)."""
    _spawner.start(proc)


def limit_child(memory_bytes: int, name: str = "") -> None:
    """In the child: cap its address space, have the kernel kill it if the service dies, and
    name it (``/proc/<pid>/comm``: ``qpuemu-worker0``, ``qpuemu-check0``) for operators and tests."""
    if memory_bytes > 0:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if name:
            libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"killed by {name}"
    return f"exit status {exitcode}"
