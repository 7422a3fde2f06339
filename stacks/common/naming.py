"""Resource names. Every cloud object carries the site name so two sites can
share a project, and names are derived, never typed by hand."""

from __future__ import annotations


def resource_name(site_name: str, *parts: str) -> str:
    return "-".join((site_name, *parts))
