"""qpusite up [SITE]: rehearse a site's rollout on local systemd containers."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from rehearsal.errors import RehearsalError, RehearsalInputError
from rehearsal.progress import Progress
from rehearsal.report_file import write_report
from rehearsal.site_up import bring_up
from rehearsal.summary import print_summary
from rehearsal.twin_site import TwinOptions, parse_subnet
from rehearsal.twins import DEFAULT_PER_PARTITION


def run(args: argparse.Namespace) -> int:
    console = Console()
    if not console.is_terminal:  # CI logs: wide enough for addresses and recap columns
        console = Console(width=max(console.width, 120))
    progress = Progress(console)
    try:
        twins = None
        if args.twins:
            subnet = parse_subnet(args.twins_subnet) if args.twins_subnet else None
            twins = TwinOptions(per_partition=args.twins_per_partition, subnet=subnet)
        elif args.twins_subnet or args.twins_per_partition != DEFAULT_PER_PARTITION:
            raise RehearsalInputError("--twins-subnet and --twins-per-partition go with --twins")
        # One "--opt=value" word each: a value starting with "-" stays a value.
        playbook_args = [
            *([f"--tags={args.tags}"] if args.tags else []),
            *([f"--limit={args.limit}"] if args.limit else []),
        ]
        report = bring_up(
            args.site,
            progress,
            skip_rollout=args.skip_rollout,
            skip_smoke=args.skip_smoke,
            check=args.check,
            keep_stopped=args.keep_stopped,
            playbook_args=playbook_args,
            twins=twins,
        )
    except RehearsalInputError as exc:
        print(f"qpusite up: {exc}", file=sys.stderr)
        return 2
    except RehearsalError as exc:
        print(f"qpusite up: {exc}", file=sys.stderr)
        return 1
    print_summary(console, report, [(p.name, p.seconds) for p in progress.phases if p.ok is not None])
    if report.summary_file is not None:
        write_report(report.summary_file, report, progress.phases)
    return 0 if report.ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "up",
        help="rehearse the rollout: one systemd container per host, site.yml over SSH, smoke check",
        description=(
            "Build (once) a Debian node image, start one systemd container per host of the model on a podman "
            "network with the site's subnet, run site.yml against them over SSH, then smoke-check the site. "
            "Running it again reuses the containers and re-runs the rollout."
        ),
    )
    p.add_argument("site", nargs="?", default="lab", help="site name under inventories/, or a path (default: lab)")
    p.add_argument("--skip-rollout", action="store_true", help="only bring the hosts up and wait for SSH")
    p.add_argument("--skip-smoke", action="store_true", help="run the rollout but not the smoke checks")
    p.add_argument(
        "--check",
        action="store_true",
        help="on a site that is up: run site.yml with --check --diff, i.e. show what a re-run would change "
        "and change nothing (a converged site reports changed=0)",
    )
    p.add_argument(
        "--keep-stopped",
        action="store_true",
        help="leave stopped containers stopped: rehearse a rollout with those hosts down (the model's "
        "rollout.may_be_unavailable decides whether the run may go without them)",
    )
    p.add_argument(
        "--tags", metavar="TAGS", help="pass --tags to site.yml (e.g. slurm, slurm:configure; docs/rollout.md)"
    )
    p.add_argument("--limit", metavar="PATTERN", help="pass --limit to site.yml (e.g. 'compute:!c2'; docs/rollout.md)")
    p.add_argument(
        "--twins",
        action="store_true",
        help="rehearse a copy of the site in which every real QPU is an emulator twin of the same name and shape "
        "and each partition keeps a few compute hosts (written to inventories/<site>/.rehearsal/twins/; the "
        "model is not changed); see docs/rehearsal.md for what this does not prove",
    )
    p.add_argument(
        "--twins-per-partition",
        type=int,
        default=DEFAULT_PER_PARTITION,
        metavar="N",
        help=f"with --twins: compute hosts kept per partition (default {DEFAULT_PER_PARTITION})",
    )
    p.add_argument(
        "--twins-subnet",
        metavar="CIDR",
        help="with --twins: renumber every host into this free subnet instead of keeping the model's addresses",
    )
    p.set_defaults(handler=run)
