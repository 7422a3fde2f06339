"""Calibration and maintenance windows: recurring ones from the site model (local
time in the site's time zone) and ad-hoc maintenance switched by an operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from qrmid.config import Window

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Block:
    """Why a QPU cannot be acquired right now, and until when (None = until switched off)."""

    kind: str  # calibration | maintenance
    name: str
    message: str
    until: datetime | None


def _occurrences(window: Window, now: datetime, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """Occurrences that could cover `now`: ones that started today or yesterday (windows ≤ 24 h)."""
    local = now.astimezone(tz)
    hour, minute = (int(x) for x in window.start.split(":"))
    out = []
    for back in (1, 0):
        day = (local - timedelta(days=back)).date()
        if WEEKDAYS[day.weekday()] not in window.weekdays:
            continue
        # build in local wall time so DST shifts keep the window at its advertised hour
        start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
        out.append((start, start + timedelta(minutes=window.duration_minutes)))
    return out


def active_window(windows: list[Window], now: datetime, tz: ZoneInfo) -> Block | None:
    """The recurring window covering `now` (the one ending last when several overlap)."""
    best: Block | None = None
    for w in windows:
        for start, end in _occurrences(w, now, tz):
            if start <= now < end and (best is None or (best.until and end > best.until)):
                best = Block(
                    kind=w.kind,
                    name=w.name,
                    message=f"{w.kind} window '{w.name}' ({w.start} for {w.duration_minutes} min, {tz.key})",
                    until=end,
                )
    return best


def next_window_start(windows: list[Window], now: datetime, tz: ZoneInfo) -> datetime | None:
    """Start of the next recurring window after `now` (looks one week ahead)."""
    local = now.astimezone(tz)
    best = None
    for w in windows:
        hour, minute = (int(x) for x in w.start.split(":"))
        for ahead in range(8):
            day = (local + timedelta(days=ahead)).date()
            if WEEKDAYS[day.weekday()] not in w.weekdays:
                continue
            start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
            if start > now and (best is None or start < best):
                best = start
                break
    return best


def occurrences_between(window: Window, a: datetime, b: datetime, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """Every occurrence of a recurring window that overlaps [a, b) (a window lasts at most a day,
    so one that started the day before `a` may still be open)."""
    first, last = (a.astimezone(tz) - timedelta(days=1)).date(), b.astimezone(tz).date()
    hour, minute = (int(x) for x in window.start.split(":"))
    out = []
    day = first
    while day <= last:
        if WEEKDAYS[day.weekday()] in window.weekdays:
            start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).astimezone(UTC)
            end = start + timedelta(minutes=window.duration_minutes)  # elapsed time, not wall time (DST)
            if start < b and end > a:
                out.append((start, end))
        day += timedelta(days=1)
    return out


def blocked_seconds(
    windows: list[Window], tz: ZoneInfo, a: float, b: float, extra: list[tuple[float, float]] | None = None
) -> float:
    """Seconds of [a, b) covered by the windows' occurrences or the `extra` intervals (epoch
    seconds), overlaps counted once."""
    if b <= a:
        return 0.0
    lo, hi = datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)
    spans = [(s.timestamp(), e.timestamp()) for w in windows for s, e in occurrences_between(w, lo, hi, tz)]
    spans += list(extra or [])
    total, reach = 0.0, a
    for s, e in sorted(spans):
        s, e = max(s, reach), min(e, b)
        if e > s:
            total += e - s
            reach = e
    return total
