"""A one-node Slurm (Debian's slurmctld + slurmd, no systemd) with the spank_qrmid
plugin and job_submit.lua, every file in a temp dir, listening on 127.0.0.1 with
random ports, authenticated by the test's own munged. Stopped by PID."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLUGIN_DIR = HERE.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def start_slurm(tmp: Path, munge_socket: str, qrmid_url: str, licenses: dict[str, int]) -> Slurm:
    tmp.mkdir(parents=True, exist_ok=True)
    os.chmod(tmp, 0o755)
    for sub in ("state", "spool"):
        (tmp / sub).mkdir(exist_ok=True)
    ctld_port, slurmd_port = free_port(), free_port()
    plugstack = tmp / "plugstack.conf"
    plugstack.write_text(
        f"required {PLUGIN_DIR / 'spank_qrmid.so'} url={qrmid_url} munge_socket={munge_socket} "
        "timeout=20 max_wait=120\n"
    )
    (tmp / "job_submit.lua").write_text((PLUGIN_DIR / "job_submit_qrmid.lua").read_text())
    lic = ",".join(f"{k}:{v}" for k, v in licenses.items())
    conf = tmp / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=qrmidtest",
                "SlurmctldHost=localhost(127.0.0.1)",
                f"SlurmctldPort={ctld_port}",
                f"SlurmdPort={slurmd_port}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={munge_socket}",
                f"StateSaveLocation={tmp / 'state'}",
                f"SlurmdSpoolDir={tmp / 'spool'}",
                f"SlurmctldPidFile={tmp / 'slurmctld.pid'}",
                f"SlurmdPidFile={tmp / 'slurmd.pid'}",
                f"SlurmctldLogFile={tmp / 'slurmctld.log'}",
                f"SlurmdLogFile={tmp / 'slurmd.log'}",
                "SlurmctldDebug=info",
                "SlurmdDebug=info",
                "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "SchedulerType=sched/builtin",
                "MpiDefault=none",
                "ReturnToService=2",
                "JobCompType=jobcomp/none",
                "AccountingStorageType=accounting_storage/none",
                "JobSubmitPlugins=lua",
                f"PlugStackConfig={plugstack}",
                f"Licenses={lic}",
                "KillWait=5",
                "MinJobAge=600",
                "InactiveLimit=0",
                "NodeName=qnode NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN",
                "PartitionName=debug Nodes=qnode Default=YES MaxTime=60 State=UP",
                "",
            ]
        )
    )
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
