"""Primitive results in qiskit-ibm-runtime's JSON encoding (``support_qiskit``)."""

from __future__ import annotations

from typing import Any


def encode_primitive_result(results: list[Any], program: str) -> str:
    raise NotImplementedError("support_qiskit results are not implemented yet")
