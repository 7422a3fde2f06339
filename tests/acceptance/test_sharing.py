"""Checks 023, 024 and 049 (task-shared QPUs): which QPUs they expand to, and their verdicts on
synthetic task records, sacct TRES strings and scontrol reservation lines."""

from __future__ import annotations

from typing import Any

from acceptance.checks import load_all, params
from acceptance.checks.sharing import (
    TaskSpan,
    interleaved,
    license_in,
    next_window,
    parse_reservations,
)
from acceptance.spec import Tier
from site_survey.model import Site
from tests.acceptance.conftest import site_from

SHARING_CHECKS = ("023_qpu_license_accounted", "024_calibration_window_holds_job", "049_qpu_shared_task_by_task")


def test_lab_shares_sc_twin_task_by_task_and_keeps_the_others_exclusive(lab_site: Site) -> None:
    ids = {i.id for i in load_all().instances(lab_site, Tier.l1)}
    assert {f"{c}[sc_twin]" for c in SHARING_CHECKS} <= ids
    assert not any(i.startswith(SHARING_CHECKS) and "[sc_twin]" not in i for i in ids)
    # 048 needs a QPU one job holds at a time: the shared QPU is not one
    assert "048_busy_qpu_job_waits[sc_twin]" not in ids
    assert {"048_busy_qpu_job_waits[FRESNEL]", "048_busy_qpu_job_waits[spark]"} <= ids


def test_no_sharing_checks_without_a_task_mode_qpu(lab: dict[str, Any]) -> None:
    for q in lab["qpus"]:
        q.pop("sharing", None)
    site = site_from(lab)
    ids = {i.id for i in load_all().instances(site, Tier.l2)}
    assert not any(i.startswith(SHARING_CHECKS) for i in ids)
    assert "048_busy_qpu_job_waits[sc_twin]" in ids


def test_slurm_only_checks_expand_to_nothing_under_grid_engine(lab: dict[str, Any]) -> None:
    site = site_from(lab)
    assert [p.qpu for p in params.slurm_each_task_shared_qpu(site)] == ["sc_twin"]
    ge = site.model_copy(update={"software": site.software.model_copy(
        update={"scheduler": site.software.scheduler.model_copy(update={"kind": "gridengine"})})})
    assert params.slurm_each_task_shared_qpu(ge) == []
    assert [p.qpu for p in params.each_task_shared_qpu(ge)] == ["sc_twin"]


def _spans(job: str, starts: list[float], length: float = 0.5) -> list[TaskSpan]:
    return [TaskSpan(job, s, s + length) for s in starts]


def test_interleaved_tasks_are_counted() -> None:
    a = _spans("1", [0, 3, 6, 9])
    b = _spans("2", [1, 4, 7, 10])
    assert interleaved(a, b) == 6  # b at 1, 4, 7 inside a's hold (0–9.5); a at 3, 6, 9 inside b's (1–10.5)


def test_jobs_taking_the_qpu_in_turn_are_not_interleaved() -> None:
    a = _spans("1", [0, 1, 2, 3])
    b = _spans("2", [4, 5, 6, 7])
    assert interleaved(a, b) == 0
    assert interleaved(b, a) == 0
    assert interleaved(a, []) == 0


def test_license_in_alloc_tres() -> None:
    assert license_in("billing=65,cpu=1,license/sc_twin=1,mem=100M,node=1", "sc_twin") == 1
    assert license_in("billing=1,cpu=1,mem=100M,node=1", "sc_twin") == 0
    assert license_in("cpu=1,license/sc_twin_b=1", "sc_twin") == 0
    assert license_in("", "sc_twin") == 0


RESERVATIONS = "\n".join([
    ("ReservationName=qpu_sc_twin_nightly_20261203T0300 StartTime=2026-12-03T03:00:00 EndTime=2026-12-03T03:30:00 "
     "Duration=00:30:00 Nodes=(null) NodeCnt=0 CoreCnt=0 Features=(null) PartitionName=(null) "
     "Flags=MAINT,LICENSE_ONLY TRES=(null) Users=root Groups=(null) Accounts=(null) Licenses=sc_twin:2 "
     "State=INACTIVE BurstBuffer=(null) Watts=n/a MaxStartDelay=(null)"),
    ("ReservationName=qpu_sc_twin_nightly_20261202T2105 StartTime=2026-12-02T21:05:00 EndTime=2026-12-02T21:35:00 "
     "Duration=00:30:00 Flags=MAINT,LICENSE_ONLY Users=root Licenses=sc_twin:2 State=INACTIVE"),
    ("ReservationName=qpu_sc_twin_qrmid-maintenance StartTime=2026-12-02T20:10:00 EndTime=2026-12-02T20:50:00 "
     "Duration=00:40:00 Flags=MAINT,IGNORE_JOBS,LICENSE_ONLY Licenses=sc_twin:2 State=INACTIVE"),
    ("ReservationName=qpu_FRESNEL_x_20261202T2030 StartTime=2026-12-02T20:30:00 EndTime=2026-12-02T21:00:00 "
     "Licenses=FRESNEL:1 State=INACTIVE"),
    ("ReservationName=qpu_sc_twin_nightly_20261202T0300 StartTime=2026-12-02T03:00:00 EndTime=2026-12-02T03:30:00 "
     "Licenses=sc_twin:2 State=INACTIVE"),
    "not a reservation line",
])


def test_the_next_window_is_the_qpus_earliest_calibration_reservation_ahead() -> None:
    found = parse_reservations(RESERVATIONS)
    assert len(found) == 5
    now = 1_796_241_600.0  # 2026-12-02T20:00:00Z
    window = next_window(found, "sc_twin", now)
    assert window is not None
    assert window.name == "qpu_sc_twin_nightly_20261202T2105"  # not the maintenance, not FRESNEL's, not past
    assert window.end - window.start == 1800
    assert window.licenses == {"sc_twin": 2}
    assert next_window(found, "spark", now) is None
    assert next_window(found, "sc_twin", now + 86_400) is None
