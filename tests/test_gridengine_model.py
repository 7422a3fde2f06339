"""software.scheduler.kind: gridengine — what the model accepts and refuses, and what the rollout derives from
the same vocabulary as Slurm (hosts, host sets, partitions, QPU slots)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from site_survey import SiteModelError, derive, parse_site
from site_survey.catalogue.components import host_components, kit_tcp_ports
from site_survey.render import render_site


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(SiteModelError) as exc:
        parse_site(doc)
    return [p.render() for p in exc.value.problems]


@pytest.fixture
def ge(lab: dict[str, Any]) -> dict[str, Any]:
    """The lab document under Grid Engine (without its Slurm-only container and fair-share settings)."""
    sched = lab["software"]["scheduler"]
    sched["kind"] = "gridengine"
    del sched["conf_overrides"], sched["accounting"]
    return lab


def test_the_lab_under_grid_engine_is_valid(ge: dict[str, Any]) -> None:
    site = parse_site(ge)
    assert site.software.scheduler.kind == "gridengine"
    assert site.software.scheduler.grid_engine.qmaster_port == 6444


@pytest.mark.parametrize(
    ("field", "value"),
    [("conf_overrides", {"TaskPlugin": "task/none"}), ("accounting", {"enabled": False})],
)
def test_slurm_only_fields_under_grid_engine_are_refused(ge: dict[str, Any], field: str, value: Any) -> None:
    ge["software"]["scheduler"][field] = value
    found = problems(ge)
    assert any(
        f"software.scheduler.{field}: applies to Slurm only" in p and "'gridengine'" in p and "kind: slurm" in p
        for p in found
    ), found


def test_grid_engine_options_under_slurm_are_refused(lab: dict[str, Any]) -> None:
    lab["software"]["scheduler"]["gridengine"] = {"qmaster_port": 7444}
    found = problems(lab)
    assert any("software.scheduler.gridengine: applies to Grid Engine only" in p for p in found), found


def test_an_unknown_scheduler_kind_is_refused(lab: dict[str, Any]) -> None:
    lab["software"]["scheduler"]["kind"] = "pbs"
    found = problems(lab)
    assert any("software.scheduler.kind" in p for p in found), found


def test_grid_engine_ports_are_checked_against_the_kits(ge: dict[str, Any]) -> None:
    ge["software"]["scheduler"]["gridengine"] = {"execd_port": 8470}  # qrmid's
    found = problems(ge)
    assert any("software.scheduler.gridengine.execd_port" in p and "qrmid" in p for p in found), found


def test_only_the_sites_scheduler_has_ports(ge: dict[str, Any], lab_document: dict[str, Any]) -> None:
    ports = kit_tcp_ports(parse_site(ge))
    assert ports["sge_qmaster"] == 6444 and ports["sge_execd"] == 6445
    assert not {"slurmctld", "slurmd", "slurmdbd"} & set(ports)
    slurm = kit_tcp_ports(parse_site(copy.deepcopy(lab_document)))
    assert "slurmctld" in slurm and "sge_qmaster" not in slurm
    # a Slurm port number is free under Grid Engine
    ge["software"]["qrmid_port"] = 6817
    parse_site(ge)


def test_groups_run_grid_engine_instead_of_slurm(ge: dict[str, Any]) -> None:
    groups = derive.groups(parse_site(ge))
    assert groups["gridengine"] == ["ctl", "c1", "c2", "qgw"]  # qgw: qrmid's reaper reads qstat
    assert groups["slurm"] == [] and groups["slurmdbd"] == []
    assert groups["munge"] == ["ctl", "c1", "c2", "qgw"]  # the prolog signs its requests to qrmid with munge


def test_slurm_sites_have_an_empty_gridengine_group(lab_document: dict[str, Any]) -> None:
    site = parse_site(copy.deepcopy(lab_document))
    groups = derive.groups(site)
    assert groups["gridengine"] == [] and groups["slurm"] == ["ctl", "c1", "c2"]
    assert derive.site_vars(site)["qpusite_gridengine"] == {"enabled": False}


def test_queues_host_groups_and_complexes_come_from_partitions_and_qpus(ge: dict[str, Any]) -> None:
    ge["host_sets"] = [
        {"name": "big", "hosts": "cn[01-03]", "first_address": "10.77.0.101", "roles": ["compute"], "cpus": 4}
    ]
    ge["software"]["scheduler"]["partitions"] = [
        {"name": "debug", "hosts": ["c1", "c2"], "max_time_minutes": 90},
        {"name": "wide", "hosts": "set:big", "default": True},
    ]
    ge["qpus"][1]["slots"] = 3
    out = derive.gridengine(parse_site(ge))
    assert out["enabled"] is True
    assert out["qmaster"] == "ctl"
    assert out["submit_hosts"] == ["ctl", "c1", "c2", "qgw", "cn01", "cn02", "cn03"]
    assert out["admin_hosts"] == ["ctl"]
    assert out["queues"] == [
        {"name": "debug.q", "host_group": "@debug", "hosts": ["c1", "c2"],
         "h_rt": "1:30:00", "default": False},
        {"name": "wide.q", "host_group": "@wide",
         "hosts": ["cn01", "cn02", "cn03"], "h_rt": "INFINITY",
         "default": True},
    ]
    assert [(h["name"], h["slots"]) for h in out["exec_hosts"]] == [
        ("c1", 2), ("c2", 2), ("cn01", 4), ("cn02", 4), ("cn03", 4)
    ]
    assert out["complexes"][:2] == [
        {"name": "qpu_sc_twin", "qpu": "sc_twin", "capacity": 2},  # shared task by task: max_jobs
        {"name": "qpu_FRESNEL", "qpu": "FRESNEL", "capacity": 3},
    ]


def test_without_partitions_one_batch_queue_holds_every_compute_host(ge: dict[str, Any]) -> None:
    ge["software"]["scheduler"]["partitions"] = []
    del ge["facility"]["network"]["domain"]  # the model's default domain
    out = derive.gridengine(parse_site(ge))
    assert [(q["name"], q["hosts"]) for q in out["queues"]] == [("batch.q", ["c1", "c2"])]


def test_a_host_runs_the_components_of_its_sites_scheduler(ge: dict[str, Any]) -> None:
    site = parse_site(ge)
    units = {h.name: {c.unit for c in host_components(h, site)} for h in site.hosts}
    assert "gridengine-master" in units["ctl"] and "slurmctld" not in units["ctl"]
    assert "gridengine-exec" in units["c1"] and "slurmd" not in units["c1"]
    packages = {c.name: c.packages for c in host_components(site.host("ctl"), site)}  # type: ignore[arg-type]
    assert packages["gridengine-client"] == ("gridengine-client",) and "slurm-client" not in packages


def test_render_previews_grid_engine_not_slurm(ge: dict[str, Any], tmp_path: Any) -> None:
    written = {p.name for p in render_site(parse_site(ge), tmp_path)}
    assert "gridengine.preview" in written and "slurm.conf.preview" not in written
    text = (tmp_path / "gridengine.preview").read_text()
    assert "qpu_sc_twin qpu_sc_twin INT <= YES YES 0 0" in text
    assert "complex_values qpu_sc_twin=2,qpu_FRESNEL=1" in text  # sc_twin: max_jobs 2
