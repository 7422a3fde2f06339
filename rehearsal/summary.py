"""The one-screen summary that ends `qpusite up`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rehearsal.recap import totals
from rehearsal.site_up import UpReport


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
            f"in {report.rollout.seconds:.0f} s (exit {report.rollout.returncode})"
        )
    if report.smoke:
        checks = Table(title="smoke", title_justify="left")
        for column in ("check", "result", "detail", "time"):
            checks.add_column(column)
        for result in report.smoke:
            checks.add_row(result.name, _mark(result.ok), result.detail, f"{result.seconds:.0f} s")
        console.print(checks)
    console.print("times: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases)
                  + f"; total {report.seconds:.0f} s")
    for note in report.notes:
        console.print(f"next: {note}")
    console.print("[green]site is up[/green]" if report.ok else "[red]site is NOT healthy[/red]")
