"""qrmid's own answers about a task it holds in its queue (task-level sharing), in the shapes
the vendor APIs give for a task of theirs that has not run: IBM's job ``Queued`` (or
``Cancelled``/``Failed`` when it ended before it was dispatched), Pasqal's batch and jobs
``PENDING`` (``CANCELED``/``ERROR``). The shapes are those of services/qpu-emulator
(api_ibm.py ``_job_doc``, api_pasqal.py ``_batch_doc``/``_job_doc``), which the vendor SDKs read.

Also what a task-creating request carries that the queue needs: its shots (the duration
estimate) and, for a Pasqal batch, how many jobs it holds (each gets a minted id).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from qrmid import task_store as ts
from qrmid import vendor_routes as vr

IBM_STATUS = {ts.QUEUED: "Queued", ts.CANCELLED: "Cancelled", ts.FAILED: "Failed", ts.DISPATCHED: "Running",
              ts.ENDED: "Completed"}
PASQAL_STATUS = {ts.QUEUED: "PENDING", ts.CANCELLED: "CANCELED", ts.FAILED: "ERROR", ts.DISPATCHED: "RUNNING",
                 ts.ENDED: "DONE"}
DEFAULT_IBM_SHOTS = 4096  # what the sampler runs when a request names no shots
MAX_SHOTS = 10**9


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SHOTS else default


def ibm_shots(doc: dict[str, Any]) -> int:
    """Shots of a sampler request: each pub's own count, else the request's ``shots``, else the default."""
    params = doc.get("params")
    if not isinstance(params, dict):
        return 0
    default = _int(params.get("shots"), DEFAULT_IBM_SHOTS)
    pubs = params.get("pubs")
    if not isinstance(pubs, list):
        return 0
    total = 0
    for pub in pubs[:10000]:
        own = pub[2] if isinstance(pub, list) and len(pub) > 2 else None
        total += _int(own, default)
    return min(total, MAX_SHOTS)


def pasqal_jobs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    jobs = doc.get("jobs")
    return [j for j in jobs if isinstance(j, dict)] if isinstance(jobs, list) else []


def pasqal_shots(doc: dict[str, Any]) -> int:
    return min(sum(_int(j.get("runs"), 0) for j in pasqal_jobs(doc)), MAX_SHOTS)


def _reason(row: ts.TaskRow) -> str:
    return row["message"] or ("queued at qrmid" if row["state"] == ts.QUEUED else row["state"])


def ibm_job(row: ts.TaskRow, body: dict[str, Any], session: str | None) -> dict[str, Any]:
    status = IBM_STATUS.get(row["state"], "Queued")
    state: dict[str, Any] = {"status": status}
    if row["state"] != ts.QUEUED:
        state["reason"] = _reason(row)
    return {
        "id": row["id"], "backend": row["qpu"], "state": state, "status": status,
        "program": {"id": str(body.get("program_id", ""))[:64]}, "created": iso(row["queued_at"]),
        "runtime": "", "cost": 0, "tags": [], "session_id": session, "user_id": "qrmid", "private": False,
        "usage": {"seconds": 0, "quantum_seconds": 0}, "estimated_running_time_seconds": None,
    }


def ibm_metrics(row: ts.TaskRow) -> dict[str, Any]:
    return {
        "timestamps": {"created": iso(row["queued_at"]), "running": None, "finished": None},
        "usage": {"status": "pending"}, "circuits_execution_time_ns": None, "executions": row["shots"],
        "num_circuits": 0, "estimated_start_time": None, "estimated_completion_time": None, "caller": "qrmid",
    }


def jsend(data: Any) -> dict[str, Any]:
    return {"status": "success", "code": 200, "message": "OK.", "data": data}


def pasqal_job(row: ts.TaskRow, minted: str, spec: dict[str, Any], order: int) -> dict[str, Any]:
    return {
        "id": minted, "batch_id": row["id"], "project_id": "", "runs": spec.get("runs"),
        "status": PASQAL_STATUS.get(row["state"], "PENDING"), "created_at": iso(row["queued_at"]),
        "updated_at": iso(row["ended_at"] or row["queued_at"]), "start_timestamp": None, "end_timestamp": None,
        "errors": [row["message"]] if row["state"] == ts.FAILED and row["message"] else [],
        "variables": spec.get("variables"), "creation_order": order,
    }


def pasqal_batch(row: ts.TaskRow, body: dict[str, Any], parts: list[str], v2: bool) -> dict[str, Any]:
    specs = pasqal_jobs(body)
    doc: dict[str, Any] = {
        "id": row["id"], "project_id": str(body.get("project_id") or ""), "device_type": row["qpu"],
        "status": PASQAL_STATUS.get(row["state"], "PENDING"), "created_at": iso(row["queued_at"]),
        "updated_at": iso(row["ended_at"] or row["queued_at"]), "start_datetime": None, "end_datetime": None,
        "user_id": "qrmid", "priority": 10, "open": bool(body.get("open")), "complete": not body.get("open"),
        "sequence_builder": body.get("sequence_builder", ""), "configuration": body.get("configuration") or {},
        "tags": [],
    }
    if v2:
        doc["job_ids"] = parts
    else:
        doc["jobs"] = [pasqal_job(row, p, specs[i] if i < len(specs) else {}, i) for i, p in enumerate(parts)]
    return doc


def body_of(row: ts.TaskRow, kept: str | None) -> dict[str, Any]:
    try:
        doc = json.loads(kept) if kept else {}
    except ValueError:
        doc = {}
    return doc if isinstance(doc, dict) else {}


def local(route: str, row: ts.TaskRow, body: dict[str, Any], parts: list[str], minted: str,
          session: str | None) -> tuple[int, bytes]:
    """(status, body) of qrmid's answer on `route` about a task it has not dispatched; or Refused."""
    def out(doc: Any, status: int = 200) -> tuple[int, bytes]:
        return status, json.dumps(doc, separators=(",", ":")).encode()

    if route == "job":
        return out(ibm_job(row, body, session))
    if route == "job.metrics":
        return out(ibm_metrics(row))
    if route == "job.logs":
        return 200, f"{_reason(row)}\n".encode()
    if route in ("job.results", "batch.results"):
        raise vr.Refused(409, f"task {row['id']} has no results: {_reason(row)}")
    if route in ("batch.v1", "batch.v2"):
        return out(jsend(pasqal_batch(row, body, parts, v2=route == "batch.v2")))
    if route == "batch.status":
        return out(jsend({"id": row["id"], "status": PASQAL_STATUS.get(row["state"], "PENDING")}))
    if route in ("job.v1", "job.v2", "job.status"):
        specs = pasqal_jobs(body)
        i = parts.index(minted) if minted in parts else 0
        doc = pasqal_job(row, minted, specs[i] if i < len(specs) else {}, i)
        return out(jsend({"id": minted, "status": doc["status"]} if route == "job.status" else doc))
    if route == "jobs.v2":
        specs = pasqal_jobs(body)
        docs = [pasqal_job(row, p, specs[i] if i < len(specs) else {}, i) for i, p in enumerate(parts)]
        return out({**jsend(docs), "pagination": {"total": len(docs), "start": 0, "end": len(docs)}})
    if route in ("batch.jobs.add", "batch.complete"):
        raise vr.Refused(409, f"batch {row['id']} is queued at qrmid (task sharing): submit it closed, "
                              "with all its jobs")
    raise vr.Refused(409, f"task {row['id']} is queued at qrmid: {_reason(row)}")
