"""Shared fixtures: the lab model as a plain document that tests can bend."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
LAB = REPO / "inventories" / "lab" / "site.yaml"


@pytest.fixture(scope="session")
def lab_document() -> dict[str, Any]:
    return yaml.safe_load(LAB.read_text())


@pytest.fixture
def lab(lab_document: dict[str, Any]) -> dict[str, Any]:
    """A fresh deep copy of the lab document for each test to modify."""
    return copy.deepcopy(lab_document)
