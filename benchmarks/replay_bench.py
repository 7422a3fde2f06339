"""Time-scaled replay of the reference trace on a real local Slurm with qrmid and the emulator.

The same trace as benchmarks/utilisation_bench.py (its docstring documents every parameter's
source), sliced and time-scaled, replayed twice in one invocation:

- ``job``: today's job-exclusive holds (sc_twin ``sharing.mode: job``, Slurm licenses = slots = 1);
- ``task``: task-level sharing (``sharing.mode: task``, ``max_jobs = --share`` licenses, one slot).

Each trace job is a real ``sbatch --qpu=sc_twin`` job (Debian's slurmctld + slurmd with the
spank_qrmid plugin and job_submit.lua, qrmid, a private munged and the qpu-emulator, all on
127.0.0.1, started by the project's test harnesses and stopped by PID). Its program
(benchmarks/replay_payload.py) alternates classical sleeps and real Bell-sampler tasks sent
through qrmid's job proxy to the IBM twin; a task of q trace seconds asks for
q / scale / shot_time shots, and the twin occupies its one worker for shots x shot_time
(the emulator's ``shot_time_s``). A trace "node" is one CPU of the harness's one Slurm node
(declared with ``--nodes`` CPUs). qrmid's time constants (age boost 60 s, fair-share half-life
3600 s, estimate overhead 1 s) are divided by the scale; its task poll is 0.1 s (its floor).
No calibration window is replayed (the simulation's daily 30 minutes); the bound below has none.

    sudo .venv-node/bin/python benchmarks/replay_bench.py [--jobs 30] [--scale 100] [--seed 1]
        [--nodes 32] [--share 8] [--shot-time 0.001] [--lookahead N] [--json out.json]

Needs root, Slurm (slurmctld, slurmd, sbatch), munged and gcc (tools/apt/qrmid.txt). Figures are
measured, not simulated: QPU busy seconds from the emulator's own timestamps of every task
(running -> finished), cross-checked with qrmid's /v1/accounting/utilisation and, under task
sharing, /v1/accounting/tasks; turnaround from sbatch's return to the job program's end; idle
node-seconds as in the simulation (a job's nodes while its task waits for the QPU, from its
submission to the QPU starting it; plus free partition CPUs while the oldest pending job could
start but for the QPU license, sampled from squeue). Times are reported in trace units (real
seconds x scale) next to the simulation's.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from utilisation_bench import ACCOUNTS, trace  # noqa: E402 - the documented reference trace

# The system accounts the harness's policy profiles name, one per trace account (qrmid's
# fair-share account is the job's user): chem -> production, ml and edu -> development.
USERS = {"chem": "daemon", "ml": "bin", "edu": "sys"}
QPU = "sc_twin"
TRACE_JOBS = 10000  # the slice is the first --jobs of the simulation's 10,000-job trace
POLICIES = ("job", "task")
LABELS = {"job": "exclusive FIFO (job mode)", "task": "task-level sharing"}


@dataclass(frozen=True)
class ReplayJob:
    id: int
    account: str
    nodes: int
    arrival_s: float  # real seconds after the replay's start
    phases: tuple[tuple[int, float], ...]  # (shots, classical real seconds)
    qpu_s: float  # offered QPU work, real seconds (shots x shot_time)

    @property
    def profile(self) -> str:
        return ACCOUNTS[self.account][0]


def slice_trace(jobs: int, scale: float, shot_time: float, seed: int = 1, trace_jobs: int = TRACE_JOBS
                ) -> list[ReplayJob]:
    """The first `jobs` of the reference trace, time-scaled: arrivals (shifted to start at 0),
    quantum and classical seconds divided by `scale`; a quantum task becomes the shots that
    occupy the twin that long (at least one)."""
    if not 1 <= jobs <= trace_jobs:
        raise ValueError(f"jobs must be 1..{trace_jobs}, got {jobs}")
    if scale <= 0 or shot_time <= 0:
        raise ValueError("scale and shot_time must be > 0")
    full = trace(trace_jobs, seed)[:jobs]
    t0 = full[0].arrival
    out = []
    for j in full:
        phases = tuple((max(1, round(q / scale / shot_time)), c / scale) for q, c in j.phases)
        out.append(ReplayJob(j.id, j.account, j.nodes, (j.arrival - t0) / scale, phases,
                             sum(s for s, _ in phases) * shot_time))
    return out


def percentile(values: list[float], q: float) -> float:
    """The simulation's percentile: the value at index int(q x (n - 1)) of the sorted values."""
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Merged, sorted, non-empty intervals."""
    out: list[tuple[float, float]] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def covered_outside(within: list[tuple[float, float]], busy: list[tuple[float, float]]) -> float:
    """Seconds of the union of `within` not covered by the union of `busy`."""
    total = 0.0
    busy_u = union(busy)
    for a, b in union(within):
        total += b - a
        for c, d in busy_u:
            total -= max(0.0, min(b, d) - max(a, c))
    return total


def metrics(jobs: list[ReplayJob], submitted: dict[int, float], results: dict[int, dict[str, Any]],
            partition_idle_s: float, scale: float) -> dict[str, Any]:
    """The simulation's figures from measured records. `submitted`: when sbatch returned per job
    (epoch s); `results`: the job programs' outputs; partition_idle_s: CPU-seconds left free while
    the oldest pending job waited only for the license. Times in trace units (x scale)."""
    if set(results) != {j.id for j in jobs} or set(submitted) != set(results):
        missing = sorted({j.id for j in jobs} - set(results))
        raise ValueError(f"no result for trace jobs {missing}")
    by_id = {j.id: j for j in jobs}
    first, last_arrival = min(submitted.values()), max(submitted.values())
    last = max(float(r["end"]) for r in results.values())
    busy, waited, used = 0.0, 0.0, dict.fromkeys(ACCOUNTS, 0.0)
    task_waits: dict[str, list[float]] = {a: [] for a in ACCOUNTS}
    running: list[tuple[float, float]] = []
    waiting: list[tuple[float, float]] = []
    for jid, r in results.items():
        job = by_id[jid]
        for t in r["tasks"]:
            if t["running"] is None or t["finished"] is None:
                continue
            running.append((float(t["running"]), float(t["finished"])))
            waiting.append((float(t["submitted"]), float(t["running"])))
            ran = float(t["finished"]) - float(t["running"])
            busy += ran
            used[job.account] += ran
            wait = max(0.0, float(t["running"]) - float(t["submitted"]))
            waited += wait * job.nodes
            task_waits[job.account].append(wait)
    # the simulation's bound: the work the tasks took on the QPU over the arrival span, at most 1
    # (measured QPU seconds: the twin's shot time plus what computing the samples took)
    out: dict[str, Any] = {
        "utilisation": round(busy / (last - first), 4),
        "bound": round(min(1.0, busy / (last_arrival - first)), 4) if last_arrival > first else 1.0,
    }
    out["utilisation / bound"] = round(out["utilisation"] / out["bound"], 4)
    # where the QPU lost time: idle while some submitted task waited (not work-conserving:
    # dispatch, polling and transport gaps), and idle with no task submitted at all
    gap = covered_outside(waiting, running)
    out["QPU idle with a task waiting, % of makespan"] = round(100 * gap / (last - first), 1)
    out["QPU idle with a task waiting, real ms per task"] = round(1000 * gap / max(1, len(running)), 1)
    out["QPU idle with no task waiting, % of makespan"] = round(100 * (last - first - busy - gap) / (last - first), 1)
    out["idle_node_hours"] = round((waited + partition_idle_s) * scale / 3600, 1)
    out["idle_node_hours: task waits + free partition"] = (
        f"{waited * scale / 3600:.1f} + {partition_idle_s * scale / 3600:.1f}")
    out["makespan_hours"] = round((last - first) * scale / 3600, 2)
    for profile in sorted({j.profile for j in jobs}):
        times = [(float(results[j.id]["end"]) - submitted[j.id]) * scale / 60 for j in jobs if j.profile == profile]
        out[f"turnaround_p50_min[{profile}]"] = round(statistics.median(times), 1)
        out[f"turnaround_p95_min[{profile}]"] = round(percentile(times, 0.95), 1)
    total = sum(used.values()) or 1.0
    for account, (_, _, share) in ACCOUNTS.items():
        out[f"qpu_share[{account}] (entitled {share:.0%})"] = round(used[account] / total, 3)
    for account in ACCOUNTS:
        w = task_waits[account]
        out[f"task wait mean s[{account}]"] = round(statistics.fmean(w) * scale, 1) if w else None
    out["qpu_busy_s (real)"] = round(busy, 2)
    out["offered_qpu_s (real)"] = round(sum(j.qpu_s for j in jobs), 2)
    out["tasks ran"] = sum(1 for r in results.values() for t in r["tasks"] if t["status"] == "Completed")
    out["jobs failed"] = sum(1 for r in results.values() if r.get("error"))
    return out


def simulate_slice(jobs: int, seed: int, nodes: int, share: int) -> dict[str, dict[str, Any]]:
    """utilisation_bench's simulation of the same slice, without the calibration window (the replay
    has none): what the policies would reach with instant dispatch and no overheads."""
    import utilisation_bench as ub

    saved = ub.WINDOW_START, ub.WINDOW_LEN
    ub.WINDOW_START, ub.WINDOW_LEN = 1e15, 0.0  # no window within the slice
    try:
        sliced = ub.trace(TRACE_JOBS, seed)[:jobs]
        return {LABELS["job"]: ub.Sim(sliced, nodes, share, exclusive=True).run(),
                LABELS["task"]: ub.Sim(sliced, nodes, share, exclusive=False).run()}
    finally:
        ub.WINDOW_START, ub.WINDOW_LEN = saved


# ------------------------------------------------------------------ the real stack
class Stack:
    """munged + emulator for the whole run; Slurm + qrmid per policy. Every process by PID."""

    def __init__(self, tmp: Path, shot_time: float, nodes: int) -> None:
        import harness

        self.h = harness
        self.tmp, self.nodes = tmp, nodes
        self.site = harness.lab_site_vars()
        self.munged = harness.start_munged(tmp / "munge")
        site = dict(self.site)
        site["qpusite_emulator_twins"] = {
            host: [{**t, "shot_time_s": shot_time} if t["api"] == "ibm" else t for t in twins]
            for host, twins in self.site["qpusite_emulator_twins"].items()}
        self.emulator = harness.start_emulator(tmp / "emu", site)
        self.slurm: Any = None
        self.qrmid: Any = None
        self.runtime = self._runtime()

    def _runtime(self) -> Path:
        """The jobs' python: the system python3 with the node environment's packages (the node
        venv's own interpreter may live where job users cannot enter), as the acceptance test does."""
        runtime = self.tmp / "runtime"
        (runtime / "bin").mkdir(parents=True)
        site_packages = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
        wrapper = runtime / "bin" / "python"
        path = shlex.quote(str(site_packages))
        wrapper.write_text(f'#!/bin/sh\nexec env PYTHONPATH={path} /usr/bin/python3 "$@"\n')
        wrapper.chmod(0o755)
        shutil.copy(HERE / "replay_payload.py", runtime / "replay_payload.py")
        return runtime

    def profiles(self) -> list[dict[str, Any]]:
        users = {"production": [USERS["chem"]], "development": [USERS["ml"], USERS["edu"]]}
        return [{**p, "users": users[p["name"]], "groups": []} for p in self.site["qpusite_policy_profiles"]]

    def start_policy(self, policy: str, share: int, scale: float, lookahead: int) -> None:
        import slurm_harness

        h = self.h
        stack = self.tmp / f"stack-{policy}"
        stack.mkdir()
        stack.chmod(0o755)
        qpus = []
        for q in self.site["qpusite_qpus"]:
            q = {**q, "calibration_windows": []}
            if q["name"] == QPU:
                q["slots"] = 1
                q["sharing"] = ({"mode": "task", "max_jobs": share, "lookahead": lookahead} if policy == "task"
                                else {"mode": "job"})
            qpus.append(q)
        licenses = {**self.site["qpusite_qpu_licenses"], QPU: share if policy == "task" else 1}
        port = h.free_port()
        task_sharing = {"age_boost_s": 60 / scale, "half_life_s": 3600 / scale, "overhead_s": 1 / scale,
                        "poll_s": 0.1}
        cfg = h.qrmid_config(stack, self.site, self.emulator.url, self.munged.socket, port, qpus=qpus,
                             policy_profiles=self.profiles(), reaper={"slurm": "on", "interval_s": 2, "grace_s": 5},
                             cluster=slurm_harness.CLUSTER, task_sharing=task_sharing)
        self.qrmid = h.Qrmid(cfg, f"http://127.0.0.1:{port}", stack / "qrmid.log")
        conf = slurm_harness.render_submit_conf(list(licenses), self.profiles())
        self.slurm = slurm_harness.start_slurm(stack / "slurm", self.munged.socket, self.qrmid.url, licenses, conf,
                                               node_cpus=self.nodes)
        self.qrmid.env = {"SLURM_CONF": str(self.slurm.conf)}
        self.qrmid.start()

    def stop_policy(self) -> None:
        if self.slurm is not None:
            cancel_all(self.slurm)
            self.slurm.stop()
            self.slurm = None
        if self.qrmid is not None:
            self.qrmid.stop()
            self.qrmid = None

    def stop(self) -> None:
        try:
            self.stop_policy()
        finally:
            self.h.stop(self.emulator.proc)
            self.h.stop(self.munged.proc)


def cancel_all(slurm: Any, timeout: float = 60) -> None:
    """scancel what is left and wait until no job of ours is in the queue (its steps gone)."""
    slurm.run("scancel", "--full", "--state=PENDING")
    slurm.run("scancel", "--full")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = slurm.run("squeue", "-h", "-o", "%i").stdout.strip()
        if not out:
            return
        time.sleep(0.5)


class PartitionSampler(threading.Thread):
    """CPU-seconds left free while the oldest pending job could start but for the QPU license."""

    def __init__(self, slurm: Any, cpus: int, period: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.slurm, self.cpus, self.period = slurm, cpus, period
        self.idle_s = 0.0
        self.stopping = threading.Event()

    def run(self) -> None:
        last = time.monotonic()
        while not self.stopping.wait(self.period):
            out = self.slurm.run("squeue", "-h", "-o", "%i|%T|%r|%C", timeout=30).stdout
            now = time.monotonic()
            self.idle_s += licence_blocked_free_cpus(out, self.cpus) * (now - last)
            last = now


def licence_blocked_free_cpus(squeue_out: str, cpus: int) -> int:
    """From `squeue -h -o %i|%T|%r|%C`: the free CPUs if the oldest pending job fits in them and
    waits for licenses, else 0 (Slurm's builtin scheduler starts jobs in order)."""
    running, pending = 0, []
    for line in squeue_out.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4:
            continue
        jid, state, reason, ncpu = parts
        if state in ("RUNNING", "COMPLETING"):
            running += int(ncpu)
        elif state == "PENDING":
            pending.append((int(jid), reason, int(ncpu)))
    if not pending:
        return 0
    _, reason, need = min(pending)
    free = cpus - running
    return free if reason == "Licenses" and need <= free else 0


def replay(stack: Stack, policy: str, jobs: list[ReplayJob], share: int, scale: float, shot_time: float,
           lookahead: int) -> dict[str, Any]:
    stack.start_policy(policy, share, scale, lookahead)
    slurm = stack.slurm
    work = stack.tmp / f"work-{policy}"
    work.mkdir()
    work.chmod(0o1777)
    sampler = PartitionSampler(slurm, stack.nodes)
    submitted: dict[int, float] = {}
    slurm_ids: dict[int, str] = {}
    began = time.monotonic()
    sampler.start()
    try:
        for j in jobs:
            delay = began + j.arrival_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            spec = work / f"spec-{j.id}.json"
            spec.write_text(json.dumps({"qpu": QPU, "phases": j.phases, "shot_time_s": shot_time}))
            spec.chmod(0o644)
            cmd = " ".join(shlex.quote(str(p)) for p in (stack.runtime / "bin" / "python",
                                                          stack.runtime / "replay_payload.py", spec,
                                                          work / f"out-{j.id}.json"))
            r = slurm.run("sbatch", "--parsable", f"--qpu={QPU}", f"--job-name=replay-{j.id}", "--ntasks=1",
                          f"--cpus-per-task={j.nodes}", "--time=30", f"--output={work / f'job-{j.id}.log'}",
                          f"--chdir={work}", f"--wrap={cmd}", user=USERS[j.account])
            if r.returncode != 0:
                raise RuntimeError(f"sbatch of trace job {j.id} failed: {r.stderr.strip()}")
            submitted[j.id] = time.time()
            slurm_ids[j.id] = r.stdout.strip().split(";")[0]
        expected = max(j.arrival_s for j in jobs) + sum(j.qpu_s + sum(c for _, c in j.phases) for j in jobs)
        deadline = time.monotonic() + expected + 120
        while time.monotonic() < deadline:
            if all((work / f"out-{j.id}.json").exists() for j in jobs) and not slurm.run(
                    "squeue", "-h", "-o", "%i").stdout.strip():
                break
            time.sleep(1)
        else:
            raise TimeoutError(f"{policy}: jobs still running after {expected + 120:.0f} s")
    finally:
        sampler.stopping.set()
        sampler.join(10)
    results = {j.id: json.loads((work / f"out-{j.id}.json").read_text()) for j in jobs}
    figures = metrics(jobs, submitted, results, sampler.idle_s, scale)
    figures.update(qrmid_figures(stack, policy))
    figures["replay wall s"] = round(time.monotonic() - began, 1)
    errors = {j.id: results[j.id]["error"] for j in jobs if results[j.id].get("error")}
    if errors:
        figures["errors"] = errors
    stack.stop_policy()
    return figures


def qrmid_figures(stack: Stack, policy: str) -> dict[str, Any]:
    """qrmid's own accounting: held and executing seconds on the QPU; task records in task mode."""
    client = stack.h.Client(stack.qrmid.url, stack.munged.socket)
    out: dict[str, Any] = {}
    code, body = client.request("GET", "/v1/accounting/utilisation")
    if code == 200 and isinstance(body.get(QPU), dict):
        for key in ("held_s", "executing_s", "wait_node_s"):
            out[f"qrmid {key} (real)"] = body[QPU][key]
    if policy == "task":
        code, body = client.request("GET", f"/v1/accounting/tasks?qpu={QPU}&limit=100000")
        if code == 200:
            rows = body["tasks"]
            out["qrmid task records"] = len(rows)
            out["qrmid task qpu_seconds (real)"] = round(sum(float(r["qpu_seconds"] or 0) for r in rows), 2)
            out["qrmid tasks preempted"] = sum(int(r["preempted"] or 0) for r in rows)
    return out


# ------------------------------------------------------------------ command line
def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=30, help="first N jobs of the 10,000-job trace (1-500)")
    p.add_argument("--scale", type=float, default=100.0, help="trace seconds per real second (1-10000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--nodes", type=int, default=32, help="partition size in trace nodes = CPUs (8-256)")
    p.add_argument("--share", type=int, default=8, help="concurrent jobs per QPU under task sharing (2-64)")
    p.add_argument("--shot-time", type=float, default=0.001, help="emulated QPU seconds per shot (0.0001-0.1)")
    p.add_argument("--lookahead", type=int, default=None,
                   help="task sharing: tasks forwarded to wait at the service beyond the free slot (0-8; default: "
                        "the site model's qpus[].sharing.lookahead default)")
    p.add_argument("--json", type=Path, help="write the results here")
    a = p.parse_args(argv)
    if a.lookahead is None:
        a.lookahead = model_lookahead()
    bad = [(a.jobs, 1, 500, "--jobs"), (a.scale, 1, 10000, "--scale"), (a.nodes, 8, 256, "--nodes"),
           (a.share, 2, 64, "--share"), (a.shot_time, 0.0001, 0.1, "--shot-time"), (a.lookahead, 0, 8, "--lookahead")]
    for value, lo, hi, name in bad:
        if not lo <= value <= hi:
            p.error(f"{name} {value} is outside {lo}..{hi}")
    if a.json is not None and not a.json.parent.is_dir():
        p.error(f"--json: directory {a.json.parent} does not exist")
    return a


def model_lookahead() -> int:
    """The site model's default qpus[].sharing.lookahead: what a task-shared QPU gets unless its site says
    otherwise (site_survey/service_configs.py carries it to qrmid's config)."""
    sys.path.insert(0, str(REPO))
    try:
        from site_survey.model import QpuSharing
    finally:
        sys.path.remove(str(REPO))
    return QpuSharing().lookahead


def table(results: dict[str, dict[str, Any]]) -> str:
    keys = [k for k in results[LABELS["job"]] if k != "errors"]
    width = max(map(len, keys))
    lines = [f"{'':{width}}  {LABELS['job']:>26}  {LABELS['task']:>20}"]
    lines += [f"{k:{width}}  {results[LABELS['job']].get(k)!s:>26}  {results[LABELS['task']].get(k)!s:>20}"
              for k in keys]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    a = parse(sys.argv[1:] if argv is None else argv)
    missing = [b for b in ("slurmctld", "slurmd", "sbatch", "munged", "gcc", "runuser") if not shutil.which(b)]
    if os.geteuid() != 0 or missing:
        print(f"replay_bench: needs root and {', '.join(missing) or 'nothing else'} (tools/apt/qrmid.txt)",
              file=sys.stderr)
        return 2
    jobs = slice_trace(a.jobs, a.scale, a.shot_time, a.seed)
    max_nodes = max(j.nodes for j in jobs)
    if max_nodes > a.nodes:
        print(f"replay_bench: --nodes {a.nodes} is smaller than a job of the slice ({max_nodes})", file=sys.stderr)
        return 2
    for sub in ("services/qrmid/tests", "services/spank-qrmid/tests", "services/qrmid"):
        sys.path.insert(0, str(REPO / sub))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "services" / "qrmid"), str(REPO / "services" / "qpu-emulator"), os.environ.get("PYTHONPATH", "")])
    subprocess.run(["make", "-s", "-C", str(REPO / "services" / "spank-qrmid"), "spank_qrmid.so"], check=True,
                   capture_output=True, timeout=300)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks below
    tmp = Path(tempfile.mkdtemp(prefix="qpusite-replay-"))
    tmp.chmod(0o755)
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    stack = None
    try:
        stack = Stack(tmp, a.shot_time, a.nodes)
        for policy in POLICIES:
            results[LABELS[policy]] = replay(stack, policy, jobs, a.share, a.scale, a.shot_time, a.lookahead)
            print(f"{LABELS[policy]}: {results[LABELS[policy]]['replay wall s']} s", file=sys.stderr, flush=True)
    finally:
        if stack is not None:
            stack.stop()
        if os.environ.get("QPUSITE_REPLAY_KEEP"):
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    took = time.monotonic() - started
    print(table(results))
    simulated = simulate_slice(a.jobs, a.seed, a.nodes, a.share)
    print("\nthe simulation of the same slice (no window, instant dispatch; hours and minutes of trace time):")
    print(table(simulated))
    profiles = {p: sum(1 for j in jobs if j.profile == p) for p in sorted({j.profile for j in jobs})}
    print(f"{a.jobs} jobs ({profiles}), {sum(len(j.phases) for j in jobs)} quantum tasks per policy, "
          f"scale {a.scale:g}, shot time {a.shot_time:g} s, lookahead {a.lookahead}; whole run {took:.0f} s")
    if a.json is not None:
        a.json.write_text(json.dumps({"jobs": a.jobs, "seed": a.seed, "scale": a.scale, "nodes": a.nodes,
                                      "share": a.share, "shot_time_s": a.shot_time, "lookahead": a.lookahead,
                                      "run_s": round(took, 1),
                                      "replay": results, "simulation of the slice": simulated}, indent=1))
    return 1 if any(r.get("errors") for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
