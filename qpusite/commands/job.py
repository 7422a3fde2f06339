"""qpusite job SITE JOBID: explain a job's QPU timeline from the operator's seat.

Runs the site's own `qpu-job-info JOBID` (roles/spank_qrmid) on a login host (else the
controller) over the acceptance SSH transport, as root there: root's munge credential is
trusted by qrmid, so any user's job can be explained. Text, or --json (the same record).
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys

from acceptance.remote import HostUnreachable, Remote
from site_survey import load_site
from site_survey.loader import resolve_site_path
from site_survey.model import HostRole

JOB_ID = re.compile(r"^[0-9]{1,12}(_[0-9]{1,9})?$")
TIMEOUT_S = 60


def command(job_id: str, as_json: bool) -> str:
    """The shell line run on the host (the job id is checked and quoted; nothing else varies)."""
    if not JOB_ID.match(job_id):
        raise ValueError(job_id)
    return shlex.join(["qpu-job-info", *(["--json"] if as_json else []), job_id])


def run(args: argparse.Namespace) -> int:
    if not JOB_ID.match(args.job_id):
        print(f"qpusite job: JOBID {args.job_id[:40]!r} is not a Slurm job id (digits, or NNN_K for an array "
              "task)", file=sys.stderr)
        return 2
    site = load_site(args.site)
    site_dir = resolve_site_path(args.site).parent.resolve()
    hosts = site.hosts_with(HostRole.login) or site.hosts_with(HostRole.controller)
    if args.host:
        if site.host(args.host) is None:
            print(f"qpusite job: --host {args.host!r} is not a host of site {site.site.name}", file=sys.stderr)
            return 2
        name = args.host
    elif hosts:
        name = hosts[0].name
    else:
        print(f"qpusite job: site {site.site.name} has no login or controller host", file=sys.stderr)
        return 2
    try:
        done = Remote(site, site_dir).run(name, command(args.job_id, args.json), timeout_s=TIMEOUT_S)
    except HostUnreachable as exc:
        print(f"qpusite job: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode == 127:
        print(f"qpusite job: qpu-job-info is not installed on {name} (roll out roles/spank_qrmid)", file=sys.stderr)
        return 1
    return 2 if done.returncode == 2 else (0 if done.ok else 1)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "job", help="explain a Slurm job's QPU timeline (license wait, admission, windows, tasks, why it waits)",
        description=__doc__,
    )
    p.add_argument("site", help="site name under inventories/, a directory, or a path to site.yaml")
    p.add_argument("job_id", metavar="JOBID", help="Slurm job id")
    p.add_argument("--json", action="store_true", help="the whole record as JSON")
    p.add_argument("--host", help="the host to ask (default: the first login host, else the controller)")
    p.set_defaults(handler=run)
