#!/usr/bin/python3
"""qpu-job-info JOBID [--json]: why a QPU job waits, and where its time went.

Slurm's side (scontrol while the job is known to slurmctld, else sacct): submitted, eligible,
started, ended, the QPU licenses it asked for, the reason while pending, and the license
reservations (calibration windows, maintenance) on those QPUs. qrmid's side
(GET /v1/jobs/JOBID/timeline, authenticated with a munge credential of the caller): admission
and policy profile, the wait for the QPU, each task submitted through qrmid with its QPU
execution time and the rest of its wall time (queue at the service and transport).

Users see only their own jobs (qrmid checks the munge uid; this tool checks Slurm's owner);
root sees any job. Every external call is an argv list; nothing from a job becomes a shell
word. Standard library only: it runs with the system python3 of login and compute nodes.
Exit 0: explained; 1: Slurm or qrmid could not be asked; 2: bad arguments or not your job.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

CONFIG = "/etc/qpu-job-info.json"
JOB_ID = re.compile(r"^[0-9]{1,12}(_[0-9]{1,9})?$")
CLUSTER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_OUTPUT = 1 << 20  # bytes read from a Slurm command or qrmid
SACCT_FIELDS = ("JobID", "User", "UID", "State", "Reason", "Submit", "Eligible", "Start", "End",
                "Timelimit", "Partition", "NodeList", "ReqTRES", "Reservation")
SHOWN_RESERVATIONS = 3  # in the text; --json has them all
SLURM_UNSET = {"", "None", "Unknown", "N/A", "(null)"}

# Slurm's pending reasons a QPU user meets, said in plain words
REASONS = {
    "Licenses": "every license of its QPU is in use by other jobs (or reserved for a window)",
    "Reservation": "a reservation (calibration window or maintenance) blocks it",
    "ReqNodeNotAvail": "nodes it needs are unavailable or reserved",
    "Resources": "the compute nodes it needs are busy",
    "Priority": "jobs with a higher priority (fair-share, profile) go first",
    "Dependency": "it waits for a job it depends on",
    "BeginTime": "its begin time has not come",
    "JobHeldUser": "you held it (scontrol release JOBID)",
    "JobHeldAdmin": "an administrator held it",
    "PartitionTimeLimit": "its time limit exceeds the partition's",
    "QOSMaxJobsPerUserLimit": "you have as many jobs running as your QOS allows",
}


class Failure(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def clean(value: Any) -> str:
    """One line of text from anything a job, Slurm or qrmid said (no control characters)."""
    return CONTROL.sub(" ", str(value))


def run(argv: list[str], timeout: float) -> tuple[int, str]:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)  # noqa: S603
    except FileNotFoundError:
        raise Failure(f"{argv[0]} is not installed on this host") from None
    except subprocess.TimeoutExpired:
        raise Failure(f"{argv[0]} did not answer within {timeout:g} s") from None
    out = done.stdout[:MAX_OUTPUT].decode(errors="replace")
    if done.returncode != 0:
        out = done.stderr[:4096].decode(errors="replace")
    return done.returncode, out


def parse_scontrol(line: str) -> dict[str, str]:
    """`scontrol -o show ...`: Key=Value pairs separated by spaces; a value may hold spaces, so a
    word without '=' belongs to the value before it."""
    out: dict[str, str] = {}
    key = None
    for word in line.strip().split(" "):
        k, eq, v = word.partition("=")
        if eq and re.fullmatch(r"[A-Za-z][A-Za-z0-9_:/]*", k):
            key = k
            out[key] = v
        elif key is not None:
            out[key] += " " + word
    return out


def slurm_time(value: str | None) -> float | None:
    if not value or value in SLURM_UNSET:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()  # Slurm prints local time
    except ValueError:
        return None


def licenses_of(text: str | None) -> dict[str, int]:
    """`sc_twin:1,FRESNEL:1` (scontrol) or `...,license/sc_twin=1` (sacct ReqTRES)."""
    out: dict[str, int] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if item.startswith("license/"):
            name, _, n = item[len("license/"):].partition("=")
        elif item.startswith(("cpu=", "mem=", "node=", "billing=", "gres/")) or not item:
            continue
        else:
            name, _, n = item.partition(":")
        if name and name not in SLURM_UNSET:
            out[name] = int(n) if n.isdigit() else 1
    return out


def from_scontrol(fields: dict[str, str]) -> dict[str, Any]:
    user, _, uid = fields.get("UserId", "").partition("(")
    return {
        "source": "scontrol",
        "job_id": fields.get("JobId", ""),
        "user": user,
        "uid": int(uid.rstrip(")")) if uid.rstrip(")").isdigit() else None,
        "state": fields.get("JobState", ""),
        "reason": fields.get("Reason") if fields.get("Reason") not in SLURM_UNSET else None,
        "submit": slurm_time(fields.get("SubmitTime")),
        "eligible": slurm_time(fields.get("EligibleTime")),
        "start": slurm_time(fields.get("StartTime")) if fields.get("JobState") != "PENDING" else None,
        "expected_start": slurm_time(fields.get("StartTime")) if fields.get("JobState") == "PENDING" else None,
        "end": slurm_time(fields.get("EndTime")) if fields.get("JobState") not in ("PENDING", "RUNNING") else None,
        "time_limit": fields.get("TimeLimit"),
        "partition": fields.get("Partition"),
        "nodes": fields.get("NodeList") if fields.get("NodeList") not in SLURM_UNSET else None,
        "licenses": licenses_of(fields.get("Licenses")),
        "reservation": fields.get("Reservation") if fields.get("Reservation") not in SLURM_UNSET else None,
    }


def from_sacct(line: str) -> dict[str, Any]:
    f = dict(zip(SACCT_FIELDS, line.split("|"), strict=False))
    state = f.get("State", "").split(" ")[0]
    return {
        "source": "sacct",
        "job_id": f.get("JobID", ""),
        "user": f.get("User", ""),
        "uid": int(f["UID"]) if f.get("UID", "").isdigit() else None,
        "state": state,
        "reason": f.get("Reason") if f.get("Reason") not in SLURM_UNSET else None,
        "submit": slurm_time(f.get("Submit")),
        "eligible": slurm_time(f.get("Eligible")),
        "start": slurm_time(f.get("Start")),
        "expected_start": None,
        "end": slurm_time(f.get("End")),
        "time_limit": f.get("Timelimit"),
        "partition": f.get("Partition"),
        "nodes": f.get("NodeList") if f.get("NodeList") not in SLURM_UNSET else None,
        "licenses": licenses_of(f.get("ReqTRES")),
        "reservation": f.get("Reservation") if f.get("Reservation") not in SLURM_UNSET else None,
    }


def slurm_job(job_id: str, timeout: float) -> dict[str, Any]:
    rc, out = run(["scontrol", "-o", "show", "job", job_id], timeout)
    if rc == 0 and out.strip():
        return from_scontrol(parse_scontrol(out.splitlines()[0]))
    fmt = "--format=" + ",".join(SACCT_FIELDS)
    rc, out = run(["sacct", "-j", job_id, "-X", "-n", "-P", fmt], timeout)
    lines = [ln for ln in out.splitlines() if ln.strip()] if rc == 0 else []
    if not lines:
        raise Failure(f"Slurm knows no job {job_id} (neither scontrol nor sacct)", 2)
    return from_sacct(lines[-1])


def reservations(licenses: dict[str, int], timeout: float) -> list[dict[str, Any]]:
    """License reservations (windows, maintenance) on the job's QPUs, now or ahead."""
    if not licenses:
        return []
    rc, out = run(["scontrol", "-o", "show", "reservation"], timeout)
    if rc != 0:
        return []
    found = []
    for line in out.splitlines():
        r = parse_scontrol(line)
        on = sorted(set(licenses_of(r.get("Licenses"))) & set(licenses))
        end = slurm_time(r.get("EndTime"))
        if on and r.get("ReservationName") and (end is None or end > time.time()):
            found.append({"name": r["ReservationName"], "qpus": on, "start": slurm_time(r.get("StartTime")),
                          "end": end, "flags": r.get("Flags", "")})
    return sorted(found, key=lambda r: r["start"] or 0)[:20]


def munge_credential(payload: str, timeout: float) -> str:
    rc, out = run(["munge", "-s", payload], timeout)
    if rc != 0 or not out.strip():
        raise Failure(f"munge could not make a credential: {clean(out.strip())}")
    return out.strip()


def qrmid_get(config: dict[str, Any], path: str, timeout: float) -> dict[str, Any] | None:
    """GET a qrmid path with the caller's munge credential; None on 404."""
    cred = munge_credential(f"GET {path}\n", timeout)
    # the URL is root's config, checked to be http(s) by load_config
    req = urllib.request.Request(config["url"].rstrip("/") + path, headers={"Authorization": "Munge " + cred})  # noqa: S310
    ctx = ssl.create_default_context(cafile=config.get("ca_file") or None)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:  # noqa: S310 (url from root's config)
            answer: Any = json.loads(resp.read(MAX_OUTPUT))
            return answer if isinstance(answer, dict) else None
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        detail = clean(err.read(4096).decode(errors="replace"))
        raise Failure(f"qrmid answered {err.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise Failure(f"qrmid at {config['url']} could not be asked: {clean(exc)}") from None


def qrmid_timeline(config: dict[str, Any], job_id: str, timeout: float) -> dict[str, Any] | None:
    """qrmid's timeline of the job, None when qrmid has no QPU request of it for the caller."""
    return qrmid_get(config, f"/v1/jobs/{job_id}/timeline?cluster={config['cluster']}", timeout)


def qrmid_task_queue(config: dict[str, Any], job_id: str, timeout: float) -> list[dict[str, Any]] | None:
    """The job's tasks in qrmid's task queue (QPUs shared task by task: GET /v1/accounting/tasks);
    None when this qrmid has no task queue (404) or refuses the question."""
    try:
        answer = qrmid_get(config, f"/v1/accounting/tasks?job_id={job_id}&cluster={config['cluster']}", timeout)
    except Failure:
        return None
    tasks = (answer or {}).get("tasks")
    return [t for t in tasks if isinstance(t, dict)][:1000] if isinstance(tasks, list) else None


def limit_seconds(text: str | None) -> float | None:
    """Slurm's TimeLimit (MM, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]) in seconds; None when unlimited or unknown."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text or "")
    if not m:
        return None
    days, a, b, c = (int(x) if x else None for x in m.groups())
    if days is not None:  # D-HH[:MM[:SS]]
        return days * 86400 + (a or 0) * 3600 + (b or 0) * 60 + (c or 0)
    if c is not None:  # HH:MM:SS
        return (a or 0) * 3600 + (b or 0) * 60 + c
    return (a or 0) * 60 + (b or 0)  # MM or MM:SS


def why_now(slurm: dict[str, Any], qrmid: dict[str, Any] | None, resv: list[dict[str, Any]], now: float) -> str:
    state = slurm["state"]
    if state == "PENDING":
        reason = slurm["reason"] or "unknown"
        text = REASONS.get(reason.split(",")[0], f"Slurm says: {reason}")
        current = [r for r in resv if (r["start"] or 0) <= now]
        if reason in ("Licenses", "Reservation") and current:
            r = current[0]
            text += f"; reservation {r['name']} holds {', '.join(r['qpus'])} until {stamp(r['end'])}"
        elif reason in ("Licenses", "Reservation") and resv:
            # a window matters when the job, started now, would still run when it opens
            limit = limit_seconds(slurm["time_limit"])
            r = resv[0]
            if limit is None or (r["start"] or 0) < now + limit:
                text += (f"; its time limit would reach into reservation {r['name']} on {', '.join(r['qpus'])} "
                         f"at {stamp(r['start'])}")
        if slurm["expected_start"]:
            text += f"; Slurm expects it to start at {stamp(slurm['expected_start'])}"
        return f"pending in Slurm ({reason}): {text}"
    if state in ("RUNNING", "COMPLETING", "CONFIGURING"):
        if qrmid is None:
            return "running; qrmid has no QPU request of it (no --qpu, or its step has not asked yet)"
        if qrmid.get("waiting"):
            return "running, but waiting in qrmid: " + clean(qrmid["waiting"])
        queued = [t for t in qrmid.get("task_queue") or [] if t.get("state") == "queued"]
        if queued:
            on = sorted({str(t.get("qpu")) for t in queued})
            return (f"running; {len(queued)} task(s) queued in qrmid for {', '.join(on)} (the QPU is shared task "
                    "by task; higher-priority tasks or a coming window go first)")
        forwarded = [t for t in qrmid.get("task_queue") or [] if t.get("phase") == "waiting at the service"]
        if forwarded:
            on = sorted({str(t.get("qpu")) for t in forwarded})
            return (f"running; {len(forwarded)} task(s) forwarded by qrmid and waiting in the QPU service's queue "
                    f"for {', '.join(on)} (they start when the task running there ends)")
        acqs = qrmid.get("acquisitions", [])
        busy = [t for a in acqs for t in a["tasks"] if t["state"] != "done"]
        if busy:
            return f"running; {len(busy)} task(s) at the QPU service (queued or executing there)"
        held = sorted({q for a in acqs if a["state"] == "granted" for q in a["qpus"]})
        if held:
            return f"running; holds {', '.join(held)} with no task at the QPU (a classical phase)"
        return "running"
    return f"not waiting: the job ended ({state})" + (f" at {stamp(slurm['end'])}" if slurm["end"] else "")


def stamp(t: Any) -> str:
    if not isinstance(t, int | float) or isinstance(t, bool):
        return clean(t)[:32] if t else "-"
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def seconds(s: Any) -> str:
    if not isinstance(s, int | float) or isinstance(s, bool):
        return "-"
    if s < 120:
        return f"{s:.1f}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m{int(s % 60):02d}s"


def render(info: dict[str, Any]) -> str:
    s, q = info["slurm"], info["qrmid"]
    lines = [f"Job {clean(s['job_id'])} of {clean(s['user'])}: {clean(s['state'])} "
             f"(partition {clean(s['partition'])}, nodes {clean(s['nodes'] or '-')}, limit {clean(s['time_limit'])})",
             f"Why now: {clean(info['why'])}", "", "Slurm"]
    lines.append(f"  submitted   {stamp(s['submit'])}")
    lines.append(f"  eligible    {stamp(s['eligible'])}")
    waited = (s["start"] - s["submit"]) if s["start"] and s["submit"] else None
    lines.append(f"  started     {stamp(s['start'])}" + (f"   (waited {seconds(waited)} in Slurm)" if waited else ""))
    if s["expected_start"]:
        lines.append(f"  expected    {stamp(s['expected_start'])}")
    lines.append(f"  ended       {stamp(s['end'])}")
    lic = ", ".join(f"{clean(k)}:{v}" for k, v in s["licenses"].items()) or "none (not a --qpu job)"
    lines.append(f"  QPU licenses {lic}")
    if s["reason"]:
        lines.append(f"  reason      {clean(s['reason'])}")
    for r in info["reservations"][:SHOWN_RESERVATIONS]:
        lines.append(f"  reservation {clean(r['name'])} on {', '.join(map(clean, r['qpus']))}: "
                     f"{stamp(r['start'])} .. {stamp(r['end'])}")
    if len(info["reservations"]) > SHOWN_RESERVATIONS:
        lines.append(f"  ({len(info['reservations']) - SHOWN_RESERVATIONS} more reservations: --json lists them)")
    lines += ["", "qrmid (QPU access)"]
    if q is None:
        lines.append("  no QPU request of this job in qrmid" + ("" if s["licenses"] else " (it asked for no QPU)"))
        return "\n".join(lines) + "\n"
    for a in q["acquisitions"]:
        lines.append(f"  request {clean(a['id'])}: profile {clean(a['profile'])} (priority {a['priority']}), "
                     f"QPUs {', '.join(map(clean, a['qpus']))}, {a['nodes']} node(s), state {clean(a['state'])}"
                     + (f" ({clean(a['outcome'])})" if a["outcome"] else ""))
        lines.append(f"    requested {stamp(a['requested_at'])}   granted {stamp(a['granted_at'])}"
                     f"   released {stamp(a['released_at'])}")
        lines.append(f"    waited {seconds(a['wait_s'])} for the QPU, held it {seconds(a.get('held_s'))} "
                     f"(at most {seconds(a['hold_s'])})")
        if a["message"]:
            lines.append(f"    qrmid: {clean(a['message'])}")
        done = [t for t in a["tasks"] if t["state"] == "done"]
        lines.append(f"    tasks {len(a['tasks'])} ({len(done)} done): executing {seconds(a['executing_s'])}, "
                     f"queue+transport {seconds(a['other_s'])}")
        for t in a["tasks"]:
            lines.append(f"      {stamp(t['submitted_at'])}  {clean(t['qpu'])}  {clean(t['id'])[:40]}  "
                         f"{'done     ' if t['state'] == 'done' else 'submitted'}  wall {seconds(t['wall_s'])}"
                         + (f", executing {seconds(t['executing_s'])}, other {seconds(t['other_s'])}"
                            if t["state"] == "done" else ""))
        if a.get("tasks_truncated"):
            lines.append("      (more tasks than shown)")
    if q.get("task_queue"):
        lines.append("  task queue (QPU shared task by task)")
        for t in q["task_queue"]:
            at_service = (f", {seconds(t['service_queued_s'])} at the service"
                          if t.get("service_queued_s") is not None else "")
            started = f"  started {stamp(t['started_at'])}" if t.get("started_at") is not None else ""
            lines.append(f"    {clean(t.get('qpu'))}  {clean(t.get('phase') or t.get('state'))}"
                         f"  queued {stamp(t.get('queued_at'))}"
                         f"  dispatched {stamp(t.get('dispatched_at'))}{started}  ended {stamp(t.get('ended_at'))}"
                         f"  waited {seconds(t.get('queued_s'))} in qrmid{at_service},"
                         f" executing {seconds(t.get('qpu_seconds'))}"
                         + (f"  ({clean(t['message'])})" if t.get("message") else ""))
    for name, b in sorted(q["qpus"].items()):
        if b:
            until = clean(b["until"] or "further notice")
            lines.append(f"  QPU {clean(name)} now: {clean(b['message'])} until {until}")
    return "\n".join(lines) + "\n"


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def load_config(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError) as exc:
        raise Failure(f"cannot read {path}: {exc}") from None
    if not isinstance(config, dict) or not str(config.get("url", "")).startswith(("http://", "https://")):
        raise Failure(f"{path}: 'url' must be qrmid's http(s) URL")
    if not CLUSTER.match(str(config.get("cluster", ""))):
        raise Failure(f"{path}: 'cluster' must match {CLUSTER.pattern}")
    return config


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="qpu-job-info", description=__doc__.split("\n\n")[0])
    ap.add_argument("job_id", help="Slurm job id (NNN or NNN_K for an array task)")
    ap.add_argument("--json", action="store_true", help="print the whole record as JSON")
    ap.add_argument("--config", default=CONFIG, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not JOB_ID.match(args.job_id):
        print(f"qpu-job-info: job_id {args.job_id[:40]!r} is not a Slurm job id (digits, or NNN_K); "
              "see squeue --me", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
        timeout = float(config.get("timeout_s", 15))
        slurm = slurm_job(args.job_id, timeout)
        me = os.getuid()
        if me != 0 and slurm["uid"] != me:
            raise Failure(f"job {args.job_id} is not yours ({user_name(me)}); qpu-job-info explains your own jobs", 2)
        resv = reservations(slurm["licenses"], timeout)
        qrmid = qrmid_timeline(config, args.job_id, timeout) if slurm["licenses"] or slurm["state"] != "PENDING" \
            else None
        if qrmid is not None and "task_queue" not in qrmid:  # an older qrmid: ask its task export
            qrmid["task_queue"] = qrmid_task_queue(config, args.job_id, timeout)
    except Failure as exc:
        print(f"qpu-job-info: {exc}", file=sys.stderr)
        return exc.code
    info = {"slurm": slurm, "reservations": resv, "qrmid": qrmid}
    info["why"] = why_now(slurm, qrmid, resv, time.time())
    sys.stdout.write(json.dumps(info, indent=2) + "\n" if args.json else render(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
