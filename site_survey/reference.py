"""The site model's field reference, generated from the model itself (``qpusite schema --format markdown``).

One table per object of the model, in document order: each field with its
type, whether it is required or its default, its unit (read from the field
name's suffix), the values it accepts (ranges, choices, and the typed-string
rules in words), its description and an example. Examples come from the
shipped example sites (``inventories/*/site.yaml``, lab first) and, for typed
strings no example site sets, from the rule's own example.

The output depends only on the model and the example documents it is given:
no clock, no machine paths, no set ordering. docs/site-model-reference.md is
this output, and a test keeps the two identical.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from site_survey.loader import INVENTORY_ROOT, load_yaml
from site_survey.model import Site
from site_survey.model_paths import resolve_annotation
from site_survey.strings import MAX_STRING_CHARS, Rule

REGENERATE = ".venv/bin/python -m qpusite schema --format markdown > docs/site-model-reference.md"

# Unit suffixes of numeric field names. Multi-word suffixes first; a trailing
# ``_min``/``_max`` means minimum/maximum and is read off before the unit.
UNITS: tuple[tuple[str, str], ...] = (
    ("rad_um6_us", "rad·µm⁶/µs"),
    ("rad_us", "rad/µs"),
    ("kg_m2", "kg/m²"),
    ("um_s", "µm/s"),
    ("minutes", "minutes"),
    ("seconds", "seconds"),
    ("hours", "hours"),
    ("days", "days"),
    ("weeks", "weeks"),
    ("months", "months"),
    ("years", "years"),
    ("mbps", "Mbit/s"),
    ("kva", "kVA"),
    ("kw", "kW"),
    ("kg", "kg"),
    ("m2", "m²"),
    ("mb", "MiB (Slurm's MB)"),
    ("ms", "milliseconds"),
    ("us", "microseconds"),
    ("ns", "nanoseconds"),
    ("s", "seconds"),
    ("ut", "µT"),
    ("um", "µm"),
    ("pct", "%"),
    ("c", "°C"),
    ("v", "V"),
    ("m", "metres"),
)
TIME_UNITS = frozenset({"minutes", "seconds", "hours", "days", "weeks", "months", "years", "ms", "us", "ns", "s"})
# Words that make a number a duration: such a field must say its time unit in full or as an SI symbol.
TIME_WORDS = frozenset(
    {"time", "timeout", "duration", "interval", "delay", "wait", "hold", "autonomy", "retention", "age", "period",
     "ttl", "lifetime", "window", "grace", "backoff"}
)
BOUNDS = {"min": "minimum", "max": "maximum"}


def unit_suffix(name: str) -> str | None:
    """The unit suffix of a field name (``capacity_kw`` → ``kw``), or None when it names none."""
    words = name.split("_")
    if len(words) > 1 and words[-1] in BOUNDS:
        words = words[:-1]
    for suffix, _ in UNITS:
        parts = suffix.split("_")
        if len(words) > len(parts) and words[-len(parts):] == parts:
            return suffix
    return None


def unit_of(name: str) -> str:
    """The unit a numeric field's name says, in words ("kW", "minutes"), or ""."""
    suffix = unit_suffix(name)
    if suffix is None:
        return ""
    unit = dict(UNITS)[suffix]
    bound = name.rsplit("_", 1)[-1]
    return f"{unit} ({BOUNDS[bound]})" if bound in BOUNDS and name != bound else unit


def misread_unit(name: str) -> str | None:
    """Why a numeric field's name could be misread, or None: a duration must name its time unit.

    ``_min`` means "minimum" everywhere in the model; a duration ending in it
    (``max_hold_min``) reads as minutes to some and as a minimum to others.
    """
    words = name.split("_")
    if not TIME_WORDS.intersection(words):
        return None
    suffix = unit_suffix(name)
    if suffix in TIME_UNITS:
        return None
    stem = name[: -len("_min")] if name.endswith("_min") else name
    return (
        f"{name!r} is a duration but its name does not say the unit: end it in _seconds, _minutes, _hours, _days, "
        f"_months, _s or _ms (e.g. {stem}_minutes); '_min' means minimum"
    )


# --------------------------------------------------------------------------- types


@dataclass
class _Type:
    """What a (possibly annotated) type accepts, as the reference prints it."""

    text: str
    allowed: list[str] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    model: type[BaseModel] | None = None  # an object (or a list/mapping of objects) with its own table
    child: str = ""  # how the child's path continues: "", "[]" or ".<key>"


def _constraints(metadata: Iterable[Any], *, sized: str = "") -> list[str]:
    out: list[str] = []
    low = high = ""
    for item in metadata:
        if isinstance(item, FieldInfo):
            out.extend(_constraints(item.metadata, sized=sized))
        elif isinstance(item, annotated_types.Ge):
            low = f"≥ {item.ge}"
        elif isinstance(item, annotated_types.Gt):
            low = f"> {item.gt}"
        elif isinstance(item, annotated_types.Le):
            high = f"≤ {item.le}"
        elif isinstance(item, annotated_types.Lt):
            high = f"< {item.lt}"
        elif isinstance(item, annotated_types.MinLen) and item.min_length > 0:
            out.append(f"at least {item.min_length} {sized or 'character'}{'s' if item.min_length != 1 else ''}")
        elif isinstance(item, annotated_types.MaxLen):
            out.append(f"at most {item.max_length} {sized or 'character'}s")
    if low or high:
        out.insert(0, " and ".join(x for x in (low, high) if x))
    return out


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    metadata: list[Any] = []
    while typing.get_origin(tp) is typing.Annotated:
        tp, *extra = typing.get_args(tp)
        metadata.extend(extra)
    return tp, metadata


def _literal_text(value: Any) -> str:
    return f"`{value.value if isinstance(value, Enum) else value}`"


def _plural(text: str) -> str:
    if text.startswith("pair of "):
        return "pairs of " + text[len("pair of "):]
    head, sep, rest = text.partition(" ")
    return (head if head.endswith("s") else head + "s") + sep + rest


def describe(tp: Any, metadata: Sequence[Any] = (), key_name: str = "key") -> _Type:
    """Describe a field type: its text, the values it allows, its typed-string rules and its object type."""
    tp, inner = _unwrap(resolve_annotation(tp))
    metadata = [*metadata, *inner]
    rules = [m for m in metadata if isinstance(m, Rule)]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        described = [describe(a) for a in members]
        text = " or ".join(d.text for d in described) + (" or null" if len(members) < len(args) else "")
        out = _Type(text, _constraints(metadata), rules)
        for d in described:
            out.allowed.extend(d.allowed)
            out.rules.extend(d.rules)
            if d.model is not None:
                out.model, out.child = d.model, d.child
        return out
    if origin is typing.Literal:
        kinds = {type(a).__name__ for a in args}
        text = "integer" if kinds == {"int"} else "string" if kinds == {"str"} else "value"
        return _Type(text, ["one of " + ", ".join(_literal_text(a) for a in args)], rules)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return _Type("string", ["one of " + ", ".join(_literal_text(m) for m in tp)], rules)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _Type("object", [], rules, tp, "")
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            items = [describe(a) for a in args]
            texts = {i.text for i in items}
            text = f"pair of {items[0].text}s" if len(items) == 2 and len(texts) == 1 else "tuple"
            return _Type(text, _constraints(metadata, sized="item"), rules)
        item = describe(args[0]) if args else _Type("any")
        allowed = _constraints(metadata, sized="item")
        allowed.extend(f"each: {a}" for a in item.allowed)
        text = "list of objects" if item.model is not None else f"list of {_plural(item.text)}"
        return _Type(text, allowed, [*rules, *item.rules], item.model, "[]" + item.child)
    if origin is dict or tp is dict:
        key = describe(args[0]) if args else _Type("string")
        value = describe(args[1]) if len(args) > 1 else _Type("any")
        allowed = _constraints(metadata, sized="entry")
        allowed.extend(f"keys: {a}" for a in key.allowed)
        allowed.extend(f"keys: {r.words}" for r in key.rules)
        allowed.extend(f"values: {a}" for a in value.allowed)
        allowed.extend(f"values: {r.words}" for r in value.rules if value.model is None)
        value_text = "object" if value.model is not None else value.text
        text = f"mapping of {key.text} to {value_text}"
        return _Type(text, allowed, [*rules, *key.rules, *value.rules], value.model, f".<{key_name}>" + value.child)
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    text = names.get(tp, "any") if isinstance(tp, type) or tp is Any else str(tp)
    sized = "character" if tp is str else ""
    return _Type(text, _constraints(metadata, sized=sized), rules)


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Row:
    name: str
    type: str
    required: str
    unit: str
    allowed: str
    description: str
    example: str


@dataclass(frozen=True)
class Section:
    path: str  # "" for the top level, e.g. "facility.rooms[]"
    title: str  # the model class name
    summary: str  # what the object is (class docstring, or the description of the field that holds it)
    rows: tuple[Row, ...]


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined:
        return "optional"
    if isinstance(value, BaseModel):
        return "optional (defaults below)"
    return f"default `{_flow(value)}`"


def _flow(value: Any) -> str:
    """A value the way one would write it in YAML flow style, on one line."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value if _plain(value) else json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return str(value)


def _plain(text: str) -> bool:
    """Whether YAML reads ``text`` written bare (in a flow collection too) back as the same string."""
    if not text or text != text.strip() or text[0] in "-?:,[]{}#&*!|>'\"%@`":
        return False
    if any(c in text for c in ",[]{}") or ": " in text or " #" in text or text.endswith(":"):
        return False
    try:
        return bool(yaml.safe_load(text) == text)
    except yaml.YAMLError:
        return False


MAX_EXAMPLE_CHARS = 60


def _values_at(doc: Any, steps: Sequence[str]) -> Iterator[Any]:
    """Every value a path (steps of keys, "[]" for list items, "<...>" for any mapping key) reaches in a document."""
    if not steps:
        yield doc
        return
    step, rest = steps[0], steps[1:]
    if step == "[]":
        if isinstance(doc, list):
            for item in doc:
                yield from _values_at(item, rest)
    elif step.startswith("<"):
        if isinstance(doc, dict):
            for item in doc.values():
                yield from _values_at(item, rest)
    elif isinstance(doc, dict) and step in doc:
        yield from _values_at(doc[step], rest)


def _steps(path: str) -> list[str]:
    steps: list[str] = []
    for part in path.split("."):
        name = part.rstrip("[]")
        if name:
            steps.append(name)
        steps.extend(["[]"] * ((len(part) - len(name)) // 2))
    return steps


def _example(path: str, kind: _Type, examples: Sequence[Any]) -> str:
    if kind.model is not None:
        return ""
    for doc in examples:
        for value in _values_at(doc, _steps(path)):
            if value is None or value == [] or value == {}:
                continue
            text = _flow(value)
            if len(text) <= MAX_EXAMPLE_CHARS:
                return f"`{text}`"
    for rule in kind.rules:
        return f"`{rule.example}`"
    return ""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def sections(examples: Sequence[Any] = (), model: type[BaseModel] = Site) -> list[Section]:
    """Every object of the model, top level first, each followed by the objects inside it.

    An object type met again at another place (a connection in hosts and in
    host sets, a sourced figure in every requirement) has one table, where it
    is first met; the other places point at it.
    """
    out: list[Section] = []
    first_at: dict[type[BaseModel], str] = {}

    def walk(cls: type[BaseModel], path: str, summary: str) -> None:
        rows: list[Row] = []
        children: list[tuple[type[BaseModel], str, str]] = []
        for name, info in cls.model_fields.items():
            kind = describe(info.annotation, info.metadata, key_name="key")
            field_path = _join(path, name)
            allowed = [*kind.allowed]
            allowed.extend(r.words for r in kind.rules if not kind.text.startswith(("mapping", "list")))
            allowed.extend(f"each: {r.words}" for r in kind.rules if kind.text.startswith("list"))
            numeric = any(t in kind.text for t in ("integer", "number"))
            type_text = kind.text
            if kind.model is not None:
                child_path = field_path + kind.child
                shared = first_at.setdefault(kind.model, child_path)
                if shared == child_path:
                    children.append((kind.model, child_path, info.description or ""))
                else:
                    type_text += f" (the object's fields: see `{shared}`)"
            rows.append(
                Row(
                    name=name,
                    type=type_text,
                    required=_default(info),
                    unit=unit_of(name) if numeric else "",
                    allowed="; ".join(dict.fromkeys(allowed)),
                    description=info.description or "",
                    example=_example(field_path, kind, examples),
                )
            )
        doc = cls.__dict__.get("__doc__")
        text = " ".join(doc.split()) if isinstance(doc, str) and doc.strip() else summary
        out.append(Section(path, cls.__name__, text, tuple(rows)))
        for child, child_path, child_summary in children:
            walk(child, child_path, child_summary)

    first_at[model] = ""
    walk(model, "", "A site model document (inventories/<site>/site.yaml).")
    return out


def typed_strings(model: type[BaseModel] = Site) -> list[Rule]:
    """The typed-string rules the model uses, in the order the reference meets them."""
    found: list[Rule] = []

    def walk(cls: type[BaseModel], seen: tuple[type[BaseModel], ...]) -> None:
        for info in cls.model_fields.values():
            kind = describe(info.annotation, info.metadata)
            for rule in kind.rules:
                if rule not in found:
                    found.append(rule)
            if kind.model is not None and kind.model not in seen:
                walk(kind.model, (*seen, kind.model))

    walk(model, (model,))
    return found


# --------------------------------------------------------------------------- markdown


HEADER = """\
# Site model field reference

<!-- Generated by `qpusite schema --format markdown`; do not edit by hand. Regenerate with:
     {regenerate} -->

Every field of `inventories/<site>/site.yaml`, one table per object, in the
order of the document. [site-model.md](site-model.md) explains the sections;
`qpusite init SITE --like lab` starts a new site from an example; `qpusite
validate SITE` checks one.

- **type**: `string`, `integer`, `number` (integer or decimal), `boolean`,
  `object` (its own table follows), `list of …`, `mapping of … to …`; "or null"
  means the field may be left out or written `null`.
- **required / default**: a required field has no default; "optional" means it
  may be left out (null); an object marked "defaults below" may be left out and
  takes the defaults of its table.
- **unit**: what a number is measured in, as the field name says it
  (`capacity_kw`: kW). A trailing `_min`/`_max` means minimum/maximum, never
  minutes: durations end in `_minutes`, `_seconds` or `_ms`.
- **example**: a value from the shipped example sites (`inventories/*/site.yaml`)
  or, for typed strings, from the rule.

Every string, anywhere in the document (keys included), is single-line
printable text (no control characters, tabs or line breaks) of at most
{max_chars} characters. Strings that reach a command or a configuration line are
typed more narrowly; their rules are listed at the [end](#typed-strings).
"""


def _table(rows: Iterable[Row]) -> list[str]:
    lines = [
        "| field | type | required / default | unit | allowed | description | example |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = (f"`{r.name}`", r.type, r.required, r.unit, r.allowed, r.description, r.example)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def example_documents(root: Path = INVENTORY_ROOT) -> list[Any]:
    """The shipped example sites as plain documents, lab (the embedded default) first, then by name."""
    paths = sorted(root.glob("*/site.yaml"), key=lambda p: (p.parent.name != "lab", p.parent.name))
    return [load_yaml(p.read_text(encoding="utf-8"), str(p)) for p in paths]


def markdown(examples: Sequence[Any] = ()) -> str:
    """The whole reference as Markdown (deterministic for a given model and example documents)."""
    lines = [HEADER.format(regenerate=REGENERATE, max_chars=MAX_STRING_CHARS).rstrip(), ""]
    for section in sections(examples):
        heading = f"`{section.path}`" if section.path else "Top level"
        lines.append(f"## {heading} ({section.title})")
        lines.append("")
        if section.summary:
            lines.extend([section.summary, ""])
        lines.extend(_table(section.rows))
        lines.append("")
    lines.extend(["## Typed strings", "", "| rule | example |", "|---|---|"])
    for rule in typed_strings():
        lines.append(f"| {_cell(rule.words)} | `{_cell(rule.example)}` |")
    lines.append("")
    return "\n".join(lines)
