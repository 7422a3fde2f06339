"""One-screen terminal summary of a survey (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from site_survey.survey.findings import Severity, SurveyResult

STYLE = {Severity.blocker: "bold red", Severity.warning: "yellow", Severity.info: "dim"}


def print_summary(result: SurveyResult, console: Console | None = None, show_info: bool = False) -> None:
    console = console or Console()
    shown = [f for f in result.sorted() if show_info or f.severity != Severity.info]
    if shown:
        table = Table(title=f"Facility survey: {result.site}", show_lines=True, expand=False)
        table.add_column("severity", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("finding (fix)", overflow="fold", ratio=1)
        table.add_column("confidence", no_wrap=True)
        for f in shown:
            text = f.message + (f"\n[dim]{escape(f.hint)}[/]" if f.hint else "")
            table.add_row(f"[{STYLE[f.severity]}]{f.severity.value}[/]", f.check, text, f.confidence or "")
        console.print(table)
    counts = result.counts()
    passed = sum(1 for f in result.findings if f.passed)
    console.print(
        f"{result.site}: [bold red]{counts[Severity.blocker]} blocker(s)[/], "
        f"[yellow]{counts[Severity.warning]} warning(s)[/], {counts[Severity.info]} info "
        f"({passed} check(s) passed)"
    )
