"""Connection defaults for the whole site (rollout.connection): emitted only when set, a host's own wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from site_survey import SiteModelError, derive, load_site
from site_survey.model import Site


def _site(tmp_path: Path, doc: dict[str, Any]) -> Site:
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_site(tmp_path / "site.yaml")


def _without_host_connections(lab: dict[str, Any]) -> dict[str, Any]:
    for host in lab["hosts"]:
        host.pop("connection", None)
    return lab


def test_nothing_set_emits_no_connection_variable(tmp_path: Path, lab: dict[str, Any]) -> None:
    inv = derive.inventory(_site(tmp_path, _without_host_connections(lab)), str(tmp_path))
    names = set(inv["all"]["vars"]) | {k for hv in inv["_meta"]["hostvars"].values() for k in hv}
    assert not names & set(derive.CONNECTION_VARS)  # Ansible's own defaults (your user, port 22) apply


def test_site_defaults_go_to_all_and_a_host_overrides_field_by_field(tmp_path: Path, lab: dict[str, Any]) -> None:
    doc = _without_host_connections(lab)
    doc["rollout"] = {
        "connection": {"user": "deploy", "become": True, "port": 2222, "private_key_file": "keys/site",
                       "proxy_jump": "admin@bastion.lab.example:22"}
    }
    doc["hosts"][1]["connection"] = {"user": "maint", "become": False}
    inv = derive.inventory(_site(tmp_path, doc), str(tmp_path))
    all_vars, hostvars = inv["all"]["vars"], inv["_meta"]["hostvars"]
    assert all_vars["ansible_user"] == "deploy" and all_vars["ansible_become"] is True
    assert all_vars["ansible_port"] == 2222
    assert all_vars["ansible_ssh_private_key_file"] == str(tmp_path / "keys" / "site")
    assert all_vars["ansible_ssh_common_args"] == "-o ProxyJump=admin@bastion.lab.example:22"
    c1 = hostvars[doc["hosts"][1]["name"]]
    assert c1["ansible_user"] == "maint" and c1["ansible_become"] is False
    assert "ansible_port" not in c1  # inherits the site's
    assert "ansible_user" not in hostvars[doc["hosts"][0]["name"]]


def test_ansible_vars_user_is_no_longer_overridden_by_a_default_root(tmp_path: Path, lab: dict[str, Any]) -> None:
    doc = _without_host_connections(lab)
    doc["ansible"] = {"vars": {"ansible_user": "ops"}}
    site = _site(tmp_path, doc)
    inv = derive.inventory(site, str(tmp_path))
    assert inv["all"]["vars"]["ansible_user"] == "ops"
    assert all("ansible_user" not in hv for hv in inv["_meta"]["hostvars"].values())
    # the rehearsal and acceptance log in as the inventory does
    assert site.connection_for(site.hosts[0]).user == "ops"


def test_connection_for_merges_host_then_site_then_defaults(tmp_path: Path, lab: dict[str, Any]) -> None:
    doc = _without_host_connections(lab)
    doc["rollout"] = {"connection": {"user": "deploy", "become": True}}
    doc["hosts"][0]["connection"] = {"port": 2200}
    site = _site(tmp_path, doc)
    first = site.connection_for(site.hosts[0])
    assert (first.user, first.port, first.become) == ("deploy", 2200, True)
    second = site.connection_for(site.hosts[1])
    assert (second.user, second.port, second.become) == ("deploy", 22, True)


@pytest.mark.parametrize(
    "jump",
    ["-oProxyCommand=id", "bastion;id", "a b", "user@-host", "x,y,z,w,v"],
)
def test_a_jump_host_that_is_not_host_words_is_refused(tmp_path: Path, lab: dict[str, Any], jump: str) -> None:
    lab["rollout"] = {"connection": {"proxy_jump": jump}}
    with pytest.raises(SiteModelError) as err:
        _site(tmp_path, lab)
    assert "rollout.connection.proxy_jump" in str(err.value)
    assert "ProxyJump" in str(err.value)


def test_tasks_on_the_controller_machine_never_become() -> None:
    """Site-wide become lands in `all`'s vars, which Ansible's implicit localhost reads too: a task delegated
    to the controller machine must say become: false, or a non-root site would sudo on the operator's machine."""
    from tests.conftest import REPO

    def walk(tasks: list[dict[str, Any]], where: str) -> None:
        for task in tasks or []:
            for key in ("block", "rescue", "always"):
                walk(task.get(key, []), where)
            if task.get("delegate_to") == "localhost":
                # the connection variable, not the keyword: ansible_become in all's vars outranks `become:`
                assert (task.get("vars") or {}).get("ansible_become") is False, f"{where}: {task.get('name')}"

    for path in sorted((REPO / "roles").glob("*/tasks/*.yml")):
        walk(yaml.safe_load(path.read_text()), str(path.relative_to(REPO)))
