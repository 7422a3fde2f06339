"""Run check instances one after another, each in its own process with a timeout.

Why a process per check: a check that hangs (an SSH session that never returns,
a job stuck in a queue) must not stop the suite. The child starts its own
process group, so on timeout the runner kills the check *and* everything it
started (ssh sessions, …), keeps the log written so far and goes on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from acceptance.context import Context
from acceptance.remote import HostUnreachable
from acceptance.results import CheckResult, Metric
from acceptance.spec import CheckFailed, CheckInstance, MissingComponent, NotApplicable, Status
from site_survey.model import Site

POLL_S = 0.1
LOG_LIMIT = 64 * 1024  # characters of a check's log kept in reports


@dataclass(frozen=True)
class RunOptions:
    timeout_scale: float = 1.0  # multiply every check's timeout (slow machines)
    job_user: str | None = None  # submit acceptance jobs as this user instead of the derived one


Progress = Callable[[str, CheckInstance, CheckResult | None], None]  # event "start"|"done"


def _outcome(ctx: Context, instance: CheckInstance) -> tuple[Status, str]:
    try:
        return Status.passed, instance.spec.body(ctx, instance.param)
    except CheckFailed as exc:
        return Status.failed, str(exc)
    except MissingComponent as exc:
        return Status.missing, str(exc)
    except NotApplicable as exc:
        return Status.skipped, str(exc)
    except HostUnreachable as exc:
        return Status.failed, str(exc)
    except Exception as exc:  # a broken check is a failure with its traceback, never a crash
        ctx.log(traceback.format_exc())
        return Status.failed, f"check error: {type(exc).__name__}: {exc}"


def _child(instance: CheckInstance, site: Site, site_dir: Path, log_path: str, conn: Connection,
           job_user: str | None) -> None:
    os.setsid()  # own process group: the parent can end the check and its children together
    with open(log_path, "a", encoding="utf-8", buffering=1) as log_file:

        def log(line: str) -> None:
            log_file.write(line + "\n")

        ctx = Context(site=site, site_dir=site_dir, log=log, job_user=job_user)
        status, message = _outcome(ctx, instance)
        conn.send((status.value, message, [m.__dict__ for m in ctx.metrics]))
    conn.close()


def _read_log(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text if len(text) <= LOG_LIMIT else "…(truncated)…\n" + text[-LOG_LIMIT:]


def _end_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def run_instance(instance: CheckInstance, site: Site, site_dir: Path, options: RunOptions) -> CheckResult:
    timeout = instance.spec.timeout_s * options.timeout_scale
    ctx_mp = multiprocessing.get_context("fork")
    parent, child = ctx_mp.Pipe(duplex=False)
    with tempfile.NamedTemporaryFile("w", prefix="qpusite-accept-", suffix=".log", delete=False) as tmp:
        log_path = tmp.name
    started = time.monotonic()
    proc = ctx_mp.Process(target=_child, args=(instance, site, site_dir, log_path, child, options.job_user),
                          daemon=False)
    proc.start()
    child.close()
    payload: tuple[str, str, list[dict[str, Any]]] | None = None
    timed_out = False
    try:
        while True:
            if parent.poll(POLL_S):
                try:
                    payload = parent.recv()
                except EOFError:
                    payload = None
                break
            if not proc.is_alive():
                break
            if time.monotonic() - started > timeout:
                timed_out = True
                break
    finally:
        if proc.pid is not None:
            if timed_out:
                _end_group(proc.pid)
            proc.join(timeout=5)
            if proc.is_alive():
                _end_group(proc.pid)
                proc.kill()  # in case it was ended before it could start its own group
                proc.join(timeout=5)
            else:
                # The check's own children (e.g. an ssh it left behind) go with its group.
                _end_group(proc.pid)
        parent.close()
    duration = time.monotonic() - started
    log = _read_log(log_path)
    os.unlink(log_path)
    metrics: list[Metric] = []
    if timed_out:
        status, message = Status.failed, f"timed out after {timeout:.0f} s (the suite went on)"
    elif payload is None:
        status, message = Status.failed, f"check process ended without a result (exit code {proc.exitcode})"
    else:
        status, message = Status(payload[0]), payload[1]
        metrics = [Metric(**m) for m in payload[2]]
    spec = instance.spec
    return CheckResult(
        id=instance.id, number=spec.number, name=spec.name, label=instance.label, tier=spec.tier.value,
        component=spec.component, status=status, message=message, duration_s=round(duration, 3), log=log,
        metrics=metrics,
    )


REACHABILITY_CHECK = "host_reachable"


def hosts_of(param: Any) -> set[str]:
    """The hosts a check's parameter names (host, or source and target of a pair)."""
    return {h for h in (getattr(param, a, None) for a in ("host", "source", "target")) if isinstance(h, str)}


def _unreachable_result(instance: CheckInstance, hosts: set[str]) -> CheckResult:
    spec = instance.spec
    names = ", ".join(sorted(hosts))
    return CheckResult(
        id=instance.id, number=spec.number, name=spec.name, label=instance.label, tier=spec.tier.value,
        component=spec.component, status=Status.failed, duration_s=0.0,
        message=f"not run: host {names} unreachable (see {REACHABILITY_CHECK})",
    )


def run_all(
    instances: list[CheckInstance],
    site: Site,
    site_dir: Path,
    options: RunOptions | None = None,
    progress: Progress | None = None,
) -> list[CheckResult]:
    """Run every instance in order. Once a host fails the reachability check, the checks that
    need that host are reported failed without trying (each would wait for SSH to time out)."""
    opts = options or RunOptions()
    results = []
    unreachable: set[str] = set()
    for instance in instances:
        if progress:
            progress("start", instance, None)
        blocked = hosts_of(instance.param) & unreachable
        if blocked and instance.spec.name != REACHABILITY_CHECK:
            result = _unreachable_result(instance, blocked)
        else:
            result = run_instance(instance, site, site_dir, opts)
        result.hosts = sorted(hosts_of(instance.param))
        if instance.spec.name == REACHABILITY_CHECK and result.status.is_failure:
            unreachable |= hosts_of(instance.param)
        results.append(result)
        if progress:
            progress("done", instance, result)
    return results
