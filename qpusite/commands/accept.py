"""qpusite accept SITE [--tier smoke|l1|l2] [--output DIR]: prove an install works."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from acceptance import suite
from acceptance.runner import RunOptions
from acceptance.spec import Tier


def run(args: argparse.Namespace) -> int:
    if args.timeout_scale <= 0:
        print(f"qpusite accept: --timeout-scale must be positive, got {args.timeout_scale}", file=sys.stderr)
        return 2
    if args.job_user is not None and not re.fullmatch(r"[a-z_][a-z0-9_.-]{0,31}", args.job_user):
        print(f"qpusite accept: --job-user {args.job_user!r} is not a user name: lower-case letters, digits, '_', "
              "'.' or '-', starting with a letter or '_', at most 32 characters, e.g. alice", file=sys.stderr)
        return 2
    output = Path(args.output) if args.output else None
    if output is not None and output.exists() and not output.is_dir():
        print(f"qpusite accept: --output {output} exists and is not a directory; give a directory", file=sys.stderr)
        return 2
    outcome = suite.run(args.site, Tier(args.tier), output, tuple(args.check or ()),
                        options=RunOptions(timeout_scale=args.timeout_scale, job_user=args.job_user))
    return outcome.exit_code


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "accept", help="run the acceptance suite against a deployed site; JUnit XML, HTML report, drift",
        description="Run the acceptance checks of a tier against a deployed site. Exit 0 when every check "
                    "passes, 1 when one fails (or a QPU drifts), 2 on bad input.",
    )
    p.add_argument("site", help="site name under inventories/, a directory, or a path to site.yaml")
    p.add_argument("--tier", choices=[t.value for t in Tier], default=Tier.smoke.value,
                   help="smoke (default, ~2 min), l1 (minutes: drills, alerts, full benchmarks), "
                        "l2 (vendor windows: Q-score)")
    p.add_argument("-o", "--output", help="output directory (default reports/<site>/acceptance)")
    p.add_argument("--check", action="append", metavar="ID",
                   help="run only checks whose id contains ID or whose number is ID (repeatable)")
    p.add_argument("--job-user", metavar="USER",
                   help="submit acceptance jobs as USER (an account in a policy profile allowed on every QPU); "
                        "default: the first user of such a profile in the model")
    p.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every check's timeout (slow sites)")
    p.set_defaults(handler=run)
