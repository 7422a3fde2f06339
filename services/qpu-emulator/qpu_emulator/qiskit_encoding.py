"""Primitive results in the JSON encoding qiskit-ibm-runtime decodes
(``support_qiskit: true`` jobs, e.g. from ``qrmi.primitives.ibm.SamplerV2``).

Typed objects are ``{"__type__": <name>, "__value__": ...}``; numeric arrays are
``np.save`` bytes, zlib-compressed, base64-encoded. Written from the decoder's
documented expectations; the SDK-facing tests decode it with qiskit-ibm-runtime.
"""

from __future__ import annotations

import base64
import io
import json
import zlib
from typing import Any

import numpy as np


def _ndarray(arr: np.ndarray[Any, Any]) -> dict[str, Any]:
    if arr.dtype == object:
        return {"__type__": "ndarray", "__value__": arr.tolist()}
    with io.BytesIO() as buf:
        np.save(buf, arr, allow_pickle=False)
        packed = zlib.compress(buf.getvalue())
    return {"__type__": "ndarray", "__value__": base64.standard_b64encode(packed).decode()}


def _plain(value: Any) -> Any:
    """Metadata as plain JSON: numpy scalars become numbers, anything exotic a string."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _encode(obj: Any) -> Any:
    from qiskit.primitives import BitArray, DataBin, PrimitiveResult, PubResult, SamplerPubResult

    if isinstance(obj, BitArray):
        return {"__type__": "BitArray", "__value__": {"array": _ndarray(obj.array), "num_bits": obj.num_bits}}
    if isinstance(obj, DataBin):
        return {
            "__type__": "DataBin",
            "__value__": {
                "field_names": list(obj),
                "shape": list(obj.shape),
                "fields": {k: _encode(v) for k, v in obj.items()},
            },
        }
    if isinstance(obj, np.ndarray):
        return _ndarray(obj)
    if isinstance(obj, SamplerPubResult):
        return {
            "__type__": "SamplerPubResult",
            "__value__": {"data": _encode(obj.data), "metadata": _plain(obj.metadata)},
        }
    if isinstance(obj, PubResult):
        return {"__type__": "PubResult", "__value__": {"data": _encode(obj.data), "metadata": _plain(obj.metadata)}}
    if isinstance(obj, PrimitiveResult):
        return {
            "__type__": "PrimitiveResult",
            "__value__": {"pub_results": [_encode(r) for r in obj], "metadata": _plain(obj.metadata)},
        }
    return _plain(obj)


def encode_primitive_result(results: list[Any], program: str) -> str:
    """One PrimitiveResult holding the per-PUB results a sampler/estimator run produced."""
    from qiskit.primitives import PrimitiveResult

    metadata = {"version": 2, "execution": {"execution_spans": []}} if program == "sampler" else {"version": 2}
    return json.dumps(_encode(PrimitiveResult(results, metadata=metadata)))
