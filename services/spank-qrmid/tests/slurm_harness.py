"""A one-node Slurm (Debian's slurmctld + slurmd, no systemd) with the spank_qrmid
plugin and job_submit.lua, every file in a temp dir, listening on 127.0.0.1 with
random ports, authenticated by the test's own munged. Stopped by PID."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness import slurm_conf  # services/qrmid/tests, on sys.path through conftest.py

HERE = Path(__file__).resolve().parent
PLUGIN_DIR = HERE.parent
REPO = PLUGIN_DIR.parents[1]
SUBMIT_CONF_TEMPLATE = REPO / "roles" / "spank_qrmid" / "templates" / "job_submit_qrmid.conf.j2"

_RENDER = """
import json, sys, jinja2
env = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
print(env.from_string(open(sys.argv[1]).read()).render(**json.load(sys.stdin)), end="")
"""


def render_submit_conf(qpus: list[str], profiles: list[dict], slurm_user: str = "root") -> str:
    """job_submit_qrmid.conf as roles/spank_qrmid renders it (its template, with Jinja2
    from the controller environment: the node environment the tests run in has none)."""
    variables = {"spank_qrmid_qpus": qpus, "spank_qrmid_policy_profiles": profiles,
                 "spank_qrmid_slurm_user": slurm_user}
    r = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-c", _RENDER, str(SUBMIT_CONF_TEMPLATE)],
                       input=json.dumps(variables), capture_output=True, text=True, check=True)
    return r.stdout


@dataclass
class Slurm:
    dir: Path
    conf: Path
    ctld: subprocess.Popen[bytes]
    slurmd: subprocess.Popen[bytes]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, user: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if user:
            cmd = ["runuser", "-u", user, "--", "env", f"SLURM_CONF={self.conf}", *cmd]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)

    def job_state(self, job_id: str) -> dict[str, str]:
        out = self.run("scontrol", "-o", "show", "job", job_id).stdout
        fields = {}
        for item in out.split():
            if "=" in item:
                k, v = item.split("=", 1)
                fields[k] = v
        return fields

    def wait_state(self, job_id: str, states: set[str], timeout: float = 120) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        st: dict[str, str] = {}
        while time.monotonic() < deadline:
            st = self.job_state(job_id)
            if st.get("JobState") in states:
                return st
            time.sleep(0.5)
        raise TimeoutError(f"job {job_id} stayed {st.get('JobState')} (wanted {states}): {st}")

    def stop(self) -> None:
        for proc in (self.slurmd, self.ctld):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


def plugstack_line(qrmid_url: str, munge_socket: str, *extra: str) -> str:
    args = [f"url={qrmid_url}", f"munge_socket={munge_socket}", "timeout=20", "max_wait=120", *extra]
    return f"required {PLUGIN_DIR / 'spank_qrmid.so'} {' '.join(args)}\n"


CLUSTER = "qrmidtest"


def start_slurm(tmp: Path, munge_socket: str, qrmid_url: str, licenses: dict[str, int],
                submit_conf: str | None = None, plugstack_args: tuple[str, ...] = (f"cluster={CLUSTER}",),
                node_cpus: int = 2) -> Slurm:
    """`node_cpus` above this machine's own makes slurmd take the configured count
    (SlurmdParameters=config_overrides): benchmarks let more jobs share the one node."""
    tmp.mkdir(parents=True, exist_ok=True)
    os.chmod(tmp, 0o755)
    for sub in ("state", "spool"):
        (tmp / sub).mkdir(exist_ok=True)
    plugstack = tmp / "plugstack.conf"
    plugstack.write_text(plugstack_line(qrmid_url, munge_socket, *plugstack_args))
    (tmp / "job_submit.lua").write_text((PLUGIN_DIR / "job_submit_qrmid.lua").read_text())
    if submit_conf is not None:
        (tmp / "job_submit_qrmid.conf").write_text(submit_conf)
    lic = ",".join(f"{k}:{v}" for k, v in licenses.items())
    conf = slurm_conf(tmp, munge_socket, CLUSTER, node_cpus=node_cpus, extra=(
        "SlurmctldDebug=info", "SlurmdDebug=info", "JobSubmitPlugins=lua", f"PlugStackConfig={plugstack}",
        f"Licenses={lic}", "InactiveLimit=0"))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    with open(tmp / "slurmctld.err", "wb") as ctld_err:
        ctld = subprocess.Popen(["slurmctld", "-D", "-i", "-f", str(conf)], env=env, stdout=subprocess.DEVNULL,
                                stderr=ctld_err)
    slurmd = None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if ctld.poll() is not None:
                raise RuntimeError("slurmctld exited: " + (tmp / "slurmctld.err").read_text()[-2000:])
            if subprocess.run(["scontrol", "ping"], env=env, capture_output=True, text=True).returncode == 0:
                break
            time.sleep(0.3)
        with open(tmp / "slurmd.err", "wb") as slurmd_err:
            slurmd = subprocess.Popen(["slurmd", "-D", "-N", "qnode", "-f", str(conf)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=slurmd_err)
        while time.monotonic() < deadline:
            if slurmd.poll() is not None:
                raise RuntimeError("slurmd exited: " + (tmp / "slurmd.err").read_text()[-2000:])
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
            if out.strip() in ("idle", "mixed", "allocated"):
                return Slurm(tmp, conf, ctld, slurmd)
            time.sleep(0.5)
        raise TimeoutError("slurmd did not register: " + (tmp / "slurmd.log").read_text()[-2000:])
    except BaseException:
        for p in (slurmd, ctld):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
        raise
