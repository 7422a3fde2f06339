"""Run the site's real rollout (`site.yml`) against the rehearsal hosts, logging everything."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rehearsal.errors import RehearsalError
from rehearsal.paths import SitePaths, playbook_root
from rehearsal.recap import HostRecap, parse_failures, parse_recap, parse_unavailable

ROLLOUT_TIMEOUT_S = 60 * 60


@dataclass(frozen=True)
class RolloutResult:
    returncode: int
    recap: dict[str, HostRecap]
    seconds: float
    log: Path
    failures: list[str]  # '<task>: <fatal line>' per failed task, first few
    unavailable: list[str] = field(default_factory=list)  # hosts the run went without (site.yml's budget)


def ansible_playbook() -> str:
    """The controller environment's ansible-playbook (the one beside this Python), else PATH's."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    return str(beside) if beside.is_file() else "ansible-playbook"


def timing_callback_available() -> bool:
    """ansible.posix ships with the `ansible` package, not with ansible-core alone."""
    try:
        return importlib.util.find_spec("ansible_collections.ansible.posix") is not None
    except ModuleNotFoundError:  # no ansible_collections package at all
        return False


def playbook_command(paths: SitePaths, extra: list[str] | None = None) -> list[str]:
    # Paths relative to the playbook's tree, as a person would type them; the command runs there.
    def rel(path: Path) -> str:
        try:
            return str(path.relative_to(playbook_root()))
        except ValueError:
            return str(path)

    return [
        ansible_playbook(),
        "-i", rel(paths.site_file),
        rel(paths.playbook),
        "-e", f"@{rel(paths.secrets_file)}",
        # The rehearsal's own key, whatever key the model names for the real site.
        "-e", f"ansible_ssh_private_key_file={paths.private_key}",
        # Host keys stay checked (ansible.cfg); the rehearsal's containers' keys are in its own known_hosts
        # (rehearsal/hostkeys.py). One token: the value holds no space.
        "-e", f"ansible_ssh_extra_args=-oUserKnownHostsFile={paths.known_hosts}",
        # The rehearsal's own site CA (qpusite up makes one when the model turns TLS on), whatever CA file
        # the model names for the real site.
        *(["-e", f"qpusite_tls_ca_certificate_file={paths.ca_certificate}"] if paths.ca_certificate.is_file() else []),
        *(extra or []),
    ]


def run_playbook(
    command: list[str], log: Path, on_line: Callable[[str], None] | None = None, timeout_s: float = ROLLOUT_TIMEOUT_S
) -> RolloutResult:
    """Run `command` from the playbook's tree (ansible.cfg, roles, plugins), teeing its output into `log`;
    never raises on a failed play."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "PYTHONUNBUFFERED": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if timing_callback_available() and "ANSIBLE_CALLBACKS_ENABLED" not in env:
        # Per-task durations and the slowest tasks at the end of the log: what a slow rollout needs.
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    started = time.monotonic()
    captured: list[str] = []
    with log.open("w", encoding="utf-8") as out:
        out.write("$ " + " ".join(command) + "\n")
        try:
            proc = subprocess.Popen(
                command, cwd=playbook_root(), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        except OSError as exc:
            raise RehearsalError(f"cannot start {command[0]}: {exc}") from None
        # A watchdog, not a check between lines: a hung task prints nothing.
        watchdog = threading.Timer(timeout_s, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                out.flush()
                captured.append(line)
                if on_line is not None:
                    on_line(line.rstrip("\n"))
            returncode = proc.wait(timeout=60)
        finally:
            watchdog.cancel()
        if time.monotonic() - started >= timeout_s:
            out.write(f"\n[qpusite] stopped: the rollout ran longer than {timeout_s:.0f} s\n")
    output = "".join(captured)
    return RolloutResult(
        returncode, parse_recap(output), time.monotonic() - started, log, parse_failures(output),
        parse_unavailable(output),
    )
