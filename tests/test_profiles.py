"""Requirement profiles: every figure has a source and a confidence, keys match
the site model's overrides, layering is modality → system → site model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from site_survey import SiteModelError, parse_site
from site_survey.model import Modality, RequirementOverrides
from site_survey.profiles import (
    OVERRIDE_SOURCE,
    PROFILES_DIR,
    ProfileDataError,
    ProfileRequirements,
    effective_requirements,
    load_profiles,
)
from tests.test_survey_rules import base_doc

PROFILE_FILES = sorted(PROFILES_DIR.glob("*/*.yaml"))


def test_profile_keys_match_the_site_model_overrides() -> None:
    assert set(ProfileRequirements.model_fields) == set(RequirementOverrides.model_fields)


def test_every_modality_has_a_profile_and_systems_exist() -> None:
    library = load_profiles()
    assert set(library.modalities) == set(Modality)
    assert len(library.systems) >= 2


@pytest.mark.parametrize("path", PROFILE_FILES, ids=[p.stem for p in PROFILE_FILES])
def test_every_figure_carries_source_and_confidence(path: Path) -> None:
    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    assert raw["requirements"], f"{path.name} has no figure"
    for key, figure in raw["requirements"].items():
        assert isinstance(figure, dict), f"{path.name}:{key} is a bare value"
        assert set(figure) >= {"value", "source", "confidence"}, f"{path.name}:{key}"
        assert figure["confidence"] in ("high", "medium", "low")
        assert len(figure["source"]) > 10


def test_layering_modality_then_system_then_site_model() -> None:
    doc = base_doc()
    doc["qpus"][0]["system"] = "ibm-quantum-system-one"
    doc["qpus"][0]["requirements"] = {"cooling_kw": 12}
    qpu = parse_site(doc).qpus[0]
    reqs = effective_requirements(qpu)
    assert reqs["cooling_kw"].value == 12 and reqs["cooling_kw"].origin == OVERRIDE_SOURCE
    assert reqs["footprint_m2"].origin == "system profile 'ibm-quantum-system-one'"
    assert reqs["humidity_max_pct"].origin == "modality profile 'superconducting'"
    assert reqs["humidity_max_pct"].confidence.value in ("medium", "low")


def test_unknown_system_is_a_model_error_naming_the_field_and_known_systems() -> None:
    doc = base_doc()
    doc["qpus"][0]["system"] = "ibm-quantum-system-nine"
    with pytest.raises(SiteModelError) as caught:
        parse_site(doc)
    (problem,) = caught.value.problems
    assert problem.path == "qpus[0].system"
    assert "ibm-quantum-system-one" in problem.message and "quandela-mosaiq" in problem.message


def test_system_of_another_modality_is_a_model_error() -> None:
    doc = base_doc()
    doc["qpus"][0]["system"] = "quandela-mosaiq"  # photonic, but the QPU is superconducting
    with pytest.raises(SiteModelError) as caught:
        parse_site(doc)
    assert "photonic" in caught.value.problems[0].message


def _write_profile(root: Path, kind: str, name: str, body: dict[str, Any]) -> None:
    folder = root / ("modalities" if kind == "modality" else "systems")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(body))


def test_figure_without_source_is_refused(tmp_path: Path) -> None:
    _write_profile(tmp_path, "modality", "photonic", {
        "id": "photonic", "kind": "modality", "title": "x", "modality": "photonic",
        "requirements": {"power_kw": {"value": 3, "confidence": "low"}},
    })
    with pytest.raises(ProfileDataError, match="power_kw.source"):
        load_profiles(tmp_path)


def test_unknown_requirement_key_is_refused(tmp_path: Path) -> None:
    _write_profile(tmp_path, "system", "acme-one", {
        "id": "acme-one", "kind": "system", "title": "x", "modality": "photonic", "vendor": "Acme",
        "requirements": {"power_kva": {"value": 3, "source": "a brochure", "confidence": "low"}},
    })
    with pytest.raises(ProfileDataError, match="power_kva"):
        load_profiles(tmp_path)


def test_file_name_must_match_id(tmp_path: Path) -> None:
    _write_profile(tmp_path, "system", "acme-two", {
        "id": "acme-one", "kind": "system", "title": "x", "modality": "photonic", "vendor": "Acme",
        "requirements": {},
    })
    with pytest.raises(ProfileDataError, match="file name"):
        load_profiles(tmp_path)
