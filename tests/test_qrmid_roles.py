"""roles/qrmid and roles/spank_qrmid: role conventions, and the configuration the
qrmid role renders from the lab inventory is accepted by qrmid itself."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
ROLES = ("qrmid", "spank_qrmid")
NODE_QRMID = REPO / ".venv-node" / "bin" / "qrmid"


@pytest.mark.parametrize("role", ROLES)
def test_role_follows_the_conventions(role: str) -> None:
    base = REPO / "roles" / role
    defaults = yaml.safe_load((base / "defaults" / "main.yml").read_text())
    spec = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(defaults) == set(spec), f"defaults and argument_specs differ: {set(defaults) ^ set(spec)}"
    assert all(k.startswith(role + "_") for k in defaults)
    meta = yaml.safe_load((base / "meta" / "main.yml").read_text())["galaxy_info"]
    assert meta["namespace"] == "qpusite" and meta["role_name"] == role
    main = yaml.safe_load((base / "tasks" / "main.yml").read_text())
    # validation first (skipped when site.yml's validate play already ran it), then one tagged import per stage
    assert main[0]["ansible.builtin.include_tasks"]["file"] == "validate.yml"
    assert "always" in main[0]["tags"]
    stages = main[1:]
    assert [t["ansible.builtin.import_tasks"] for t in stages] == ["install.yml", "configure.yml", "service.yml"]
    for task, stage in zip(stages, ("install", "configure", "service"), strict=True):
        assert set(task["tags"]) == {role, f"{role}:{stage}"}
    for handler in yaml.safe_load((base / "handlers" / "main.yml").read_text()):
        assert "listen" in handler


def test_secret_tasks_do_not_log() -> None:
    tasks = yaml.safe_load((REPO / "roles" / "qrmid" / "tasks" / "configure.yml").read_text())
    for task in tasks:
        if any(word in task["name"].lower() for word in ("secret", "token")):
            assert task.get("no_log") is True, task["name"]
            assert task[next(k for k in task if k.startswith("ansible.builtin."))]["mode"] == "0600"


RENDER = """
- hosts: qgw
  connection: local
  gather_facts: false
  vars_files:
    - {repo}/roles/qrmid/defaults/main.yml
    - {repo}/roles/qrmid/vars/main.yml
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', '{repo}/roles/qrmid/templates/config.json.j2') }}}}"
        dest: {out}/config.json
        mode: "0640"
    - ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', '{repo}/roles/qrmid/templates/secrets.json.j2') }}}}"
        dest: {out}/secrets.json
        mode: "0600"
      no_log: true
    - ansible.builtin.copy:
        content: "{{{{ qrmid_operator_token }}}}\\n"
        dest: {out}/operator.token
        mode: "0600"
"""


LAB_VAULT = "vault_lab_sc_twin_apikey: k-sc\nvault_lab_fresnel_token: t-fresnel\nvault_lab_spark_token: t-spark\n"


def render_qrmid_files(tmp_path: Path, vault: str, extra_vars: tuple[str, ...] = ()) -> Path:
    """Render roles/qrmid's config, secrets and token for the lab model into a temp dir; returns it."""
    out = tmp_path / "etc-qrmid"
    out.mkdir()
    play = tmp_path / "render.yml"
    play.write_text(RENDER.format(repo=REPO, out=out))
    secrets = tmp_path / "vault.yml"
    secrets.write_text(vault)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    bindir = Path(sys.executable).parent
    argv = [str(bindir / "ansible-playbook"), "-i", str(REPO / "inventories/lab/site.yaml"), str(play),
            "-e", f"@{secrets}", "-e", f"qrmid_config_dir={out}", "-e", f"qrmid_state_dir={out}/state",
            "-e", "qrmid_operator_token=rendered-operator-token"]
    for assignment in extra_vars:
        argv += ["-e", assignment]
    r = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def test_rendered_configuration_is_accepted_by_qrmid(tmp_path: Path) -> None:
    out = render_qrmid_files(tmp_path, LAB_VAULT)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["listen_host"] == "10.77.0.20" and cfg["listen_port"] == 8470
    assert cfg["public_url"] == "http://10.77.0.20:8470"
    assert {r["name"] for r in cfg["resources"]} == {"sc_twin", "FRESNEL", "spark"}
    assert "k-sc" not in (out / "config.json").read_text()  # values only in the 0600 secrets file
    assert json.loads((out / "secrets.json").read_text()) == {
        "vault_lab_sc_twin_apikey": "k-sc", "vault_lab_fresnel_token": "t-fresnel",
        "vault_lab_spark_token": "t-spark",
    }
    assert not (out / "secrets.json").stat().st_mode & stat.S_IROTH
    if not NODE_QRMID.exists():
        pytest.skip("node environment (.venv-node) without qrmid")
    check = subprocess.run([str(NODE_QRMID), "--check", "--config", str(out / "config.json")],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert "3 QPU resources" in check.stdout


def test_rendered_postgresql_configuration_keeps_the_password_in_the_secrets_file(tmp_path: Path) -> None:
    out = render_qrmid_files(
        tmp_path,
        LAB_VAULT + "vault_qrmid_database_password: pg-secret-1\n",
        ("qrmid_database_url=postgresql://qrmid@db.example:5432/qrmid",),
    )
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["database"] == {
        "url": "postgresql://qrmid@db.example:5432/qrmid", "password_secret": "vault_qrmid_database_password"
    }
    assert "pg-secret-1" not in (out / "config.json").read_text()
    assert json.loads((out / "secrets.json").read_text())["vault_qrmid_database_password"] == "pg-secret-1"
    if not NODE_QRMID.exists():
        pytest.skip("node environment (.venv-node) without qrmid")
    check = subprocess.run([str(NODE_QRMID), "--check", "--config", str(out / "config.json")],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr


def test_the_role_renders_the_document_the_kit_shapes_in_python(tmp_path: Path) -> None:
    """roles/qrmid and site_survey/service_configs.py (which the Kubernetes stack and `render` use) give
    qrmid one and the same configuration, up to the directories the test moved."""
    from site_survey import service_configs
    from site_survey.loader import load_site

    out = render_qrmid_files(tmp_path, LAB_VAULT)
    rendered = json.loads((out / "config.json").read_text())
    site = load_site(REPO / "inventories" / "lab" / "site.yaml")
    service = service_configs.rollout_qrmid_service(site)
    assert service is not None
    shaped = service_configs.qrmid_config(site, service)
    shaped.update(secrets_file=f"{out}/secrets.json", operator_token_file=f"{out}/operator.token",
                  database=f"{out}/state/qrmid.sqlite", job_token_key_file=f"{out}/state/job-token.key")
    # this render's vault holds no TLS certificate, so the role serves plain HTTP (tests/roles/test_tls_configs.py)
    shaped.pop("tls", None)
    shaped["public_url"] = shaped["public_url"].replace("https://", "http://")
    assert rendered == shaped
    assert all(r["resource_type"] for r in rendered["resources"])
