"""Task-level sharing's lookahead (docs/qrmid.md, "Lookahead"): qrmid forwards up to
``slots + lookahead`` tasks, so the service's own FIFO holds the next task and starts it the
moment the previous one ends, without waiting for qrmid's poll. Against the real emulator (one
worker: the QPU's one slot), its twins slowed to 5 ms a shot so that a task runs long enough to
be watched; the gaps are read from the emulator's own task timestamps (IBM job metrics)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import harness
import pytest
from conftest import without_windows
from proxy_attack import BELL, Job, new_job, send

SHOT_S = 0.005  # the slowed twins: 300 shots run 1.5 s
FINAL = ("Completed", "Failed", "Cancelled")


@pytest.fixture(scope="module")
def slow_emulator(tmp_path_factory: pytest.TempPathFactory, site: dict[str, Any]) -> Iterator[harness.Emulator]:
    twins = {h: [{**t, "shot_time_s": SHOT_S} for t in ts] for h, ts in site["qpusite_emulator_twins"].items()}
    e = harness.start_emulator(tmp_path_factory.mktemp("slow-emulator"), {**site, "qpusite_emulator_twins": twins})
    yield e
    harness.stop(e.proc)


@pytest.fixture
def start(tmp_path: Path, site: dict[str, Any], slow_emulator: harness.Emulator, munged: harness.Munged
          ) -> Iterator[Any]:
    started: list[harness.Qrmid] = []

    def make(lookahead: int, poll_s: float, windows: list[dict[str, Any]] | None = None,
             **task_sharing: Any) -> harness.Client:
        qpus = without_windows(site)
        for q in qpus:
            q["slots"] = 1
            q["sharing"] = {"mode": "task", "max_jobs": 3, "lookahead": lookahead}
            if windows is not None and q["name"] == "sc_twin":
                q["calibration_windows"] = windows
        here = tmp_path / f"qrmid-{len(started)}"
        here.mkdir()
        q = harness.configure_qrmid(here, site, slow_emulator.url, munged.socket,
                                    qpus=qpus, task_sharing={"poll_s": poll_s, **task_sharing}).start()
        started.append(q)
        return harness.Client(q.url, munged.socket)

    yield make
    for q in started:
        q.stop()


def submit(job: Job, shots: int) -> str:
    """A task's id; no poll follows (a job's poll would show qrmid the end as its own poll does)."""
    params = {"pubs": [[BELL, None, shots]], "version": 2, "support_qiskit": False}
    doc = {"program_id": "sampler", "backend": "sc_twin", "params": params}
    r = send(job.ibm, "POST", "/v1/jobs", token=job.ibm_token, body=json.dumps(doc).encode())
    assert r.status == 200, r.body
    return str(r.body["id"])


def rows(client: harness.Client) -> dict[str, dict[str, Any]]:
    """The task rows by the id a job got: qrmid's minted one (queued first), or the service's (forwarded at once)."""
    code, body = client.request("GET", "/v1/accounting/tasks")
    assert code == 200, body
    return {r[k]: r for r in body["tasks"] for k in ("task_id", "remote_id") if r[k]}


def wait_ended(client: harness.Client, n: int, timeout: float = 120) -> dict[str, dict[str, Any]]:
    """The rows once n tasks ended and the service's own times reached them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = rows(client)
        done = {r["task_id"] for r in got.values() if r["state"] == "ended" and r["started_at"] is not None}
        if len(done) >= n:
            time.sleep(0.5)  # the service-time lookups of the last one
            return rows(client)
        time.sleep(0.3)
    raise TimeoutError(got)


def service_times(job: Job, task: str) -> tuple[float, float]:
    """(running, finished) of a task by the emulator's own clock."""
    m = job.ibm_get(f"/v1/jobs/{task}/metrics")
    assert m.status == 200, m.body

    def at(v: str) -> float:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()

    return at(m.body["timestamps"]["running"]), at(m.body["timestamps"]["finished"])


@pytest.mark.parametrize("lookahead", [1, 0])
def test_the_service_has_the_next_task_waiting_when_one_ends(start: Any, lookahead: int) -> None:
    # a poll long enough that a gap which waits for it is plain to see, shorter than a task (1.5 s) so
    # that one task waiting at the service covers it
    poll_s = 1.0
    client = start(lookahead, poll_s)
    job = new_job(client, "2101", "bob", 2002)
    ids = [submit(job, 300) for _ in range(3)]  # 1.5 s each on the QPU
    time.sleep(0.3)
    now = rows(client)
    if lookahead:
        # one runs (or is about to), the next waits in the service's queue, the third in qrmid's
        assert now[ids[1]]["phase"] == "waiting at the service" and now[ids[1]]["dispatched_at"], now[ids[1]]
        assert now[ids[1]]["started_at"] is None and now[ids[1]]["state"] == "dispatched"
        assert now[ids[2]]["phase"] == "queued in qrmid" and "wait(s) at the service" in now[ids[2]]["message"]
    else:
        assert [now[i]["phase"] for i in ids[1:]] == ["queued in qrmid"] * 2, now
    got = wait_ended(client, 3)
    # the ids the job got: the first the service's own (forwarded at once), the others minted
    remote = {i: got[i]["remote_id"] or i for i in ids}
    times = [service_times(job, remote[i]) for i in ids]
    gaps = [b[0] - a[1] for a, b in zip(times, times[1:], strict=False)]
    assert all(g >= 0 for g in gaps), times  # one slot: never two at once
    print(f"lookahead {lookahead}, poll {poll_s} s: gaps between tasks at the service {[round(g, 3) for g in gaps]} s")
    for i, (running, finished) in zip(ids, times, strict=True):
        # accounting uses the service's own start and end, not when qrmid forwarded or saw it
        r = got[i]
        assert r["started_at"] == pytest.approx(running, abs=0.002), (r, running)
        assert r["ended_at"] == pytest.approx(finished, abs=0.002), (r, finished)
        assert r["qpu_seconds"] == pytest.approx(finished - running, abs=0.01) and r["phase"] == "ended"
        assert r["service_queued_s"] == pytest.approx(max(0.0, running - r["dispatched_at"]), abs=0.01)
    if lookahead:
        # the next task was at the service before the previous one ended: it started without a poll
        assert all(got[b]["dispatched_at"] < a[1] for a, b in zip(times, ids[1:], strict=False)), (got, times)
        assert max(gaps) < poll_s / 4, gaps
        assert got[ids[1]]["service_queued_s"] > 0.5  # it waited at the service, behind the first
    else:
        # today's behaviour: a task is forwarded only once qrmid has seen the one before end
        assert all(got[b]["dispatched_at"] >= a[1] for a, b in zip(times, ids[1:], strict=False)), (got, times)
        assert all(got[i]["service_queued_s"] < 0.5 for i in ids), got


def test_priority_orders_what_is_not_forwarded_yet(start: Any) -> None:
    client = start(1, 0.5)
    low = new_job(client, "2201", "alice", 2001)  # development, priority 10
    high = new_job(client, "2202", "bob", 2002)  # production, priority 50
    l1, l2, l3 = (submit(low, 300) for _ in range(3))
    h1 = submit(high, 300)
    got = wait_ended(client, 4)
    remote = {i: got[i]["remote_id"] or i for i in (l1, l2, l3, h1)}
    starts = {i: service_times(low if i != h1 else high, remote[i])[0] for i in remote}
    # l1 ran, l2 was at the service already (forwarded: it can no longer be overtaken); h1 overtook
    # l3, which still waited in qrmid's queue
    assert starts[l1] < starts[l2] < starts[h1] < starts[l3], starts
    assert (got[l2]["preempted"], got[l3]["preempted"], got[h1]["preempted"]) == (0, 1, 0), got


def test_a_task_that_would_reach_into_a_window_is_not_forwarded_early(start: Any, site: dict[str, Any]) -> None:
    # a window 3-4 minutes ahead; every shot estimated at one second (the real run is 5 ms a shot)
    at = datetime.now(ZoneInfo(site["qpusite_timezone"])) + timedelta(minutes=4)
    window = {"name": "soon", "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
              "start": at.strftime("%H:%M"), "duration_minutes": 10}
    client = start(1, 0.5, windows=[window], seconds_per_shot=1.0, overhead_s=1.0, learn_after=1000)
    job = new_job(client, "2301", "bob", 2002)
    a = submit(job, 300)  # ~301 s estimated: would reach into the window: held
    first = submit(job, 100)  # ~101 s estimated (0.5 s real): forwarded to the free slot
    big = submit(job, 150)  # ~151 s: fits from now, but not behind `first` (101 + 151 > 240)
    small = submit(job, 10)  # ~11 s: fits behind `first`: forwarded at once to wait at the service
    now = rows(client)
    assert now[a]["phase"] == "queued in qrmid" and "would run into" in now[a]["message"], now[a]
    assert now[big]["phase"] == "queued in qrmid" and "would run into" in now[big]["message"], now[big]
    got = wait_ended(client, 3)
    remote = {i: got[i]["remote_id"] or i for i in (first, big, small)}
    _, first_end = service_times(job, remote[first])
    assert got[small]["dispatched_at"] < first_end, got  # the lookahead still forwards what fits
    assert got[big]["dispatched_at"] >= first_end, got  # not before its start left room for its run
    assert got[a]["state"] == "queued" and "would run into" in got[a]["message"]


@pytest.mark.parametrize(("lookahead", "ok"), [(None, 1), (0, 0), (8, 8), (9, None), (-1, None), (1.5, None)])
def test_qrmid_config_bounds_the_lookahead(tmp_path: Path, lookahead: Any, ok: int | None) -> None:
    from qrmid.config import ConfigProblem, load

    sharing = {"mode": "task", "max_jobs": 2} | ({} if lookahead is None else {"lookahead": lookahead})
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"qpus": [{"name": "sc_twin", "sharing": sharing}]}))
    if ok is None:
        with pytest.raises(ConfigProblem, match=r"qpus\.0\.sharing\.lookahead"):
            load(str(path))
    else:
        assert load(str(path))[0].qpu("sc_twin").sharing.lookahead == ok


def test_a_pasqal_batch_forwarded_ahead_waits_at_the_service(start: Any) -> None:
    """Pasqal's batch answers carry the service's own start_datetime/end_datetime: the second batch,
    forwarded while the first runs, shows waiting at the service, then the service's times."""
    from job_sample import pi_pulse

    client = start(1, 1.0)
    job = new_job(client, "2401", "bob", 2002)
    doc = {"sequence_builder": pi_pulse(), "jobs": [{"runs": 300}], "device_type": "FRESNEL",
           "project_id": job.env.get("FRESNEL_QRMI_PASQAL_CLOUD_PROJECT_ID", "")}
    ids = []
    for _ in range(2):
        r = send(job.pasqal, "POST", "/core-fast/api/v1/batches", token=job.pasqal_token,
                 body=json.dumps(doc).encode())
        assert r.status == 200, r.body
        ids.append(str(r.body["data"]["id"]))
    now = rows(client)
    assert now[ids[1]]["phase"] == "waiting at the service" and now[ids[1]]["started_at"] is None, now[ids[1]]
    got = wait_ended(client, 2)
    for i in ids:
        data = job.pasqal_get(f"/core-fast/api/v1/batches/{got[i]['remote_id']}").body["data"]

        def at(v: str) -> float:
            return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()

        assert got[i]["started_at"] == pytest.approx(at(data["start_datetime"]), abs=0.002), (got[i], data)
        assert got[i]["ended_at"] == pytest.approx(at(data["end_datetime"]), abs=0.002), (got[i], data)
    assert got[ids[1]]["service_queued_s"] > 0.5 and got[ids[1]]["dispatched_at"] < got[ids[0]]["ended_at"]
