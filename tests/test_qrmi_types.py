"""Per-QRMI-type validation at `qpusite validate` time (site_survey/qrmi_rules.py), the catalogue's
type table against every other holder of the same facts, and the 'external' access mode."""

from __future__ import annotations

import ast
import copy
import json
import subprocess
from typing import Any

import pytest

from site_survey import SiteModelError, parse_site
from site_survey.catalogue.qrmi_types import GENERATED_TYPES, QRMI_TYPES
from site_survey.derive import qrmi_resources
from site_survey.model import QrmiType
from tests.conftest import REPO

SCHEMA = json.loads((REPO / "roles" / "quantum_runtime" / "files" / "qrmi_config.schema.json").read_text())
NODE_PYTHON = REPO / ".venv-node" / "bin" / "python"

IBM_QS = {
    "name": "qs_onprem", "vendor": "IBM", "modality": "superconducting", "qubits": 5, "room": None,
    "access": {"mode": "vendor_service", "endpoint_url": "https://qs.example.org"},
    "qrmi": {
        "type": "ibm-quantum-system",
        "settings": {
            "QRMI_IBM_QS_IAM_ENDPOINT": "https://iam.example.org",
            "QRMI_IBM_QS_SERVICE_CRN": "crn:v1:x",
            "QRMI_IBM_QS_S3_ENDPOINT": "https://s3.example.org",
            "QRMI_IBM_QS_S3_BUCKET": "b",
            "QRMI_IBM_QS_S3_REGION": "r",
        },
        "secrets": {
            "QRMI_IBM_QS_IAM_APIKEY": {"vault": "vault_qs_apikey"},
            "QRMI_IBM_QS_AWS_ACCESS_KEY_ID": {"vault": "vault_qs_key_id"},
            "QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY": {"vault": "vault_qs_secret"},
        },
    },
}


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(SiteModelError) as exc:
        parse_site(doc)
    return [p.render() for p in exc.value.problems]


def with_qpu(lab: dict[str, Any], qpu: dict[str, Any]) -> dict[str, Any]:
    lab["qpus"].append(copy.deepcopy(qpu))
    return lab


def test_a_complete_ibm_quantum_system_passes_and_maps_its_endpoint(lab: dict[str, Any]) -> None:
    site = parse_site(with_qpu(lab, IBM_QS))
    res = next(r for r in qrmi_resources(site) if r["name"] == "qs_onprem")
    assert res["environment"]["QRMI_IBM_QS_ENDPOINT"] == "https://qs.example.org"
    assert res["resource_type"] == "IBMQuantumSystem"


def test_misspelled_setting_is_refused_with_the_nearest_key(lab: dict[str, Any]) -> None:
    settings = lab["qpus"][0]["qrmi"]["settings"]
    settings["QRMI_IBM_QCS_SESION_MODE"] = settings.pop("QRMI_IBM_QCS_SESSION_MODE")
    found = problems(lab)
    assert any("qpus[0].qrmi.settings.QRMI_IBM_QCS_SESION_MODE" in p and "did you mean QRMI_IBM_QCS_SESSION_MODE"
               in p for p in found), found


def test_a_setting_of_another_type_is_refused(lab: dict[str, Any]) -> None:
    lab["qpus"][1]["qrmi"]["settings"]["QRMI_IBM_QCS_SERVICE_CRN"] = "crn:v1:x"
    found = problems(lab)
    assert any("qpus[1].qrmi.settings.QRMI_IBM_QCS_SERVICE_CRN" in p and "pasqal-cloud does not read" in p
               for p in found), found


def test_missing_required_setting_is_named_with_the_fix(lab: dict[str, Any]) -> None:
    del lab["qpus"][0]["qrmi"]["settings"]["QRMI_IBM_QCS_SERVICE_CRN"]
    found = problems(lab)
    assert any("qpus[0].qrmi.settings" in p and "requires QRMI_IBM_QCS_SERVICE_CRN" in p for p in found), found


def test_missing_required_secret_is_named_with_the_fix(lab: dict[str, Any]) -> None:
    lab["qpus"][0]["qrmi"]["secrets"] = {}
    found = problems(lab)
    assert any("qpus[0].qrmi.secrets" in p and "QRMI_IBM_QCS_IAM_APIKEY: {vault:" in p for p in found), found


def test_a_pasqal_cloud_qpu_needs_a_token_or_client_secret(lab: dict[str, Any]) -> None:
    lab["qpus"][1]["qrmi"]["secrets"] = {}
    found = problems(lab)
    assert any("qpus[1].qrmi.secrets" in p and "needs one of QRMI_PASQAL_CLOUD_AUTH_TOKEN" in p for p in found)


def test_a_setting_given_as_secret_is_moved_back(lab: dict[str, Any]) -> None:
    lab["qpus"][1]["qrmi"]["secrets"]["QRMI_PASQAL_CLOUD_PROJECT_ID"] = {"vault": "vault_project"}
    found = problems(lab)
    assert any("qpus[1].qrmi.secrets.QRMI_PASQAL_CLOUD_PROJECT_ID" in p and "under qrmi.settings" in p
               for p in found), found


def test_a_value_the_type_cannot_use_is_refused(lab: dict[str, Any]) -> None:
    lab["qpus"][0]["qrmi"]["settings"]["QRMI_IBM_QCS_SESSION_MODE"] = "exclusive"
    lab["qpus"][0]["qrmi"]["settings"]["QRMI_IBM_QCS_TIMEOUT_SECONDS"] = "soon"
    found = problems(lab)
    assert any("QRMI_IBM_QCS_SESSION_MODE" in p and "one of: dedicated, batch" in p for p in found), found
    assert any("QRMI_IBM_QCS_TIMEOUT_SECONDS" in p and "whole number" in p for p in found), found


def test_endpoint_without_v1_is_refused_where_it_was_written(lab: dict[str, Any]) -> None:
    qpu = lab["qpus"][0]
    qpu["access"] = {"mode": "vendor_service", "endpoint_url": "https://quantum.example.org/api"}
    qpu.pop("emulator")
    qpu["qrmi"]["settings"]["QRMI_IBM_QCS_ENDPOINT"] = "https://quantum.example.org/api"
    qpu["qrmi"]["settings"]["QRMI_IBM_QCS_IAM_ENDPOINT"] = "https://iam.example.org"
    found = problems(lab)
    assert any("qpus[0].qrmi.settings.QRMI_IBM_QCS_ENDPOINT" in p and "must end in /v1" in p for p in found), found


def test_endpoint_url_and_a_different_endpoint_setting_conflict(lab: dict[str, Any]) -> None:
    qpu = with_qpu(lab, IBM_QS)["qpus"][-1]
    qpu["qrmi"]["settings"]["QRMI_IBM_QS_ENDPOINT"] = "https://other.example.org"
    found = problems(lab)
    assert any("QRMI_IBM_QS_ENDPOINT" in p and "keep one of them" in p for p in found), found


def test_a_qpu_without_endpoint_is_told_which_field_maps(lab: dict[str, Any]) -> None:
    qpu = with_qpu(lab, IBM_QS)["qpus"][-1]
    qpu["access"] = {"mode": "onprem", "access_host": "qgw"}
    qpu["room"] = lab["facility"]["rooms"][0]["name"]
    found = problems(lab)
    assert any(f"qpus[{len(lab['qpus']) - 1}].access.endpoint_url" in p and "maps it to QRMI_IBM_QS_ENDPOINT" in p
               for p in found), found


FELIS = {
    "name": "cat_qubits", "vendor": "Alice & Bob", "modality": "superconducting", "qubits": 5, "room": None,
    "access": {"mode": "vendor_service", "endpoint_url": "https://felis.example.org"},
    "qrmi": {"type": "alice-bob-felis", "secrets": {"QRMI_AB_FELIS_API_KEY": {"vault": "vault_felis_key"}}},
}


def test_an_emulated_type_no_twin_speaks_is_refused(lab: dict[str, Any]) -> None:
    qpu = with_qpu(lab, FELIS)["qpus"][-1]
    qpu["room"] = lab["facility"]["rooms"][0]["name"]
    qpu["access"] = {"mode": "emulator"}
    qpu["emulator"] = copy.deepcopy(lab["qpus"][0]["emulator"])
    qpu["emulator"]["coupling_map"] = None
    found = problems(lab)
    assert any("access.mode" in p and "no emulator twin speaks alice-bob-felis" in p for p in found), found
    assert any("ibm-quantum-system" in p for p in found), found  # the types a twin serves are listed


def test_an_emulated_ibm_quantum_system_points_at_its_twin_and_its_store(lab: dict[str, Any]) -> None:
    from site_survey.derive import emulator_s3_endpoints, emulator_twins

    qpu = with_qpu(lab, IBM_QS)["qpus"][-1]
    qpu["room"] = lab["facility"]["rooms"][0]["name"]
    qpu["access"] = {"mode": "emulator"}
    qpu["emulator"] = copy.deepcopy(lab["qpus"][0]["emulator"])
    qpu["emulator"]["coupling_map"] = None
    qpu["qrmi"]["settings"]["QRMI_IBM_QS_S3_ENDPOINT_FOR_QSAPI"] = "http://s3.internal:9000"
    del qpu["qrmi"]["settings"]["QRMI_IBM_QS_IAM_ENDPOINT"]  # the twin's IAM
    site = parse_site(lab)
    env = next(r for r in qrmi_resources(site) if r["name"] == "qs_onprem")["environment"]
    host = qpu["emulator"]["host"]
    base = env["QRMI_IBM_QS_IAM_ENDPOINT"]
    assert env["QRMI_IBM_QS_ENDPOINT"] == base + "/quantum-system"
    twin = next(t for t in emulator_twins(site)[host] if t["name"] == "qs_onprem")
    assert twin["api"] == "ibm-quantum-system"
    assert twin["credentials"]["api_keys"] == ["vault_qs_apikey"]
    assert emulator_s3_endpoints(site)[host] == ["http://s3.internal:9000"]
    # an emulated QPU may not name its own QS endpoint: the kit points it at the twin
    qpu["qrmi"]["settings"]["QRMI_IBM_QS_ENDPOINT"] = "https://qs.example.org"
    assert any("QRMI_IBM_QS_ENDPOINT" in p and "emulator twin" in p for p in problems(lab))


def test_an_emulated_qpu_does_not_override_its_twins_endpoint(lab: dict[str, Any]) -> None:
    lab["qpus"][1]["qrmi"]["settings"]["QRMI_PASQAL_CLOUD_BASE_URL"] = "https://elsewhere.example.org"
    found = problems(lab)
    assert any("qpus[1].qrmi.settings.QRMI_PASQAL_CLOUD_BASE_URL" in p and "emulator twin" in p for p in found)


def test_an_external_qpu_has_no_qrmi_block_and_no_qrmi_resource(lab: dict[str, Any]) -> None:
    photonic = {"name": "photonic_lab", "vendor": "Example", "modality": "photonic", "qubits": 6,
                "access": {"mode": "external"}}
    site = parse_site(with_qpu(lab, photonic))
    assert "photonic_lab" not in [r["name"] for r in qrmi_resources(site)]
    lab["qpus"][-1]["qrmi"] = copy.deepcopy(lab["qpus"][0]["qrmi"])
    assert any("access.mode 'external'" in p and "remove the 'qrmi:' block" in p for p in problems(lab))


def test_a_qrmi_access_mode_without_qrmi_is_refused(lab: dict[str, Any]) -> None:
    del lab["qpus"][0]["qrmi"]
    assert any("qpus[0]" in p and "add a 'qrmi:' block" in p and "'external'" in p for p in problems(lab))


def test_a_profile_cannot_name_an_external_qpu(lab: dict[str, Any]) -> None:
    with_qpu(lab, {"name": "photonic_lab", "vendor": "Example", "modality": "photonic", "qubits": 6,
                   "access": {"mode": "external"}})
    lab["software"]["policy_profiles"][0]["qpus"].append("photonic_lab")
    assert any("policy_profiles[0].qpus" in p and "qrmid does not broker it" in p for p in problems(lab))


# ---------------------------------------------------------------- one table, every holder agrees


def test_the_model_offers_exactly_the_types_the_catalogue_generates() -> None:
    assert sorted(t.value for t in QrmiType) == sorted(GENERATED_TYPES)


def test_the_qrmi_config_schema_requires_what_the_catalogue_requires() -> None:
    resource = SCHEMA["$defs"]["resource"]
    assert sorted(resource["properties"]["type"]["enum"]) == sorted(QRMI_TYPES)
    required = {
        rule["if"]["properties"]["type"]["const"]: sorted(rule["then"]["properties"]["environment"]["required"])
        for rule in resource["allOf"]
    }
    assert required == {t: sorted(spec.required_settings) for t, spec in QRMI_TYPES.items()}


def test_acceptance_node_table_agrees_with_the_catalogue() -> None:
    # acceptance/node runs on nodes without the controller's code: it keeps a copy, held equal here
    tree = ast.parse((REPO / "acceptance" / "node" / "qpu.py").read_text())
    table = next(
        ast.literal_eval(node.value) for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "RESOURCE_TYPES" for t in node.targets)
    )
    assert table == {t: spec.resource_type for t, spec in QRMI_TYPES.items()}


@pytest.mark.skipif(not NODE_PYTHON.exists(), reason=".venv-node missing (./bootstrap setup makes it)")
def test_every_resource_type_exists_in_the_pinned_qrmi() -> None:
    names = sorted({spec.resource_type for spec in QRMI_TYPES.values()})
    code = "import qrmi, sys; print(' '.join(n for n in sys.argv[1:] if not hasattr(qrmi.ResourceType, n)))"
    result = subprocess.run([str(NODE_PYTHON), "-c", code, *names], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_acceptance_sends_qpu_jobs_only_to_qpus_qrmid_brokers(lab: dict[str, Any]) -> None:
    from acceptance.checks import params
    from site_survey.derive import qpu_licenses

    with_qpu(lab, {"name": "photonic_lab", "vendor": "Example", "modality": "photonic", "qubits": 6,
                   "access": {"mode": "external"}})
    site = parse_site(lab)
    assert "photonic_lab" not in [p.qpu for p in params.each_qpu(site)]
    assert "photonic_lab" in qpu_licenses(site)  # still scheduled: its Slurm license stays
