"""Project-local podman configuration: every podman call the kit makes uses it.

Two files under the state directory, selected with CONTAINERS_CONF and
CONTAINERS_STORAGE_CONF, so the kit never reads or writes the system's container
store or network definitions. The engine settings are the ones this kind of
machine needs (see docs/rehearsal.md): runc (crun fails on a hybrid cgroup
layout), cgroupfs (PID 1 is not systemd), a file event log (no journald), and
ulimits a process without CAP_SYS_RESOURCE may request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ULIMITS = ("nofile=16384:16384", "nproc=8192:8192")


def _toml_str(value: str | Path) -> str:
    # JSON string escaping is valid TOML basic-string escaping.
    return json.dumps(str(value))


@dataclass(frozen=True)
class PodmanLayout:
    """Where the project's podman keeps everything, all under one root."""

    root: Path  # e.g. .state/podman

    @property
    def containers_conf(self) -> Path:
        return self.root / "containers.conf"

    @property
    def storage_conf(self) -> Path:
        return self.root / "storage.conf"

    @property
    def graphroot(self) -> Path:
        return self.root / "storage"

    @property
    def runroot(self) -> Path:
        return self.root / "run"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def network_dir(self) -> Path:
        return self.root / "networks"

    @property
    def events_log(self) -> Path:
        return self.root / "events.log"

    @property
    def build_dir(self) -> Path:
        return self.root / "build"


def render_containers_conf(layout: PodmanLayout) -> str:
    ulimits = ", ".join(_toml_str(u) for u in DEFAULT_ULIMITS)
    return "\n".join(
        [
            "# Written by qpusite (rehearsal/podman_config.py); regenerated on every run.",
            "[containers]",
            f"default_ulimits = [{ulimits}]",
            "",
            "[engine]",
            'runtime = "runc"',
            'cgroup_manager = "cgroupfs"',
            'events_logger = "file"',
            f"events_logfile_path = {_toml_str(layout.events_log)}",
            f"tmp_dir = {_toml_str(layout.tmp_dir)}",
            # File locks instead of the shared-memory segment the system store uses,
            # so the two stores can never hand out the same lock.
            'lock_type = "file"',
            "",
            "[network]",
            f"network_config_dir = {_toml_str(layout.network_dir)}",
            "",
        ]
    )


def render_storage_conf(layout: PodmanLayout) -> str:
    return "\n".join(
        [
            "# Written by qpusite (rehearsal/podman_config.py); regenerated on every run.",
            "[storage]",
            'driver = "overlay"',
            f"graphroot = {_toml_str(layout.graphroot)}",
            f"runroot = {_toml_str(layout.runroot)}",
            "",
        ]
    )


def podman_environment(layout: PodmanLayout) -> dict[str, str]:
    return {
        "CONTAINERS_CONF": str(layout.containers_conf),
        "CONTAINERS_STORAGE_CONF": str(layout.storage_conf),
    }


def write_podman_config(layout: PodmanLayout) -> dict[str, str]:
    """Write both files (only when their content changed) and return the environment selecting them."""
    for directory in (layout.root, layout.graphroot, layout.runroot, layout.tmp_dir, layout.network_dir):
        directory.mkdir(parents=True, exist_ok=True)
    for path, text in (
        (layout.containers_conf, render_containers_conf(layout)),
        (layout.storage_conf, render_storage_conf(layout)),
    ):
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return podman_environment(layout)
