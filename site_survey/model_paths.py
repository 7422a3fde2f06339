"""Which part of the model a place in a site document belongs to.

A place is a path of keys and list indices, as pydantic reports it
(``("qpus", 0, "access", "mode")``). The loader uses this to suggest the
field a misspelt key meant; ``qpusite init`` uses it to know which rule a
value follows.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from site_survey.model import Site


def resolve_annotation(tp: Any) -> Any:
    """A forward reference pydantic left unresolved in a field's annotation: look its name up in the model module."""
    if isinstance(tp, typing.ForwardRef):
        return vars(sys.modules[Site.__module__]).get(tp.__forward_arg__, Any)
    if isinstance(tp, str):
        return vars(sys.modules[Site.__module__]).get(tp, Any)
    return tp


def _step(tp: Any, metadata: list[Any], step: Any) -> tuple[Any, list[Any]]:
    tp = resolve_annotation(tp)
    while typing.get_origin(tp) is typing.Annotated:
        tp, *extra = typing.get_args(tp)
        metadata = [*metadata, *extra]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for member in args:  # pydantic names the union member it tried in the path (…, "SourcedNumber", …)
            if getattr(resolve_annotation(member), "__name__", None) == step:
                return member, []
        for member in args:
            found, meta = _step(member, [], step)
            if found is not None:
                return found, meta
        return None, []
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        info = tp.model_fields.get(step) if isinstance(step, str) else None
        return (info.annotation, list(info.metadata)) if info is not None else (None, [])
    if origin in (list, tuple) and isinstance(step, int) and args:
        return (args[min(step, len(args) - 1)] if origin is tuple and args[-1] is not Ellipsis else args[0]), []
    if origin is dict and len(args) == 2:
        return args[1], []
    return None, []


def annotation_at(path: Sequence[Any], root: type[BaseModel] = Site) -> tuple[Any, list[Any]] | None:
    """The annotation (and its metadata) of the value at ``path``, or None when the model has no such place."""
    tp: Any = root
    metadata: list[Any] = []
    for step in path:
        tp, metadata = _step(tp, metadata, step)
        if tp is None:
            return None
    return tp, metadata


def _models(tp: Any) -> list[type[BaseModel]]:
    tp = resolve_annotation(tp)
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for member in typing.get_args(tp) for m in _models(member)]
    return [tp] if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def fields_at(path: Sequence[Any], root: type[BaseModel] = Site) -> list[str]:
    """The field names an object at ``path`` may have (empty when ``path`` is not an object of the model)."""
    found = annotation_at(path, root)
    if found is None:
        return []
    names: list[str] = []
    for model in _models(found[0]):
        names.extend(n for n in model.model_fields if n not in names)
    return names


def _union_members(tp: Any) -> list[Any]:
    """The members of a union (None left out), or [] when ``tp`` is no union of several types."""
    tp = resolve_annotation(tp)
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return []
    members = [resolve_annotation(m) for m in typing.get_args(tp) if m is not type(None)]
    return members if len(members) > 1 else []


def strip_union_tags(loc: Sequence[Any], data: Any) -> tuple[tuple[Any, ...], bool]:
    """``loc`` without the union-member tags pydantic puts in it, and whether the error fits the value's shape.

    For ``mass_kg: float | SourcedNumber`` pydantic reports both branches:
    ``mass_kg.constrained-float`` ("should be a number") and
    ``mass_kg.SourcedNumber.source`` ("missing"). A mapping was clearly meant
    as the object and a number as the number: the other branch's errors are
    noise (False).
    """
    out: list[Any] = []
    fits = True
    tp: Any = Site
    value = data
    for part in loc:
        members = _union_members(tp) if tp is not None else []
        if members and isinstance(part, str) and not _steps_into(members, part):
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            tagged_model = next((m for m in models if m.__name__ == part), None)
            fits = fits and (isinstance(value, dict) == (tagged_model is not None))
            if tagged_model is not None:
                tp = tagged_model
            continue
        out.append(part)
        tp = _step(tp, [], part)[0] if tp is not None else None
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            value = None
    return tuple(out), fits


def _steps_into(members: list[Any], part: str) -> bool:
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel) and part in member.model_fields:
            return True
        if typing.get_origin(member) is dict or member is dict:
            return True
    return False
