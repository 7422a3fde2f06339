"""qpusite cloud preview|up|destroy|config SITE: the site's cloud side through Pulumi."""

from __future__ import annotations

import argparse
import os
import sys

from stacks.common.automation import CloudError, describe, plan, run
from stacks.common.stack_config import PROGRAMS


def _config(args: argparse.Namespace) -> int:
    for line in describe(args.site, args.program, args.stack, os.environ):
        print(line)
    return 0


def _action(args: argparse.Namespace) -> int:
    if args.action == "destroy" and not args.yes:
        print("qpusite cloud destroy deletes the site's cloud resources; add --yes to confirm", file=sys.stderr)
        return 2
    try:
        cloud_plan = plan(args.site, args.program, args.stack, os.environ)
        outputs = run(cloud_plan, args.action, os.environ)
    except CloudError as exc:
        print(f"qpusite cloud {args.action}: {exc}", file=sys.stderr)
        return exc.exit_code
    hosts = outputs.get("hosts") or {}
    print(f"{cloud_plan.site.site.name}: {args.action} of stacks/{args.program} done ({len(hosts)} host(s) in outputs)")
    return 0


def run_command(args: argparse.Namespace) -> int:
    return _config(args) if args.action == "config" else _action(args)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "cloud",
        help="provision the site's cloud side with Pulumi (preview, up, destroy; config works without the CLI)",
    )
    p.add_argument("action", choices=["preview", "up", "destroy", "config"], help="what to do")
    p.add_argument("site", help="site name under inventories/, a directory, or a path to site.yaml")
    p.add_argument("--program", choices=PROGRAMS, default="ovh", help="which stack program (default ovh)")
    p.add_argument("--stack", help="Pulumi stack name (default: the site name)")
    p.add_argument("--yes", action="store_true", help="confirm destroy")
    p.set_defaults(handler=run_command)
