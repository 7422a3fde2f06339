"""The check catalogue: numbering, tiers, and how a site expands into checks."""

from __future__ import annotations

import re

import pytest

from acceptance.checks import load_all
from acceptance.spec import CheckSpec, Registry, Tier, check
from site_survey.model import Site

ID = re.compile(r"^\d{3}_[a-z0-9_]+(\[[^\]]+\])?$")


def test_every_check_is_numbered_named_and_says_what_it_proves() -> None:
    reg = load_all()
    numbers = [s.number for s in reg.specs]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    for spec in reg.specs:
        assert 10 <= spec.number < 90, spec.check_id
        assert spec.proves.endswith("."), f"{spec.check_id}: 'proves' is one sentence"
        assert spec.timeout_s > 0


def test_duplicate_numbers_or_names_are_refused() -> None:
    reg = Registry()

    def body(ctx: object, p: object) -> str:
        return "ok"

    check(reg, 1, "one", tier=Tier.smoke, component="x", proves="p.", expand=lambda s: [None])(body)
    with pytest.raises(ValueError, match="clashes"):
        check(reg, 1, "other", tier=Tier.smoke, component="x", proves="p.", expand=lambda s: [None])(body)
    with pytest.raises(ValueError, match="clashes"):
        check(reg, 2, "one", tier=Tier.smoke, component="x", proves="p.", expand=lambda s: [None])(body)


def test_tiers_include_the_lower_ones_and_l2_is_opt_in(lab_site: Site) -> None:
    reg = load_all()
    smoke = {i.id for i in reg.instances(lab_site, Tier.smoke)}
    l1 = {i.id for i in reg.instances(lab_site, Tier.l1)}
    l2 = {i.id for i in reg.instances(lab_site, Tier.l2)}
    assert smoke < l1 < l2
    assert not any("qscore" in i for i in l1) and any("qscore" in i for i in l2)
    assert all(ID.match(i) for i in l2), [i for i in l2 if not ID.match(i)]


def test_lab_expands_into_host_qpu_and_pair_checks(lab_site: Site) -> None:
    ids = {i.id for i in load_all().instances(lab_site, Tier.l1)}
    # host state, from the model's roles
    assert "010_host_reachable[qgw]" in ids
    assert "013_service_running[qgw:qrmid]" in ids and "013_service_running[qgw:qpu-emulator]" in ids
    assert "014_port_bound[ctl:prometheus]" in ids
    assert "013_service_running[c1:slurmctld]" not in ids  # only the controller runs slurmctld
    assert "015_config_file[c1:/etc/munge/munge.key]" in ids
    # munge trust: controller to every other host, and compute nodes to the access node
    assert {"020_munge_roundtrip[ctl->c1]", "020_munge_roundtrip[c2->qgw]"} <= ids
    # functional and benchmarks per QPU, by modality
    assert {"041_qpu_job_correct[sc_twin]", "041_qpu_job_correct[FRESNEL]"} <= ids
    assert "070_ghz_fidelity[sc_twin]" in ids and "070_ghz_fidelity[FRESNEL]" not in ids
    assert "073_ising_quench[FRESNEL]" in ids and "073_ising_quench[sc_twin]" not in ids
    assert "042_multi_qpu_job" in ids


def test_only_selects_by_number_or_name(lab_site: Site) -> None:
    reg = load_all()
    assert {i.spec.number for i in reg.instances(lab_site, Tier.l1, ("020",))} == {20}
    assert {i.spec.name for i in reg.instances(lab_site, Tier.l1, ("ghz",))} == {"ghz_fidelity"}


def test_a_site_without_qpus_has_no_qpu_checks(lab: dict) -> None:
    from tests.acceptance.conftest import site_from

    lab["qpus"] = []
    lab["facility"]["network"]["links"] = []
    lab["software"]["policy_profiles"] = []
    site = site_from(lab)
    specs: list[CheckSpec[object]] = [i.spec for i in load_all().instances(site, Tier.l2)]
    assert not any(s.component in ("benchmark", "qpu access") for s in specs)


def test_the_documented_catalogue_matches_the_code() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "acceptance.md").read_text()
    for spec in load_all().specs:
        row = f"| {spec.number:03d} | `{spec.name}` | {spec.tier.value} | {spec.component} |"
        assert row in doc, f"docs/acceptance.md lacks or misdescribes {spec.check_id}: {row}"
