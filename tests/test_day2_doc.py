"""docs/day2.md: every command in its blocks names things that exist (subcommands, flags,
inventory groups, acceptance checks, model fields, vaulted variables), so the runbook
cannot drift from the kit."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from acceptance.checks import load_all
from acceptance.spec import Tier
from qpusite.cli import build_parser
from site_survey import derive, load_site
from site_survey.model import Site

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "day2.md"
SITE = "national"  # the runbook's SITE: a production-shaped model


def commands() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"^```\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line:
                out.append(shlex.split(line.replace("SITE", SITE)))
    return out


def site() -> Site:
    return load_site(ROOT / "inventories" / SITE / "site.yaml")


def test_the_doc_has_commands_for_every_procedure() -> None:
    text = DOC.read_text(encoding="utf-8")
    for heading in ("Add a compute node", "Remove a compute node", "Drain a node and return it",
                    "Rotate the munge key", "Rotate a QPU credential", "Upgrade QRMI"):
        assert f"## {heading}" in text
    assert len(commands()) >= 20


@pytest.mark.parametrize("argv", [c for c in commands() if c[0] == "qpusite"], ids=" ".join)
def test_qpusite_commands_parse(argv: list[str]) -> None:
    parser = build_parser()
    try:
        args = parser.parse_args(argv[1:])
    except SystemExit as exc:  # an unknown subcommand or flag
        pytest.fail(f"`{' '.join(argv)}` does not parse: exit {exc.code}")
    assert getattr(args, "handler", None) is not None
    if argv[1] == "accept":
        for only in args.check or ():
            lab = load_site(ROOT / "inventories" / "lab" / "site.yaml")
            found = load_all().instances(lab, Tier(args.tier), (only,))
            assert found, f"--check {only} selects no acceptance check of tier {args.tier}"


def _groups_and_hosts(model: Site) -> tuple[set[str], set[str]]:
    return set(derive.groups(model)), {h.name for h in model.hosts}


@pytest.mark.parametrize("argv", [c for c in commands() if c[0].endswith("ansible-playbook")], ids=" ".join)
def test_playbook_commands_name_existing_groups_and_files(argv: list[str]) -> None:
    model = site()
    groups, hosts = _groups_and_hosts(model)
    inventory = argv[argv.index("-i") + 1]
    assert (ROOT / inventory).is_file(), inventory
    assert (ROOT / argv[argv.index("-i") + 2]).name == "site.yml" and (ROOT / "site.yml").is_file()
    assert argv[argv.index("-e") + 1].startswith("@")  # secrets come from the vault file, never the line
    if "--limit" in argv:
        prefixes = {re.sub(r"\d+$", "", h) for h in hosts if re.search(r"\d$", h)}
        for entry in argv[argv.index("--limit") + 1].split(","):
            # a group of the inventory, or a new host named like the site's numbered hosts (cn193)
            ok = entry in groups or entry in hosts or re.sub(r"\d+$", "", entry) in prefixes
            assert ok, f"--limit {entry}: no such inventory group of {SITE}, nor a host named like its hosts"


def test_variables_and_model_fields_the_doc_names_exist() -> None:
    text = DOC.read_text(encoding="utf-8")
    model = site()
    vaults = {ref.vault for q in model.qpus for ref in q.qrmi.secrets.values()}
    munge_defaults = (ROOT / "roles" / "munge" / "defaults" / "main.yml").read_text(encoding="utf-8")
    named = set(re.findall(r"`(vault_[a-z0-9_]+)`", text)) | set(re.findall(r"replace (?:e\.g\. )?(vault_\w+)", text))
    assert "vault_munge_key" in named
    for name in named:
        assert name in vaults or name in munge_defaults, f"{name}: no QPU secret or role variable of that name"
    assert "software.runtime.qrmi_version" in text
    assert model.software.runtime.qrmi_version  # the field the QRMI upgrade changes
    assert "quantum_runtime_qrmi_version" in (ROOT / "roles" / "quantum_runtime" / "defaults" / "main.yml").read_text()
    for path in ("software.scheduler.partitions[].hosts", "qpus[].qrmi.secrets.<KEY>.vault"):
        assert path in text
    assert model.software.scheduler.partitions and model.qpus[0].qrmi.secrets
