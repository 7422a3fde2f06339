"""The process that executes jobs. One per concurrency slot; the scheduler
kills it to cancel a running job (simulators cannot be interrupted), then
starts a fresh one.

Messages in: ``{"api", "program", "twin", "params", "seed"}``.
Messages out: ``("ready",)``, then per job ``("ok", result_text, logs, seconds, shots)`` or
``("error", message, logs, seconds)``.
"""

from __future__ import annotations

import json
import time
import traceback
import warnings
from multiprocessing.connection import Connection
from typing import Any

from qpu_emulator.config import Twin


def _execute(msg: dict[str, Any], runtimes: dict[str, Any]) -> tuple[str, str, int]:
    from qpu_emulator import ibm_primitives, pasqal_twin, qiskit_encoding

    twin = Twin.model_validate(msg["twin"])
    if msg["api"] in ("ibm", "ibm-quantum-system"):
        key = twin.model_dump_json()
        rt = runtimes.get(key)
        if rt is None:
            rt = runtimes[key] = ibm_primitives.TwinRuntime(twin)
        from qpu_emulator.limits import Bounds

        bounds = Bounds(*msg["bounds"]) if msg.get("bounds") else None
        inp = ibm_primitives.check_input(msg["program"], msg["params"], twin, bounds)
        run = ibm_primitives.run_sampler if inp.program == "sampler" else ibm_primitives.run_estimator
        doc, native = run(rt, inp)
        text = qiskit_encoding.encode_primitive_result(native, inp.program) if inp.support_qiskit else json.dumps(doc)
        logs = f"{inp.program}: {len(inp.pubs)} PUB(s), {inp.total_shots} shots on {twin.backend_name}\n"
        return text, logs, inp.total_shots
    if msg["api"] == "iqm-server":
        from qpu_emulator import iqm_twin

        key = twin.model_dump_json()
        rt = runtimes.get(key)
        if rt is None:
            rt = runtimes[key] = ibm_primitives.TwinRuntime(twin)
        p = msg["params"]
        circuits = iqm_twin.check_circuits(p["circuits"], p["shots"], twin)
        results = iqm_twin.run(circuits, p["shots"], twin, rt, msg.get("seed"))
        logs = f"iqm circuits: {len(circuits)} circuit(s) x {p['shots']} shots on {twin.backend_name}\n"
        return json.dumps(results), logs, p["shots"] * len(circuits)
    params = msg["params"]
    doc = pasqal_twin.run_sequence(params["sequence"], params["runs"], params.get("variables"), twin, msg.get("seed"))
    logs = f"pulser sequence: {params['runs']} runs on {twin.backend_name}\n"
    return json.dumps(doc), logs, int(params["runs"])


def main(conn: Connection, memory_bytes: int = 0, index: int = 0) -> None:
    from qpu_emulator import procs

    procs.limit_child(memory_bytes, f"qpuemu-worker{index}")
    warnings.simplefilter("ignore")
    # Import the heavy simulators once, before saying ready.
    import pulser_simulation  # noqa: F401
    import qiskit_aer  # noqa: F401

    from qpu_emulator import ibm_primitives

    ibm_primitives.parse_qasm('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nx q[0];\n')
    runtimes: dict[str, Any] = {}
    conn.send(("ready",))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        t0 = time.perf_counter()
        try:
            text, logs, shots = _execute(msg, runtimes)
            conn.send(("ok", text, logs, time.perf_counter() - t0, shots))
        except MemoryError:
            runtimes.clear()  # drop what can be dropped; the reply is small
            detail = f"the job needs more memory than a worker may use ({memory_bytes} bytes)"
            conn.send(("error", detail, f"execution failed: {detail}\n", time.perf_counter() - t0))
        except Exception as exc:  # a job's failure is reported, the worker lives on
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            conn.send(("error", detail[:2000], f"execution failed: {detail[:2000]}\n", time.perf_counter() - t0))
