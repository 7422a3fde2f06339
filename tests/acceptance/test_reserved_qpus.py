"""A node-program job for a QPU whose licenses a calibration window or scheduled maintenance holds
within the job's time limit is not applicable (Slurm would keep it pending past the check's bound),
with the reservation and when to run again; qrmid's maintenance switch is left to the drills."""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance import slurm_jobs
from acceptance.context import Context
from acceptance.remote import Completed
from acceptance.spec import NotApplicable
from site_survey.model import Site

NOW = 1_796_270_400  # 2026-12-03T04:00:00Z
NIGHTLY = ("ReservationName=qpu_sc_twin_nightly_20261203T0405 StartTime=2026-12-03T04:05:00 "
           "EndTime=2026-12-03T04:35:00 Flags=MAINT,LICENSE_ONLY Licenses=sc_twin:2 State=INACTIVE")
LATER = ("ReservationName=qpu_sc_twin_nightly_20261203T0430 StartTime=2026-12-03T04:30:00 "
         "EndTime=2026-12-03T05:00:00 Flags=MAINT,LICENSE_ONLY Licenses=sc_twin:2 State=INACTIVE")
SWITCH = ("ReservationName=qpu_FRESNEL_qrmid-maintenance StartTime=2026-12-03T03:59:00 "
          "EndTime=2026-12-03T05:00:00 Flags=MAINT,IGNORE_JOBS,LICENSE_ONLY Licenses=FRESNEL:1 State=ACTIVE")


class LoginWithReservations(Context):
    def __init__(self, site: Site, reservations: str) -> None:
        super().__init__(site, Path("."), lambda _msg: None)
        self.reservations = reservations

    def run(self, host: str, command: str, timeout_s: float = 30, stdin: str | None = None) -> Completed:
        if command == "date +%s":
            return Completed(command, 0, f"{NOW}\n", "")
        if command == "env TZ=UTC scontrol show reservation --oneliner":
            return Completed(command, 0, self.reservations, "")
        return Completed(command, 1, "", "unexpected")


def test_a_window_within_the_time_limit_makes_the_job_not_applicable(lab_site: Site) -> None:
    ctx = LoginWithReservations(lab_site, NIGHTLY + "\n" + SWITCH + "\n")
    with pytest.raises(NotApplicable) as held:
        slurm_jobs.require_unreserved(ctx, ["FRESNEL", "sc_twin"], 10)
    assert "qpu_sc_twin_nightly_20261203T0405" in str(held.value)
    assert "cannot start before 2026-12-03T04:35:00 UTC" in str(held.value)


def test_a_later_window_qrmids_switch_and_other_qpus_do_not(lab_site: Site) -> None:
    ctx = LoginWithReservations(lab_site, LATER + "\n" + SWITCH + "\n")
    slurm_jobs.require_unreserved(ctx, ["sc_twin", "FRESNEL", "spark"], 10)  # window starts after 11 min
    with pytest.raises(NotApplicable):
        slurm_jobs.require_unreserved(ctx, ["sc_twin"], 30)  # a 30-minute job would reach it
