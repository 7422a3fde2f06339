"""Errors on typed strings say the rule in words with an example, never a regular expression (issue 12 item 6).

The mistakes are the ones people make when they copy an example site: a space,
an upper-case letter or an accent in a name, a '-' where only '_' goes, a time
written without quotes, a time zone spelt loosely.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from site_survey import SiteModelError, strings
from site_survey.loader import format_path, parse_site
from site_survey.model import Site
from site_survey.reference import example_documents, sections
from site_survey.schema import json_schema
from site_survey.strings import Rule, nearest_zones

# What a regular expression looks like in a message: character classes, anchors, quantifiers, escapes.
# (A hostlist such as cn[001-192] or [1-4] is not one: ranges of digits are how Slurm writes host names.)
REGEX_SYNTAX = re.compile(
    r"\[\^|\^\[|\^\(|\]\*|\]\+|\]\{|\)\*|\)\?|\{\d+,\d*\}|\\[dswbAZ]|\(\?|\.\*|\.\+|\$\)"
    r"|\[(?:a-z|A-Z|0-9|_a-z)|should match pattern"
)

RULES = {name: value for name, value in vars(strings).items() if isinstance(value, Rule)}


def _problems(doc: Any) -> list[tuple[str, str]]:
    try:
        parse_site(doc)
    except SiteModelError as exc:
        return [(p.path, p.message) for p in exc.problems]
    return []


def test_the_detector_sees_regular_expressions() -> None:
    for regex in ("^[a-z][a-z0-9-]{0,62}$", r"\d+", "[A-Z_]+", "String should match pattern 'x'", "(?:a)"):
        assert REGEX_SYNTAX.search(regex), regex
    for words in ("a lower-case name, e.g. cn001", "letters, digits and _ . / : , = + @ % * ~ [ ] -", "cn[001-200]",
                  "write [4-1]"):
        assert not REGEX_SYNTAX.search(words), words


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_is_words_with_an_example_that_it_accepts(name: str) -> None:
    rule = RULES[name]
    assert rule.message.startswith("must be ") and ", e.g. " in rule.message
    assert not REGEX_SYNTAX.search(rule.message), rule.message
    example = yaml.safe_load(rule.example)  # an example is written as in YAML ("02:30" needs its quotes)
    assert rule.problem(str(example)) is None, (name, rule.example)


# ------------------------------------------------------------ mistakes on the example sites


def _locations(doc: Any, steps: list[str], at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if not steps:
        yield at
        return
    step, rest = steps[0], steps[1:]
    if step == "[]" and isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from _locations(item, rest, (*at, i))
    elif step.startswith("<") and isinstance(doc, dict):
        for key, item in doc.items():
            yield from _locations(item, rest, (*at, key))
    elif isinstance(doc, dict) and step in doc:
        yield from _locations(doc[step], rest, (*at, step))


def _steps(path: str) -> list[str]:
    out: list[str] = []
    for part in path.split("."):
        name = part.rstrip("[]")
        out.extend([name] if name else [])
        out.extend(["[]"] * ((len(part) - len(name)) // 2))
    return out


def _typed_fields() -> list[tuple[str, str]]:
    """(path, type) of every field whose strings follow a rule."""
    found = []
    for section in sections():
        for row in section.rows:
            if row.allowed and any(rule.words in row.allowed for rule in RULES.values()):
                found.append((f"{section.path}.{row.name}" if section.path else row.name, row.type))
    return found


def _mistakes(value: str) -> list[str]:
    return [value + " x", "É" + value, value.upper() + "!", value + ":x;", value.replace("-", "_") + "-"]


def _bent(doc: Any, where: tuple[Any, ...], kind: str, wrong: str) -> Any:
    bent = copy.deepcopy(doc)
    parent = bent
    for step in where[:-1]:
        parent = parent[step]
    current = parent[where[-1]]
    if kind.startswith("mapping") and isinstance(current, dict) and current:
        first_key = next(iter(current))
        current[wrong] = current[first_key]
    elif kind.startswith("list") and isinstance(current, list) and current:
        current[0] = wrong
    else:
        parent[where[-1]] = wrong
    return bent


def _seed(current: Any, kind: str) -> str:
    if kind.startswith("mapping") and isinstance(current, dict) and current:
        return str(next(iter(current)))
    if kind.startswith("list") and isinstance(current, list) and current:
        return str(current[0])
    return str(current)


def test_typical_mistakes_on_the_example_sites_are_explained_in_words() -> None:
    covered = set()
    for doc in example_documents():
        for path, kind in _typed_fields():
            where = next(_locations(doc, _steps(path)), None)
            if where is None:
                continue
            current = doc
            for step in where:
                current = current[step]
            if current in (None, [], {}):
                continue
            place = format_path(where)
            for wrong in _mistakes(_seed(current, kind)):
                found = _problems(_bent(doc, where, kind, wrong))
                for at, message in found:
                    assert not REGEX_SYNTAX.search(message), (at, message)
                here = [m for at, m in found if at.startswith(place)]
                if any("e.g." in m for m in here):
                    covered.add(path)
    typed = {path for path, _ in _typed_fields()}
    # every typed field an example site sets is refused somewhere with a rule in words and an example
    set_somewhere = {p for p in typed if any(next(_locations(d, _steps(p)), None) for d in example_documents())}
    assert set_somewhere - covered == set()
    assert len(covered) >= 15, sorted(covered)


def test_no_field_validates_with_a_bare_pattern() -> None:
    # A `Field(pattern=...)` makes pydantic validate with the regular expression and print it in the error
    # ("String should match pattern '^…'"); typed strings use a Rule, whose message is words and an example.
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "str" and "pattern" in node:
                found.append(str(node["pattern"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(Site.__pydantic_core_schema__)
    assert found == []
    schema_patterns = [n for n in _schema_nodes(json_schema()) if "pattern" in n]
    assert schema_patterns  # editors still get the patterns


def _schema_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _schema_nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _schema_nodes(item)


@pytest.mark.parametrize("hosts", ["cn[1-", "cn[5-1]", "cn]1[", "c n1", "cn[001-200", "set:", "cn[a-b]"])
def test_hostlist_mistakes_are_explained_in_words(lab: dict[str, Any], hosts: str) -> None:
    lab["software"]["scheduler"]["partitions"][0]["hosts"] = [hosts]
    found = _problems(lab)
    assert found, hosts
    for _at, message in found:
        assert not REGEX_SYNTAX.search(message), message


# ------------------------------------------------------------ times and time zones


def test_an_unquoted_time_is_explained(lab: dict[str, Any]) -> None:
    written = "start: 12:30"
    lab["qpus"][0]["calibration_windows"][0].update(yaml.safe_load(written))  # YAML 1.1 reads it as base 60: 750
    (path, message), *_ = _problems(lab)
    assert path == "qpus[0].calibration_windows[0].start"
    assert "quotes" in message and '"12:30"' in message


def test_an_unquoted_date_is_explained(lab: dict[str, Any]) -> None:
    lab["facility"]["environment"][0].update(yaml.safe_load("measured_on: 2026-09-14"))  # YAML makes it a date
    found = dict(_problems(lab))
    message = found["facility.environment[0].measured_on"]
    assert "date" in message and "quotes" in message and '"2026-09-14"' in message


def test_an_unquoted_boolean_word_is_explained(lab: dict[str, Any]) -> None:
    lab["site"]["contacts"][0]["full_name"] = True  # `full_name: yes`
    found = dict(_problems(lab))
    assert "boolean" in found["site.contacts[0].full_name"] and "quotes" in found["site.contacts[0].full_name"]


@pytest.mark.parametrize(
    ("written", "suggested"),
    [
        ("europe/paris", "Europe/Paris"),
        ("Paris", "Europe/Paris"),
        ("Europe/Pariss", "Europe/Paris"),
        ("America/New York", "America/New_York"),
        ("utc", "UTC"),
    ],
)
def test_unknown_time_zones_suggest_the_nearest_name(lab: dict[str, Any], written: str, suggested: str) -> None:
    assert suggested in nearest_zones(written)
    lab["site"]["timezone"] = written
    found = dict(_problems(lab))
    assert "site.timezone" in found, found
    assert suggested in found["site.timezone"] and "Did you mean" in found["site.timezone"]


@pytest.mark.parametrize("written", ["Mars/Olympus_Mons", "localtime", "posixrules", "Factory"])
def test_not_a_zone_is_refused_in_words(lab: dict[str, Any], written: str) -> None:
    lab["site"]["timezone"] = written
    message = dict(_problems(lab))["site.timezone"]
    assert "IANA time zone" in message and not REGEX_SYNTAX.search(message)


# ------------------------------------------------------------ misspelt keys


@pytest.mark.parametrize(
    ("where", "typo", "meant"),
    [
        (("hosts", 0), "adress", "address"),
        (("software", "policy_profiles", 0), "max_hold_minute", "max_hold_minutes"),
        (("facility", "rooms", 0), "area_m", "area_m2"),
        (("qpus", 0, "access"), "endpoint", "endpoint_url"),
    ],
)
def test_a_misspelt_key_gets_the_field_it_meant(lab: dict[str, Any], where: tuple[Any, ...], typo: str,
                                               meant: str) -> None:
    target: Any = lab
    for step in where:
        target = target[step]
    target[typo] = target.get(meant, 1)
    found = dict(_problems(lab))
    message = found[format_path((*where, typo))]
    assert f"did you mean `{meant}`?" in message, message


def test_an_unknown_key_with_no_near_field_says_where_the_fields_are(lab: dict[str, Any]) -> None:
    lab["zzz"] = 1
    message = dict(_problems(lab))["zzz"]
    assert "did you mean" not in message and "site-model-reference.md" in message


# ------------------------------------------------------------ either-or fields


def test_an_object_meant_for_a_figure_is_reported_as_the_object(lab: dict[str, Any]) -> None:
    # mass_kg is a number or {value, source, …}: a mapping with a typo is about the object, not "not a number"
    lab["qpus"][0]["requirements"] = {"mass_kg": {"value": 300, "sorce": "vendor"}}
    found = _problems(lab)
    paths = [p for p, _ in found]
    assert "qpus[0].requirements.mass_kg.source" in paths and "qpus[0].requirements.mass_kg.sorce" in paths
    assert all("SourcedNumber" not in p and "float" not in p for p in paths), paths
    assert not any("valid number" in m for _, m in found), found


def test_a_number_meant_for_a_figure_is_reported_as_the_number(lab: dict[str, Any]) -> None:
    lab["qpus"][0]["requirements"] = {"mass_kg": -5}
    found = _problems(lab)
    assert [p for p, _ in found] == ["qpus[0].requirements.mass_kg"], found
