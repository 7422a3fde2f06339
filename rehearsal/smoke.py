"""Smoke checks after a rollout: the site does what it is for, seen from outside.

Three checks, each bounded and polling: every Slurm node is idle, a job that asks
for a QPU license runs to completion (on a QPU no calibration or maintenance
reservation holds now), and every Prometheus target is up. All of
them talk only to the site's own hosts at their model addresses.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from acceptance.slurm_reservations import SHOW_COMMAND, Reservation, holding, iso, parse_reservations
from rehearsal.ssh import Ssh, SshTarget

TERMINAL_FAILED = {"FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}


@dataclass(frozen=True)
class SmokeResult:
    name: str
    ok: bool | None  # None: not applicable to this site
    detail: str
    seconds: float = 0.0


def _poll(check: Callable[[], tuple[bool, str]], timeout_s: float, poll_s: float) -> tuple[bool, str, float]:
    started = time.monotonic()
    while True:
        ok, detail = check()
        elapsed = time.monotonic() - started
        if ok or elapsed > timeout_s:
            return ok, detail, elapsed
        time.sleep(poll_s)


def parse_sinfo_nodes(output: str) -> dict[str, str]:
    """`sinfo -h -N -o '%N %T'` lines → node → state (a node in two partitions appears twice, same state)."""
    states: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            states[parts[0]] = parts[1].lower()
    return states


def slurm_nodes_idle(ssh: Ssh, controller: SshTarget, nodes: list[str], timeout_s: float = 180) -> SmokeResult:
    def check() -> tuple[bool, str]:
        result = ssh.run(controller, "sinfo -h -N -o '%N %T'", timeout=30)
        if result.returncode != 0:
            return False, f"sinfo failed on {controller.host}: {result.stderr.strip()[-200:]}"
        states = parse_sinfo_nodes(result.stdout)
        busy = {n: states.get(n, "absent") for n in nodes if states.get(n) != "idle"}
        if busy:
            return False, "not idle: " + ", ".join(f"{n}={s}" for n, s in sorted(busy.items()))
        return True, f"{len(nodes)} node(s) idle"

    ok, detail, seconds = _poll(check, timeout_s, 3)
    return SmokeResult("slurm nodes idle", ok, detail, seconds)


def parse_job_state(scontrol_output: str) -> str | None:
    for word in scontrol_output.split():
        if word.startswith("JobState="):
            return word.split("=", 1)[1]
    return None


JOB_MINUTES = 2  # the smoke job's time limit, as users give one (without it: the partition's MaxTime)
HELD_OBSERVE_S = 20.0  # a job for a QPU inside its reservation is watched pending this long
WINDOW_REASON = ("Licenses", "Reservation", "ReqNodeNotAvail")


def choose_qpu(qpus: list[str], reservations: list[Reservation], now: float) -> tuple[str, list[Reservation]]:
    """The first QPU whose licenses no reservation holds during the smoke job's time limit (calibration
    windows and maintenance are license reservations), with the reservations that hold it; when every
    QPU is held, the first QPU and its reservations."""
    end = now + (JOB_MINUTES + 1) * 60
    for qpu in qpus:
        if not holding(reservations, qpu, now, end):
            return qpu, []
    return qpus[0], holding(reservations, qpus[0], now, end)


def qpu_license_job(ssh: Ssh, login: SshTarget, qpus: list[str], timeout_s: float = 180) -> SmokeResult:
    """A job that asks for one QPU license runs to completion. Slurm decides which QPU can take it now:
    a QPU inside a calibration or maintenance reservation is passed over; when all are, the job must be
    held by the reservation (not applicable, with when to run again), never fail the site."""
    started = time.monotonic()
    now_text = ssh.run(login, "date +%s", timeout=30).stdout.strip()
    shown = ssh.run(login, shlex.join(SHOW_COMMAND), timeout=30)
    if not now_text.isdigit() or shown.returncode != 0:
        return SmokeResult("QPU license job", False,
                           f"could not read the time or Slurm's reservations on {login.host}: "
                           f"{shown.stderr.strip()[-200:]}")
    qpu, held_by = choose_qpu(qpus, parse_reservations(shown.stdout), float(now_text))
    name = f"license {qpu}:1 job"
    # A short time limit: a job without one gets the partition's MaxTime and waits behind the
    # QPU's next calibration reservation whenever that starts within MaxTime.
    submit = ssh.run(
        login,
        f"sbatch --parsable --time={JOB_MINUTES} -L {shlex.quote(qpu)}:1 -J qpusite-smoke -o /dev/null --wrap hostname",
        timeout=30,
    )
    job_id = submit.stdout.strip().split(";")[0]
    if submit.returncode != 0 or not job_id.isdigit():
        return SmokeResult(name, False, f"sbatch refused: {(submit.stderr or submit.stdout).strip()[-200:]}")
    seen: dict[str, str] = {}

    def check() -> tuple[bool, str]:
        shown = ssh.run(login, f"scontrol -o show job {job_id}", timeout=30)
        state = parse_job_state(shown.stdout) or "unknown"
        seen["state"] = state
        reason = next((w.split("=", 1)[1] for w in shown.stdout.split() if w.startswith("Reason=")), "None")
        seen["reason"] = reason
        return state == "COMPLETED", f"job {job_id} {state}" + (f" (Reason={reason})" if reason != "None" else "")

    def finished() -> tuple[bool, str]:
        ok, detail = check()
        return ok or seen["state"] in TERMINAL_FAILED, detail

    _, detail, _ = _poll(finished, HELD_OBSERVE_S if held_by else timeout_s, 2)
    state = seen.get("state")
    if state not in TERMINAL_FAILED and state != "COMPLETED":
        ssh.run(login, f"scancel {job_id}", timeout=30)
    if held_by and state == "PENDING" and seen.get("reason", "").startswith(WINDOW_REASON):
        windows = ", ".join(f"{r.name} {iso(r.start)}-{iso(r.end)} UTC" for r in held_by)
        return SmokeResult(name, None, f"every QPU's licenses are reserved now; {detail} for {HELD_OBSERVE_S:.0f} s "
                           f"as {windows} requires (cancelled); run again after {iso(held_by[-1].end)} UTC",
                           time.monotonic() - started)
    ok = state == "COMPLETED"
    if not ok and state not in TERMINAL_FAILED:
        detail += f" after {HELD_OBSERVE_S if held_by else timeout_s:.0f} s (cancelled)"
    return SmokeResult(name, ok, detail, time.monotonic() - started)


def prometheus_targets_up(
    address: str,
    port: int,
    subnet: ipaddress.IPv4Network,
    timeout_s: float = 150,
    skip_addresses: set[str] | None = None,
) -> SmokeResult:
    """Every active target is up, except those on `skip_addresses` (hosts the rollout went without)."""
    name = "prometheus targets up"
    if ipaddress.IPv4Address(address) not in subnet:  # only ever the site's own hosts
        return SmokeResult(name, False, f"{address} is outside the site network {subnet}; not queried")
    url = f"http://{address}:{port}/api/v1/targets?state=active"

    def check() -> tuple[bool, str]:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - http to the site's own host
                body = json.load(response)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            return False, f"{url}: {exc}"
        return summarise_targets(body, skip_addresses or set())

    ok, detail, seconds = _poll(check, timeout_s, 5)
    return SmokeResult(name, ok, detail, seconds)


def summarise_targets(
    body: dict[str, object], skip_addresses: set[str] | frozenset[str] = frozenset()
) -> tuple[bool, str]:
    data = body.get("data")
    active = data.get("activeTargets", []) if isinstance(data, dict) else []
    # A target's instance is address:port; a host the rollout went without is down by design.
    active = [t for t in active if str(t.get("labels", {}).get("instance", "")).rsplit(":", 1)[0] not in skip_addresses]
    if not active:
        return False, "Prometheus has no active targets"
    down = [
        f"{t.get('labels', {}).get('job', '?')}/{t.get('scrapeUrl', '?')} {t.get('health')}"
        + (f" ({t.get('lastError')})" if t.get("lastError") else "")
        for t in active
        if t.get("health") != "up"
    ]
    if down:
        return False, f"{len(down)} of {len(active)} target(s) not up: " + "; ".join(down[:4])
    return True, f"{len(active)} target(s) up"
