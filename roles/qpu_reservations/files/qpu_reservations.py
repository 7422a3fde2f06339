#!/usr/bin/python3
"""Keep each QPU's calibration and maintenance windows as Slurm license reservations, ahead of time.

Reads the windows from a JSON file rendered from the site model (time zone, horizon, QPUs with
their license slots and recurring windows), computes the occurrences that start within the
horizon, and makes slurmctld's reservations match: creates the missing ones, updates those whose
time or license count changed, deletes the ones it made that the model no longer has. A
reservation holds every slot of the QPU's license for the window (Flags=LICENSE_ONLY, Users=root),
so the scheduler starts no job that would still hold the QPU when the window opens, and backfills
shorter jobs before it. qrmid's own window check stays as the last guard.

Only reservations whose names start with the prefix are touched. scontrol runs with TZ=UTC and is
given UTC times (a local wall time is ambiguous in the hour DST repeats); names carry the site's
local start time for people. Every call is an argument vector: no shell.

Standard library only (it runs on the controller, outside the kit's environments).
Exit status: 0 done (or nothing to do), 1 a scontrol call failed, 2 a bad configuration.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "qpu_"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The model's forms: QPU names (letters, digits, _) and window names (lower-case letters, digits, -).
QPU_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
WINDOW_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
SLURM_TIME = "%Y-%m-%dT%H:%M:%S"
MAX_HORIZON_DAYS = 62
ENV = {"TZ": "UTC", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL": "C"}


class BadConfig(ValueError):
    pass


@dataclass(frozen=True)
class Reservation:
    name: str
    qpu: str
    slots: int
    start: datetime  # UTC
    minutes: int
    maintenance: bool

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    def fields(self) -> list[str]:
        flags = "LICENSE_ONLY,MAINT" if self.maintenance else "LICENSE_ONLY"
        return [
            f"ReservationName={self.name}",
            f"StartTime={self.start.strftime(SLURM_TIME)}",
            f"Duration={self.minutes}",
            f"Licenses={self.qpu}:{self.slots}",
            f"Flags={flags}",
            "Users=root",
        ]


def load(path: Path) -> dict[str, Any]:
    """The configuration, checked: every name that reaches scontrol matches QPU_NAME or WINDOW_NAME."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BadConfig(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise BadConfig(f"{path}: expected a JSON object")
    try:
        ZoneInfo(str(doc.get("timezone", "")))
    except (ZoneInfoNotFoundError, ValueError):
        raise BadConfig(f"timezone {doc.get('timezone')!r} is not an IANA time zone (e.g. Europe/Paris)") from None
    horizon = doc.get("horizon_days", 8)
    if not isinstance(horizon, int) or not 1 <= horizon <= MAX_HORIZON_DAYS:
        raise BadConfig(f"horizon_days must be an integer from 1 to {MAX_HORIZON_DAYS} (got {horizon!r})")
    for i, q in enumerate(doc.get("qpus", [])):
        where = f"qpus[{i}]"
        if not isinstance(q, dict) or not QPU_NAME.match(str(q.get("name", ""))):
            raise BadConfig(f"{where}.name must be a QPU name (letters, digits, _)")
        if not isinstance(q.get("slots"), int) or not 1 <= q["slots"] <= 1024:
            raise BadConfig(f"{where}.slots must be an integer from 1 to 1024")
        for j, w in enumerate(q.get("calibration_windows", [])):
            at = f"{where}.calibration_windows[{j}]"
            if not WINDOW_NAME.match(str(w.get("name", ""))):
                raise BadConfig(f"{at}.name must be a window name (lower-case letters, digits, -)")
            if not HHMM.match(str(w.get("start", ""))):
                raise BadConfig(f"{at}.start must be HH:MM")
            if not isinstance(w.get("duration_minutes"), int) or not 1 <= w["duration_minutes"] <= 1440:
                raise BadConfig(f"{at}.duration_minutes must be an integer from 1 to 1440")
            if not w.get("weekdays") or any(d not in WEEKDAYS for d in w["weekdays"]):
                raise BadConfig(f"{at}.weekdays must be a non-empty list of {', '.join(WEEKDAYS)}")
    return doc


def desired(config: dict[str, Any], now: datetime) -> list[Reservation]:
    """Every window occurrence that has not ended and starts before now + horizon, as reservations."""
    tz = ZoneInfo(config["timezone"])
    until = now + timedelta(days=config.get("horizon_days", 8))
    out = []
    for q in config.get("qpus", []):
        for w in q.get("calibration_windows", []):
            hour, minute = (int(x) for x in w["start"].split(":"))
            day = (now.astimezone(tz) - timedelta(days=1)).date()  # yesterday's may still be open
            while day <= until.astimezone(tz).date():
                if WEEKDAYS[day.weekday()] in w["weekdays"]:
                    # local wall time in the site's zone; a start DST skips moves forward with the clock
                    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                    start = local.astimezone(UTC)
                    res = Reservation(
                        name=f"{PREFIX}{q['name']}_{w['name']}_{local.strftime('%Y%m%dT%H%M')}",
                        qpu=q["name"], slots=q["slots"], start=start, minutes=w["duration_minutes"],
                        maintenance=w.get("kind") == "maintenance",
                    )
                    if res.end > now and start < until:
                        out.append(res)
                day += timedelta(days=1)
    return sorted(out, key=lambda r: (r.start, r.name))


def parse_show(text: str) -> dict[str, dict[str, str]]:
    """`scontrol show reservation --oneliner` (TZ=UTC) → {name: {key: value}}."""
    out = {}
    for line in text.splitlines():
        fields = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        if "ReservationName" in fields:
            out[fields["ReservationName"]] = fields
    return out


def plan(want: list[Reservation], have: dict[str, dict[str, str]], now: datetime) -> list[list[str]]:
    """The scontrol argument vectors that make `have` (ours: PREFIX) match `want`."""
    calls: list[list[str]] = []
    wanted = {r.name: r for r in want}
    for r in want:
        cur = have.get(r.name)
        if cur is None:
            calls.append(["scontrol", "create", "reservation", *r.fields()])
            continue
        same = (
            cur.get("StartTime") == r.start.strftime(SLURM_TIME)
            and cur.get("EndTime") == r.end.strftime(SLURM_TIME)
            and cur.get("Licenses") == f"{r.qpu}:{r.slots}"
        )
        if not same:
            started = r.start <= now
            fields = [f"ReservationName={r.name}", f"Licenses={r.qpu}:{r.slots}"]
            if not started:  # a running reservation keeps its start
                fields[1:1] = [f"StartTime={r.start.strftime(SLURM_TIME)}", f"Duration={r.minutes}"]
            calls.append(["scontrol", "update", *fields])
    for name in sorted(have):
        if name.startswith(PREFIX) and name not in wanted:
            calls.append(["scontrol", "delete", f"ReservationName={name}"])
    return calls


def run(argv: list[str], dry_run: bool) -> subprocess.CompletedProcess[str] | None:
    if dry_run:
        return None
    return subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=60, check=False)


def main(args: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=Path("/etc/slurm/qpu-reservations.json"))
    p.add_argument("--dry-run", action="store_true", help="print the scontrol calls, change nothing")
    p.add_argument("--check-only", action="store_true", help="check the configuration only (exit 0 or 2)")
    p.add_argument("--lock-file", type=Path, default=Path("/run/qpu-reservations.lock"),
                   help="held while reading and changing reservations")
    opts = p.parse_args(args)
    try:
        config = load(opts.config)
    except BadConfig as exc:
        print(f"qpu-reservations: {exc}", file=sys.stderr)
        return 2
    if opts.check_only:
        return 0
    # The timer and the rollout's own run may start together: one at a time, or both create the same
    # reservation and the second fails with "Duplicate reservation name".
    with opts.lock_file.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return apply(config, opts.dry_run)


def apply(config: dict[str, Any], dry_run: bool) -> int:
    now = datetime.now(UTC)
    shown = subprocess.run(["scontrol", "show", "reservation", "--oneliner"], env=ENV, capture_output=True,
                           text=True, timeout=60, check=False)
    if shown.returncode != 0 and "No reservations" not in shown.stdout + shown.stderr:
        print(f"qpu-reservations: scontrol show reservation failed: {shown.stderr.strip()}", file=sys.stderr)
        return 1
    calls = plan(desired(config, now), parse_show(shown.stdout), now)
    failed = 0
    for argv in calls:
        print(" ".join(argv), flush=True)
        done = run(argv, dry_run)
        if done is not None and done.returncode != 0:
            failed += 1
            print(f"qpu-reservations: failed: {done.stderr.strip() or done.stdout.strip()}", file=sys.stderr)
    print(f"qpu-reservations: {len(calls)} change(s), {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
