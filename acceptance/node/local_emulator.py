"""Run the site's emulator service locally (127.0.0.1) with a site's twins, and give
the ``QRMI_JOB_…``/``<name>_…`` environment a Slurm job would get — so the node
programs run from a laptop exactly as inside ``sbatch --qpu``.

Used by the node-side tests and by ``python -m acceptance.node.local_emulator``.
Needs the node environment (qpu-emulator installed) and pydantic/yaml for the model.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

READY_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalEmulator:
    url: str
    env: dict[str, str]  # the job environment for every twin
    qpus: dict[str, str]  # name -> qrmi type
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def job_env(self, *names: str) -> dict[str, str]:
        """Environment of a job holding ``names`` (the plugin's contract, minus the acquisition token)."""
        chosen = list(names) or list(self.qpus)
        env = {k: v for k, v in self.env.items() if any(k.startswith(f"{n}_") for n in chosen)}
        env["QRMI_JOB_QPU_RESOURCES"] = ",".join(chosen)
        env["QRMI_JOB_QPU_TYPES"] = ",".join(self.qpus[n] for n in chosen)
        return env

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


def start(site_file: str | Path, state_dir: Path, workers: int = 2, host: str = "127.0.0.1") -> LocalEmulator:
    """Start the emulator with the site's twins; credentials are fresh random ones.
    ``host`` is the listen address (loopback unless a test network must reach it)."""
    from site_survey import load_site
    from site_survey.derive import emulator_twins, qrmi_resources

    site = load_site(site_file)
    port = free_port()
    url = f"http://{host}:{port}"
    twins = [t for per_host in emulator_twins(site).values() for t in per_host]
    env: dict[str, str] = {}
    qpus: dict[str, str] = {}
    for res in qrmi_resources(site):
        twin = next((t for t in twins if t["name"] == res["name"]), None)
        if twin is None:
            continue
        qpus[res["name"]] = res["type"]
        for key, value in res["environment"].items():
            if key.endswith(("ENDPOINT", "URL")) or key.startswith("QRMI_PASQAL_CLOUD_AUTH_ENDPOINT"):
                continue
            env[f"{res['name']}_{key}"] = value
        secret = secrets.token_urlsafe(16)
        if twin["api"] == "ibm":
            twin["credentials"] = {"api_keys": [secret]}
            env.update({f"{res['name']}_QRMI_IBM_QCS_ENDPOINT": f"{url}/v1",
                        f"{res['name']}_QRMI_IBM_QCS_IAM_ENDPOINT": url,
                        f"{res['name']}_QRMI_IBM_QCS_IAM_APIKEY": secret})
        elif twin["api"] == "iqm-server":
            twin["credentials"] = {"tokens": [secret]}
            env.update({f"{res['name']}_QRMI_IQM_ISA_ENDPOINT": url, f"{res['name']}_QRMI_IQM_ISA_TOKEN": secret})
        else:
            twin["credentials"] = {"tokens": [secret]}
            env.update({f"{res['name']}_QRMI_PASQAL_CLOUD_BASE_URL": url,
                        f"{res['name']}_QRMI_PASQAL_CLOUD_AUTH_ENDPOINT": f"{url}/auth/token",
                        f"{res['name']}_QRMI_PASQAL_CLOUD_AUTH_TOKEN": secret})
    state_dir.mkdir(parents=True, exist_ok=True)
    config = {"listen": {"host": host, "port": port}, "state_dir": str(state_dir), "workers": workers,
              "twins": twins}
    config_path = state_dir / "emulator.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = state_dir / "emulator.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "qpu_emulator", "--config", str(config_path)],
                                stdout=log, stderr=subprocess.STDOUT)
    emu = LocalEmulator(url, env, qpus, proc, log_path)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("emulator exited:\n" + log_path.read_text()[-3000:])
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:  # noqa: S310 - our own server
                body = json.loads(resp.read())
            if body.get("workers_ready") == body.get("workers"):
                return emu
        except (OSError, ValueError):
            pass
        time.sleep(0.3)
    emu.stop()
    raise RuntimeError("emulator not ready:\n" + log_path.read_text()[-3000:])


def main() -> int:
    """python -m acceptance.node.local_emulator SITE STATE_DIR: start, print the job env, wait for Ctrl-C
    (or SIGTERM: the emulator it started is stopped either way, never left running on its own)."""

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    emu = start(sys.argv[1], Path(sys.argv[2]))
    for key, value in sorted(emu.job_env().items()):
        print(f"export {key}={value}")
    try:
        while emu.proc and emu.proc.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
