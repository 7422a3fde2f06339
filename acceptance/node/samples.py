"""The SamplerV2 wire format the IBM Quantum Compute Service takes and returns
(PUBs as OpenQASM 3; per-register samples as hex strings) — no SDK needed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def sampler_input(qasm_circuits: Sequence[str], shots: int, seed: int | None = None) -> str:
    options: dict[str, Any] = {}
    if seed is not None:
        options["simulator"] = {"seed_simulator": seed}
    doc = {
        "pubs": [[q, None, shots] for q in qasm_circuits],
        "shots": shots,
        "options": options,
        "version": 2,
        "support_qiskit": False,
    }
    return json.dumps(doc)


def counts_per_pub(result: dict[str, Any], register: str | None = None) -> list[dict[str, int]]:
    """One ``{bitstring: count}`` per PUB; bit 0 is the rightmost character."""
    out = []
    for pub in result.get("results", []):
        data = pub.get("data", {})
        name = register or (next(iter(data)) if data else None)
        if name is None or name not in data:
            raise ValueError(f"result has no register {register!r}; registers: {sorted(data)}")
        reg = data[name]
        width = int(reg["num_bits"])
        counts: dict[str, int] = {}
        for sample in reg["samples"]:
            key = format(int(sample, 16), f"0{width}b")
            counts[key] = counts.get(key, 0) + 1
        out.append(counts)
    return out
