"""The benchmark programs. Each takes an open QPU and returns a JSON-able result:
``{"benchmark", "qpu", "value", "detail"}``. Judging ``value`` against the site's
thresholds is the controller's job (the thresholds live in the site model)."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from acceptance.node import circuits, ising, stats
from acceptance.node.qpu import (
    Qpu,
    QpuError,
    held,
    iqm_coupler,
    pulser_device_or_none,
    run_iqm_circuits,
    run_pulser,
    run_sampler,
)
from acceptance.node.samples import counts_per_pub, sampler_input

Result = dict[str, Any]


def _need(qpu: Qpu, kind: str, benchmark: str) -> None:
    if qpu.kind != kind:
        raise QpuError(f"{benchmark} needs a {'gate-based (IBM API)' if kind == 'ibm' else 'Pulser'} QPU; "
                       f"{qpu.name} is {qpu.type}")


def _sample(qpu: Qpu, qcs: list[Any], shots: int, seed: int | None) -> list[dict[str, int]]:
    return counts_per_pub(run_sampler(qpu, sampler_input([circuits.to_qasm(c) for c in qcs], shots, seed)))


def _builder_device(advertised: Any) -> Any:
    """Sequences are built against the device the QPU advertises; without one, against Pulser's
    AnalogDevice (one global Rydberg channel) — the service checks them against its own device."""
    if advertised is not None:
        return advertised
    from pulser.devices import AnalogDevice

    return AnalogDevice


def _pi_pulse_sequence(device: Any) -> str:
    from pulser import Pulse, Register, Sequence

    reg = Register.from_coordinates([(0.0, 0.0)], prefix="q")
    seq = Sequence(reg, _builder_device(device))
    seq.declare_channel("ryd", "rydberg_global")
    omega = math.pi  # rad/µs; 1000 ns gives area π
    seq.add(Pulse.ConstantPulse(duration=1000, amplitude=omega, detuning=0, phase=0), "ryd")
    return str(seq.to_abstract_repr())


def iqm_bell(a: str, b: str) -> dict[str, Any]:
    """A Bell pair in IQM's native operations (prx angle/phase in radians, cz, measure): Ry(π/2) on a,
    then CNOT(a→b) as Ry(-π/2) · CZ · Ry(π/2) on b."""
    half = math.pi / 2

    def ry(q: str, angle: float) -> dict[str, Any]:
        return {"name": "prx", "locus": [q], "args": {"angle": angle, "phase": half}}

    return {"name": "bell", "instructions": [
        ry(a, half), ry(b, -half), {"name": "cz", "locus": [a, b], "args": {}}, ry(b, half),
        {"name": "measure", "locus": [a, b], "args": {"key": "m"}},
    ]}


def probe(qpu: Qpu, shots: int = 500, seed: int | None = None) -> Result:
    """Smallest correct-answer test: a Bell pair (gate-based) or a π pulse on one atom (analog)."""
    with held(qpu):
        if qpu.kind == "ibm":
            bell = circuits.ghz_population_circuit(2)
            counts = _sample(qpu, [bell], shots, seed)[0]
            value = stats.ghz_populations(counts, 2)
            expect = "P(00)+P(11)"
        elif qpu.kind == "pasqal":
            counts = run_pulser(qpu, _pi_pulse_sequence(pulser_device_or_none(qpu)), shots)
            value = counts.get("1", 0) / max(1, sum(counts.values()))
            expect = "P(1) after a π pulse"
        elif qpu.kind == "iqm":
            a, b = iqm_coupler(qpu)
            counts = {str(k): int(v) for k, v in run_iqm_circuits(qpu, [iqm_bell(a, b)], shots)[0]["counts"].items()}
            value = stats.ghz_populations(counts, 2)
            expect = f"P(00)+P(11) on {a}-{b}"
        else:
            raise QpuError(f"no probe for QPU type {qpu.type}")
    return {"benchmark": "probe", "qpu": qpu.name, "value": value, "detail": {"counts": counts, "measure": expect}}


def hybrid(qpu: Qpu, tasks: int = 4, pause_s: float = 2.0, shots: int = 200, seed: int | None = None) -> Result:
    """A variational-shaped job: ``tasks`` quantum tasks (a Bell pair each) with a classical phase of
    ``pause_s`` seconds between them, on the job's one acquisition. Value: the worst task's
    P(00)+P(11); detail: each task's wall-clock interval (epoch seconds, submit to result) and value."""
    _need(qpu, "ibm", "the hybrid job")
    bell = circuits.ghz_population_circuit(2)
    runs: list[dict[str, Any]] = []
    with held(qpu):
        for i in range(tasks):
            if i:
                time.sleep(pause_s)  # the classical phase: the QPU is free for other jobs' tasks
            started = time.time()
            counts = _sample(qpu, [bell], shots, None if seed is None else seed + i)[0]
            runs.append({"started": started, "ended": time.time(),
                         "value": stats.ghz_populations(counts, 2), "counts": counts})
    return {"benchmark": "hybrid", "qpu": qpu.name, "value": min(r["value"] for r in runs),
            "detail": {"tasks": runs, "pause_s": pause_s, "shots": shots}}


def ghz(qpu: Qpu, n_qubits: int = 4, shots: int = 1000, seed: int | None = None) -> Result:
    _need(qpu, "ibm", "GHZ fidelity")
    phases = stats.ghz_phases(n_qubits)
    qcs = [circuits.ghz_population_circuit(n_qubits)] + [circuits.ghz_parity_circuit(n_qubits, ph) for ph in phases]
    with held(qpu):
        counts = _sample(qpu, qcs, shots, seed)
    populations = stats.ghz_populations(counts[0], n_qubits)
    parities = [stats.parity_expectation(c) for c in counts[1:]]
    coherence = stats.ghz_coherence(parities, phases, n_qubits)
    fidelity = stats.ghz_fidelity(populations, coherence)
    return {"benchmark": "ghz_fidelity", "qpu": qpu.name, "value": fidelity,
            "detail": {"n_qubits": n_qubits, "populations": populations, "coherence": coherence,
                       "parities": parities, "phases": phases, "shots": shots}}


def quantum_volume(qpu: Qpu, max_n: int = 4, trials: int = 100, shots: int = 200, seed: int = 11) -> Result:
    _need(qpu, "ibm", "Quantum Volume")
    rng = np.random.default_rng(seed)
    per_n = {}
    achieved = 1
    with held(qpu):
        for n in range(2, max_n + 1):
            models = [circuits.qv_model_circuit(n, rng) for _ in range(trials)]
            heavy = [stats.heavy_outputs(circuits.ideal_probabilities(m)) for m in models]
            measured = []
            for m in models:
                m = m.copy()
                m.measure_all()
                measured.append(m)
            counts = _sample(qpu, measured, shots, int(rng.integers(2**31)))
            hops = [stats.heavy_output_fraction(c, h) for c, h in zip(counts, heavy, strict=True)]
            passed, mean, lower = stats.qv_passes(hops)
            per_n[n] = {"mean_hop": mean, "lower_bound": lower, "passed": passed, "trials": trials}
            if passed:
                achieved = 2**n
    return {"benchmark": "quantum_volume", "qpu": qpu.name, "value": achieved,
            "detail": {"per_width": per_n, "threshold_hop": stats.QV_THRESHOLD, "shots": shots}}


def mirror(qpu: Qpu, widths: list[int], depths: list[int], circuits_per_point: int = 3, shots: int = 300,
           seed: int = 5) -> Result:
    _need(qpu, "ibm", "mirror circuits")
    rng = np.random.default_rng(seed)
    points = [(w, d) for w in widths for d in depths]
    mirrors = [circuits.mirror_circuit(w, d, rng) for (w, d) in points for _ in range(circuits_per_point)]
    with held(qpu):
        counts = _sample(qpu, [m.circuit for m in mirrors], shots, int(rng.integers(2**31)))
    grid: dict[str, list[float]] = {}
    for m, c in zip(mirrors, counts, strict=True):
        grid.setdefault(f"{m.width}x{m.depth}", []).append(stats.survival(c, m.expected))
    survival = {k: float(np.mean(v)) for k, v in grid.items()}
    value = float(np.mean(list(survival.values())))
    return {"benchmark": "mirror_survival", "qpu": qpu.name, "value": value,
            "detail": {"widths": widths, "depths": depths, "survival": survival, "shots": shots,
                       "circuits_per_point": circuits_per_point}}


def quench(qpu: Qpu, atoms: int = 6, spacing_um: float = 10.5, omega: float = 4.0, times_ns: list[int] | None = None,
           runs: int = 500, eps: float = 0.0, eps_prime: float = 0.0, c6: float | None = None) -> Result:
    """MBQS-like check: quench of an Ising ring; |measured - exact| of the neighbour <ZZ>_c, worst time.
    C6 comes from the device the QPU advertises, else from ``c6`` (the site model's figure)."""
    from pulser import Pulse, Register, Sequence

    _need(qpu, "pasqal", "the Ising-ring quench")
    times_ns = times_ns or [252, 500, 752, 1000]
    with held(qpu):
        advertised = pulser_device_or_none(qpu)
        if advertised is not None:
            c6 = float(advertised.interaction_coeff)
        elif c6 is None:
            raise QpuError(f"{qpu.name} does not advertise its device and no --c6 was given: no exact reference")
        device = _builder_device(advertised)
        positions = ising.ring_positions(atoms, spacing_um)
        measured = []
        for t in times_ns:
            reg = Register.from_coordinates(positions, prefix="q")
            seq = Sequence(reg, device)
            seq.declare_channel("ryd", "rydberg_global")
            seq.add(Pulse.ConstantPulse(duration=t, amplitude=omega, detuning=0, phase=0), "ryd")
            counts = run_pulser(qpu, str(seq.to_abstract_repr()), runs)
            measured.append(ising.neighbour_zz_connected(ising.distribution_from_counts(counts, atoms), atoms))
    reference = ising.reference_correlations(atoms, spacing_um, omega, 0.0, c6, [t / 1000 for t in times_ns],
                                             eps, eps_prime)
    errors = [abs(m - r) for m, r in zip(measured, reference, strict=True)]
    return {"benchmark": "ising_quench_error", "qpu": qpu.name, "value": max(errors),
            "detail": {"atoms": atoms, "spacing_um": spacing_um, "omega_rad_us": omega, "c6": c6,
                       "c6_source": "device" if advertised is not None else "site model",
                       "times_ns": times_ns, "measured": measured, "reference": reference, "runs": runs}}


def qscore(qpu: Qpu, sizes: list[int], graphs: int = 5, shots: int = 500, seed: int = 3) -> Result:
    """Q-score-like: largest n whose p=1 QAOA MaxCut beats random assignment with beta > 0.2,
    beta = (cut_qaoa - cut_random) / (cut_max - cut_random), averaged over random graphs."""
    _need(qpu, "ibm", "Q-score")
    rng = np.random.default_rng(seed)
    per_n = {}
    score = 0
    with held(qpu):
        for n in sizes:
            betas = []
            for _ in range(graphs):
                edges = circuits.random_graph(n, rng)
                gamma, beta, _ideal = circuits.best_qaoa_angles(n, edges)
                counts = _sample(qpu, [circuits.qaoa_circuit(n, edges, gamma, beta)], shots, None)[0]
                cut = sum(circuits.cut_value(b, edges) * c for b, c in counts.items()) / sum(counts.values())
                random_cut = len(edges) / 2
                best = circuits.max_cut(n, edges)
                betas.append((cut - random_cut) / (best - random_cut) if best > random_cut else 0.0)
            mean_beta = float(np.mean(betas))
            per_n[n] = {"beta": mean_beta, "graphs": graphs}
            if mean_beta > 0.2:
                score = n
    return {"benchmark": "qscore", "qpu": qpu.name, "value": score, "detail": {"per_size": per_n, "shots": shots}}
