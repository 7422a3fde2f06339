from __future__ import annotations

import tomllib

from rehearsal.podman_config import (
    PodmanLayout,
    podman_environment,
    render_containers_conf,
    render_storage_conf,
    write_podman_config,
)


def test_containers_conf_has_the_settings_this_machine_needs(tmp_path):
    layout = PodmanLayout(tmp_path / "podman")
    conf = tomllib.loads(render_containers_conf(layout))
    assert conf["engine"]["runtime"] == "runc"
    assert conf["engine"]["cgroup_manager"] == "cgroupfs"
    assert conf["engine"]["events_logger"] == "file"
    assert conf["engine"]["tmp_dir"] == str(tmp_path / "podman" / "tmp")
    assert conf["containers"]["default_ulimits"] == ["nofile=16384:16384", "nproc=8192:8192"]
    assert conf["network"]["network_config_dir"] == str(tmp_path / "podman" / "networks")


def test_storage_lives_under_the_project_state_dir(tmp_path):
    layout = PodmanLayout(tmp_path / "podman")
    conf = tomllib.loads(render_storage_conf(layout))
    assert conf["storage"]["graphroot"] == str(tmp_path / "podman" / "storage")
    assert conf["storage"]["runroot"] == str(tmp_path / "podman" / "run")


def test_paths_with_quotes_stay_valid_toml(tmp_path):
    layout = PodmanLayout(tmp_path / 'we"ird\\dir')
    assert tomllib.loads(render_storage_conf(layout))["storage"]["graphroot"] == str(layout.graphroot)


def test_write_selects_both_files_and_leaves_unchanged_files_alone(tmp_path):
    layout = PodmanLayout(tmp_path / "podman")
    env = write_podman_config(layout)
    assert env == podman_environment(layout)
    assert env["CONTAINERS_CONF"] == str(layout.containers_conf)
    assert env["CONTAINERS_STORAGE_CONF"] == str(layout.storage_conf)
    before = layout.containers_conf.stat().st_mtime_ns
    layout.containers_conf.touch()
    touched = layout.containers_conf.stat().st_mtime_ns
    write_podman_config(layout)
    assert layout.containers_conf.stat().st_mtime_ns == touched >= before
    layout.storage_conf.write_text("edited")
    write_podman_config(layout)
    assert layout.storage_conf.read_text() == render_storage_conf(layout)
