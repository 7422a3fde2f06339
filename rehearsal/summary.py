"""The one-screen summary that ends `qpusite up`."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rehearsal.paths import display_path
from rehearsal.recap import totals
from rehearsal.site_up import UpReport

# The full detail is in summary.json; the screen gets the gist.
DETAIL_CHARS = 160


def _mark(ok: bool | None) -> str:
    return {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "[yellow]n/a[/yellow]"}[ok]


def print_summary(console: Console, report: UpReport, phases: list[tuple[str, float]]) -> None:
    hosts = Table(title=f"site {report.site}" + (f" — {report.network.name} {report.network.subnet}"
                                                 if report.network else ""), title_justify="left")
    for column in ("host", "address", "container", "ssh ready"):
        hosts.add_column(column)
    with_recap = bool(report.recap)
    if with_recap:
        for column in ("ok", "changed", "failed", "unreachable"):
            hosts.add_column(column, justify="right")
    for host, address in report.hosts.items():
        row = [
            host,
            address,
            report.container_actions.get(host, "-"),
            f"{report.ssh_seconds[host]:.1f} s" if host in report.ssh_seconds else "-",
        ]
        if with_recap:
            recap = report.recap.get(host)
            row += [str(getattr(recap, c)) if recap else "-" for c in ("ok", "changed", "failed", "unreachable")]
        hosts.add_row(*row)
    console.print(hosts)
    if report.rollout is not None:
        counts = totals(report.rollout.recap)
        console.print(
            f"rollout: changed={counts['changed']} failed={counts['failed']} unreachable={counts['unreachable']} "
            f"in {report.rollout.seconds:.0f} s (exit {report.rollout.returncode}); "
            f"log {display_path(report.rollout.log)}",
            soft_wrap=True,
        )
        if report.rollout.unavailable:
            console.print(
                "  [yellow]went without[/yellow] (within the model's rollout.may_be_unavailable): "
                + ", ".join(report.rollout.unavailable) + "; a later run converges them",
                soft_wrap=True,
            )
        for failure in report.rollout.failures:
            console.print(f"  [red]failed[/red] {escape(failure)}", soft_wrap=True)
    if report.smoke:
        checks = Table(title="smoke", title_justify="left")
        for column in ("check", "result", "detail", "time"):
            checks.add_column(column)
        for result in report.smoke:
            detail = result.detail if len(result.detail) <= DETAIL_CHARS else result.detail[: DETAIL_CHARS - 1] + "…"
            checks.add_row(result.name, _mark(result.ok), escape(detail), f"{result.seconds:.0f} s")
        console.print(checks)
    console.print(
        "times: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases)
        + f"; total {report.seconds:.0f} s",
        soft_wrap=True,
    )
    for note in report.notes:
        console.print(f"next: {escape(note)}", soft_wrap=True)
    console.print("[green]site is up[/green]" if report.ok else "[red]site is NOT healthy[/red]")
