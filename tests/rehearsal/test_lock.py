from __future__ import annotations

import subprocess
import sys

import pytest

from rehearsal.errors import RehearsalInputError
from rehearsal.lock import exclusive

HOLD = """
import sys, time
from pathlib import Path
from rehearsal.lock import exclusive
with exclusive(Path(sys.argv[1]), "site x"):
    print("held", flush=True)
    time.sleep(30)
"""


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    lock = tmp_path / "site.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RehearsalInputError, match=rf"site x is in use by pid {holder.pid}"), exclusive(
            lock, "site x", wait_s=0.5
        ):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=10)
    with exclusive(lock, "site x"):  # released when its holder died
        pass


def test_the_lock_is_reentrant_after_release(tmp_path):
    lock = tmp_path / "a.lock"
    with exclusive(lock, "a"):
        pass
    with exclusive(lock, "a"):
        pass
