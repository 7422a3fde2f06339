"""Slurm hostlist expressions: ``cn[001-200]``, ``cn[001-010,015],gpu[1-4]``, ``r[1-2]n[01-04]``.

A hostlist is a comma-separated list of items; an item is literal text with
zero or more bracket groups, each a comma-separated list of numbers or
``lo-hi`` ranges. Several bracket groups in one item multiply (``r[1-2]n[1-2]``
is r1n1, r1n2, r2n1, r2n2, in that order, as Slurm expands them). A range keeps
the width of its lower bound, so ``[001-200]`` gives ``001`` … ``200`` and
``[8-10]`` gives ``8``, ``9``, ``10``.

The number of names an expression stands for is counted from its text before
any name is built, and an expression over :data:`MAX_NAMES` is refused, so a
few characters (``n[0-99999999]``) cannot exhaust memory.

:func:`compress` is the inverse and keeps order: ``expand(compress(names)) ==
names`` for any list of names without ``[``, ``]`` or ``,``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import product

MAX_NAMES = 100_000  # a large centre has 10^4 nodes; ten times that is a typo, not a site
MAX_EXPRESSION_CHARS = 4096

_TEXT = re.compile(r"[A-Za-z0-9._-]*\Z")  # literal parts: what host names and IPv4 addresses are made of
_RANGE = re.compile(r"(\d{1,9})(?:-(\d{1,9}))?\Z")
_LAST_NUMBER = re.compile(r"(\d+)(\D*)\Z")


class HostlistError(ValueError):
    """An expression that is malformed or too large; the message says what to write instead."""


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets; refuse unbalanced or nested brackets."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "[":
            if depth:
                raise HostlistError(f"{text!r}: brackets cannot nest; write e.g. cn[001-010]")
            depth = 1
        elif char == "]":
            if not depth:
                raise HostlistError(f"{text!r}: ']' without '['; write e.g. cn[001-010]")
            depth = 0
        elif char == "," and not depth:
            items.append(text[start:i])
            start = i + 1
    if depth:
        raise HostlistError(f"{text!r}: '[' is not closed; write e.g. cn[001-010]")
    items.append(text[start:])
    return items


def _ranges(expr: str, group: str) -> list[tuple[int, int, int]]:
    """(lo, hi, width) for each part of one bracket group's content."""
    out = []
    for part in group.split(","):
        match = _RANGE.match(part)
        if match is None:
            raise HostlistError(
                f"{expr!r}: [{group}] holds {part!r}; a bracket holds numbers and ranges such as [001-010,015]"
            )
        lo_text, hi_text = match.group(1), match.group(2) or match.group(1)
        lo, hi = int(lo_text), int(hi_text)
        if hi < lo:
            raise HostlistError(f"{expr!r}: range {part!r} runs backwards; write [{hi_text}-{lo_text}]")
        out.append((lo, hi, len(lo_text)))
    return out


def _parse_item(expr: str, item: str) -> list[str | list[tuple[int, int, int]]]:
    """An item as literal texts and bracket groups, in order."""
    parts: list[str | list[tuple[int, int, int]]] = []
    rest = item
    while rest:
        open_at = rest.find("[")
        literal = rest if open_at < 0 else rest[:open_at]
        if not _TEXT.match(literal):
            raise HostlistError(
                f"{expr!r}: {literal!r} has characters a host name cannot have (letters, digits, '-', '.', '_')"
            )
        if literal:
            parts.append(literal)
        if open_at < 0:
            break
        close_at = rest.index("]", open_at)
        parts.append(_ranges(expr, rest[open_at + 1 : close_at]))
        rest = rest[close_at + 1 :]
    return parts


def _parse(expr: str) -> list[list[str | list[tuple[int, int, int]]]]:
    if len(expr) > MAX_EXPRESSION_CHARS:
        raise HostlistError(f"the expression is {len(expr)} characters long; at most {MAX_EXPRESSION_CHARS}")
    items: list[list[str | list[tuple[int, int, int]]]] = []
    if not expr.strip():
        return items  # the empty list: callers that need a name say so
    for item in _split_top(expr.strip()):
        item = item.strip()
        if not item:
            raise HostlistError(f"{expr!r}: an empty name between commas; remove the extra ','")
        items.append(_parse_item(expr, item))
    return items


def count(expr: str) -> int:
    """How many names ``expr`` stands for, computed from its text (nothing is expanded)."""
    total = 0
    for item in _parse(expr):
        size = 1
        for part in item:
            if not isinstance(part, str):
                size *= sum(hi - lo + 1 for lo, hi, _ in part)
        total += size
    return total


def expand(expr: str, limit: int = MAX_NAMES) -> list[str]:
    """The names of a hostlist, in order; refuses more than ``limit`` before building any."""
    size = count(expr)
    if size > limit:
        raise HostlistError(
            f"{expr!r} stands for {size:,} names; at most {limit:,} are allowed (check the range bounds)"
        )
    names: list[str] = []
    for item in _parse(expr):
        choices: list[list[str]] = []
        for part in item:
            if isinstance(part, str):
                choices.append([part])
            else:
                choices.append([str(n).zfill(width) for lo, hi, width in part for n in range(lo, hi + 1)])
        names.extend("".join(pieces) for pieces in product(*choices))
    return names


def is_pattern(text: str) -> bool:
    """Whether ``text`` is more than one plain name (has a bracket or a comma)."""
    return "[" in text or "," in text


def _split_name(name: str) -> tuple[str, str, str] | None:
    """(prefix, digits, suffix) around the last run of digits, or None when there is none."""
    match = _LAST_NUMBER.search(name)
    if match is None:
        return None
    return name[: match.start()], match.group(1), match.group(2)


def compress(names: Iterable[str]) -> str:
    """The shortest-form hostlist of ``names`` that expands back to them in the same order.

    Consecutive names that differ only in their last number, counting up by one
    at the same width, become one range; consecutive ranges with the same prefix
    and suffix share one bracket (``cn[001-010,015]``).
    """
    return _compress_split([(name, _checked_split(name)) for name in names])


def _checked_split(name: str) -> tuple[str, str, str] | None:
    if not name or "[" in name or "]" in name or "," in name:
        raise HostlistError(f"{name!r} cannot be part of a hostlist (empty, or has '[', ']' or ',')")
    split = _split_name(name)
    if split is not None and len(split[1]) > 9:  # beyond what a bracket range holds: keep the name as it is
        return None
    return split


def _compress_split(items: list[tuple[str, tuple[str, str, str] | None]]) -> str:
    """compress() of names already split around their last number (each name is split once)."""
    out: list[str] = []
    prefix = suffix = ""
    ranges: list[tuple[str, str]] = []  # the open bracket's (first, last) ranges; empty when none is open
    next_value = ""  # the digits that would extend the last range

    def close() -> None:
        if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
            out.append(f"{prefix}{ranges[0][0]}{suffix}")
        elif ranges:
            inside = ",".join(first if first == last else f"{first}-{last}" for first, last in ranges)
            out.append(f"{prefix}[{inside}]{suffix}")
        ranges.clear()

    for name, split in items:
        if split is None:
            close()
            out.append(name)
            continue
        head, digits, tail = split
        if ranges and head == prefix and tail == suffix:
            if digits == next_value:
                ranges[-1] = (ranges[-1][0], digits)
            else:
                ranges.append((digits, digits))
        else:
            close()
            prefix, suffix = head, tail
            ranges.append((digits, digits))
        first = ranges[-1][0]
        next_value = str(int(digits) + 1).zfill(len(first))
    close()
    return ",".join(out)


def compress_sorted(names: Sequence[str]) -> str:
    """:func:`compress` after putting the names in natural order (cn2 before cn10), for lists whose
    order does not matter (Slurm's Nodes=); at most as long as the unsorted form."""
    items = [(name, _checked_split(name)) for name in names]
    items.sort(key=_split_key)
    return _compress_split(items)


def compress_paired(names: Sequence[str], values: Sequence[str]) -> tuple[str, str]:
    """``names`` in natural order as one hostlist, and ``values`` (e.g. each name's address) as a hostlist
    in that same order, so the two expand to pairs again (Slurm's NodeName= and NodeAddr=)."""
    items = sorted(
        ((name, _checked_split(name), value) for name, value in zip(names, values, strict=True)),
        key=lambda item: _split_key((item[0], item[1])),
    )
    return (
        _compress_split([(name, split) for name, split, _ in items]),
        compress(value for _, _, value in items),
    )


def _split_key(item: tuple[str, tuple[str, str, str] | None]) -> tuple[str, str, int, int]:
    name, split = item
    if split is None:
        return (name, "", -1, 0)
    prefix, digits, suffix = split
    return (prefix, suffix, int(digits), len(digits))
