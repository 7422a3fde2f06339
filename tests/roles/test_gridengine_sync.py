"""qpusite-gridengine-sync (roles/gridengine_master/files): how it reads qconf's output back and compares it with
the model's values, and what it refuses to pass to qconf. The qmaster itself runs in the lab-ge rehearsal
(tools/test.d/67-rehearsal-gridengine.sh): it binds every address, so not on the test machine."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from types import ModuleType

import pytest

from tests.conftest import REPO

SYNC = REPO / "roles" / "gridengine_master" / "files" / "qpusite-gridengine-sync"


@pytest.fixture(scope="module")
def sync() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("qpusite_gridengine_sync", str(SYNC))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_continuation_lines_are_joined(sync: ModuleType) -> None:
    text = "qname debug.q\nslots 1,[c1.lab.internal=2], \\\n      [c2=2]\nh_rt 1:00:00\n"
    attrs = sync.attributes(text)
    assert attrs["slots"] == "1,[c1.lab.internal=2], [c2=2]"
    assert sync.normalise("slots", attrs["slots"]) == sync.normalise("slots", "1,[c2=2],[c1=2]")


def test_slots_differ_when_a_hosts_count_differs(sync: ModuleType) -> None:
    assert sync.normalise("slots", "1,[c1=2],[c2=2]") != sync.normalise("slots", "1,[c1=2],[c2=4]")


def test_h_rt_compares_durations(sync: ModuleType) -> None:
    assert sync.normalise("h_rt", "01:00:00") == sync.normalise("h_rt", "1:00:00")
    assert sync.normalise("h_rt", "INFINITY") != sync.normalise("h_rt", "1:00:00")


@pytest.mark.parametrize("bad", ["a b", "x;rm", "$(id)", "q\nq", ""])
def test_values_outside_the_allow_list_are_refused(sync: ModuleType, bad: str) -> None:
    with pytest.raises(sync.SyncError):
        sync.checked(bad, "value")


def test_a_prolog_as_root_is_a_valid_value(sync: ModuleType) -> None:
    assert sync.checked("root@/usr/local/libexec/qpusite/qpu-prolog", "value")


def test_an_oversized_document_is_refused(sync: ModuleType, tmp_path: object) -> None:
    from pathlib import Path

    big = Path(str(tmp_path)) / "big.json"
    big.write_bytes(b" " * (sync.MAX_DOC_BYTES + 1))
    assert sync.main([str(big)]) == 2


def test_a_qpu_complex_row_passes_and_a_bent_one_is_refused(sync: ModuleType) -> None:
    row = ["qpu_a", "qpu_a", "INT", "<=", "YES", "YES", "0", "0"]
    assert sync.complex_row(row) == row
    with pytest.raises(sync.SyncError):
        sync.complex_row(["qpu_a", "qpu_a", "INT", "<= YES", "YES", "YES", "0", "0"])
