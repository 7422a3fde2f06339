"""SamplerV2 / EstimatorV2 inputs as the IBM API takes them (PUBs with OpenQASM 3
circuits): checking them at submission, and executing them on qiskit-aer.

Checking happens in the API process so bad input is refused with a 4xx before a
job exists; execution happens in a worker process (see workers.py).
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qpu_emulator import limits
from qpu_emulator.config import Twin
from qpu_emulator.errors import ApiError

DEFAULT_SHOTS = 4096  # IBM's default when neither the PUB nor the options give shots
DEFAULT_PRECISION = 0.015625
MAX_PUBS = 300


@dataclass
class Pub:
    qasm: Any  # OpenQASM 3 text, or an encoded QPY circuit
    parameter_values: Any = None
    shots: int = 0  # sampler
    observables: Any = None  # estimator
    precision: float = 0.0  # estimator


@dataclass
class PrimitiveInput:
    program: str
    pubs: list[Pub]
    support_qiskit: bool = False
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def total_shots(self) -> int:
        return sum(p.shots for p in self.pubs)


# Only the reference importer (qiskit-qasm3-import). Qiskit's native importer
# (`loads_experimental`) rejects what transpiled circuits commonly contain (`ecr`,
# constant expressions such as `pi/2`). Circuits are only ever built in a checker or
# worker process, one request at a time (see checker.py): never in the API process.
_QASM_LOCK = threading.Lock()

# How many bytes a compressed QPY circuit or ndarray may inflate to when no bounds are given.
DEFAULT_BOUNDS = limits.Bounds(num_qubits=64, max_clbits=1024, max_instructions=100_000, max_inflated_bytes=16 << 20)


def parse_qasm(text: str) -> Any:
    """OpenQASM 3 to a circuit with Qiskit's reference importer."""
    from qiskit import qasm3

    with _QASM_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return qasm3.loads(text)


def _b64(value: str, bounds: limits.Bounds, what: str) -> bytes:
    import base64
    import binascii

    if len(value) > 4 * (bounds.max_inflated_bytes // 3 + 1):
        raise ApiError(400, f"{what} is larger than the {bounds.max_inflated_bytes} bytes allowed.")
    try:
        return base64.standard_b64decode(value)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{what} is not valid base64.") from None


def _unpack(value: str, bounds: limits.Bounds = DEFAULT_BOUNDS, what: str = "the payload") -> bytes:
    """base64, then zlib if compressed (qiskit-ibm-runtime compresses; tolerate clients that do not),
    never inflating past the bounds."""
    return limits.maybe_inflate(_b64(value, bounds, what), bounds.max_inflated_bytes, what)


def qpy_bytes(item: dict[str, Any], bounds: limits.Bounds, where: str) -> bytes:
    """The QPY bytes of an encoded circuit, inflated with a bound and with headers within the bounds."""
    data = _unpack(item["__value__"], bounds, f"{where}: the QPY circuit")
    limits.check_qpy_header(data, bounds, where)
    return data


def is_qpy(item: Any) -> bool:
    return (
        isinstance(item, dict) and item.get("__type__") == "QuantumCircuit" and isinstance(item.get("__value__"), str)
    )


def prescan_circuit(item: Any, bounds: limits.Bounds, where: str) -> None:
    """Sizes a PUB's circuit declares, from its text or QPY headers: nothing is built."""
    if isinstance(item, str):
        limits.check_qasm_text(item, bounds, where)
    elif is_qpy(item):
        qpy_bytes(item, bounds, where)


def load_circuit(item: Any, bounds: limits.Bounds = DEFAULT_BOUNDS, where: str = "circuit") -> Any:
    """A PUB's circuit: an OpenQASM 3 string (QRMI), or a QPY-encoded circuit as
    qiskit-ibm-runtime sends it (``{"__type__": "QuantumCircuit", "__value__": base64}``).
    Declared sizes are checked against the bounds before anything is built."""
    if isinstance(item, str):
        limits.check_qasm_text(item, bounds, where)
        circuit = parse_qasm(item)
    elif is_qpy(item):
        import io

        from qiskit import qpy

        data = qpy_bytes(item, bounds, where)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            circuits = qpy.load(io.BytesIO(data))
        if len(circuits) != 1:
            raise ValueError(f"expected one circuit in the QPY payload, found {len(circuits)}")
        circuit = circuits[0]
    else:
        raise TypeError("not an OpenQASM 3 string or a QPY-encoded circuit")
    if len(circuit.data) > bounds.max_instructions:
        raise ApiError(
            400, f"{where}: the circuit has {len(circuit.data)} instructions; at most {bounds.max_instructions}."
        )
    if circuit.num_clbits > bounds.max_clbits:
        raise ApiError(
            400, f"{where}: the circuit has {circuit.num_clbits} classical bits; at most {bounds.max_clbits}."
        )
    return circuit


def decode_array(value: Any, bounds: limits.Bounds = DEFAULT_BOUNDS, where: str = "params") -> Any:
    """Parameter values: plain nested lists, or an encoded ndarray (``{"__type__": "ndarray"}``)."""
    if isinstance(value, dict) and value.get("__type__") == "ndarray":
        inner = value.get("__value__")
        if isinstance(inner, str):
            import io

            data = _unpack(inner, bounds, f"{where}: parameter values")
            limits.check_npy_header(data, bounds.max_inflated_bytes, where)
            return np.load(io.BytesIO(data), allow_pickle=False)
        return np.asarray(inner)
    return value


def _opt(options: dict[str, Any], *path: str) -> Any:
    cur: Any = options
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ApiError(400, f"{what} must be a positive integer, got {value!r}.")
    return value


def _precision(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ApiError(400, f"{what} must be a finite non-negative number, got {value!r}.")
    if 0 < value < 1e-4:
        raise ApiError(400, f"{what} {value!r} would need more shots than any backend runs; use at least 1e-4.")
    return float(value)


def bounds_for(twin: Twin, max_clbits: int, max_instructions: int, max_inflated_bytes: int) -> limits.Bounds:
    return limits.Bounds(twin.num_qubits, max_clbits, max_instructions, max_inflated_bytes)


def check_input(
    program: str, params: Any, twin: Twin, bounds: limits.Bounds | None = None, *, build: bool = True
) -> PrimitiveInput:
    """Validate a primitive's params against the twin; raises ApiError(400) naming the problem.

    With ``build=False`` (the API process) only what can be read without building a
    circuit is checked: the shape, shots, precision, and every size a circuit declares.
    With ``build=True`` (a checker process) the circuits are built and checked too."""
    bounds = bounds or bounds_for(
        twin, DEFAULT_BOUNDS.max_clbits, DEFAULT_BOUNDS.max_instructions, DEFAULT_BOUNDS.max_inflated_bytes
    )
    if program not in ("sampler", "estimator"):
        raise ApiError(400, f"Unknown program_id {program!r}: this emulator runs 'sampler' and 'estimator'.")
    if not isinstance(params, dict):
        raise ApiError(400, "params must be a JSON object with a 'pubs' list.")
    pubs_in = params.get("pubs")
    if not isinstance(pubs_in, list) or not pubs_in:
        raise ApiError(400, "params.pubs must be a non-empty list of PUBs.")
    if len(pubs_in) > MAX_PUBS:
        raise ApiError(400, f"params.pubs has {len(pubs_in)} PUBs; at most {MAX_PUBS} are accepted.")
    options = params.get("options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "params.options must be a JSON object.")
    seed = _opt(options, "simulator", "seed_simulator")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise ApiError(400, "params.options.simulator.seed_simulator must be an integer in [0, 2**63).")
    default_shots = params.get("shots") or options.get("default_shots") or DEFAULT_SHOTS
    default_precision = params.get("precision") or options.get("default_precision") or DEFAULT_PRECISION
    pubs = []
    for i, raw in enumerate(pubs_in):
        where = f"params.pubs[{i}]"
        items = [raw] if isinstance(raw, str | dict) else raw
        if not isinstance(items, list) or not items or not isinstance(items[0], str | dict):
            raise ApiError(400, f"{where} must be a list starting with an OpenQASM 3 string.")
        qasm = items[0]
        if not isinstance(qasm, str) and not is_qpy(qasm):
            raise ApiError(400, f"{where}: the circuit must be an OpenQASM 3 string or a QPY-encoded circuit.")
        prescan_circuit(qasm, bounds, where)
        circuit = None
        if build:
            try:
                circuit = load_circuit(qasm, bounds, where)
            except (ApiError, MemoryError, RecursionError):
                raise
            except Exception as exc:  # the importers raise several types; all mean bad input here
                what = "OpenQASM 3" if isinstance(qasm, str) else "the QPY circuit"
                raise ApiError(400, f"{where}: {what} could not be parsed: {str(exc).strip()[:300]}") from None
            if circuit.num_qubits > twin.num_qubits:
                raise ApiError(
                    400,
                    f"{where}: the circuit uses {circuit.num_qubits} qubits but {twin.backend_name} has "
                    f"{twin.num_qubits}.",
                    solution="Transpile the circuit for this backend's target.",
                )
        if program == "sampler":
            if len(items) > 3:
                raise ApiError(400, f"{where}: a sampler PUB is [circuit, parameter_values, shots].")
            values = items[1] if len(items) > 1 else None
            shots = _positive_int(
                items[2] if len(items) > 2 and items[2] is not None else default_shots, f"{where} shots"
            )
            if shots > twin.max_shots:
                raise ApiError(400, f"{where}: {shots} shots exceed the {twin.max_shots} {twin.backend_name} accepts.")
            if circuit is not None and circuit.num_clbits == 0:
                raise ApiError(400, f"{where}: the circuit measures nothing; a sampler PUB needs measurements.")
            checked = _check_values(values, circuit, where, bounds) if circuit is not None else values
            pub = Pub(qasm, checked, shots=shots)
        else:
            if len(items) < 2 or len(items) > 4:
                raise ApiError(
                    400, f"{where}: an estimator PUB is [circuit, observables, parameter_values, precision]."
                )
            values = items[2] if len(items) > 2 else None
            precision = _precision(
                items[3] if len(items) > 3 and items[3] is not None else default_precision, f"{where} precision"
            )
            pub = Pub(
                qasm,
                _check_values(values, circuit, where, bounds) if circuit is not None else values,
                observables=_check_observables(items[1], circuit, where) if circuit is not None else items[1],
                precision=precision,
            )
            pub.shots = int(min(twin.max_shots, max(1, round(1 / precision**2)))) if precision > 0 else 0
        pubs.append(pub)
    return PrimitiveInput(program, pubs, bool(params.get("support_qiskit", False)), seed, options)


def _check_values(values: Any, circuit: Any, where: str, bounds: limits.Bounds = DEFAULT_BOUNDS) -> Any:
    n = circuit.num_parameters
    try:
        values = decode_array(values, bounds, where)
    except ApiError:
        raise
    except Exception:  # a broken encoding is bad input like any other
        raise ApiError(400, f"{where}: parameter values could not be decoded.") from None
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if n == 0 and (values is None or np.size(values) == 0):
        return None
    if values is None or values == []:
        if n:
            raise ApiError(400, f"{where}: the circuit has {n} parameters but no parameter values were given.")
        return None
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ApiError(400, f"{where}: parameter values must be a (nested) list of numbers.") from None
    if not np.all(np.isfinite(arr)):
        raise ApiError(400, f"{where}: parameter values must be finite numbers (no NaN or infinity).")
    if arr.ndim == 0 or arr.shape[-1] != n:
        raise ApiError(
            400, f"{where}: parameter values have last dimension {arr.shape[-1:]} but the circuit has {n} parameters."
        )
    return arr.tolist()


def _check_observables(obs: Any, circuit: Any, where: str) -> Any:
    from qiskit.primitives.containers.observables_array import ObservablesArray

    try:
        arr = ObservablesArray.coerce(obs)
    except Exception as exc:  # coerce raises ValueError/TypeError/QiskitError for bad shapes
        raise ApiError(400, f"{where}: observables are not valid: {str(exc)[:200]}") from None
    if arr.num_qubits != circuit.num_qubits:
        raise ApiError(
            400, f"{where}: observables act on {arr.num_qubits} qubits, the circuit has {circuit.num_qubits}."
        )
    return obs


# -- execution (worker side) ---------------------------------------------------


class TwinRuntime:
    """Per-twin objects worth keeping between jobs in one worker."""

    def __init__(self, twin: Twin) -> None:
        from qpu_emulator import ibm_twin

        self.twin = twin
        # The input was checked against the service's bounds already (check_input); only the twin's qubits hold here.
        self.bounds = limits.Bounds(twin.num_qubits, 1 << 30, 1 << 30, 1 << 30)
        self.target = ibm_twin.build_target(twin)
        self.noise_model = ibm_twin.build_noise_model(twin)

    def backend_options(self) -> dict[str, Any]:
        return {"noise_model": self.noise_model} if self.noise_model is not None else {}

    def to_isa(self, circuit: Any) -> Any:
        """The circuit as the twin runs it: unchanged if it is already ISA, else transpiled."""
        if _is_isa(circuit, self.target):
            return circuit
        from qiskit import transpile

        return transpile(circuit, target=self.target, optimization_level=1, seed_transpiler=1234)


def _is_isa(circuit: Any, target: Any) -> bool:
    if circuit.num_qubits > target.num_qubits:
        return False
    for inst in circuit.data:
        name = inst.operation.name
        if name == "barrier":
            continue
        qargs = tuple(circuit.find_bit(q).index for q in inst.qubits)
        if not target.instruction_supported(name, qargs):
            return False
    return True


def _hex_samples(bitarray: Any) -> Any:
    """Per-shot values of a BitArray as IBM's hex strings, nested like the PUB's shape."""
    arr = np.asarray(bitarray.array, dtype=np.uint64)
    ints = np.zeros(arr.shape[:-1], dtype=np.uint64)
    for i in range(arr.shape[-1]):  # bytes are big-endian
        ints = (ints << np.uint64(8)) | arr[..., i]
    return np.vectorize(lambda v: hex(int(v)), otypes=[object])(ints).tolist() if ints.size else []


def run_sampler(rt: TwinRuntime, inp: PrimitiveInput) -> tuple[dict[str, Any], list[Any]]:
    from qiskit_aer.primitives import SamplerV2

    run_options: dict[str, Any] = {}
    if inp.seed is not None:
        run_options["seed_simulator"] = inp.seed
    sampler = SamplerV2(options={"backend_options": rt.backend_options(), "run_options": run_options})
    aer_pubs = [(rt.to_isa(load_circuit(p.qasm, rt.bounds)), p.parameter_values, p.shots) for p in inp.pubs]
    result = sampler.run(aer_pubs).result()
    out = []
    for pub_result, pub in zip(result, inp.pubs, strict=True):
        data = {}
        for name in pub_result.data:
            bits = pub_result.data[name]
            data[name] = {"samples": _hex_samples(bits), "num_bits": bits.num_bits}
        out.append({"data": data, "metadata": {"circuit_metadata": {}, "shots": pub.shots}})
    doc = {"results": out, "metadata": {"execution": {"execution_spans": []}, "version": 2}}
    return doc, list(result)


def run_estimator(rt: TwinRuntime, inp: PrimitiveInput) -> tuple[dict[str, Any], list[Any]]:
    from qiskit.primitives.containers.observables_array import ObservablesArray
    from qiskit.quantum_info import SparsePauliOp
    from qiskit_aer.primitives import EstimatorV2

    run_options: dict[str, Any] = {}
    if inp.seed is not None:
        run_options["seed_simulator"] = inp.seed
    out = []
    results = []
    for pub in inp.pubs:
        estimator = EstimatorV2(
            options={
                "backend_options": rt.backend_options(),
                "run_options": run_options,
                "default_precision": pub.precision,
            }
        )
        original = load_circuit(pub.qasm, rt.bounds)
        circuit = rt.to_isa(original)
        observables = ObservablesArray.coerce(pub.observables)
        # Observables follow the circuit's qubits: map them only when we transpiled here
        # (a client that sent an ISA circuit has already applied its layout).
        layout = circuit.layout if circuit is not original else None
        mapped = np.empty(observables.shape, dtype=object)
        for idx in np.ndindex(observables.shape):
            op = SparsePauliOp.from_list(list(observables[idx].items()) or [("I" * observables.num_qubits, 0.0)])
            mapped[idx] = op.apply_layout(layout) if layout is not None else op
        obs_arg = mapped.tolist() if mapped.shape else mapped[()]
        res = estimator.run([(circuit, obs_arg, pub.parameter_values)]).result()[0]
        results.append(res)
        evs = np.asarray(res.data.evs).tolist()
        stds = np.asarray(res.data.stds).tolist()
        out.append(
            {
                "data": {"evs": evs, "stds": stds, "ensemble_standard_error": stds},
                "metadata": {
                    "shots": pub.shots,
                    "target_precision": pub.precision,
                    "circuit_metadata": {},
                    "resilience": {},
                    "num_randomizations": 1,
                },
            }
        )
    doc = {
        "results": out,
        "metadata": {
            "dynamical_decoupling": {"enable": False},
            "twirling": {"enable_gates": False},
            "resilience": {},
            "version": 2,
        },
    }
    return doc, results
