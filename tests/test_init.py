"""`qpusite init SITE --like EXAMPLE`: a new site model from an example, renamed, commented, never overwriting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from site_survey import load_site
from site_survey.loader import INVENTORY_ROOT
from site_survey.scaffold import MINIMAL, ScaffoldError, examples, scaffold, target_path
from tests.conftest import REPO

EXAMPLES = sorted(examples())


def _init(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qpusite", "init", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def _comments(text: str) -> list[str]:
    return [line.split("#", 1)[1].strip() for line in text.splitlines() if line.lstrip().startswith("#")]


def test_examples_are_the_shipped_sites_and_the_minimal_template() -> None:
    shipped = {p.parent.name for p in INVENTORY_ROOT.glob("*/site.yaml")}
    assert set(EXAMPLES) == shipped | {MINIMAL}
    assert {"lab", "national", "hybrid", "ovh-cloud"} <= shipped


@pytest.mark.parametrize("like", EXAMPLES)
def test_every_example_becomes_a_valid_renamed_site(tmp_path: Path, like: str) -> None:
    made = scaffold("new-site", like)
    out = tmp_path / "site.yaml"
    out.write_text(made.text)
    site = load_site(out)
    assert site.site.name == "new-site"
    original = examples()[like].read_text()
    old = yaml.safe_load(original)["site"]["name"]
    # the example's comments are kept, in order
    kept = _comments(made.text)
    assert all(c in kept for c in _comments(original))
    # the example's name is gone from names, domains, addresses and vault variables
    assert site.facility.network.domain.split(".")[0] != old
    assert all(f"@{old}." not in c.email for c in site.site.contacts)
    vaults = [ref.vault for qpu in site.qpus for ref in qpu.qrmi.secrets.values()]
    assert not any(f"_{old.replace('-', '_')}_" in v for v in vaults), vaults
    # fixed choices stay (the hybrid example's topology is also its name)
    assert site.software.topology == yaml.safe_load(original).get("software", {}).get("topology", "onprem")


def test_hybrid_keeps_its_topology_and_renames_its_vault_variables() -> None:
    text = scaffold("site-b", "hybrid").text
    doc = yaml.safe_load(text)
    assert doc["site"]["name"] == "site-b"
    assert doc["software"]["topology"] == "hybrid"
    assert "hybrid_link" in doc["cloud"]
    vaults = [ref["vault"] for q in doc["qpus"] for ref in q["qrmi"].get("secrets", {}).values()]
    assert vaults and all(v.startswith("vault_site_b_") for v in vaults), vaults
    assert doc["facility"]["network"]["domain"] == "site-b.internal"


@pytest.mark.parametrize("name", ["yes", "null", "on", "off", "no", "true"])
def test_names_yaml_would_misread_are_quoted(name: str) -> None:
    doc = yaml.safe_load(scaffold(name, "lab").text)
    assert doc["site"]["name"] == name


def test_cli_writes_the_site_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "inventories" / "alpha" / "site.yaml"
    first = _init("alpha", "--like", "lab", "--output", str(out))
    assert first.returncode == 0, first.stderr
    assert out.is_file() and str(out) in first.stdout
    assert f"`qpusite validate {out}`" in out.read_text()  # the header names the file written outside inventories/
    validate = subprocess.run(
        [sys.executable, "-m", "qpusite", "validate", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert validate.returncode == 0, validate.stderr
    before = out.read_bytes()
    again = _init("alpha", "--like", "national", "--output", str(out))
    assert again.returncode == 2
    assert "already exists" in again.stderr and "Traceback" not in again.stderr
    assert out.read_bytes() == before


def test_output_may_be_a_directory(tmp_path: Path) -> None:
    run = _init("beta", "--like", "minimal", "-o", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert load_site(tmp_path / "site.yaml").site.name == "beta"


def test_default_output_is_the_site_directory_under_inventories() -> None:
    assert target_path("gamma", None) == INVENTORY_ROOT / "gamma" / "site.yaml"


@pytest.mark.parametrize("name", ["Bad", "bad_name", "../etc", "a b", "", "1lab", "x" * 64, "lab/x", "-lab"])
def test_bad_site_names_are_refused_in_words(name: str) -> None:
    with pytest.raises(ScaffoldError) as refused:
        scaffold(name, "lab")
    assert "lower-case name" in str(refused.value) and "e.g." in str(refused.value)


def test_cli_refuses_a_bad_site_name_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "site.yaml"
    run = _init("Bad_Name", "--like", "lab", "--output", str(out))
    assert run.returncode == 2
    assert "lower-case name" in run.stderr and "e.g." in run.stderr and "Traceback" not in run.stderr
    assert not out.exists()


def test_unknown_example_lists_the_choices(tmp_path: Path) -> None:
    run = _init("delta", "--like", "moonbase", "--output", str(tmp_path / "site.yaml"))
    assert run.returncode == 2
    for like in EXAMPLES:
        assert like in run.stderr
    assert not (tmp_path / "site.yaml").exists()
