"""Smoke checks of a Grid Engine site (software.scheduler.kind: gridengine), the counterparts of the Slurm ones
in rehearsal/smoke.py: every execution host reports to the qmaster, and a job that asks for a QPU's consumable
complex runs to completion. Grid Engine refuses root's jobs, so the job is submitted as a user of the model.
"""

from __future__ import annotations

import shlex
import time

from rehearsal.smoke import SmokeResult, _poll
from rehearsal.ssh import Ssh, SshTarget


def parse_qhost(output: str) -> dict[str, str]:
    """`qhost` lines → host (short name) → its load ('-' when the host has not reported)."""
    loads: dict[str, str] = {}
    column = 6  # HOSTNAME ARCH NCPU NSOC NCOR NTHR LOAD … (8.1.9); the header says where LOAD is
    for line in output.splitlines():
        parts = line.split()
        if parts[:1] == ["HOSTNAME"] and "LOAD" in parts:
            column = parts.index("LOAD")
            continue
        if len(parts) <= column or parts[0] == "global" or parts[0].startswith("-"):
            continue
        loads[parts[0].split(".", 1)[0]] = parts[column]
    return loads


def parse_qacct(output: str) -> dict[str, str]:
    """`qacct -j ID` → its fields (the last record when the id was reused)."""
    fields: dict[str, str] = {}
    for line in output.splitlines():
        key, _, value = line.strip().partition(" ")
        if key and not key.startswith("="):
            fields[key] = value.strip()
    return fields


def gridengine_hosts_up(ssh: Ssh, controller: SshTarget, nodes: list[str], timeout_s: float = 180) -> SmokeResult:
    name = "gridengine hosts up"

    def check() -> tuple[bool, str]:
        result = ssh.run(controller, "qhost", timeout=30)
        if result.returncode != 0:
            return False, f"qhost failed on {controller.host}: {(result.stderr or result.stdout).strip()[-200:]}"
        loads = parse_qhost(result.stdout)
        silent = [n for n in nodes if loads.get(n, "-") == "-"]
        if silent:
            return False, "no load report from: " + ", ".join(sorted(silent))
        return True, f"{len(nodes)} execution host(s) report"

    ok, detail, seconds = _poll(check, timeout_s, 3)
    return SmokeResult(name, ok, detail, seconds)


def as_user(user: str, command: str) -> str:
    """A remote command line that runs `command` in `user`'s login shell (the cell's environment)."""
    return f"runuser -l {shlex.quote(user)} -c {shlex.quote(command)}"


def qpu_complex_job(
    ssh: Ssh, login: SshTarget, qpu: str, user: str, timeout_s: float = 180
) -> SmokeResult:
    complex_name = f"qpu_{qpu}"
    name = f"complex {complex_name}=1 job"
    started = time.monotonic()
    submit = ssh.run(
        login,
        as_user(user, f"qsub -terse -l {shlex.quote(complex_name)}=1 -l h_rt=120 -N qpusite-smoke -j y "
                      "-o /dev/null -b y hostname"),
        timeout=30,
    )
    job_id = submit.stdout.strip().split(".")[0]
    if submit.returncode != 0 or not job_id.isdigit():
        return SmokeResult(name, False, f"qsub refused: {(submit.stderr or submit.stdout).strip()[-200:]}")
    seen: dict[str, str] = {}

    def finished() -> tuple[bool, str]:
        acct = ssh.run(login, f"qacct -j {job_id}", timeout=30)
        if acct.returncode != 0:
            queued = ssh.run(login, as_user(user, "qstat"), timeout=30)
            state = next((ln.split()[4] for ln in queued.stdout.splitlines() if ln.split()[:1] == [job_id]), "gone")
            seen["state"] = state
            return False, f"job {job_id} {state}"
        fields = parse_qacct(acct.stdout)
        seen["state"] = "done"
        seen["failed"] = fields.get("failed", "?")
        seen["exit_status"] = fields.get("exit_status", "?")
        return True, f"job {job_id} failed={seen['failed']} exit_status={seen['exit_status']}"

    _, detail, _ = _poll(finished, timeout_s, 2)
    ok = seen.get("state") == "done" and seen.get("failed", "").split()[:1] == ["0"] and seen.get("exit_status") == "0"
    if seen.get("state") != "done":
        ssh.run(login, as_user(user, f"qdel {job_id}"), timeout=30)
        detail += f" after {timeout_s:.0f} s (deleted)"
    return SmokeResult(name, ok, detail, time.monotonic() - started)
