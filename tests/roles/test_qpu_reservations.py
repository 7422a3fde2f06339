"""roles/qpu_reservations: calibration and maintenance windows as Slurm license reservations
(names, times in the site's zone across DST, and the exact scontrol argument vectors)."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from site_survey import derive
from site_survey.loader import load_site
from tests.conftest import REPO

SCRIPT = REPO / "roles" / "qpu_reservations" / "files" / "qpu_reservations.py"
DAILY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qpu_reservations", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def config(windows: list[dict[str, Any]], tz: str = "Europe/Paris", slots: int = 2) -> dict[str, Any]:
    return {"timezone": tz, "horizon_days": 3, "qpus": [{"name": "sc_twin", "slots": slots,
                                                          "calibration_windows": windows}]}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_each_occurrence_in_the_horizon_is_one_reservation_named_in_local_time() -> None:
    t = tool()
    nightly = {"name": "nightly", "weekdays": DAILY, "start": "02:00", "duration_minutes": 60}
    got = t.desired(config([nightly]), utc(2026, 6, 10, 12, 0))  # Paris is UTC+2 in June
    assert [r.name for r in got] == [f"qpu_sc_twin_nightly_202606{d}T0200" for d in (11, 12, 13)]
    assert [r.start for r in got] == [utc(2026, 6, d, 0, 0) for d in (11, 12, 13)]
    # one that is open now is kept (it has not ended); one that ended is not
    open_now = t.desired(config([nightly]), utc(2026, 6, 11, 0, 30))
    assert open_now[0].name == "qpu_sc_twin_nightly_20260611T0200"
    assert t.desired(config([nightly]), utc(2026, 6, 11, 1, 0))[0].name.endswith("20260612T0200")


def test_dst_keeps_the_local_hour_and_the_elapsed_duration() -> None:
    t = tool()
    w = {"name": "cal", "weekdays": DAILY, "start": "01:30", "duration_minutes": 90}
    got = {r.name: r for r in t.desired(config([w]), utc(2026, 3, 27, 12, 0))}
    # CET (UTC+1) before 29 March 2026 02:00, CEST (UTC+2) after: 01:30 local is 00:30 then 23:30 UTC
    assert got["qpu_sc_twin_cal_20260328T0130"].start == utc(2026, 3, 28, 0, 30)
    assert got["qpu_sc_twin_cal_20260329T0130"].start == utc(2026, 3, 29, 0, 30)
    assert got["qpu_sc_twin_cal_20260330T0130"].start == utc(2026, 3, 29, 23, 30)
    # 90 minutes of QPU time whatever the clock does (01:30 CET + 90 min crosses the change)
    assert all(r.minutes == 90 for r in got.values())
    # a start the spring-forward skips (02:30) happens when the clock reaches it (03:30 CEST)
    gap = {"name": "gap", "weekdays": ["sun"], "start": "02:30", "duration_minutes": 30}
    [r] = t.desired(config([gap]), utc(2026, 3, 28, 12, 0))
    assert r.name == "qpu_sc_twin_gap_20260329T0230" and r.start == utc(2026, 3, 29, 1, 30)


def test_scontrol_argument_vectors_create_update_delete() -> None:
    t = tool()
    now = utc(2026, 6, 10, 12, 0)
    windows = [{"name": "nightly", "weekdays": ["thu"], "start": "02:00", "duration_minutes": 60},
               {"name": "service", "weekdays": ["fri"], "start": "08:00", "duration_minutes": 240,
                "kind": "maintenance"}]
    want = t.desired(config(windows), now)
    calls = t.plan(want, {}, now)
    assert calls == [
        ["scontrol", "create", "reservation", "ReservationName=qpu_sc_twin_nightly_20260611T0200",
         "StartTime=2026-06-11T00:00:00", "Duration=60", "Licenses=sc_twin:2", "Flags=LICENSE_ONLY", "Users=root"],
        ["scontrol", "create", "reservation", "ReservationName=qpu_sc_twin_service_20260612T0800",
         "StartTime=2026-06-12T06:00:00", "Duration=240", "Licenses=sc_twin:2", "Flags=LICENSE_ONLY,MAINT",
         "Users=root"],
    ]
    # what slurmctld shows once they exist: nothing more to do (idempotent)
    shown = "\n".join(
        f"ReservationName={r.name} StartTime={r.start:%Y-%m-%dT%H:%M:%S} EndTime={r.end:%Y-%m-%dT%H:%M:%S} "
        f"Duration=01:00:00 Nodes=(null) NodeCnt=0 Flags=LICENSE_ONLY Users=root Licenses=sc_twin:2 State=INACTIVE"
        for r in want
    ) + "\nReservationName=someone_elses StartTime=2026-06-11T00:00:00 EndTime=2026-06-11T01:00:00 Licenses=x:1"
    have = t.parse_show(shown)
    assert t.plan(want, have, now) == []
    # the model now gives the QPU 3 slots and drops the maintenance: update one, delete the other, never
    # touch a reservation that is not ours
    want3 = t.desired(config(windows[:1], slots=3), now)
    assert t.plan(want3, have, now) == [
        ["scontrol", "update", "ReservationName=qpu_sc_twin_nightly_20260611T0200", "StartTime=2026-06-11T00:00:00",
         "Duration=60", "Licenses=sc_twin:3"],
        ["scontrol", "delete", "ReservationName=qpu_sc_twin_service_20260612T0800"],
    ]
    # a reservation already running keeps its start: only its licenses change
    during = utc(2026, 6, 11, 0, 30)
    assert t.plan(t.desired(config(windows[:1], slots=3), during), have, during)[0] == [
        "scontrol", "update", "ReservationName=qpu_sc_twin_nightly_20260611T0200", "Licenses=sc_twin:3"]
    assert all(isinstance(a, str) for call in calls for a in call)


@pytest.mark.parametrize("site_file", sorted((REPO / "inventories").glob("*/site.yaml")), ids=lambda p: p.parent.name)
def test_the_model_s_windows_render_a_config_the_tool_accepts(tmp_path: Path, site_file: Path) -> None:
    # Every example site's windows (national's names carry '-') must pass the tool's own checks.
    t = tool()
    site = load_site(site_file)
    doc = {"timezone": site.site.timezone, "horizon_days": 8,
           "qpus": [{"name": q["name"], "slots": q["slots"], "calibration_windows": q["calibration_windows"]}
                    for q in derive.qpus(site)]}
    path = tmp_path / "qpu-reservations.json"
    path.write_text(json.dumps(doc))
    got = t.desired(t.load(path), datetime.now(UTC))
    windows = sum(len(q.calibration_windows) for q in site.qpus)
    assert windows == 0 or got, "the site's windows give reservations within 8 days"
    assert {r.qpu for r in got} <= {q.name for q in site.qpus}


@pytest.mark.parametrize(("patch", "field"), [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"horizon_days": 0}, "horizon_days"),
    ({"qpus": [{"name": "x y", "slots": 1}]}, "qpus[0].name"),
    ({"qpus": [{"name": "q", "slots": 1, "calibration_windows": [
        {"name": "w", "weekdays": ["mon"], "start": "25:00", "duration_minutes": 5}]}]}, "start"),
    ({"qpus": [{"name": "q", "slots": 1, "calibration_windows": [
        {"name": "w;rm", "weekdays": ["mon"], "start": "01:00", "duration_minutes": 5}]}]}, ".name"),
])
def test_bad_configuration_exits_2_naming_the_field(tmp_path: Path, patch: dict[str, Any], field: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    t = tool()
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**config([]), **patch}))
    assert t.main(["--config", str(path), "--dry-run"]) == 2
    assert field in capsys.readouterr().err


def test_runs_one_at_a_time_under_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The timer and the rollout's own run can start together; the second must wait for the first.
    import fcntl
    import threading

    t = tool()
    conf = tmp_path / "qpu-reservations.json"
    conf.write_text(json.dumps(config([{"name": "nightly", "weekdays": DAILY, "start": "02:00",
                                        "duration_minutes": 60, "kind": "calibration"}])))
    applied: list[bool] = []
    monkeypatch.setattr(t, "apply", lambda _config, dry_run: applied.append(dry_run) or 0)
    lock_path = tmp_path / "lock"
    with lock_path.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        runner = threading.Thread(target=t.main, args=(["--config", str(conf), "--lock-file", str(lock_path)],))
        runner.start()
        runner.join(0.5)
        assert runner.is_alive() and applied == []  # waits while another run holds the lock
    runner.join(5)
    assert not runner.is_alive() and applied == [False]


def qpus_answer(block: dict[str, Any] | None, name: str = "sc_twin") -> list[dict[str, Any]]:
    """qrmid's GET /v1/qpus (routes/qpus.py qpu_view) with one QPU."""
    return [{"name": name, "type": "ibm-quantum-compute-service", "slots": 2, "in_use": 0,
             "qrmi": {"online": True, "detail": None, "error": None, "checked_at": 0}, "available": block is None,
             "block": block}]


def show(res: Any, end: str | None = None) -> str:
    return (f"ReservationName={res.name} StartTime={res.start:%Y-%m-%dT%H:%M:%S} "
            f"EndTime={end or format(res.end, '%Y-%m-%dT%H:%M:%S')} Duration=01:00:00 Nodes=(null) NodeCnt=0 "
            "Flags=MAINT,IGNORE_JOBS,LICENSE_ONLY Users=root Licenses=sc_twin:2 State=ACTIVE")


def test_a_qrmid_maintenance_switch_becomes_a_reservation_until_it_is_switched_off() -> None:
    t = tool()
    now = utc(2026, 6, 10, 12, 0, 30)
    conf = config([]) | {"qrmid_url": "http://10.77.0.20:8470"}
    block = {"kind": "maintenance", "name": "maintenance", "message": "maintenance: cryostat refill",
             "until": "2026-06-10T16:30:00+02:00"}
    [res] = t.switches(conf, qpus_answer(block), now)
    assert res.name == "qpu_sc_twin_qrmid-maintenance" and res.end == utc(2026, 6, 10, 14, 30)
    assert t.plan([res], {}, now) == [
        ["scontrol", "create", "reservation", "ReservationName=qpu_sc_twin_qrmid-maintenance",
         "StartTime=2026-06-10T12:00:00", "Duration=150", "Licenses=sc_twin:2",
         "Flags=LICENSE_ONLY,MAINT,IGNORE_JOBS", "Users=root"]]
    have = t.parse_show(show(res))
    # a later run: it started already; same end, nothing to do
    later = utc(2026, 6, 10, 12, 20)
    assert t.plan(t.switches(conf, qpus_answer(block), later), have, later) == []
    # the operator moves the end: only the end follows, the start stays
    moved = block | {"until": "2026-06-10T18:00:00+02:00"}
    assert t.plan(t.switches(conf, qpus_answer(moved), later), have, later) == [
        ["scontrol", "update", "ReservationName=qpu_sc_twin_qrmid-maintenance", "EndTime=2026-06-10T16:00:00",
         "Licenses=sc_twin:2"]]
    # switched off (DELETE …/maintenance): the reservation goes
    assert t.plan(t.switches(conf, qpus_answer(None), later), have, later) == [
        ["scontrol", "delete", "ReservationName=qpu_sc_twin_qrmid-maintenance"]]
    # qrmid unreadable: the reservation is kept as it is
    assert t.plan([], have, later, frozenset({"qpu_sc_twin_qrmid-maintenance"})) == []
    # a calibration window block, an unknown QPU, a malformed answer: never reserved
    window = block | {"kind": "calibration", "name": "nightly"}
    assert t.switches(conf, qpus_answer(window), now) == []
    assert t.switches(conf, qpus_answer(block, name="other"), now) == []
    assert t.switches(conf, {"detail": "x"}, now) == []


def test_an_open_ended_switch_is_renewed_only_when_half_is_used() -> None:
    t = tool()
    now = utc(2026, 6, 10, 12, 0)
    conf = config([]) | {"qrmid_url": "http://10.77.0.20:8470", "open_maintenance_hours": 24}
    block = {"kind": "maintenance", "name": "maintenance", "message": "maintenance: x", "until": None}
    [res] = t.switches(conf, qpus_answer(block), now)
    assert res.end == utc(2026, 6, 11, 12, 0)
    have = t.parse_show(show(res))
    assert t.plan(t.switches(conf, qpus_answer(block), utc(2026, 6, 10, 20)), have, utc(2026, 6, 10, 20)) == []
    late = utc(2026, 6, 11, 1, 0)
    assert t.plan(t.switches(conf, qpus_answer(block), late), have, late) == [
        ["scontrol", "update", "ReservationName=qpu_sc_twin_qrmid-maintenance", "EndTime=2026-06-12T01:00:00",
         "Licenses=sc_twin:2"]]


@pytest.mark.parametrize(("patch", "field"), [
    ({"qrmid_url": "file:///etc/passwd"}, "qrmid_url"),
    ({"qrmid_url": "http://a b"}, "qrmid_url"),
    ({"open_maintenance_hours": 0}, "open_maintenance_hours"),
])
def test_bad_qrmid_settings_exit_2(tmp_path: Path, patch: dict[str, Any], field: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    t = tool()
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**config([]), **patch}))
    assert t.main(["--config", str(path), "--dry-run"]) == 2
    assert field in capsys.readouterr().err


def test_a_task_shared_qpu_reserves_every_license_it_admits(tmp_path: Path) -> None:
    """Task-level sharing admits more jobs than the QPU has slots (its license count): a window
    reserves all of them, or a job could start into it on a license left free."""
    t = tool()
    nightly = {"name": "nightly", "weekdays": DAILY, "start": "02:00", "duration_minutes": 60}
    conf = config([nightly], slots=1)
    conf["qpus"][0]["licenses"] = 8
    path = tmp_path / "config.json"
    path.write_text(json.dumps(conf))
    [first, *_] = t.desired(t.load(path), utc(2026, 6, 10, 12, 0))
    assert first.slots == 8 and t.desired(config([nightly], slots=1), utc(2026, 6, 10, 12, 0))[0].slots == 1
    conf["qpus"][0]["licenses"] = 0
    path.write_text(json.dumps(conf))
    with pytest.raises(t.BadConfig, match=r"qpus\[0\]\.licenses"):
        t.load(path)
