"""Size checks that run before anything is built from a submission.

A job's input can declare far more than it weighs: 88 bytes of OpenQASM 3 can
declare twenty million qubits, a few MB of zlib can inflate to gigabytes, and a
short Pulser sequence can ask for seconds of samples. Every check here reads
only the text or the bytes' headers (never a circuit, never a sequence), so an
oversized declaration is refused with a 400 before an importer allocates
anything for it. The importers then run in checker processes under a memory
limit (see checker.py) as a second line.
"""

from __future__ import annotations

import json
import math
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from qpu_emulator.errors import ApiError

# Digits allowed in any integer literal that sizes something (a register, a shot count).
MAX_SIZE_DIGITS = 9


@dataclass(frozen=True)
class Bounds:
    """The limits one submission is checked against (the twin's and the service's)."""

    num_qubits: int
    max_clbits: int
    max_instructions: int
    max_inflated_bytes: int


# -- bounded decompression --------------------------------------------------------------------


def inflate(data: bytes, limit: int, what: str, *, wbits: int = zlib.MAX_WBITS) -> bytes:
    """zlib/gzip data inflated incrementally, refusing (400) as soon as it passes `limit` bytes."""
    inflater = zlib.decompressobj(wbits=wbits)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise ApiError(400, f"{what} is not valid compressed data.") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise ApiError(400, f"{what} inflates to more than the {limit} bytes allowed.")
    return out


def maybe_inflate(data: bytes, limit: int, what: str) -> bytes:
    """zlib data inflated with a bound; data that is not zlib is returned as is (clients differ)."""
    if len(data) >= 2 and data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0:
        return inflate(data, limit, what)
    if len(data) > limit:
        raise ApiError(400, f"{what} is larger than the {limit} bytes allowed.")
    return data


# -- OpenQASM 3 / 2 declarations ------------------------------------------------------------------

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_STRINGS = re.compile(r'"[^"\n]*"')
# A declaration starts a statement: after ';', '{', '}' or at the start of the text. Subroutine
# parameters (`def f(qubit[2] a)`) follow '(' or ',' and are not declarations.
_STMT = r"(?:^|(?<=[;{}]))\s*"
_QUBIT_DECL = re.compile(_STMT + r"qubit\s*(?:\[\s*([^\]]*?)\s*\])?\s+[A-Za-z_]\w*\s*;")
_QREG_DECL = re.compile(_STMT + r"qreg\s+[A-Za-z_]\w*\s*(?:\[\s*([^\]]*?)\s*\])?\s*;")
_BIT_DECL = re.compile(_STMT + r"(?:(?:input|output)\s+)?bit\s*(?:\[\s*([^\]]*?)\s*\])?\s+[A-Za-z_]\w*\s*(?:=[^;]*)?;")
_CREG_DECL = re.compile(_STMT + r"creg\s+[A-Za-z_]\w*\s*(?:\[\s*([^\]]*?)\s*\])?\s*;")
_ANY_QUBIT_WORD = re.compile(r"\b(?:qubit|qreg)\b")
_PHYSICAL = re.compile(r"\$(\d+)")
_DEF_SIGNATURE = re.compile(r"\bdef\s+[A-Za-z_]\w*\s*\([^)]*\)")


def _size(designator: str | None, what: str, where: str) -> int:
    if designator is None:
        return 1
    if not re.fullmatch(r"\d+", designator):
        raise ApiError(400, f"{where}: {what} sizes must be integer literals, got [{designator[:40]}].")
    if len(designator) > MAX_SIZE_DIGITS:
        raise ApiError(400, f"{where}: a {what} of {designator[:20]}... is far larger than this backend allows.")
    return int(designator)


def check_qasm_text(text: str, bounds: Bounds, where: str) -> None:
    """Refuse OpenQASM whose declared qubits, bits or statements exceed the bounds, from the text alone."""
    body = _STRINGS.sub('""', _COMMENTS.sub(" ", text))
    qubits = 0
    declared = 0
    for m in _QUBIT_DECL.finditer(body):
        qubits += _size(m.group(1), "qubit register", where)
        declared += 1
    for m in _QREG_DECL.finditer(body):
        qubits += _size(m.group(1), "qreg", where)
        declared += 1
    if len(_ANY_QUBIT_WORD.findall(_DEF_SIGNATURE.sub(" ", body))) > declared:
        # `qubit`/`qreg` used in a form the declaration patterns do not recognise: refuse rather than guess.
        raise ApiError(
            400, f"{where}: OpenQASM 3: a qubit declaration could not be read; declare `qubit[N] name;`, N a literal."
        )
    physical = [_size(n, "physical qubit index", where) for n in _PHYSICAL.findall(body)]
    if physical:
        qubits = max(qubits, max(physical) + 1)
    if qubits > bounds.num_qubits:
        raise ApiError(
            400,
            f"{where}: the circuit declares {qubits} qubits but this backend has {bounds.num_qubits}.",
            solution="Transpile the circuit for this backend's target.",
        )
    clbits = sum(_size(m.group(1), "bit register", where) for m in _BIT_DECL.finditer(body))
    clbits += sum(_size(m.group(1), "creg", where) for m in _CREG_DECL.finditer(body))
    if clbits > bounds.max_clbits:
        raise ApiError(400, f"{where}: the circuit declares {clbits} classical bits; at most {bounds.max_clbits}.")
    statements = body.count(";")
    if statements > bounds.max_instructions:
        raise ApiError(
            400, f"{where}: the circuit has {statements} statements; at most {bounds.max_instructions} are accepted."
        )


# -- QPY headers -------------------------------------------------------------------------------------

_QPY_FILE_HEADER = "!6sBBBBQ"
_QPY_FILE_HEADER_V10 = "!6sBBBBQc"
_QPY_CIRCUIT_HEADER = "!HdIIQIQ"  # version 1
_QPY_CIRCUIT_HEADER_V2 = "!H1cHIIQIQ"  # versions 2..11 (12+ add a trailing field)
_QPY_MIN_VERSION, _QPY_MAX_VERSION = 5, 18


def check_qpy_header(data: bytes, bounds: Bounds, where: str) -> None:
    """Refuse a QPY payload whose headers declare more than the bounds (one circuit, its qubits,
    clbits, instructions, metadata), reading the headers only."""
    try:
        if data[:6] != b"QISKIT" or len(data) < 8:
            raise ApiError(400, f"{where}: the QPY payload does not start with a QPY header.")
        version = data[6]
        if not _QPY_MIN_VERSION <= version <= _QPY_MAX_VERSION:
            raise ApiError(
                400, f"{where}: QPY version {version} is not accepted (use {_QPY_MIN_VERSION}..{_QPY_MAX_VERSION})."
            )
        fmt = _QPY_FILE_HEADER_V10 if version >= 10 else _QPY_FILE_HEADER
        num_programs = struct.unpack_from(fmt, data, 0)[5]
        offset = struct.calcsize(fmt)
        if num_programs != 1:
            raise ApiError(400, f"{where}: the QPY payload holds {num_programs} programs; a PUB takes one circuit.")
        if data[offset : offset + 1] != b"q":
            raise ApiError(400, f"{where}: the QPY payload does not hold a circuit.")
        offset += 1
        if version >= 16:
            offset = struct.unpack_from("!Q", data, offset)[0]
        fields = struct.unpack_from(_QPY_CIRCUIT_HEADER_V2, data, offset)
        _, _, _, num_qubits, num_clbits, metadata_size, num_registers, num_instructions = fields
    except struct.error:
        raise ApiError(400, f"{where}: the QPY payload is truncated.") from None
    if num_qubits > bounds.num_qubits:
        raise ApiError(
            400,
            f"{where}: the circuit uses {num_qubits} qubits but this backend has {bounds.num_qubits}.",
            solution="Transpile the circuit for this backend's target.",
        )
    if num_clbits > bounds.max_clbits:
        raise ApiError(400, f"{where}: the circuit has {num_clbits} classical bits; at most {bounds.max_clbits}.")
    if num_instructions > bounds.max_instructions:
        raise ApiError(
            400, f"{where}: the circuit has {num_instructions} instructions; at most {bounds.max_instructions}."
        )
    if metadata_size > len(data) or num_registers > num_qubits + num_clbits + 16:
        raise ApiError(400, f"{where}: the QPY header declares more than the payload holds.")


# -- numpy arrays (parameter values) ---------------------------------------------------------------


def check_npy_header(data: bytes, limit: int, where: str) -> None:
    """Refuse an .npy payload whose header declares more than `limit` bytes of data."""
    import io

    import numpy as np

    try:
        buf = io.BytesIO(data)
        major, _ = np.lib.format.read_magic(buf)
        if major == 1:
            shape, _, dtype = np.lib.format.read_array_header_1_0(buf, max_header_size=10_000)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(buf, max_header_size=10_000)
    except (ValueError, OSError):
        raise ApiError(400, f"{where}: parameter values could not be decoded.") from None
    if dtype.hasobject:
        raise ApiError(400, f"{where}: parameter values must be numbers.")
    size = math.prod(int(n) for n in shape) * dtype.itemsize
    if size > limit or size > len(data):
        raise ApiError(400, f"{where}: parameter values declare {size} bytes; at most {min(limit, len(data))}.")


# -- Pulser sequences ---------------------------------------------------------------------------------

# Keys whose numbers are times (ns) in Pulser's abstract representation.
_TIME_KEYS = {"duration", "time", "t", "max_duration", "total_duration"}


def _walk(node: Any, depth: int = 0) -> Any:
    if depth > 64:
        raise ApiError(400, "The sequence is nested too deeply.")
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from _walk(v, depth + 1)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, depth + 1)


def check_sequence_text(text: str, variables: Any, max_atoms: int, max_duration_ns: int) -> None:
    """Refuse a Pulser abstract representation whose register or any duration exceeds the
    device's limits, reading the JSON only (no Sequence is built)."""
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "sequence_builder is not valid JSON (Pulser's abstract representation).") from None
    if not isinstance(doc, dict):
        raise ApiError(400, "sequence_builder must be a JSON object (Pulser's abstract representation).")
    register = doc.get("register")
    if isinstance(register, list) and len(register) > max_atoms:
        raise ApiError(400, f"The register has {len(register)} atoms but the device holds at most {max_atoms}.")
    layout = doc.get("layout")
    traps = layout.get("coordinates") if isinstance(layout, dict) else None
    if isinstance(traps, list) and len(traps) > 16 * max_atoms:
        raise ApiError(400, f"The register layout has {len(traps)} traps; too many for the device.")
    total = 0.0
    # Only what the sequence does counts: the embedded device's own limits (`device`) are not durations.
    for key, value in _walk(doc.get("operations") or []):
        if key in _TIME_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
            if value > max_duration_ns:
                raise ApiError(
                    400, f"The sequence asks for {key}={value} ns; the device allows at most {max_duration_ns} ns."
                )
            total += max(0.0, float(value))
        if key == "samples" and isinstance(value, list) and len(value) > max_duration_ns:
            raise ApiError(400, f"A waveform has {len(value)} samples; the device allows at most {max_duration_ns} ns.")
    # Durations add up per channel; with amplitude and detuning waveforms each pulse counts twice at most.
    if total > 2 * max_duration_ns * max(1, len(doc.get("channels") or {})) + max_duration_ns:
        raise ApiError(
            400, f"The sequence's durations add up to {total:.0f} ns; the device allows {max_duration_ns} ns."
        )
    declared = doc.get("variables")
    for name, spec in declared.items() if isinstance(declared, dict) else []:
        values = spec.get("value") if isinstance(spec, dict) else None
        if isinstance(values, list) and len(values) > 1000:
            raise ApiError(400, f"Variable {name!r} is declared with {len(values)} values; at most 1000.")
    check_variables(variables, max_duration_ns)


def check_variables(variables: Any, max_duration_ns: int) -> None:
    """Variables of a parametrised sequence: finite numbers (or short lists of them), each at most
    the device's longest duration in size, so none can stretch a pulse past the device."""
    if variables is None:
        return
    if not isinstance(variables, dict):
        raise ApiError(400, "jobs[].variables must be a JSON object.")
    for name, value in variables.items():
        values = value if isinstance(value, list) else [value]
        if len(values) > 1000:
            raise ApiError(400, f"Variable {name!r} has {len(values)} values; at most 1000.")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ApiError(400, f"Variable {name!r} must be a finite number or a list of them.")
            if abs(v) > max_duration_ns:
                raise ApiError(400, f"Variable {name!r}={v} is larger than any value the device accepts.")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")
