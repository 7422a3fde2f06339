#!/usr/bin/python3
"""Keep each QPU's calibration and maintenance windows as Slurm license reservations, ahead of time.

Reads the windows from a JSON file rendered from the site model (time zone, horizon, QPUs with
their license slots and recurring windows), computes the occurrences that start within the
horizon, and makes slurmctld's reservations match: creates the missing ones, updates those whose
time or license count changed, deletes the ones it made that the model no longer has. A
reservation holds every slot of the QPU's license for the window (Flags=LICENSE_ONLY, Users=root),
so the scheduler starts no job that would still hold the QPU when the window opens, and backfills
shorter jobs before it. qrmid's own window check stays as the last guard.

qrmid's maintenance switch (PUT/DELETE /v1/qpus/<name>/maintenance) becomes a reservation too
when the configuration names qrmid's URL: each run reads GET /v1/qpus (anonymous, read-only) and
keeps one reservation `qpu_<qpu>_qrmid-maintenance` from now until the switch's `until` (an
open-ended switch: the next `open_maintenance_hours`, renewed as it runs out), with
Flags=LICENSE_ONLY,MAINT,IGNORE_JOBS (running jobs finish; qrmid refuses their new acquisitions);
it is deleted once the switch is off. When qrmid cannot be read, those reservations are left as
they are and the windows are still kept.

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
import urllib.error
import urllib.request
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
MAINTENANCE = "qrmid-maintenance"  # the window-name part of a maintenance switch's reservation
MAX_QRMID_ANSWER = 1 << 20
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
    # a qrmid maintenance switch: its reservation runs from when it was first seen; the end moves
    # with the switch (and an open-ended one is renewed once less than this is left)
    switch: bool = False
    renew_before: datetime | None = None

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    def fields(self) -> list[str]:
        flags = "LICENSE_ONLY,MAINT,IGNORE_JOBS" if self.switch else (
            "LICENSE_ONLY,MAINT" if self.maintenance else "LICENSE_ONLY")
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
    url = doc.get("qrmid_url", "")
    if not isinstance(url, str) or (url and not re.match(r"^https?://[A-Za-z0-9.:\[\]_-]+(/[A-Za-z0-9._/-]*)?$", url)):
        raise BadConfig(f"qrmid_url must be qrmid's http(s) URL, e.g. http://10.77.0.20:8470 (got {url!r})")
    hours = doc.get("open_maintenance_hours", 24)
    if not isinstance(hours, int) or not 1 <= hours <= 24 * MAX_HORIZON_DAYS:
        raise BadConfig(f"open_maintenance_hours must be an integer from 1 to {24 * MAX_HORIZON_DAYS} (got {hours!r})")
    horizon = doc.get("horizon_days", 8)
    if not isinstance(horizon, int) or not 1 <= horizon <= MAX_HORIZON_DAYS:
        raise BadConfig(f"horizon_days must be an integer from 1 to {MAX_HORIZON_DAYS} (got {horizon!r})")
    for i, q in enumerate(doc.get("qpus", [])):
        where = f"qpus[{i}]"
        if not isinstance(q, dict) or not QPU_NAME.match(str(q.get("name", ""))):
            raise BadConfig(f"{where}.name must be a QPU name (letters, digits, _)")
        if not isinstance(q.get("slots"), int) or not 1 <= q["slots"] <= 1024:
            raise BadConfig(f"{where}.slots must be an integer from 1 to 1024")
        if "licenses" in q and (not isinstance(q["licenses"], int) or not 1 <= q["licenses"] <= 1024):
            raise BadConfig(f"{where}.licenses must be an integer from 1 to 1024")
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
                        qpu=q["name"], slots=licenses(q), start=start, minutes=w["duration_minutes"],
                        maintenance=w.get("kind") == "maintenance",
                    )
                    if res.end > now and start < until:
                        out.append(res)
                day += timedelta(days=1)
    return sorted(out, key=lambda r: (r.start, r.name))


def licenses(q: dict[str, Any]) -> int:
    """The QPU's whole Slurm license count: the jobs it admits (task-level sharing admits more jobs
    than it has slots), else its slots."""
    return int(q.get("licenses", q["slots"]))


def switch_name(qpu: str) -> str:
    return f"{PREFIX}{qpu}_{MAINTENANCE}"


def switches(config: dict[str, Any], qpus_answer: Any, now: datetime) -> list[Reservation]:
    """qrmid's maintenance switches (GET /v1/qpus) as reservations of the whole license, from now
    (the minute) to the switch's end, or `open_maintenance_hours` ahead when it has none."""
    slots = {q["name"]: licenses(q) for q in config.get("qpus", [])}
    hours = config.get("open_maintenance_hours", 24)
    start = now.replace(second=0, microsecond=0)
    out = []
    for q in qpus_answer if isinstance(qpus_answer, list) else []:
        block = q.get("block") if isinstance(q, dict) else None
        name = q.get("name") if isinstance(q, dict) else None
        if not isinstance(block, dict) or block.get("kind") != "maintenance" or name not in slots:
            continue  # a QPU this configuration does not know is never reserved
        renew = None
        try:
            end = datetime.fromisoformat(str(block["until"])).astimezone(UTC) if block.get("until") else None
        except ValueError:
            end = None
        if end is None:
            end = start + timedelta(hours=hours)
            renew = now + timedelta(hours=hours / 2)
        minutes = max(1, int((end - start).total_seconds() // 60) + (1 if (end - start).total_seconds() % 60 else 0))
        if end > now:
            out.append(Reservation(name=switch_name(name), qpu=name, slots=slots[name], start=start,
                                   minutes=minutes, maintenance=True, switch=True, renew_before=renew))
    return out


def qrmid_qpus(url: str, timeout: float = 20) -> Any:
    """GET <qrmid>/v1/qpus (anonymous); None when qrmid cannot be read."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/v1/qpus", timeout=timeout) as resp:  # noqa: S310
            return json.loads(resp.read(MAX_QRMID_ANSWER))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"qpu-reservations: qrmid at {url} could not be read ({exc}); its maintenance reservations are "
              "left as they are", file=sys.stderr)
        return None


def parse_show(text: str) -> dict[str, dict[str, str]]:
    """`scontrol show reservation --oneliner` (TZ=UTC) → {name: {key: value}}."""
    out = {}
    for line in text.splitlines():
        fields = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        if "ReservationName" in fields:
            out[fields["ReservationName"]] = fields
    return out


def plan(want: list[Reservation], have: dict[str, dict[str, str]], now: datetime,
         keep: frozenset[str] = frozenset()) -> list[list[str]]:
    """The scontrol argument vectors that make `have` (ours: PREFIX) match `want`; names in `keep`
    are neither changed nor deleted."""
    calls: list[list[str]] = []
    wanted = {r.name: r for r in want}
    for r in want:
        cur = have.get(r.name)
        if cur is None:
            calls.append(["scontrol", "create", "reservation", *r.fields()])
            continue
        if r.switch:  # runs from when it was made; only its end and license count follow the switch
            end = cur.get("EndTime", "")
            if r.renew_before is not None:  # open-ended: renewed only once less than half is left
                ok_end = end >= r.renew_before.strftime(SLURM_TIME)
            else:
                ok_end = end == r.end.strftime(SLURM_TIME)
            if not ok_end or cur.get("Licenses") != f"{r.qpu}:{r.slots}":
                calls.append(["scontrol", "update", f"ReservationName={r.name}",
                              f"EndTime={r.end.strftime(SLURM_TIME)}", f"Licenses={r.qpu}:{r.slots}"])
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
        if name.startswith(PREFIX) and name not in wanted and name not in keep:
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
    want, keep = desired(config, now), frozenset()
    if config.get("qrmid_url"):
        answer = qrmid_qpus(config["qrmid_url"])
        if answer is None:
            keep = frozenset(switch_name(q["name"]) for q in config.get("qpus", []))
        else:
            want += switches(config, answer, now)
    calls = plan(want, parse_show(shown.stdout), now, keep)
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
