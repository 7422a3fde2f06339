"""Property-based tests: whatever document is thrown at the loader, it either
returns a Site or raises SiteModelError with located problems — never anything else."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from site_survey import Site, SiteModelError, parse_site
from tests.conftest import LAB

LAB_DOC: dict[str, Any] = yaml.safe_load(LAB.read_text())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, prefix + (i,))
    return out


LAB_PATHS = [p for p in _paths(LAB_DOC) if p]


def _check(doc: Any) -> None:
    try:
        result = parse_site(doc, "site.yaml")
    except SiteModelError as exc:
        assert exc.problems, "an error must carry at least one problem"
        for problem in exc.problems:
            assert problem.message
            assert "Traceback" not in problem.render()
    else:
        assert isinstance(result, Site)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_arbitrary_documents_never_crash(doc: Any) -> None:
    _check(doc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(LAB_PATHS), documents)
def test_lab_with_one_value_replaced_never_crashes(path: tuple[Any, ...], value: Any) -> None:
    doc = copy.deepcopy(LAB_DOC)
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    _check(doc)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(LAB_PATHS))
def test_lab_with_one_key_removed_never_crashes(path: tuple[Any, ...]) -> None:
    doc = copy.deepcopy(LAB_DOC)
    node = doc
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    _check(doc)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([p for p in LAB_PATHS if isinstance(p[-1], str)]), st.text(min_size=1, max_size=10))
def test_unknown_keys_are_always_rejected(path: tuple[Any, ...], suffix: str) -> None:
    doc = copy.deepcopy(LAB_DOC)
    node = doc
    for part in path[:-1]:
        node = node[part]
    if not isinstance(node, dict):
        return
    typo = path[-1] + "_" + suffix
    if typo in node:
        return
    parent_is_free_form = any(part in ("settings", "conf_overrides", "vars", "group_vars", "secrets") for part in path)
    node[typo] = 1
    try:
        parse_site(doc)
    except SiteModelError:
        return
    assert parent_is_free_form, f"unknown key {typo!r} at {path[:-1]} was accepted"
