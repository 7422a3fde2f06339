"""Fixtures for the rehearsal's unit tests: the lab model as a Site the tests can bend."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from site_survey import parse_site
from site_survey.model import Site


@pytest.fixture
def make_site(lab_document: dict[str, Any]) -> Callable[..., Site]:
    """Build a Site from the lab document after applying `edit` to a deep copy of it."""

    def build(edit: Callable[[dict[str, Any]], None] | None = None) -> Site:
        doc = copy.deepcopy(lab_document)
        if edit is not None:
            edit(doc)
        return parse_site(doc, "lab-test")

    return build
