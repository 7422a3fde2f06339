"""The catalogue of components is what the inventory, port validation and acceptance read."""

from __future__ import annotations

from typing import Any

import pytest

from acceptance import expectations
from site_survey import SiteModelError, derive, parse_site
from site_survey.catalogue.components import COMPONENTS, FEATURE_GROUPS, feature_groups, kit_tcp_ports


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(SiteModelError) as exc:
        parse_site(doc)
    return [p.render() for p in exc.value.problems]


def test_feature_groups_of_the_inventory_are_the_catalogues(lab: dict[str, Any]) -> None:
    site = parse_site(lab)
    groups = derive.groups(site)
    active = feature_groups(site)
    for name, roles in FEATURE_GROUPS.items():
        # the other scheduler's group exists, empty (its plays run on no host)
        expected = [h.name for h in site.hosts if set(h.roles) & set(roles)] if name in active else []
        assert groups[name] == expected
    assert "slurm" in active and "gridengine" not in active


def test_a_kit_port_on_slurms_port_is_refused(lab: dict[str, Any]) -> None:
    lab["software"]["qrmid_port"] = 6818
    found = problems(lab)
    assert any("software.qrmid_port" in p and "slurmd" in p for p in found), found


def test_a_moved_slurm_port_is_checked_too(lab: dict[str, Any]) -> None:
    lab["software"].setdefault("scheduler", {}).setdefault("conf_overrides", {})["SlurmctldPort"] = "9090"
    found = problems(lab)
    assert any("conf_overrides.SlurmctldPort" in p and "software.monitoring.prometheus_port" in p for p in found)


def test_a_kit_port_inside_srun_range_is_refused(lab: dict[str, Any]) -> None:
    lab["software"]["emulator_port"] = 60100
    found = problems(lab)
    assert any("software.emulator_port" in p and "srun" in p for p in found), found


def test_acceptance_expects_on_each_host_what_the_catalogue_places(lab: dict[str, Any]) -> None:
    site = parse_site(lab)
    ports = kit_tcp_ports(site)
    for host in site.hosts:
        expected = {s.unit: s.port for s in expectations.services(site, host)}
        for comp in COMPONENTS:
            if comp.unit and comp.runs_on(host, site):
                assert expected[comp.unit] == (ports[comp.name] if comp.port else None)
        assert "prometheus-node-exporter" in expected
