"""The Grid Engine queueing drill on a running rehearsal (tools/test.d/67-rehearsal-gridengine.sh): as a non-root
user of the model on the login host, one job holds the first QPU's consumable complex (`qsub -l qpu_<qpu>=1`) and
runs; a second job for the same QPU waits in `qw` while execution slots are free — it waits in Grid Engine's
queue, not on a node. Both jobs are deleted at the end.

    python -m rehearsal.gridengine_drill SITE
"""

from __future__ import annotations

import shlex
import sys
import time

from rehearsal.site_up import site_paths, ssh_targets
from rehearsal.smoke_gridengine import as_user
from rehearsal.ssh import Ssh, SshTarget
from site_survey import load_site
from site_survey.model import HostRole

TIMEOUT_S = 120


def job_states(ssh: Ssh, login: SshTarget, user: str) -> dict[str, str]:
    """The user's jobs (qstat) → job id → state (r, qw, t, Eqw, …)."""
    shown = ssh.run(login, as_user(user, "qstat"), timeout=30)
    states: dict[str, str] = {}
    for line in shown.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0].isdigit():
            states[parts[0]] = parts[4]
    return states


def submit(ssh: Ssh, login: SshTarget, user: str, complex_name: str, seconds: int) -> str:
    line = f"qsub -terse -l {shlex.quote(complex_name)}=1 -l h_rt=300 -N qpusite-qw-drill -j y -o /dev/null " \
           f"-b y sleep {int(seconds)}"
    result = ssh.run(login, as_user(user, line), timeout=30)
    job = result.stdout.strip().split(".")[0]
    if result.returncode != 0 or not job.isdigit():
        raise SystemExit(f"gridengine drill: qsub as {user} refused: {(result.stderr or result.stdout).strip()[-300:]}")
    return job


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m rehearsal.gridengine_drill SITE", file=sys.stderr)
        return 2
    site = load_site(argv[0])
    if site.software.scheduler.kind != "gridengine":
        print(f"gridengine drill: {site.site.name} is not a Grid Engine site", file=sys.stderr)
        return 2
    if not site.qpus or not site.software.accounts:
        print("gridengine drill: the site needs a QPU and an account (software.accounts)", file=sys.stderr)
        return 2
    paths = site_paths(site, argv[0])
    ssh = Ssh(paths.private_key, paths.known_hosts)
    targets = ssh_targets(site)
    login_hosts = site.hosts_with(HostRole.login) or site.hosts_with(HostRole.controller)
    login = targets[login_hosts[0].name]
    user = site.software.accounts[0].name
    qpu = site.qpus[0]
    complex_name = f"qpu_{qpu.name}"
    jobs = [submit(ssh, login, user, complex_name, 90) for _ in range(qpu.slots + 1)]
    holders, waiter = jobs[:-1], jobs[-1]
    started = time.monotonic()
    states: dict[str, str] = {}
    try:
        while time.monotonic() - started < TIMEOUT_S:
            states = job_states(ssh, login, user)
            if all(states.get(j) == "r" for j in holders) and states.get(waiter) == "qw":
                break
            time.sleep(2)
        else:
            print(f"gridengine drill: FAILED: after {TIMEOUT_S} s {user}'s jobs are {states} (want {holders} r, "
                  f"{waiter} qw)")
            return 1
        # still waiting a little later: the QPU, not a slot, holds it back
        time.sleep(6)
        later = job_states(ssh, login, user)
        if later.get(waiter) != "qw":
            print(f"gridengine drill: FAILED: job {waiter} left qw while {complex_name} is held: {later}")
            return 1
        print(f"gridengine drill: ok — as {user} on {login.host}: job(s) {', '.join(holders)} hold {complex_name} "
              f"and run, job {waiter} waits in qw ({time.monotonic() - started:.0f} s)")
        return 0
    finally:
        ssh.run(login, as_user(user, "qdel " + " ".join(jobs)), timeout=30)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
