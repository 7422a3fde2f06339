"""The twin copy of a site (`qpusite up SITE --twins`): a pure transformation of the Site model."""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml

from rehearsal.errors import RehearsalInputError
from rehearsal.network import site_network
from rehearsal.twins import (
    CONTAINER_SLURM_OVERRIDES,
    EMULATOR_MAX_QUBITS,
    HOST_CPUS,
    REHEARSAL_FAIRSHARE_CALC_PERIOD_MINUTES,
    REHEARSAL_USER,
    TWIN_RUNTIME_EXTRAS,
    twin_site,
)
from site_survey import derive, load_site
from site_survey.consistency import check_consistency
from site_survey.loader import parse_site
from site_survey.model import PASQAL_CLOUD_DEVICES, HostRole, QrmiType, Site

ROOT = Path(__file__).resolve().parents[2]


def national() -> Site:
    return load_site(ROOT / "inventories" / "national" / "site.yaml")


def national_doc() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "inventories" / "national" / "site.yaml").read_text())


def test_every_real_qpu_becomes_an_emulator_twin_of_the_same_shape() -> None:
    site = national()
    plan = twin_site(site)
    emulators = {h.name for h in plan.site.hosts_with(HostRole.emulator)}
    assert emulators, "the twins need an emulator host"
    assert len(plan.site.qpus) == len(site.qpus)
    for original in site.qpus:
        name = plan.renamed_qpus.get(original.name, original.name)
        twin = plan.site.qpu(name)
        assert twin is not None, name
        assert twin.access.mode == "emulator" and twin.emulator is not None
        assert twin.emulator.host in emulators
        assert twin.modality == original.modality and twin.vendor == original.vendor
        assert twin.qubits == min(original.qubits, EMULATOR_MAX_QUBITS)
        assert twin.calibration_windows == original.calibration_windows
        assert twin.slots == original.slots
        # a type the emulator serves is kept (IBM Quantum System, IQM Server); any other follows the twin's API
        if original.qrmi.type in (QrmiType.ibm_quantum_system, QrmiType.iqm_server):
            assert twin.qrmi.type == original.qrmi.type
        else:
            assert twin.qrmi.type in (QrmiType.ibm_quantum_compute_service, QrmiType.pasqal_cloud)
        if twin.qrmi.type == QrmiType.pasqal_cloud:
            assert twin.name in PASQAL_CLOUD_DEVICES and twin.emulator.pulser_device is not None
        # secrets are the rehearsal's, never the site's vaulted credentials
        site_vaults = {ref.vault for q in site.qpus for ref in q.qrmi.secrets.values()}
        assert twin.qrmi.secrets and not {ref.vault for ref in twin.qrmi.secrets.values()} & site_vaults


def test_the_original_model_is_not_changed() -> None:
    site = national()
    before = site.model_dump(mode="json")
    twin_site(site)
    assert site.model_dump(mode="json") == before


def test_each_partition_keeps_a_few_hosts_and_every_other_host_is_kept() -> None:
    doc = national_doc()
    # 40 compute hosts in a host set, partitions written as a set, a hostlist and a role
    doc["hosts"] = [h for h in doc.get("hosts", []) if h.get("roles") != ["compute"]]
    doc["host_sets"] = [s for s in doc.get("host_sets", []) if s.get("roles") != ["compute"]] + [
        {"name": "bulk", "hosts": "bk[001-040]", "first_address": "10.41.3.1", "roles": ["compute"],
         "cpus": 64, "memory_mb": 262144},
    ]
    doc["software"]["scheduler"]["partitions"] = [
        {"name": "cpu", "hosts": "set:bulk", "default": True},
        {"name": "late", "hosts": "bk[030-040]"},
        {"name": "all", "hosts": "role:compute"},
    ]
    site = parse_site(doc)
    plan = twin_site(site, per_partition=3)
    parts = {p.name: p.hosts for p in plan.site.software.scheduler.partitions}
    assert parts == {"cpu": ["bk001", "bk002", "bk003"], "late": ["bk030", "bk031", "bk032"],
                     "all": ["bk001", "bk002", "bk003"]}
    names = [h.name for h in plan.site.hosts]
    others = [h.name for h in site.hosts if h.roles != [HostRole.compute]]
    assert [n for n in names if not n.startswith("bk")] == others
    assert sorted(n for n in names if n.startswith("bk")) == ["bk001", "bk002", "bk003", "bk030", "bk031", "bk032"]
    assert len(plan.dropped_hosts) == 40 - 6
    assert plan.site.host_sets == []  # the copy lists its few hosts one by one
    for role in (HostRole.controller, HostRole.login, HostRole.monitoring, HostRole.qpu_access):
        assert [h.name for h in plan.site.hosts_with(role)] == [h.name for h in site.hosts_with(role)]


def test_host_resources_fit_a_container_and_connection_uses_the_rehearsal_key() -> None:
    plan = twin_site(national())
    for host in plan.site.hosts:
        assert host.cpus <= HOST_CPUS and host.memory_mb <= 2048
        assert host.connection.private_key_file == ".rehearsal/id_ed25519"
    overrides = plan.site.software.scheduler.conf_overrides
    assert all(overrides[k] == v for k, v in CONTAINER_SLURM_OVERRIDES.items())


def test_fair_share_is_charged_every_minute_on_the_twin_copy_only() -> None:
    site = national()
    assert site.software.scheduler.accounting.fairshare_calc_period_minutes == 5  # Slurm's default
    plan = twin_site(site)
    assert plan.site.software.scheduler.accounting.fairshare_calc_period_minutes == 1
    assert REHEARSAL_FAIRSHARE_CALC_PERIOD_MINUTES == 1
    assert any("fair-share charged every 1 min" in n and "5 in the model" in n for n in plan.notes), plan.notes
    assert site.software.scheduler.accounting.fairshare_calc_period_minutes == 5  # the model is not changed


def test_addresses_kept_on_one_covering_network() -> None:
    site = national()
    plan = twin_site(site)
    original = {h.name: h.address for h in site.hosts}
    assert all(original[h.name] == h.address for h in plan.site.hosts)
    network = site_network(plan.site)
    assert all(ipaddress.IPv4Address(h.address) in network.subnet for h in plan.site.hosts)
    assert plan.covering_subnet == network.subnet
    # every host still sits in its own modelled VLAN first (routes between VLANs as modelled)
    assert check_consistency(plan.site) == []


def test_addresses_remapped_into_a_given_subnet() -> None:
    subnet = ipaddress.IPv4Network("10.213.0.0/24")
    plan = twin_site(national(), subnet=subnet)
    addresses = [ipaddress.IPv4Address(h.address) for h in plan.site.hosts]
    assert len(set(addresses)) == len(addresses)
    assert all(a in subnet and a != subnet.network_address + 1 for a in addresses)
    assert [v.cidr for v in plan.site.facility.network.vlans] == [str(subnet)]
    assert site_network(plan.site).subnet == subnet
    assert set(plan.addresses) == {h.name for h in plan.site.hosts}
    assert any("remapped" in note for note in plan.notes)


def test_a_subnet_too_small_is_refused_naming_the_flag() -> None:
    with pytest.raises(RehearsalInputError, match="--twins-subnet"):
        twin_site(national(), subnet=ipaddress.IPv4Network("10.213.0.0/29"))


def test_a_renamed_twin_is_followed_by_profiles_and_links() -> None:
    site = national()
    plan = twin_site(site)
    for old, new in plan.renamed_qpus.items():
        for before, after in zip(site.software.policy_profiles, plan.site.software.policy_profiles, strict=True):
            assert (old in before.qpus) == (new in after.qpus)
            assert old not in after.qpus
        assert all(link.to_qpu != old for link in plan.site.facility.network.links)
        assert any(old in note and new in note for note in plan.notes)


def test_an_acceptance_user_is_added_only_when_no_profile_has_one() -> None:
    plan = twin_site(national())
    users = [u for p in plan.site.software.policy_profiles for u in p.users]
    assert REHEARSAL_USER in users
    assert REHEARSAL_USER in [a.name for a in plan.site.software.accounts]
    lab = load_site(ROOT / "inventories" / "lab" / "site.yaml")
    assert twin_site(lab).site.software.accounts == lab.software.accounts


def test_lab_twins_stay_as_modelled() -> None:
    lab = load_site(ROOT / "inventories" / "lab" / "site.yaml")
    plan = twin_site(lab)
    assert plan.site.qpus == lab.qpus
    assert plan.site.hosts == lab.hosts
    assert plan.renamed_qpus == {} and plan.dropped_hosts == []


def test_a_modality_without_twin_gets_a_noted_stand_in() -> None:
    doc = national_doc()
    photonic = [q["name"] for q in doc["qpus"] if q["modality"] == "photonic"]
    assert photonic, "the national model has a photonic QPU"
    plan = twin_site(parse_site(doc))
    assert any(photonic[0] in n and "stand-in" in n for n in plan.notes)


def test_tls_hosts_of_left_out_hosts_are_dropped() -> None:
    doc = copy.deepcopy(national_doc())
    access = national().hosts_with(HostRole.qpu_access)[0].name
    doc["facility"]["network"]["tls"] = {
        "enabled": True,
        "ca_certificate_file": "pki/ca.crt",
        "hosts": {access: {"certificate": {"vault": "vault_a_crt"}, "key": {"vault": "vault_a_key"}}},
    }
    plan = twin_site(parse_site(doc))
    tls = plan.site.facility.network.tls
    assert tls.enabled and tls.ca_certificate_file == ".rehearsal/tls/ca.crt"
    assert set(tls.hosts) == {access}


def test_per_partition_must_be_positive() -> None:
    with pytest.raises(RehearsalInputError, match="per-partition"):
        twin_site(national(), per_partition=0)


def test_emulator_bound_matches_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "services" / "qpu-emulator"))
    config = pytest.importorskip("qpu_emulator.config")
    bound = next(m for m in config.Twin.model_fields["num_qubits"].metadata if hasattr(m, "le"))
    assert bound.le == EMULATOR_MAX_QUBITS


def test_the_runtime_gets_what_the_acceptance_programs_need_against_twins() -> None:
    site = national()
    plan = twin_site(site)
    extras = plan.site.software.runtime.extras
    assert extras[: len(site.software.runtime.extras)] == site.software.runtime.extras
    assert set(TWIN_RUNTIME_EXTRAS) <= set(extras)
    lab = load_site(ROOT / "inventories" / "lab" / "site.yaml")
    assert twin_site(lab).site.software.runtime == lab.software.runtime


def test_a_qpu_reached_outside_qrmi_is_kept_as_it_is() -> None:
    doc = national_doc()
    doc["qpus"][0]["access"] = {"mode": "external"}
    doc["qpus"][0].pop("qrmi", None)
    for profile in doc["software"]["policy_profiles"]:  # qrmid does not broker an external QPU
        profile["qpus"] = [q for q in profile["qpus"] if q != doc["qpus"][0]["name"]]
    site = parse_site(doc)
    plan = twin_site(site)
    assert plan.site.qpus[0] == site.qpus[0]
    assert any(site.qpus[0].name in n and "no twin" in n for n in plan.notes)


def test_an_ibm_quantum_system_qpu_gets_a_twin_of_its_own_type_on_the_rehearsal_store() -> None:
    site = national()
    plan = twin_site(site)
    twin = plan.site.qpu("ibm_qhall")
    assert twin is not None and twin.qrmi is not None and twin.emulator is not None
    assert twin.qrmi.type == QrmiType.ibm_quantum_system
    # bucket and region kept, no endpoint of the site's store: the rehearsal's store is filled in
    assert twin.qrmi.settings["QRMI_IBM_QS_S3_BUCKET"] == "qhall-a-payloads"
    assert twin.qrmi.settings["QRMI_IBM_QS_S3_REGION"] == "national-1"
    assert not any("ENDPOINT" in k for k in twin.qrmi.settings)
    assert set(twin.qrmi.secrets) == {
        "QRMI_IBM_QS_IAM_APIKEY", "QRMI_IBM_QS_AWS_ACCESS_KEY_ID", "QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY"}
    emulator = plan.site.host(twin.emulator.host)
    assert emulator is not None
    settings = derive.qrmi_settings(plan.site, twin)
    store = f"http://{emulator.address}:{plan.site.software.twin_s3_port}"
    assert settings["QRMI_IBM_QS_S3_ENDPOINT"] == store
    assert settings["QRMI_IBM_QS_ENDPOINT"].endswith("/quantum-system")
    assert derive.emulator_s3_endpoints(plan.site) == {emulator.name: [store]}
    stores = derive.twin_s3_stores(plan.site)
    assert list(stores) == [emulator.name] and derive.groups(plan.site)["twin_s3"] == [emulator.name]
    assert stores[emulator.name]["buckets"] == [{
        "qpu": "ibm_qhall", "name": "qhall-a-payloads", "region": "national-1",
        "access_key_id": "vault_twin_ibm_qhall_s3_access_key_id",
        "secret_access_key": "vault_twin_ibm_qhall_s3_secret_access_key"}]
    assert any("ibm_qhall" in n and "rehearsal's S3 store" in n for n in plan.notes)
    assert check_consistency(plan.site) == []


def test_an_iqm_server_qpu_gets_an_iqm_twin() -> None:
    doc = national_doc()
    doc["qpus"][2] = {
        "name": "garnet", "vendor": "IQM", "modality": "superconducting", "qubits": 20, "room": "photonics-lab",
        "access": {"mode": "onprem", "access_host": "qgw1", "endpoint_url": "https://iqm.national.internal"},
        "qrmi": {"type": "iqm-server", "secrets": {"QRMI_IQM_ISA_TOKEN": {"vault": "vault_national_iqm_token"}}},
        "slots": 1,
    }
    doc["software"]["policy_profiles"][0]["qpus"][2] = "garnet"
    plan = twin_site(parse_site(doc, "national with IQM"))
    twin = plan.site.qpu("garnet")
    assert twin is not None and twin.qrmi is not None and twin.emulator is not None
    assert twin.qrmi.type == QrmiType.iqm_server
    assert set(twin.qrmi.secrets) == {"QRMI_IQM_ISA_TOKEN"}
    assert twin.qrmi.secrets["QRMI_IQM_ISA_TOKEN"].vault == "vault_twin_garnet_token"
    assert twin.emulator.basis_gates is None and twin.emulator.coupling_map
    assert derive.qrmi_settings(plan.site, twin)["QRMI_IQM_ISA_ENDPOINT"].startswith("http://")
    # only the IBM Quantum System twin has a bucket in the store
    assert [b["qpu"] for s in derive.twin_s3_stores(plan.site).values() for b in s["buckets"]] == ["ibm_qhall"]


def test_a_qs_twin_whose_model_names_a_store_uses_it_and_gets_none() -> None:
    plan = twin_site(national())
    doc = plan.site.model_dump(mode="json", exclude_none=True)
    qs = next(q for q in doc["qpus"] if q["name"] == "ibm_qhall")
    qs["qrmi"]["settings"]["QRMI_IBM_QS_S3_ENDPOINT"] = "http://10.42.0.99:9000"
    site = parse_site(doc, "own store")
    twin = site.qpu("ibm_qhall")
    assert twin is not None
    assert derive.qrmi_settings(site, twin)["QRMI_IBM_QS_S3_ENDPOINT"] == "http://10.42.0.99:9000"
    assert derive.twin_s3_stores(site) == {} and derive.groups(site)["twin_s3"] == []
