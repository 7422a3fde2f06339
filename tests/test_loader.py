"""Loading site.yaml from disk: YAML errors, duplicate keys and line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from site_survey import SiteModelError, load_site
from tests.conftest import LAB


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def test_lab_loads_by_name() -> None:
    assert load_site("lab").site.name == "lab"


def test_load_by_directory_and_file() -> None:
    assert load_site(LAB.parent).site.name == "lab"
    assert load_site(LAB).site.name == "lab"


def test_unknown_site_lists_known_sites() -> None:
    with pytest.raises(SiteModelError) as info:
        load_site("no-such-site")
    assert "lab" in info.value.render()


def test_invalid_yaml_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "schema_version: 1\nsite:\n  name: [unclosed\n")
    with pytest.raises(SiteModelError) as info:
        load_site(path)
    (problem,) = info.value.problems
    assert "not valid YAML" in problem.message
    assert problem.line is not None and problem.line >= 3


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "schema_version: 1\nsite:\n  name: a\n  name: b\n")
    with pytest.raises(SiteModelError) as info:
        load_site(path)
    assert "duplicate key 'name'" in info.value.render()


def test_problems_carry_yaml_lines(tmp_path: Path) -> None:
    text = LAB.read_text().replace("    cpus: 2\n", "    cpus: two\n", 1)
    path = write(tmp_path, text)
    with pytest.raises(SiteModelError) as info:
        load_site(path)
    (problem,) = info.value.problems
    assert problem.path == "hosts[1].cpus"
    expected_line = text.splitlines().index("    cpus: two") + 1
    assert problem.line == expected_line
    assert f"site.yaml:{expected_line}: hosts[1].cpus" in info.value.render()


def test_consistency_problems_carry_lines(tmp_path: Path) -> None:
    doc = yaml.safe_load(LAB.read_text())
    doc["hosts"][2]["address"] = doc["hosts"][1]["address"]
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(SiteModelError) as info:
        load_site(path)
    (problem,) = info.value.problems
    assert problem.path == "hosts[2].address" and problem.line is not None


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SiteModelError) as info:
        load_site(path)
    assert "cannot read" in info.value.render()


def test_old_minutes_field_names_point_to_the_new_ones():
    from site_survey.loader import parse_site

    data = yaml.safe_load(Path(LAB).read_text())
    data["software"]["policy_profiles"][0]["max_hold_min"] = data["software"]["policy_profiles"][0].pop(
        "max_hold_minutes"
    )
    with pytest.raises(SiteModelError) as err:
        parse_site(data)
    text = str(err.value)
    assert "software.policy_profiles[0].max_hold_min" in text
    assert "max_hold_minutes" in text
