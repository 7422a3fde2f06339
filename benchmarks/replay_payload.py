"""The job program of benchmarks/replay_bench.py: one trace job inside an `sbatch --qpu` job.

It alternates real quantum tasks (a Bell sampler, `shots` each, sent to the IBM twin through
qrmid's job proxy with the job's own credentials, exactly as a QRMI/qiskit client would) and
classical phases (sleeps), then writes what it saw as JSON. Standard library only: it runs
under the job's runtime (the system python3).

    python replay_payload.py SPEC.json OUT.json

SPEC: {"phases": [[shots, classical_seconds], ...], "qpu": "sc_twin"}. OUT: {"start", "end",
"tasks": [{"submitted", "seen_final", "running", "finished", "status", "id"}], "error"}.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

BELL = ('OPENQASM 3.0;\ninclude "stdgates.inc";\nbit[2] c;\nqubit[2] q;\nh q[0];\ncx q[0], q[1];\n'
        "c[0] = measure q[0];\nc[1] = measure q[1];\n")
FINAL = ("Completed", "Failed", "Cancelled")
GRANT = "urn:ibm:params:oauth:grant-type:apikey"


def _call(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url!r}")
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310 - checked above
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - qrmid's proxy URL from the job's env
        raw = resp.read()
    return json.loads(raw) if raw else None


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class Ibm:
    def __init__(self, qpu: str) -> None:
        self.base = os.environ[f"{qpu}_QRMI_IBM_QCS_ENDPOINT"].rstrip("/")
        self.iam = os.environ[f"{qpu}_QRMI_IBM_QCS_IAM_ENDPOINT"].rstrip("/")
        self.apikey = os.environ[f"{qpu}_QRMI_IBM_QCS_IAM_APIKEY"]
        self.qpu = qpu
        self.token = ""
        self.refresh()

    def refresh(self) -> None:
        form = urllib.parse.urlencode({"grant_type": GRANT, "apikey": self.apikey}).encode()
        doc = _call(self.iam + "/identity/token", "POST", form, {"Content-Type": "application/x-www-form-urlencoded"})
        self.token = str(doc["access_token"])

    def call(self, path: str, method: str = "GET", doc: Any = None) -> Any:
        body = json.dumps(doc).encode() if doc is not None else None
        for attempt in (0, 1):
            headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
            try:
                return _call(self.base + path, method, body, headers)
            except urllib.error.HTTPError as err:
                if err.code != 401 or attempt:
                    raise
                self.refresh()
        return None

    def run(self, shots: int, expected_s: float) -> dict[str, Any]:
        params = {"pubs": [[BELL, None, shots]], "version": 2, "support_qiskit": False}
        submitted = time.time()
        task = str(self.call("/jobs", "POST", {"program_id": "sampler", "backend": self.qpu, "params": params})["id"])
        time.sleep(expected_s * 0.9)
        while True:
            status = str(self.call(f"/jobs/{task}")["state"]["status"])
            if status in FINAL:
                break
            time.sleep(0.05)
        seen = time.time()
        stamps = self.call(f"/jobs/{task}/metrics").get("timestamps") or {}
        return {"id": task, "status": status, "submitted": submitted, "seen_final": seen,
                "running": _epoch(stamps.get("running")), "finished": _epoch(stamps.get("finished"))}


def main() -> int:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    out: dict[str, Any] = {"start": time.time(), "tasks": [], "error": None}
    try:
        ibm = Ibm(spec["qpu"])
        for shots, classical in spec["phases"]:
            out["tasks"].append(ibm.run(int(shots), float(shots) * float(spec["shot_time_s"])))
            time.sleep(float(classical))
    except Exception as exc:  # reported in the output, judged by the benchmark
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["end"] = time.time()
    tmp = sys.argv[2] + ".part"
    with open(tmp, "w") as fh:
        json.dump(out, fh)
    os.replace(tmp, sys.argv[2])
    return 0 if out["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
