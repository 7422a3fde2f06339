"""Start the real service (a subprocess on 127.0.0.1, random free port) for the tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

IBM_KEYS = {"ideal_twin": "key-ideal-0123", "noisy_twin": "key-noisy-4567"}
PASQAL_TOKEN = "static-fresnel-token"
PASQAL_CLIENT = ("lab-client", "lab-client-secret")
CRN = "crn:v1:lab:public:quantum-computing:lab:a/lab::"
LINE = [[i, i + 1] for i in range(4)] + [[i + 1, i] for i in range(4)]


def twins() -> list[dict[str, Any]]:
    """Twins in the shape site_survey.derive.emulator_twins() produces, plus credentials."""
    base = {
        "modality": "superconducting",
        "num_qubits": 5,
        "coupling_map": LINE,
        "basis_gates": ["cz", "id", "rz", "sx", "x"],
        "pulser_device": None,
        "max_shots": 20000,
        "api": "ibm",
    }
    return [
        {
            **base,
            "name": "ideal_twin",
            "backend_name": "ideal_twin",
            "noise": {},
            "credentials": {"api_keys": [IBM_KEYS["ideal_twin"]]},
        },
        {
            **base,
            "name": "noisy_twin",
            "backend_name": "noisy_twin",
            "noise": {
                "single_qubit_error": 0.01,
                "two_qubit_error": 0.08,
                "readout_error": 0.04,
                "t1_us": 50,
                "t2_us": 40,
            },
            "credentials": {"api_keys": [IBM_KEYS["noisy_twin"]]},
        },
        {
            "name": "FRESNEL",
            "backend_name": "FRESNEL",
            "api": "pasqal-cloud",
            "modality": "neutral-atom",
            "num_qubits": 12,
            "coupling_map": None,
            "basis_gates": None,
            "noise": {},
            "max_shots": 100000,
            "pulser_device": {
                "name": "FresnelTwin",
                "max_atom_num": 12,
                "min_atom_distance_um": 5,
                "max_radial_distance_um": 35,
                "max_rabi_frequency_rad_us": 12.57,
                "max_abs_detuning_rad_us": 125.66,
                "max_sequence_duration_ns": 6000,
                "max_runs": 1000,
                "readout_false_positive": 0.01,
                "readout_false_negative": 0.03,
            },
            "credentials": {"tokens": [PASQAL_TOKEN], "clients": {PASQAL_CLIENT[0]: PASQAL_CLIENT[1]}},
        },
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Emulator:
    url: str
    state_dir: Path
    config_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json"} if data is not None and raw is None else {}
        hdrs.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - 127.0.0.1 test server
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def json(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        status, _, data = self.request(method, path, body, headers, raw)
        return status, json.loads(data) if data else None


def write_config(state_dir: Path, port: int, **overrides: Any) -> Path:
    cfg = {
        "listen": {"host": "127.0.0.1", "port": port},
        "state_dir": str(state_dir),
        "workers": 2,
        "queue_limit": 50,
        "max_request_bytes": 256 * 1024,
        "token_ttl_s": 600,
        "retention": {"max_jobs": 500, "max_age_s": 86400},
        "checkers": 1,
        "limits": {"max_instructions": 20000, "max_clbits": 64, "max_inflated_bytes": 1024 * 1024},
        "twins": twins(),
    }
    cfg.update(overrides)
    path = state_dir / "emulator.yaml"
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path


# Every service the tests start runs under this address-space limit (inherited by its worker and
# checker processes), so an attack that gets past a bound fails there instead of taking gigabytes
# of the shared test machine.
SERVICE_RLIMIT_AS = 6 * 1024**3


def _limit_memory(limit: int) -> Any:
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def start(
    state_dir: Path,
    port: int | None = None,
    *,
    rlimit_as: int = SERVICE_RLIMIT_AS,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Emulator:
    port = port or free_port()
    path = write_config(state_dir, port, **overrides)
    log = open(state_dir / "service.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "qpu_emulator", "--config", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        preexec_fn=_limit_memory(rlimit_as),  # noqa: PLW1509 - no threads in the test process yet matter here
    )
    emu = Emulator(f"http://127.0.0.1:{port}", state_dir, path, proc)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("emulator exited:\n" + (state_dir / "service.log").read_text()[-3000:])
        try:
            status, body = emu.json("GET", "/health")
            if (
                status == 200
                and body["workers_ready"] == body["workers"]
                and body.get("checkers_ready", 0) == body.get("checkers", 0)
            ):
                return emu
        except (OSError, ValueError):
            pass
        time.sleep(0.3)
    stop(emu)
    raise RuntimeError("emulator did not become ready:\n" + (state_dir / "service.log").read_text()[-3000:])


def children(pid: int) -> dict[int, str]:
    """The service's child processes: pid -> name (/proc/<pid>/comm, e.g. qpuemu-worker0)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out[int(entry.name)] = comm
    return out


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> int:
    """Resident memory of the service and its worker and checker processes, bytes."""
    return rss_bytes(pid) + sum(rss_bytes(c) for c in children(pid))


def stop(emu: Emulator) -> None:
    if emu.proc is None:
        return
    emu.proc.send_signal(signal.SIGTERM)
    try:
        emu.proc.wait(20)
    except subprocess.TimeoutExpired:
        emu.proc.kill()
        emu.proc.wait(10)
    emu.proc = None


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = start(tmp_path_factory.mktemp("emulator"))
    yield emu
    stop(emu)


def qrmi_ibm(emu: Emulator, twin: str = "ideal_twin", **extra: str) -> Any:
    import qrmi

    env = {
        "QRMI_IBM_QCS_ENDPOINT": f"{emu.url}/v1",
        "QRMI_IBM_QCS_IAM_ENDPOINT": emu.url,
        "QRMI_IBM_QCS_IAM_APIKEY": IBM_KEYS.get(twin, "none"),
        "QRMI_IBM_QCS_SERVICE_CRN": CRN,
        "QRMI_IBM_QCS_SESSION_MODE": "dedicated",
        **extra,
    }
    return qrmi.QuantumResource.from_config(twin, qrmi.ResourceType.IBMQuantumComputeService, env)


def qrmi_pasqal(emu: Emulator, name: str = "FRESNEL", **extra: str) -> Any:
    import qrmi

    env = {
        "QRMI_PASQAL_CLOUD_BASE_URL": emu.url,
        "QRMI_PASQAL_CLOUD_AUTH_ENDPOINT": f"{emu.url}/auth/token",
        "QRMI_PASQAL_CLOUD_PROJECT_ID": "lab-project",
        "QRMI_PASQAL_CLOUD_AUTH_TOKEN": PASQAL_TOKEN,
        **extra,
    }
    return qrmi.QuantumResource.from_config(name, qrmi.ResourceType.PasqalCloud, env)


def bell_qasm(n_extra_qubits: int = 0) -> str:
    from qiskit import QuantumCircuit, qasm3

    qc = QuantumCircuit(2 + n_extra_qubits, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return str(qasm3.dumps(qc))


def wait_final(resource: Any, task_id: str, timeout: float = 120) -> Any:
    import qrmi

    final = {qrmi.TaskStatus.Completed, qrmi.TaskStatus.Failed, qrmi.TaskStatus.Cancelled}
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = resource.task_status(task_id)
        if not seen or seen[-1] != st:
            seen.append(st)
        if st in final:
            return st, seen
        time.sleep(0.05)
    raise TimeoutError(f"task {task_id} not final after {timeout}s (seen {seen})")


def iam_token(emu: Emulator, key: str) -> tuple[int, dict]:
    form = urllib.parse.urlencode({"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": key}).encode()
    return emu.json("POST", "/identity/token", raw=form, headers={"Content-Type": "application/x-www-form-urlencoded"})


def ibm_headers(emu: Emulator, twin: str = "ideal_twin") -> dict[str, str]:
    status, body = iam_token(emu, IBM_KEYS[twin])
    assert status == 200, body
    return {"Authorization": f"Bearer {body['access_token']}", "Service-CRN": "crn:v1:test"}


def sampler_job(qasm: str, backend: str = "ideal_twin", shots: int = 100) -> dict:
    return {"program_id": "sampler", "backend": backend, "params": {"pubs": [[qasm, None, shots]], "version": 2}}


def wait_ibm_final(emu: Emulator, job_id: str, headers: dict[str, str]) -> dict:
    for _ in range(600):
        _, job = emu.json("GET", f"/v1/jobs/{job_id}", headers=headers)
        if job["status"] in ("Completed", "Failed", "Cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError("job did not finish")
