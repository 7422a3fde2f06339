"""Per-phase progress on the terminal: a spinner while a phase runs, one line when it ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.status import Status


@dataclass
class PhaseRecord:
    name: str
    seconds: float = 0.0
    detail: str = ""
    ok: bool | None = None  # None: still running or skipped


class Phase:
    def __init__(self, record: PhaseRecord, status: Status | None, console: Console):
        self.record = record
        self._status = status
        self._console = console

    def update(self, text: str) -> None:
        if self._status is not None:
            self._status.update(f"[bold]{self.record.name}[/bold] {escape(text)}")

    def note(self, text: str) -> None:
        """A line worth keeping in the output (e.g. a play starting), not just a spinner update."""
        self._console.print(f"  [dim]{escape(text)}[/dim]", soft_wrap=True)

    def done(self, detail: str) -> None:
        self.record.detail = detail


@dataclass
class Progress:
    console: Console = field(default_factory=Console)
    phases: list[PhaseRecord] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[Phase]:
        record = PhaseRecord(name)
        self.phases.append(record)
        started = time.monotonic()
        interactive = self.console.is_terminal
        status = self.console.status(f"[bold]{name}[/bold]") if interactive else None
        try:
            if status is not None:
                with status:
                    yield Phase(record, status, self.console)
            else:
                yield Phase(record, None, self.console)
        except BaseException:
            record.seconds = time.monotonic() - started
            record.ok = False
            self.console.print(f"[red]✗[/red] {name:<14} failed after {record.seconds:.1f} s", soft_wrap=True)
            raise
        record.seconds = time.monotonic() - started
        record.ok = True
        self.console.print(
            f"[green]✓[/green] {name:<14} {escape(record.detail)} [dim]({record.seconds:.1f} s)[/dim]", soft_wrap=True
        )

    def skipped(self, name: str, why: str) -> None:
        self.phases.append(PhaseRecord(name, 0.0, why, None))
        self.console.print(f"[yellow]-[/yellow] {name:<14} {escape(why)}", soft_wrap=True)
