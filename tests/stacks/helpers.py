"""Small helpers for the stack tests."""

from __future__ import annotations

from typing import Any

from site_survey import Site, parse_site


def site_from(doc: dict[str, Any]) -> Site:
    return parse_site(doc, "<test>")


def integral(value: Any) -> Any:
    """Undo the mocks' number widening: integer inputs come back as floats."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value
