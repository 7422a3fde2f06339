"""Upgrade rehearsal (tools/test.d/60-rehearsal.sh): what must survive rolling the current tree over
the previous release.

    python -m rehearsal.upgrade record SITE FILE   # after the previous release's rollout
    python -m rehearsal.upgrade verify SITE FILE   # after the current tree's rollout

``record`` runs a job holding the first QPU (so qrmid writes an acquisition and an
accounting record), and notes those records and a fingerprint of every rehearsal
secret and of the site CA. ``verify`` fails unless qrmid still has the same records
and no secret or CA was rotated. Exit 0 ok, 1 a check failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from acceptance import qrmid_records, slurm_jobs
from acceptance.context import Context
from acceptance.spec import CheckFailed, MissingComponent
from rehearsal.paths import SitePaths
from site_survey import load_site
from site_survey.errors import SiteModelError
from site_survey.loader import resolve_site_path
from site_survey.model import Site

JOB_SCRIPT = "#!/bin/sh\nhostname\n"
JOB_TIMEOUT_S = 240
RELEASE_TIMEOUT_S = 60
# Fields of an accounting record that an upgrade must not change (later releases may add fields).
RECORD_FIELDS = ("acquisition_id", "qpu", "job_id", "user", "profile", "granted_at", "released_at")


def _context(site: Site, site_file: Path) -> Context:
    return Context(site=site, site_dir=site_file.parent, log=lambda _line: None)


def _fingerprints(paths: SitePaths) -> dict[str, str]:
    """sha256 of every rehearsal secret's value and of the site CA certificate (never the values)."""
    out: dict[str, str] = {}
    if paths.secrets_file.is_file():
        secrets = yaml.safe_load(paths.secrets_file.read_text(encoding="utf-8")) or {}
        for name, value in sorted(secrets.items()):
            out[name] = hashlib.sha256(str(value).encode()).hexdigest()
    if paths.ca_certificate.is_file():
        out["site CA"] = hashlib.sha256(paths.ca_certificate.read_bytes()).hexdigest()
    return out


def _records(ctx: Context, job_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    acquisitions = [{k: a.get(k) for k in ("id", "qpu", "job_id", "state")} for a in
                    qrmid_records.acquisitions(ctx, job_id)]
    accounting = [{k: r.get(k) for k in RECORD_FIELDS if k in r} for r in qrmid_records.accounting(ctx, job_id)]
    acquisitions.sort(key=lambda a: str(a["id"]))
    accounting.sort(key=lambda r: json.dumps(r, sort_keys=True))
    return acquisitions, accounting


def record(site: Site, site_file: Path, out: Path) -> str:
    if not site.qpus:
        raise CheckFailed("the site model has no QPU: there is no qrmid record to keep across the upgrade")
    ctx = _context(site, site_file)
    qpu = site.qpus[0].name
    done = slurm_jobs.submit(ctx, JOB_SCRIPT, [f"--qpu={qpu}", "--time=5"], "upgrade-record", JOB_TIMEOUT_S)
    if done.state != "COMPLETED":
        raise CheckFailed(f"the job holding {qpu} ended {done.state} ({done.submit_error or done.output[-200:]})")
    rows, _ = qrmid_records.wait_over(ctx, done.job_id, RELEASE_TIMEOUT_S)
    acquisitions, accounting = _records(ctx, done.job_id)
    if not acquisitions or not accounting:
        raise CheckFailed(
            f"job {done.job_id} held {qpu} but qrmid shows {len(acquisitions)} acquisition(s) and "
            f"{len(accounting)} accounting record(s); expected at least one of each"
        )
    state = {
        "job_id": done.job_id,
        "qpu": qpu,
        "acquisitions": acquisitions,
        "accounting": accounting,
        "fingerprints": _fingerprints(SitePaths(site.site.name, site_file)),
    }
    out.write_text(json.dumps(state, indent=2), encoding="utf-8")
    return (f"job {done.job_id} on {qpu}: {len(acquisitions)} acquisition(s), {len(accounting)} accounting "
            f"record(s), {len(state['fingerprints'])} secret/CA fingerprints noted")


def verify(site: Site, site_file: Path, before_file: Path) -> str:
    before = json.loads(before_file.read_text(encoding="utf-8"))
    ctx = _context(site, site_file)
    acquisitions, accounting = _records(ctx, before["job_id"])
    problems = []
    if acquisitions != before["acquisitions"]:
        problems.append(f"qrmid's acquisitions of job {before['job_id']} changed: {before['acquisitions']} -> "
                        f"{acquisitions}")
    if accounting != before["accounting"]:
        problems.append(f"qrmid's accounting of job {before['job_id']} changed: {before['accounting']} -> "
                        f"{accounting}")
    now = _fingerprints(SitePaths(site.site.name, site_file))
    rotated = sorted(k for k, v in before["fingerprints"].items() if now.get(k) != v)
    if rotated:
        problems.append(f"rotated or lost by the upgrade: {', '.join(rotated)}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return (f"job {before['job_id']}: {len(acquisitions)} acquisition(s) and {len(accounting)} accounting record(s) "
            f"kept; {len(now)} secrets/CA, none rotated")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.upgrade", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["record", "verify"])
    parser.add_argument("site", help="site name under inventories/, or a path to site.yaml")
    parser.add_argument("file", type=Path, help="where record writes, and verify reads, the state before")
    args = parser.parse_args(argv)
    try:
        site_file = resolve_site_path(args.site).resolve()
        site = load_site(site_file)
    except SiteModelError as exc:
        print(f"upgrade: {exc}", file=sys.stderr)
        return 2
    if args.action == "verify" and not args.file.is_file():
        print(f"upgrade: {args.file} does not exist: run `record` before the upgrade", file=sys.stderr)
        return 2
    try:
        message = (record if args.action == "record" else verify)(site, site_file, args.file)
    except (CheckFailed, MissingComponent) as exc:
        print(f"upgrade {args.action}: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"upgrade {args.action}: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
