"""Slurm's reservations as ``scontrol show reservation --oneliner`` prints them with TZ=UTC.

Shared by the acceptance checks (024: a calibration window holds a job) and the rehearsal's
smoke (which QPU can take a job now): both ask Slurm, which is what decides, rather than
recomputing windows from the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

# ``env TZ=UTC`` so the times printed are UTC; argv form for shlex.join / ssh
SHOW_COMMAND = ("env", "TZ=UTC", "scontrol", "show", "reservation", "--oneliner")
# roles/qpu_reservations names the reservation of qrmid's maintenance switch qpu_<qpu>_qrmid-maintenance
QRMID_MAINTENANCE = "qrmid-maintenance"


@dataclass(frozen=True)
class Reservation:
    name: str
    start: float  # epoch seconds
    end: float
    licenses: dict[str, int]


def epoch(text: str) -> float:
    """A Slurm time printed under TZ=UTC (``2026-12-03T04:00:00``) → epoch seconds."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_reservations(text: str) -> list[Reservation]:
    """One Reservation per line; lines without a name, start and end are skipped."""
    out = []
    for line in text.splitlines():
        fields = dict(tok.partition("=")[::2] for tok in line.split() if "=" in tok)
        if not {"ReservationName", "StartTime", "EndTime"} <= fields.keys():
            continue
        licenses = {}
        for item in fields.get("Licenses", "").split(","):
            name, sep, count = item.partition(":")
            if sep and count.isdigit():
                licenses[name] = int(count)
        out.append(Reservation(fields["ReservationName"], epoch(fields["StartTime"]), epoch(fields["EndTime"]),
                               licenses))
    return out


def holding(reservations: list[Reservation], license_name: str, start: float, end: float) -> list[Reservation]:
    """The reservations that hold any of ``license_name`` at some time in [start, end)."""
    return sorted((r for r in reservations if r.licenses.get(license_name, 0) > 0 and r.start < end and r.end > start),
                  key=lambda r: r.start)
