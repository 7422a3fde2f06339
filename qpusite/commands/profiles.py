"""qpusite profiles [--show NAME]: the requirement profiles the survey applies, with their sources."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from site_survey.profiles import Profile, ProfileDataError, load_profiles
from site_survey.reports.common import REQUIREMENT_UNITS


def _figure_text(key: str, value: object) -> str:
    if isinstance(value, list):
        return ", ".join(getattr(v, "value", str(v)) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(getattr(value, "value", value))
    return f"{text} {REQUIREMENT_UNITS.get(key, '')}".strip()


def _show(profile: Profile, console: Console) -> None:
    console.print(f"[bold]{profile.id}[/] — {profile.title} ({profile.kind}, {profile.modality.value}"
                  + (f", {profile.vendor}" if profile.vendor else "") + ")")
    if profile.summary:
        console.print(profile.summary.strip())
    if profile.kind == "system":
        console.print(f"Refines the '{profile.modality.value}' modality profile; unset keys come from it.")
    table = Table(show_lines=True)
    for column in ("requirement", "value", "confidence", "source", "note"):
        table.add_column(column, overflow="fold")
    for key in type(profile.requirements).model_fields:
        figure = getattr(profile.requirements, key)
        if figure is not None:
            table.add_row(key, _figure_text(key, figure.value), figure.confidence.value, figure.source, figure.note)
    console.print(table)


def run(args: argparse.Namespace) -> int:
    try:
        library = load_profiles()
    except ProfileDataError as exc:
        print(f"qpusite profiles: {exc}", file=sys.stderr)
        return 2
    console = Console()
    if args.show:
        profile = library.get(args.show)
        if profile is None:
            known = [m.value for m in library.modalities] + sorted(library.systems)
            print(f"qpusite profiles: no profile {args.show!r}; known: {', '.join(known)}", file=sys.stderr)
            return 2
        _show(profile, console)
        return 0
    table = Table(title="Requirement profiles (qpusite profiles --show NAME)", show_lines=True)
    table.add_column("name (title)", overflow="fold", ratio=1)
    table.add_column("kind", no_wrap=True)
    table.add_column("vendor", no_wrap=True)
    table.add_column("figures", justify="right", no_wrap=True)
    profiles = list(library.modalities.values()) + [library.systems[k] for k in sorted(library.systems)]
    for p in profiles:
        count = sum(1 for k in type(p.requirements).model_fields if getattr(p.requirements, k) is not None)
        kind = "modality" if p.kind == "modality" else f"{p.modality.value} system"
        table.add_row(f"[bold]{p.id}[/]\n[dim]{p.title}[/]", kind, p.vendor or "", str(count))
    console.print(table)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("profiles", help="list the requirement profiles (modalities, vendor systems)")
    p.add_argument("--show", metavar="NAME", help="print one profile's figures with source and confidence")
    p.set_defaults(handler=run)
