"""014 port_bound: a wildcard listener fails, except for a daemon the catalogue says cannot bind one
address, which is reported as not applicable (the firewall's job), never as a pass."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from acceptance.checks.host_state import port_bound
from acceptance.checks.params import ServiceParam
from acceptance.expectations import Service
from acceptance.spec import CheckFailed, NotApplicable


@dataclass
class _Done:
    stdout: str
    returncode: int = 0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class _Host:
    """Answers systemctl and ss as a host would, with the given listening sockets."""

    def __init__(self, ss: str) -> None:
        self.ss = ss

    def run(self, host: str, command: str) -> _Done:
        return _Done("loaded\n") if command.startswith("systemctl show") else _Done(self.ss)

    def run_ok(self, host: str, command: str, what: str) -> str:
        return self.ss


def _param(component: str, unit: str, port: int) -> ServiceParam:
    return ServiceParam("ctl", "10.0.0.10", Service(component, unit, (), port))


def _check(ss: str, param: ServiceParam) -> str:
    return port_bound.body(_Host(ss), param)  # type: ignore[arg-type]


def test_a_slurm_daemon_on_every_interface_fails() -> None:
    with pytest.raises(CheckFailed, match="every interface"):
        _check("LISTEN 0 128 0.0.0.0:6817 0.0.0.0:*\n", _param("slurmctld", "slurmctld", 6817))


def test_grid_engine_on_every_interface_is_not_a_pass() -> None:
    with pytest.raises(NotApplicable, match="firewall must admit port 6444"):
        _check("LISTEN 0 128 0.0.0.0:6444 0.0.0.0:*\n", _param("sge_qmaster", "gridengine-master", 6444))


def test_grid_engine_not_listening_fails() -> None:
    with pytest.raises(CheckFailed, match="nothing listens"):
        _check("", _param("sge_qmaster", "gridengine-master", 6444))


def test_the_model_address_only_passes() -> None:
    assert "no wildcard" in _check("LISTEN 0 128 10.0.0.10:6817 0.0.0.0:*\n", _param("slurmctld", "slurmctld", 6817))
