"""Advisory locks so two `qpusite up`/`down` runs never work on one site (or one image build) at once.

Several people share one checkout and one machine; without this, a `down` could
remove containers under a running `up`.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rehearsal.errors import RehearsalInputError


@contextmanager
def exclusive(path: Path, what: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold an exclusive lock on `path`; wait up to `wait_s`, then refuse naming the holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                    raise RehearsalInputError(
                        f"{what} is in use by {holder}; wait for it to finish (lock file {path})"
                    ) from None
                time.sleep(1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
