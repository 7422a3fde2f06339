"""Load a site model from YAML: parse, validate the shape, then check consistency.

All problems are collected and raised together as :class:`SiteModelError`,
with the YAML line of each offending field where it can be found.

Parsing is bounded before anything is built from the document: the file size
(:data:`MAX_INPUT_BYTES`), the nesting depth (:data:`MAX_DEPTH`) and the number
of nodes that aliases add when expanded (at most the number of nodes written,
and never less than :data:`MIN_ALIAS_BUDGET`), so a few KB of anchors and
aliases ("billion laughs", merge keys ``<<`` included) or a recursive alias is
refused with a message instead of exhausting time or memory here, in the
Ansible inventory plugin, or later in whatever serialises the model.
"""

from __future__ import annotations

import datetime
import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from site_survey.consistency import check_consistency
from site_survey.errors import Problem, SiteModelError
from site_survey.model import Site
from site_survey.model_paths import fields_at, strip_union_tags

INVENTORY_ROOT = Path(__file__).resolve().parent.parent / "inventories"


# libyaml's parser is ~10x faster on large sites; fall back to pure Python where it is missing.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe loader that refuses duplicate keys (a silent overwrite hides typos)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=deep)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


MAX_INPUT_BYTES = 16 * 1024 * 1024  # a 10,000-host site is about 1 MiB
MAX_DEPTH = 64  # the model itself nests about 8 levels
MIN_ALIAS_BUDGET = 10_000


def _check_bounds(root: yaml.Node) -> None:
    """Refuse a composed document whose expansion (aliases followed) is too big, too deep or cyclic.

    Aliases make the composed document a graph whose nodes are shared; this
    visits each distinct collection once, memoising its expanded size and
    depth, so the check costs what the written document costs, not what it
    would expand to.
    """
    memo: dict[int, tuple[int, int]] = {}  # id(collection) -> (expanded nodes, expanded depth)
    active: set[int] = set()
    written = 0
    first_big: list[yaml.Node] = []

    def visit(node: yaml.Node, level: int) -> tuple[int, int]:
        nonlocal written
        key = id(node)
        known = memo.get(key)
        if known is not None:
            return known
        if key in active:
            raise _BoundsError(
                "a recursive alias: an anchor is used inside its own value (e.g. `&a [*a]`); the document would "
                "be infinite. Write the value out or drop the alias",
                node.start_mark.line + 1,
            )
        if level > MAX_DEPTH:
            raise _BoundsError(
                f"the document nests deeper than {MAX_DEPTH} levels; the site model needs far fewer. "
                "Flatten the nested value",
                node.start_mark.line + 1,
            )
        active.add(key)
        size, depth = 1, 1
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
        for child in children:
            if isinstance(child, yaml.ScalarNode):
                size += 1
                written += 1
                depth = max(depth, 2)
            else:
                child_size, child_depth = visit(child, level + 1)
                size += child_size
                depth = max(depth, child_depth + 1)
        active.discard(key)
        written += 1
        if depth > MAX_DEPTH:
            raise _BoundsError(
                f"aliases make the document nest deeper than {MAX_DEPTH} levels; write the values out",
                node.start_mark.line + 1,
            )
        if not first_big and size - written > MIN_ALIAS_BUDGET and size > 2 * written:
            first_big.append(node)  # where the expansion first outgrows the document: the line to report
        memo[key] = (size, depth)
        return size, depth

    if isinstance(root, yaml.ScalarNode):
        return
    expanded, _ = visit(root, 1)
    if expanded - written > MIN_ALIAS_BUDGET and expanded > 2 * written:
        where = first_big[0] if first_big else root
        raise _BoundsError(
            f"aliases expand the document to {expanded:,} nodes from {written:,} written; aliases may at most "
            f"double a document (or add {MIN_ALIAS_BUDGET:,} nodes to a small one). This is what an alias bomb "
            "(\"billion laughs\") looks like: write the values out or use fewer nested aliases",
            where.start_mark.line + 1,
        )


class _BoundsError(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _compose(text: str, source: str) -> tuple[_Loader, yaml.Node | None]:
    """Compose the text into a node graph (aliases shared, not expanded) and check its bounds."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_INPUT_BYTES:
        raise SiteModelError(
            source,
            [Problem("", f"the file is too large ({size:,} bytes); a site model is at most {MAX_INPUT_BYTES:,} bytes")],
        )
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        loader.dispose()
        raise _yaml_problem(source, exc) from None
    if root is not None:
        try:
            _check_bounds(root)
        except _BoundsError as exc:
            loader.dispose()
            raise SiteModelError(source, [Problem("", f"not accepted: {exc.message}", None, exc.line)]) from None
    return loader, root


def _yaml_problem(source: str, exc: yaml.YAMLError) -> SiteModelError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    return SiteModelError(source, [Problem("", f"not valid YAML: {problem}", None, line)])


def load_yaml(text: str, source: str = "<site>") -> Any:
    """Parse YAML text with the bounded, duplicate-refusing safe loader; raise SiteModelError on any problem."""
    loader, root = _compose(text, source)
    try:
        return None if root is None else loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise _yaml_problem(source, exc) from None
    finally:
        loader.dispose()


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each field path (tuple of keys/indices) to its 1-based line in the YAML text."""
    index: dict[tuple[Any, ...], int] = {}
    try:
        loader, root = _compose(text, "<site>")
        loader.dispose()
    except SiteModelError:
        return index
    seen: set[int] = set()

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if id(node) in seen:  # an alias: its lines are where the anchor is, indexed once
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                index[path + (key,)] = key_node.start_mark.line + 1
                walk(value_node, path + (key,))
                # a key's own line is more useful than its value's
                index[path + (key,)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return index


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _nearest_line(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in index:
            return index[loc[:cut]]
    return None


# Fields renamed in the model; old files get the new name instead of "unknown key".
RENAMED_FIELDS = {
    "duration_min": "duration_minutes",
    "max_time_min": "max_time_minutes",
    "max_hold_min": "max_hold_minutes",
    "max_wait_min": "max_wait_minutes",
    "ups_autonomy_min": "ups_autonomy_minutes",
}


def _expected(err: dict[str, Any], loc: tuple[Any, ...] = ()) -> str:
    kind = err["type"]
    msg = str(err["msg"])
    key = loc[-1] if loc else None
    if kind == "extra_forbidden":
        if key in RENAMED_FIELDS:
            return (
                f"renamed: write `{RENAMED_FIELDS[key]}` (same value, in minutes); `_min` now only means a minimum"
            )
        near = difflib.get_close_matches(str(key), fields_at(loc[:-1]), n=1, cutoff=0.6) if loc else []
        hint = f"did you mean `{near[0]}`? " if near else "a typo? "
        return f"unknown key; {hint}docs/site-model-reference.md lists the fields of every object"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_type" and isinstance(err.get("input"), (bool, int, float, datetime.date)):
        return _unquoted_scalar(err["input"])
    if kind == "string_pattern_mismatch":  # never show the regular expression itself
        return "has characters or a form this field does not accept; see docs/site-model-reference.md for its rule"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return msg


def _unquoted_scalar(value: bool | int | float | datetime.date) -> str:
    """Text fields given a bare YAML boolean, number or date: the usual cause is a missing pair of quotes."""
    if isinstance(value, datetime.date):
        return 'must be text, but YAML read the unquoted value as a date: put it in quotes, e.g. "2026-09-14"'
    if isinstance(value, bool):
        return (
            "must be text, but YAML read the unquoted word as a boolean (yes, no, on, off, true and false are "
            'booleans): put it in quotes, e.g. "on"'
        )
    return (
        "must be text, but YAML read the unquoted value as a number (a time such as 12:30 without quotes is read "
        'as a base-60 number): put it in quotes, e.g. "12:30"'
    )


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    cur = data
    for part in loc:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def parse_site(data: Any, source: str = "<site>", text: str | None = None) -> Site:
    """Validate a parsed document; raise SiteModelError with every problem found.

    The YAML line index is built only when there is something to report, so a
    valid site is parsed once.
    """
    index: dict[tuple[Any, ...], int] = {}
    if text is not None:
        try:
            return _parse_site(data, source, index)
        except SiteModelError:
            index = _line_index(text)
    return _parse_site(data, source, index)


def _parse_site(data: Any, source: str, index: dict[tuple[Any, ...], int]) -> Site:
    if not isinstance(data, dict):
        raise SiteModelError(source, [Problem("", "the document must be a mapping with schema_version, site, …")])
    try:
        site = Site.model_validate(data)
    except ValidationError as exc:
        problems = []
        errors = exc.errors()
        # pydantic names the union member it tried in the path (mass_kg.SourcedNumber.source); drop the tags,
        # and the errors of a member the value's shape rules out, unless that would leave nothing to report.
        branches = []
        for err in errors:
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            loc, fits = strip_union_tags(loc, data)
            branches.append((err, loc, fits))
        if any(fits for _, _, fits in branches):
            branches = [item for item in branches if item[2]]
        for err, loc, _ in branches:
            value = err.get("input") if err["type"] != "missing" else None
            if loc and loc[-1] == "[key]":  # a refused mapping key: the message says so
                loc = loc[:-1]
            elif err["type"] == "unsafe_text":  # where inside the field the refused string is
                at = tuple((err.get("ctx") or {}).get("at", ()))
                loc = loc + at
                value = _value_at(value, at)
            if err["type"] == "extra_forbidden" or "secrets" in loc:
                value = None  # never echo what may be a secret
            expected = _expected(dict(err), loc)
            problems.append(Problem(format_path(loc), expected, value, _nearest_line(index, loc)))
        raise SiteModelError(source, problems) from None
    problems = check_consistency(site)
    if problems:
        located = [
            Problem(p.path, p.message, p.value, _nearest_line(index, _parse_path(p.path))) for p in problems
        ]
        raise SiteModelError(source, located)
    return site


def _parse_path(path: str) -> tuple[Any, ...]:
    parts: list[Any] = []
    for chunk in path.replace("]", "").split("."):
        if not chunk:
            continue
        name, *indices = chunk.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indices if i.isdigit())
    return tuple(parts)


def resolve_site_path(site: str | Path) -> Path:
    """Accept a site name (inventories/<name>/site.yaml), a directory, or a file path."""
    candidate = Path(site)
    if candidate.is_file():
        return candidate
    if candidate.is_dir() and (candidate / "site.yaml").is_file():
        return candidate / "site.yaml"
    named = INVENTORY_ROOT / str(site) / "site.yaml"
    if named.is_file():
        return named
    known = sorted(p.parent.name for p in INVENTORY_ROOT.glob("*/site.yaml"))
    raise SiteModelError(
        str(site),
        [Problem("", f"no site model found; give a path to site.yaml or one of: {', '.join(known) or 'none'}")],
    )


def load_site(site: str | Path) -> Site:
    path = resolve_site_path(site)
    source = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_INPUT_BYTES + 1)  # never read more than the bound
        if len(raw) > MAX_INPUT_BYTES:
            raise SiteModelError(
                source,
                [Problem("", f"the file is too large (over {MAX_INPUT_BYTES:,} bytes); a site model is smaller")],
            )
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteModelError(source, [Problem("", f"cannot read the file: {exc}")]) from None
    data = load_yaml(text, source)
    return parse_site(data, source, text)
