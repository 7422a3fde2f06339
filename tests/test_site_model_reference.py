"""The generated field reference (`qpusite schema --format markdown`) and the unit suffixes it reads.

docs/site-model-reference.md is the generator's output, committed; these tests
fail when the two differ, when a field is missing from the reference, and when
a numeric field's name could be misread (a duration without its time unit).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import BaseModel

from site_survey.loader import RENAMED_FIELDS
from site_survey.model import Site
from site_survey.reference import (
    REGENERATE,
    describe,
    example_documents,
    markdown,
    misread_unit,
    sections,
    unit_of,
)
from tests.conftest import REPO
from tests.test_model_messages import REGEX_SYNTAX

REFERENCE = REPO / "docs" / "site-model-reference.md"


def test_committed_reference_is_the_generated_one() -> None:
    generated = markdown(example_documents())
    committed = REFERENCE.read_text(encoding="utf-8") if REFERENCE.is_file() else ""
    if committed != generated:
        old, new = committed.splitlines(), generated.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
        pytest.fail(
            f"docs/site-model-reference.md is out of date (first difference at line {first + 1}: "
            f"{(old[first:first + 1] or ['<end>'])[0][:100]!r} vs {(new[first:first + 1] or ['<end>'])[0][:100]!r}). "
            f"The model or an example site changed; regenerate it with:\n    {REGENERATE}"
        )


def test_cli_prints_the_reference_and_keeps_json_as_default() -> None:
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    md = subprocess.run(
        [sys.executable, "-m", "qpusite", "schema", "--format", "markdown"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=env,
    )
    assert md.returncode == 0, md.stderr
    assert md.stdout == markdown(example_documents())  # deterministic across processes and hash seeds
    assert [d["site"]["name"] for d in example_documents()][0] == "lab"  # examples: the embedded default first
    default = subprocess.run(
        [sys.executable, "-m", "qpusite", "schema", "--compact"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert default.returncode == 0 and default.stdout.startswith("{"), default.stderr


def _object_types(cls: type[BaseModel], found: dict[str, type[BaseModel]]) -> dict[str, type[BaseModel]]:
    found[cls.__name__] = cls
    for info in cls.model_fields.values():
        kind = describe(info.annotation, info.metadata)
        if kind.model is not None and kind.model.__name__ not in found:
            _object_types(kind.model, found)
    return found


def test_every_field_of_every_object_is_in_the_reference() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    tables = sections()
    types = _object_types(Site, {})
    # one table per object type, wherever it is used
    assert sorted(s.title for s in tables) == sorted(types)
    for section in tables:
        assert [r.name for r in section.rows] == list(types[section.title].model_fields), section.path
        heading = f"## `{section.path}` ({section.title})" if section.path else f"## Top level ({section.title})"
        assert heading in text
    # a field whose object is documented elsewhere points at that table
    paths = {s.path for s in tables}
    for section in tables:
        for row in section.rows:
            if "see `" in row.type:
                assert row.type.split("see `")[1].rstrip("`)") in paths, row


def test_reference_says_rules_in_words_not_regular_expressions() -> None:
    for section in sections(example_documents()):
        for row in section.rows:
            assert not REGEX_SYNTAX.search(row.allowed), (section.path, row.name, row.allowed)


def test_units_come_from_the_field_names() -> None:
    assert unit_of("capacity_kw") == "kW"
    assert unit_of("duration_minutes") == "minutes"
    assert unit_of("latency_ms_max") == "milliseconds (maximum)"
    assert unit_of("supply_temp_min_c") == "°C"
    assert unit_of("qubits") == ""
    rows = {f"{s.path}.{r.name}": r for s in sections() for r in s.rows}
    assert rows["facility.power_feeds[].ups_autonomy_minutes"].unit == "minutes"
    assert rows["qpus[].calibration_windows[].duration_minutes"].unit == "minutes"
    assert rows["facility.rooms[].floor_load_rating_kg_m2"].unit == "kg/m²"


def test_no_duration_hides_its_unit() -> None:
    # '_min' means minimum everywhere; a duration says its unit in full (issue 12 item 6)
    for old in RENAMED_FIELDS:
        assert misread_unit(old) is not None, old
    for section in sections():
        for row in section.rows:
            if "integer" in row.type or "number" in row.type:
                assert misread_unit(row.name) is None, f"{section.path}.{row.name}: {misread_unit(row.name)}"


def test_renamed_fields_point_at_fields_that_exist() -> None:
    names = {row.name for s in sections() for row in s.rows}
    for old, new in RENAMED_FIELDS.items():
        assert new in names and old not in names, (old, new)
