"""What the operator sees while the suite runs (a line per check) and at the end
(one screen: counts, failures with their messages, where the reports are)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from acceptance.history import Drift
from acceptance.report import overview
from acceptance.results import CheckResult, RunRecord
from acceptance.spec import CheckInstance, Status

ICONS = {Status.passed: "[green]✔[/]", Status.failed: "[red]✘[/]", Status.missing: "[dark_orange]∅[/]",
         Status.skipped: "[dim]–[/]"}
MAX_FAILURES_SHOWN = 12


class LiveProgress:
    """A one-line verdict per finished check; on a terminal, the running check on a
    transient status line below them. No refresh thread (checks run in forked processes)."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self.done = 0
        self.live = Live(console=console, auto_refresh=False, transient=True) if console.is_terminal else None

    def __enter__(self) -> LiveProgress:
        if self.live:
            self.live.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.live:
            self.live.stop()

    def __call__(self, event: str, instance: CheckInstance, result: CheckResult | None) -> None:
        if event == "start":
            if self.live:
                self.live.update(Text(f"[{self.done + 1}/{self.total}] running {instance.id} "
                                      f"(timeout {instance.spec.timeout_s:.0f} s)…", style="dim"), refresh=True)
            return
        assert result is not None
        self.done += 1
        self.console.print(f"{ICONS[result.status]} {escape(result.id)} [dim]{result.duration_s:.1f} s[/] "
                           f"{escape(result.message)}", highlight=False, no_wrap=True, overflow="ellipsis")


def summary(console: Console, record: RunRecord, drift: list[Drift], paths: dict[str, str]) -> None:
    counts = record.counts()
    table = Table(title=f"Acceptance {record.site} — tier {record.tier}", show_header=True, expand=False)
    for s in Status:
        table.add_column(s.value, justify="right")
    table.add_row(*(str(counts[s.value]) for s in Status))
    console.print(table)
    if record.provenance is not None:
        prov = record.provenance
        console.print(f"  model {escape(prov.model_path)} sha256 {prov.model_sha256[:12]} · qpusite "
                      f"{escape(prov.kit_version)} · schema {prov.schema_version} · {prov.generated_at}",
                      highlight=False, no_wrap=True, overflow="ellipsis")
    if record.qpus:
        console.print("  QPUs: " + ", ".join(f"{escape(q.qpu)} ({q.kind})" for q in record.qpus),
                      highlight=False, no_wrap=True, overflow="ellipsis")
    failures = overview.ordered(record.failures)
    for r in failures[:MAX_FAILURES_SHOWN]:
        console.print(f"  {ICONS[r.status]} {escape(r.id)}: {escape(r.message)}", highlight=False, no_wrap=True,
                      overflow="ellipsis")
    if len(failures) > MAX_FAILURES_SHOWN:
        console.print(f"  … and {len(failures) - MAX_FAILURES_SHOWN} more (see the HTML report)")
    shown = [d for d in drift if not d.drifted]
    if shown:
        console.print("  benchmarks: " + "; ".join(f"{d.qpu} {d.benchmark} {d.value:.3g}" for d in shown),
                      no_wrap=True, overflow="ellipsis")
    verdict = "[bold green]PASSED[/]" if record.ok else f"[bold red]FAILED[/] ({len(failures)} check(s))"
    console.print(f"{verdict} in {sum(r.duration_s for r in record.results):.0f} s")
    for name, path in paths.items():
        console.print(f"  {name}: {escape(path)}", highlight=False)
