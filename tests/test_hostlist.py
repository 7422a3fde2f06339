"""Slurm hostlist expressions: expansion, compression and their bounds."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from site_survey.hostlist import MAX_NAMES, HostlistError, compress, compress_paired, compress_sorted, count, expand


def test_ranges_keep_the_width_of_the_lower_bound() -> None:
    assert expand("cn[001-003]") == ["cn001", "cn002", "cn003"]
    assert expand("n[8-10]") == ["n8", "n9", "n10"]
    assert expand("n[098-100]") == ["n098", "n099", "n100"]


def test_lists_items_and_several_bracket_groups() -> None:
    assert expand("cn[001-002,005],gpu[1-2]") == ["cn001", "cn002", "cn005", "gpu1", "gpu2"]
    assert expand("r[1-2]n[01-02]") == ["r1n01", "r1n02", "r2n01", "r2n02"]
    assert expand("login1") == ["login1"]
    assert expand("10.0.1.[1-3]") == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]
    assert expand("cn[1-2]-ib") == ["cn1-ib", "cn2-ib"]


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("cn[001-010", "not closed"),
        ("cn]1", "without '['"),
        ("cn[[1-2]]", "cannot nest"),
        ("cn[5-1]", "runs backwards"),
        ("cn[a-b]", "numbers and ranges"),
        ("cn[1-2],,gpu1", "empty name"),
        ("cn 1", "characters a host name cannot have"),
        ("cn[1-2;3]", "numbers and ranges"),
    ],
)
def test_malformed_expressions_are_refused_with_the_fix(expr: str, says: str) -> None:
    with pytest.raises(HostlistError, match=re.escape(says)):
        expand(expr)


def test_size_is_refused_before_any_name_is_built() -> None:
    assert count("n[0-99999999]") == 100_000_000
    with pytest.raises(HostlistError, match="stands for 100,000,000 names; at most 100,000"):
        expand("n[0-99999999]")
    with pytest.raises(HostlistError, match="at most"):
        expand("r[1-1000]n[1-1000]")  # a product of groups counts too
    assert len(expand(f"n[1-{MAX_NAMES}]")) == MAX_NAMES
    with pytest.raises(HostlistError, match="at most 10"):
        expand("n[1-11]", limit=10)


def test_compress_groups_runs_and_keeps_order() -> None:
    assert compress([f"cn{i:03d}" for i in range(1, 201)]) == "cn[001-200]"
    assert compress(["cn001", "cn002", "cn003", "cn015", "gpu1", "gpu2"]) == "cn[001-003,015],gpu[1-2]"
    assert compress(["n9", "n10", "n11"]) == "n[9-11]"
    assert compress(["ctl", "login1"]) == "ctl,login1"
    assert compress(["cn2", "cn1"]) == "cn[2,1]"
    assert compress_sorted(["cn10", "cn2", "cn1", "cn3"]) == "cn[1-3,10]"
    assert compress(["10.0.1.254", "10.0.1.255", "10.0.2.0"]) == "10.0.1.[254-255],10.0.2.0"
    assert compress([]) == ""


def test_compress_refuses_names_a_hostlist_cannot_hold() -> None:
    with pytest.raises(HostlistError, match="cannot be part of a hostlist"):
        compress(["a,b"])


NAME = st.from_regex(r"[a-z]{1,3}(-?[0-9]{1,4})?[a-z]{0,2}", fullmatch=True)


@given(st.lists(NAME, max_size=40))
def test_expand_inverts_compress(names: list[str]) -> None:
    assert expand(compress(names)) == names


@given(st.lists(NAME, max_size=40, unique=True))
def test_sorted_compression_holds_the_same_names(names: list[str]) -> None:
    text = compress_sorted(names)
    assert sorted(expand(text)) == sorted(names)
    assert len(text) <= len(",".join(names)) or not names


@given(st.lists(st.integers(0, 3000), unique=True, max_size=60), st.integers(1, 5))
def test_numbered_names_compress_back(numbers: list[int], width: int) -> None:
    names = [f"cn{n:0{width}d}" for n in sorted(numbers)]
    assert expand(compress(names)) == names
    assert count(compress(names)) == len(names)


@given(st.lists(st.integers(0, 500), unique=True, max_size=40))
def test_paired_lists_expand_back_to_the_same_pairs(numbers: list[int]) -> None:
    names = [f"n{n:03d}" for n in numbers]
    addresses = [f"10.0.{n // 250}.{n % 250}" for n in numbers]
    compressed_names, compressed_addresses = compress_paired(names, addresses)
    pairs = list(zip(expand(compressed_names), expand(compressed_addresses), strict=True))
    assert sorted(pairs) == sorted(zip(names, addresses, strict=True))
