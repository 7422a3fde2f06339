"""Load a site model from YAML: parse, validate the shape, then check consistency.

All problems are collected and raised together as :class:`SiteModelError`,
with the YAML line of each offending field where it can be found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from site_survey.consistency import check_consistency
from site_survey.errors import Problem, SiteModelError
from site_survey.model import Site

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


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each field path (tuple of keys/indices) to its 1-based line in the YAML text."""
    index: dict[tuple[Any, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=_BaseLoader)
    except yaml.YAMLError:
        return index

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        index[path] = node.start_mark.line + 1
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


def _expected(err: dict[str, Any]) -> str:
    kind = err["type"]
    msg = str(err["msg"])
    if kind == "extra_forbidden":
        return "unknown key (a typo?); see `qpusite schema` for the allowed keys"
    if kind == "missing":
        return "required field is missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return msg


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
        for err in exc.errors():
            # pydantic adds the discriminating model name for unions; drop non-field parts.
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            value = err.get("input") if err["type"] != "missing" else None
            if err["type"] == "extra_forbidden" or "secrets" in loc:
                value = None  # never echo what may be a secret
            problems.append(
                Problem(format_path(loc), _expected(dict(err)), value, _nearest_line(index, loc))
            )
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
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteModelError(source, [Problem("", f"cannot read the file: {exc}")]) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SiteModelError(source, [Problem("", f"not valid YAML: {problem}", None, line)]) from None
    return parse_site(data, source, text)
