"""Fixtures for the acceptance framework tests (controller environment).

Node-side tests (tests/acceptance/node) need numpy/qiskit/qrmi: they run in the
node environment from tools/test.d/70-acceptance.sh and are not collected here
when those packages are absent.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from site_survey import parse_site
from site_survey.model import Site

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "inventories" / "lab" / "site.yaml"

collect_ignore_glob = [] if importlib.util.find_spec("qrmi") and importlib.util.find_spec("numpy") else ["node/*"]


@pytest.fixture
def lab_site() -> Site:
    return parse_site(yaml.safe_load(LAB.read_text()), str(LAB))


def site_from(doc: dict[str, Any]) -> Site:
    return parse_site(doc, "<test>")
