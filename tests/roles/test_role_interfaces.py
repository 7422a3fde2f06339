"""Every role keeps the interface conventions of docs/rollout.md.

- defaults/main.yml keys are exactly the options of meta/argument_specs.yml (main);
- meta/main.yml names the role (namespace + role_name) for molecule;
- tasks/main.yml only sequences validate/install/configure/service;
- validate.yml fails on removed variables; handlers are notified through `listen:`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

ROLES = sorted(p for p in (REPO / "roles").iterdir() if (p / "tasks" / "main.yml").is_file())
STAGES = {"validate.yml", "install.yml", "configure.yml", "service.yml"}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_match_argument_specs(role: Path) -> None:
    defaults = _yaml(role / "defaults" / "main.yml") or {}
    specs = _yaml(role / "meta" / "argument_specs.yml")
    assert specs, f"{role.name}: meta/argument_specs.yml is missing"
    options = specs["argument_specs"]["main"].get("options") or {}
    assert set(defaults) - set(options) == set(), f"{role.name}: defaults without an argument spec"
    assert set(options) - set(defaults) == set(), f"{role.name}: argument specs without a default"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_public_variables_are_namespaced(role: Path) -> None:
    defaults = _yaml(role / "defaults" / "main.yml") or {}
    internals = _yaml(role / "vars" / "main.yml") or {}
    assert all(k.startswith(f"{role.name}_") for k in defaults), f"{role.name}: defaults must be {role.name}_*"
    assert all(k.startswith(f"__{role.name}_") for k in internals), f"{role.name}: vars must be __{role.name}_*"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_meta_names_the_role(role: Path) -> None:
    info = (_yaml(role / "meta" / "main.yml") or {}).get("galaxy_info", {})
    assert info.get("namespace") == "qpusite"
    assert info.get("role_name") == role.name


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_main_only_sequences_the_stages(role: Path) -> None:
    tasks = _yaml(role / "tasks" / "main.yml")
    included = []
    for i, task in enumerate(tasks):
        if i == 0:
            # validate.yml alone is included: site.yml has validated every role already (playbooks/validate.yml),
            # so the include is skipped there; used alone, the role validates whatever --tags select.
            include = task.get("ansible.builtin.include_tasks") or {}
            assert include.get("file") == "validate.yml", f"{role.name}: main.yml starts by including validate.yml"
            assert include.get("apply", {}).get("tags") == ["always"] and task.get("tags") == ["always"]
            assert any("qpusite_validated_roles" in w for w in task.get("when", [])), role.name
            included.append("validate.yml")
            continue
        # Static imports: a dynamic include costs a strategy round per host on every run.
        assert "ansible.builtin.import_tasks" in task, f"{role.name}: main.yml stages are imported, not included"
        included.append(task["ansible.builtin.import_tasks"])
        stage = task["ansible.builtin.import_tasks"].removesuffix(".yml")
        assert task.get("tags") == [role.name, f"{role.name}:{stage}"], f"{role.name}: tag the {stage} stage"
    assert included, f"{role.name}: tasks/main.yml includes nothing"
    assert set(included) <= STAGES, f"{role.name}: main.yml may only include {sorted(STAGES)}"
    assert included[0] == "validate.yml"
    order = [s for s in ["validate.yml", "install.yml", "configure.yml", "service.yml"] if s in included]
    assert included == order, f"{role.name}: stages out of order"
    for stage in included:
        assert (role / "tasks" / stage).is_file()


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_validate_fails_on_removed_variables(role: Path) -> None:
    validate = (role / "tasks" / "validate.yml").read_text()
    assert "removed" in validate.lower(), f"{role.name}: validate.yml must fail on removed variables with a hint"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_handlers_listen(role: Path) -> None:
    handlers = _yaml(role / "handlers" / "main.yml") or []
    for handler in handlers:
        assert handler.get("listen"), f"{role.name}: handler '{handler.get('name')}' needs listen:"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_a_molecule_scenario(role: Path) -> None:
    scenario = role / "molecule" / "default"
    assert (scenario / "molecule.yml").is_file(), f"{role.name}: molecule/default/molecule.yml is missing"
    assert (scenario / "converge.yml").is_file()
