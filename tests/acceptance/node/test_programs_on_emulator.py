"""The node programs end to end, as a Slurm job would run them: the real emulator
service on 127.0.0.1 with the lab model's twins, the job's QRMI environment, qrmi
in between; judged against the lab model's thresholds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from acceptance.node import local_emulator
from site_survey import load_site

REPO = Path(__file__).resolve().parents[3]
LAB = REPO / "inventories" / "lab" / "site.yaml"
PREFIX = "QPUSITE-RESULT "


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_emulator.LocalEmulator]:
    emu = local_emulator.start(LAB, tmp_path_factory.mktemp("emulator"))
    yield emu
    emu.stop()


def run(emu: local_emulator.LocalEmulator, *args: str, qpus: tuple[str, ...] = (),
        extra_env: dict[str, str] | None = None, timeout: float = 300) -> tuple[int, dict[str, Any] | None, str]:
    env = {**os.environ, **emu.job_env(*qpus), "PYTHONPATH": str(REPO), **(extra_env or {})}
    done = subprocess.run([sys.executable, "-m", "acceptance.node", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    result = next((json.loads(ln[len(PREFIX):]) for ln in done.stdout.splitlines() if ln.startswith(PREFIX)), None)
    return done.returncode, result, done.stdout + done.stderr


def test_probe_gives_the_right_answer_on_both_modalities(emulator: local_emulator.LocalEmulator) -> None:
    for qpu in ("sc_twin", "FRESNEL", "spark"):  # spark: the IQM Server twin, through qrmi's iqm-server
        code, result, out = run(emulator, "probe", "--qpu", qpu)
        assert code == 0, out
        assert result is not None and result["qpu"] == qpu and result["value"] > 0.85, result


def test_hybrid_runs_its_tasks_with_classical_pauses_between(emulator: local_emulator.LocalEmulator) -> None:
    code, result, out = run(emulator, "hybrid", "--qpu", "sc_twin", "--tasks", "3", "--pause", "0.5")
    assert code == 0, out
    assert result is not None and result["value"] > 0.85, result
    tasks = result["detail"]["tasks"]
    assert len(tasks) == 3
    for before, after in zip(tasks, tasks[1:], strict=False):
        assert after["started"] - before["ended"] >= 0.5  # the classical phase: the QPU is not asked
    code, _, out = run(emulator, "hybrid", "--qpu", "sc_twin", "--tasks", "0")
    assert code == 1 and "--tasks" in out


def test_ghz_fidelity_meets_the_lab_threshold(emulator: local_emulator.LocalEmulator) -> None:
    threshold = load_site(LAB).qpu("sc_twin").benchmarks.ghz_fidelity_min  # type: ignore[union-attr]
    code, result, out = run(emulator, "ghz", "--qpu", "sc_twin", "--qubits", "4")
    assert code == 0, out
    assert result is not None and threshold <= result["value"] < 1.0  # noisy twin: good but not perfect


def test_mirror_survival_falls_with_width_and_depth(emulator: local_emulator.LocalEmulator) -> None:
    code, result, out = run(emulator, "mirror", "--qpu", "sc_twin", "--widths", "2,6", "--depths", "2,8")
    assert code == 0, out
    assert result is not None
    s = result["detail"]["survival"]
    assert s["2x2"] > s["6x8"]  # more gates, more errors on a noisy twin
    assert result["value"] >= load_site(LAB).qpu("sc_twin").benchmarks.mirror_survival_min  # type: ignore[union-attr]


def test_quantum_volume_is_a_power_of_two_with_per_width_detail(emulator: local_emulator.LocalEmulator) -> None:
    code, result, out = run(emulator, "qv", "--qpu", "sc_twin", "--max-n", "3", "--trials", "30")
    assert code == 0, out
    assert result is not None and result["value"] in (1, 4, 8)
    assert set(result["detail"]["per_width"]) == {"2", "3"}
    for per in result["detail"]["per_width"].values():
        assert 0.5 < per["mean_hop"] < 1.0


def test_quench_matches_the_exact_reference_within_the_model_limit(emulator: local_emulator.LocalEmulator) -> None:
    site = load_site(LAB)
    fresnel = site.qpu("FRESNEL")
    assert fresnel is not None and fresnel.emulator is not None and fresnel.emulator.pulser_device is not None
    dev = fresnel.emulator.pulser_device
    code, result, out = run(emulator, "quench", "--qpu", "FRESNEL", "--eps", str(dev.readout_false_positive),
                            "--eps-prime", str(dev.readout_false_negative))
    assert code == 0, out
    assert result is not None and result["value"] <= fresnel.benchmarks.quench_error_max
    assert min(result["detail"]["reference"]) < -0.1  # the quench does build correlations


def test_gate_benchmarks_refuse_an_analog_device(emulator: local_emulator.LocalEmulator) -> None:
    code, result, out = run(emulator, "ghz", "--qpu", "FRESNEL")
    assert code == 1 and result is None
    assert "QPUSITE-ERROR QpuError: GHZ fidelity needs a gate-based" in out


def test_a_qpu_outside_the_job_is_refused(emulator: local_emulator.LocalEmulator) -> None:
    code, _, out = run(emulator, "probe", "--qpu", "FRESNEL", qpus=("sc_twin",))
    assert code == 1 and "QPU FRESNEL is not in this job's QPUs (sc_twin)" in out


def test_a_wrong_endpoint_fails_fast_with_a_clear_message(emulator: local_emulator.LocalEmulator) -> None:
    # The premise of drill 060: the job's own environment points QRMI at a dead endpoint.
    started = time.monotonic()
    code, _, out = run(emulator, "probe", "--qpu", "sc_twin",
                       extra_env={"sc_twin_QRMI_IBM_QCS_ENDPOINT": "http://127.0.0.1:9/v1"}, timeout=120)
    assert code == 1 and time.monotonic() - started < 60
    line = next(ln for ln in out.splitlines() if ln.startswith("QPUSITE-ERROR"))
    assert any(w in line.lower() for w in ("connect", "connection", "refused", "error sending request")), line
