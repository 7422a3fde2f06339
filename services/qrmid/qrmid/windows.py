"""Calibration and maintenance windows: recurring ones from the site model (local
time in the site's time zone) and ad-hoc maintenance switched by an operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
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
