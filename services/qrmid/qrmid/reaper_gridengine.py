"""The reaper's view of Grid Engine: `qstat -u * -xml` (argument vector only; `*` is an argument,
not a shell pattern), every job of every user that qmaster still lists.

What qstat prints (Grid Engine 8.1.9, qstat_xml.c): one `<job_list state="running|pending|…">`
per running job, per running array task, and per group of pending array tasks, each with its
`<JB_job_number>`, its `<state>` (`r`, `t`, `qw`, `hqw`, `Eqw`, `dr`, `s`, `Rr`, …) and, for an
array job, `<tasks>`: one task id (`7`) for a running task, a task range list for pending ones
(`4-10:2`, `1,3,5-9:1`). Finished jobs are not listed (qacct has them).

A job id of qrmid (`1234`, `1234.5`, see jobids.py) is alive while qstat lists it: the job, or
that task of it (a pending range counts). A job in error state (`E` in its state: `Eqw`) runs
nothing, so its acquisition ends too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import xml.etree.ElementTree as ET  # noqa: S405 - qmaster's own output, no DTD; expat bounds entity expansion
from dataclasses import dataclass, field

from qrmid.jobids import ge_split

log = logging.getLogger("qrmid.reaper")

MAX_LISTING = 256 * 1024 * 1024
NUMBER = re.compile(r"^[0-9]{1,10}$")
RANGE = re.compile(r"^([0-9]{1,10})(?:-([0-9]{1,10})(?::([0-9]{1,10}))?)?$")


@dataclass
class GeJob:
    state: str | None = None  # listed without tasks (not an array job)
    tasks: dict[int, str] = field(default_factory=dict)
    ranges: list[tuple[int, int, int, str]] = field(default_factory=list)

    def task_state(self, task: int) -> str | None:
        if task in self.tasks:
            return self.tasks[task]
        for start, end, step, state in self.ranges:
            if start <= task <= end and (task - start) % step == 0:
                return state
        return self.state  # an array task of a job qstat lists without tasks: alive as the job is

    def any_state(self) -> str | None:
        """A job id without task: the job's state, else any listed task's (a running one first)."""
        if self.state is not None:
            return self.state
        states = list(self.tasks.values()) + [r[3] for r in self.ranges]
        return next((s for s in states if not GridEngineJobs.ended(s)), states[0] if states else None)


def parse_tasks(spec: str) -> tuple[list[int], list[tuple[int, int, int]]]:
    """`7` → [7]; `4-10:2,12` → ranges [(4, 10, 2)], [12]. Unparsable items are skipped."""
    single: list[int] = []
    ranges: list[tuple[int, int, int]] = []
    for item in spec.split(","):
        m = RANGE.match(item.strip())
        if not m:
            continue
        start = int(m.group(1))
        if m.group(2) is None:
            single.append(start)
        else:
            ranges.append((start, int(m.group(2)), max(1, int(m.group(3) or 1))))
    return single, ranges


class GridEngineJobs:
    name = "Grid Engine"
    tool = "qstat"

    def __init__(self, jobs: dict[str, GeJob]):
        self.jobs = jobs

    def state(self, job_id: str) -> str | None:
        parts = ge_split(job_id)
        if parts is None:
            return None
        job = self.jobs.get(parts[0])
        if job is None:
            return None
        return job.any_state() if parts[1] is None else job.task_state(int(parts[1]))

    @staticmethod
    def ended(state: str) -> bool:
        return "E" in state


def _text(elem: ET.Element, tag: str) -> str:
    child = elem.find(tag)
    return (child.text or "").strip() if child is not None else ""


def parse_qstat_xml(text: str) -> GridEngineJobs:
    """The jobs of `qstat -u * -xml`; ValueError when it is not qstat's XML."""
    try:
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise ValueError(f"qstat -xml printed no XML: {exc}") from None
    if root.tag != "job_info":
        raise ValueError(f"qstat -xml printed <{root.tag}>, not <job_info>")
    jobs: dict[str, GeJob] = {}
    for entry in root.iter("job_list"):
        number = _text(entry, "JB_job_number")
        state = _text(entry, "state") or entry.get("state", "") or "?"
        if not NUMBER.match(number):
            continue
        job = jobs.setdefault(str(int(number)), GeJob())
        spec = _text(entry, "tasks")
        if not spec:
            job.state = state
            continue
        single, ranges = parse_tasks(spec)
        for t in single:
            job.tasks[t] = state
        job.ranges += [(a, b, s, state) for a, b, s in ranges]
    return GridEngineJobs(jobs)


async def gridengine_job_states(sge_root: str | None, sge_cell: str | None,
                                timeout: float = 10.0) -> GridEngineJobs | None:
    """Every job qmaster lists, or None when it cannot be asked (or answers nonsense)."""
    env = dict(os.environ)
    if sge_root:
        env["SGE_ROOT"] = sge_root
    if sge_cell:
        env["SGE_CELL"] = sge_cell
    try:
        proc = await asyncio.create_subprocess_exec(
            "qstat", "-u", "*", "-xml",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (OSError, TimeoutError) as exc:
        log.warning("qstat unavailable: %s", exc)
        return None
    if proc.returncode != 0:
        log.warning("qstat failed (%s): %s", proc.returncode, err.decode(errors="replace").strip()[:500])
        return None
    if len(out) > MAX_LISTING:
        log.warning("qstat printed more than %d bytes; skipping this round", MAX_LISTING)
        return None
    try:
        return parse_qstat_xml(out.decode(errors="replace"))
    except ValueError as exc:
        log.warning("%s", exc)
        return None
