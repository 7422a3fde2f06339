"""07x — benchmarks per QPU, run as Slurm jobs through ``sbatch --qpu`` by the node
programs (acceptance/node) and judged against the QPU's thresholds in the site model
(``qpus[].benchmarks``). Each records its figure for the report and the drift history."""

from __future__ import annotations

from typing import Any

from acceptance.checks import REGISTRY, params
from acceptance.checks.params import QpuParam
from acceptance.context import Context
from acceptance.results import Metric
from acceptance.scheduler import for_site
from acceptance.spec import CheckFailed, NotApplicable, Tier, check
from site_survey.model import Qpu

GHZ_WIDTH = 4
QV_MAX_WIDTH = 4
QV_TRIALS = 100
MIRROR_WIDTHS = (2, 4, 6)
MIRROR_DEPTHS = (2, 4, 8)
QSCORE_SIZES = (4, 5, 6, 7, 8)


def _qpu(ctx: Context, p: QpuParam) -> Qpu:
    qpu = ctx.site.qpu(p.qpu)
    if qpu is None:
        raise CheckFailed(f"QPU {p.qpu} is not in the site model")
    return qpu


def _run(ctx: Context, p: QpuParam, args: list[str], name: str, timeout_s: float) -> dict[str, Any]:
    job = for_site(ctx.site).run_program(ctx, [p.qpu], [[*args, "--qpu", p.qpu]], f"{name}-{p.qpu}",
                                         timeout_s=timeout_s)
    result = job.result()
    ctx.log(f"job {job.job_id} on {job.batch_host}: {result.get('benchmark')} = {result.get('value')}")
    return result


def _judge(ctx: Context, metric: Metric, unit: str = "") -> str:
    ctx.record(metric)
    figure = f"{metric.qpu} {metric.benchmark} = {metric.value:.4g}{unit}"
    if metric.threshold is None:
        return f"{figure} (reported; the model sets no threshold)"
    cmp = ">=" if metric.higher_is_better else "<="
    if not metric.meets_threshold():
        side = "below its threshold" if metric.higher_is_better else "above its limit"
        raise CheckFailed(f"{figure}: {side} ({cmp} {metric.threshold:g})")
    return f"{figure} (threshold {cmp} {metric.threshold:g})"


@check(REGISTRY, 70, "ghz_fidelity", tier=Tier.smoke, component="benchmark", expand=params.each_gate_qpu,
       benchmark="ghz_fidelity", timeout_s=240,
       proves="A 4-qubit GHZ state's fidelity (populations + parity-oscillation coherence) reaches the model's "
              "ghz_fidelity_min.")
def ghz_fidelity(ctx: Context, p: QpuParam) -> str:
    qpu = _qpu(ctx, p)
    width = min(GHZ_WIDTH, qpu.qubits)
    r = _run(ctx, p, ["ghz", "--qubits", str(width)], "ghz", 220)
    return _judge(ctx, Metric(p.qpu, "ghz_fidelity", float(r["value"]), qpu.benchmarks.ghz_fidelity_min,
                              detail=r.get("detail", {})))


@check(REGISTRY, 71, "quantum_volume", tier=Tier.l1, component="benchmark", expand=params.each_gate_qpu,
       benchmark="quantum_volume", timeout_s=600,
       proves="Quantum Volume (heavy-output probability > 2/3 at 2σ over 100 model circuits per width, n ≤ 4) "
              "reaches the model's quantum_volume_min.")
def quantum_volume(ctx: Context, p: QpuParam) -> str:
    qpu = _qpu(ctx, p)
    max_n = min(QV_MAX_WIDTH, qpu.qubits)
    if 2**max_n < qpu.benchmarks.quantum_volume_min:
        raise CheckFailed(f"quantum_volume_min {qpu.benchmarks.quantum_volume_min} needs width > {max_n}, "
                          f"beyond this suite's n <= {QV_MAX_WIDTH}")
    r = _run(ctx, p, ["qv", "--max-n", str(max_n), "--trials", str(QV_TRIALS)], "qv", 580)
    return _judge(ctx, Metric(p.qpu, "quantum_volume", float(r["value"]), float(qpu.benchmarks.quantum_volume_min),
                              detail=r.get("detail", {})))


@check(REGISTRY, 72, "mirror_survival", tier=Tier.l1, component="benchmark", expand=params.each_gate_qpu,
       benchmark="mirror_survival", timeout_s=400,
       proves="Mirror circuits over widths 2–6 and depths 2–8 return their expected bitstring; the mean "
              "survival reaches the model's mirror_survival_min.")
def mirror_survival(ctx: Context, p: QpuParam) -> str:
    qpu = _qpu(ctx, p)
    widths = sorted({min(w, qpu.qubits) for w in MIRROR_WIDTHS if w <= max(2, qpu.qubits)})
    r = _run(ctx, p, ["mirror", "--widths", ",".join(map(str, widths)),
                      "--depths", ",".join(map(str, MIRROR_DEPTHS))], "mirror", 380)
    return _judge(ctx, Metric(p.qpu, "mirror_survival", float(r["value"]), qpu.benchmarks.mirror_survival_min,
                              detail=r.get("detail", {})))


@check(REGISTRY, 73, "ising_quench", tier=Tier.l1, component="benchmark", expand=params.each_analog_qpu,
       benchmark="ising_quench_error", timeout_s=400,
       proves="MBQS-like: after quenches of a 6-atom Ising ring, the neighbour connected <ZZ> matches an exact "
              "numpy reference within the model's quench_error_max.")
def ising_quench(ctx: Context, p: QpuParam) -> str:
    qpu = _qpu(ctx, p)
    args = ["quench"]
    twin = qpu.emulator.pulser_device if qpu.emulator else None
    if twin is not None:  # compare like for like: the reference gets the twin's readout errors
        args += ["--eps", str(twin.readout_false_positive), "--eps-prime", str(twin.readout_false_negative),
                 "--c6", str(twin.interaction_coeff_rad_um6_us)]
    r = _run(ctx, p, args, "quench", 380)
    limit = qpu.benchmarks.quench_error_max
    return _judge(ctx, Metric(p.qpu, "ising_quench_error", float(r["value"]), limit, higher_is_better=False,
                              detail=r.get("detail", {})))


@check(REGISTRY, 74, "qscore", tier=Tier.l2, component="benchmark", expand=params.each_gate_qpu,
       benchmark="qscore", timeout_s=1800,
       proves="Q-score-like: the largest n (4–8) whose p=1 QAOA MaxCut beats random assignment with β > 0.2; "
              "judged against qscore_min when the model sets one.")
def qscore(ctx: Context, p: QpuParam) -> str:
    qpu = _qpu(ctx, p)
    sizes = [n for n in QSCORE_SIZES if n <= qpu.qubits]
    if not sizes:
        raise NotApplicable(f"{p.qpu} has fewer than {QSCORE_SIZES[0]} qubits")
    r = _run(ctx, p, ["qscore", "--sizes", ",".join(map(str, sizes))], "qscore", 1780)
    minimum = qpu.benchmarks.qscore_min
    return _judge(ctx, Metric(p.qpu, "qscore", float(r["value"]), float(minimum) if minimum is not None else None,
                              detail=r.get("detail", {})))
