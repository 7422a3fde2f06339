"""TLS on the QPU access path and Alertmanager's login, as the roles render them.

The lab model is rendered twice on the controller with the rollout's own
variables: as it is (TLS off: plain HTTP, no tls keys anywhere) and with
``facility.network.tls`` turned on and the rehearsal CA's certificate for qgw
(the qrmid and emulator configs then carry their tls sections, every URL the
rollout derives is https, Prometheus scrapes those jobs over HTTPS).
Alertmanager's web login and Prometheus's credentials are rendered in both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rehearsal.site_ca import ensure_site_ca
from site_survey import load_site
from tests.conftest import LAB, REPO

NODE_BIN = REPO / ".venv-node" / "bin"

RENDER = """
- hosts: qgw
  connection: local
  gather_facts: false
  vars_files:
    - {repo}/roles/common/defaults/main.yml
    - {repo}/roles/common/vars/main.yml
    - {repo}/roles/qrmid/defaults/main.yml
    - {repo}/roles/qrmid/vars/main.yml
    - {repo}/roles/emulator/defaults/main.yml
    - {repo}/roles/emulator/vars/main.yml
    - {repo}/roles/prometheus/defaults/main.yml
    - {repo}/roles/prometheus/vars/main.yml
    - {repo}/roles/alertmanager/defaults/main.yml
    - {repo}/roles/alertmanager/vars/main.yml
    - {repo}/roles/spank_qrmid/defaults/main.yml
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
    emulator_source_dir: {repo}/services/qpu-emulator
  tasks:
    - ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', '{repo}/roles/qrmid/templates/config.json.j2') }}}}"
        dest: {out}/qrmid.json
        mode: "0600"
    - ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', '{repo}/roles/qrmid/templates/secrets.json.j2') }}}}"
        dest: "{{{{ qrmid_config_dir }}}}/secrets.json"
        mode: "0600"
      no_log: true
    - ansible.builtin.copy:
        content: "{{{{ qrmid_operator_token }}}}\n"
        dest: "{{{{ qrmid_config_dir }}}}/operator.token"
        mode: "0600"
    - ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', '{repo}/roles/emulator/templates/config.yaml.j2') }}}}"
        dest: {out}/emulator.yaml
        mode: "0600"
      no_log: true
    - ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', '{repo}/roles/prometheus/templates/prometheus.yml.j2') }}}}"
        dest: {out}/prometheus.yml
        mode: "0600"
    - ansible.builtin.copy:
        content: "{{{{ facts | to_nice_json }}}}"
        dest: {out}/facts.json
        mode: "0600"
      vars:
        facts:
          qrmid_public_url: "{{{{ qrmid_public_url }}}}"
          qrmid_scheme: "{{{{ __qrmid_scheme }}}}"
          emulator_scheme: "{{{{ __emulator_scheme }}}}"
          spank_qrmid_url: "{{{{ spank_qrmid_url }}}}"
          common_site_ca_certificate_file: "{{{{ common_site_ca_certificate_file }}}}"
          common_site_ca_source: "{{{{ __common_site_ca_source if common_site_ca_certificate_file else '' }}}}"
          alertmanager_args: "{{{{ __alertmanager_args }}}}"
          qrmi_resources: "{{{{ qpusite_qrmi_resources }}}}"
"""

LAB_VAULT = {"vault_lab_sc_twin_apikey": "k-sc", "vault_lab_fresnel_token": "t-fresnel",
             "vault_lab_spark_token": "t-spark"}


def _render(tmp_path: Path, site_file: Path, vault: dict[str, str], *extra: str) -> Path:
    """Render into tmp_path/out; the services' own files (certificates, secrets) go to tmp_path/etc."""
    out = tmp_path / "out"
    out.mkdir()
    etc = tmp_path / "etc"
    etc.mkdir(exist_ok=True)
    play = tmp_path / "render.yml"
    play.write_text(RENDER.format(repo=REPO, out=out))
    secrets = tmp_path / "vault.yml"
    secrets.write_text(yaml.safe_dump({**vault, "alertmanager_password": "am-password"}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    argv = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        *("-i", str(site_file), str(play), "-e", f"@{secrets}"),
        *("-e", "qrmid_operator_token=rendered-operator-token"),
        *("-e", f"qrmid_config_dir={etc}", "-e", f"emulator_config_dir={etc}", "-e", f"qrmid_state_dir={etc}/state"),
        *(a for assignment in extra for a in ("-e", assignment)),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "BEGIN" not in done.stdout, "a PEM text was printed by the render run"
    return out


def _facts(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "facts.json").read_text()))


def _jobs(out: Path) -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((out / "prometheus.yml").read_text())
    return {job["job_name"]: job for job in config["scrape_configs"]}


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab with TLS switched off (the shipped lab serves HTTPS)."""
    base = tmp_path_factory.mktemp("plain")
    doc = yaml.safe_load(LAB.read_text())
    doc["facility"]["network"]["tls"] = {"enabled": False}
    site_file = base / "lab-plain" / "site.yaml"
    site_file.parent.mkdir()
    site_file.write_text(yaml.safe_dump(doc))
    return _render(base, site_file, LAB_VAULT)


@pytest.fixture(scope="module")
def with_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("tls")
    doc = yaml.safe_load(LAB.read_text())
    doc["facility"]["network"]["tls"] = {"enabled": True, "ca_certificate_file": ".rehearsal/tls/ca.crt"}
    site_file = base / "lab-tls" / "site.yaml"
    site_file.parent.mkdir()
    site_file.write_text(yaml.safe_dump(doc))
    issued = ensure_site_ca(site_file.parent / ".rehearsal" / "tls", load_site(site_file))
    # what the roles' copy tasks put on the host before the configs are checked
    (base / "etc").mkdir()
    (base / "etc" / "tls.crt").write_text(issued.secrets["vault_tls_qgw_certificate"])
    (base / "etc" / "tls.key").write_text(issued.secrets["vault_tls_qgw_key"])
    (base / "etc" / "tls.key").chmod(0o600)
    return _render(base, site_file, {**LAB_VAULT, **issued.secrets}), issued.ca_certificate


def test_without_tls_nothing_changes(plain: Path) -> None:
    assert "tls" not in json.loads((plain / "qrmid.json").read_text())
    assert "tls" not in yaml.safe_load((plain / "emulator.yaml").read_text())["listen"]
    facts = _facts(plain)
    assert facts["qrmid_public_url"] == "http://10.77.0.20:8470"
    assert facts["spank_qrmid_url"] == "http://10.77.0.20:8470"
    assert facts["common_site_ca_certificate_file"] == ""
    assert all(job.get("scheme", "http") == "http" for job in _jobs(plain).values())


def test_qrmid_and_the_emulator_get_their_tls_sections(with_tls: tuple[Path, Path]) -> None:
    out, _ = with_tls
    etc = out.parent / "etc"
    files = {"certificate_file": str(etc / "tls.crt"), "key_file": str(etc / "tls.key")}
    qrmid = json.loads((out / "qrmid.json").read_text())
    assert qrmid["tls"] == files
    assert qrmid["public_url"] == "https://10.77.0.20:8470"
    emulator = yaml.safe_load((out / "emulator.yaml").read_text())
    assert emulator["listen"]["tls"] == files
    assert emulator["listen"]["host"] == "10.77.0.20"


def test_every_url_on_the_access_path_is_https(with_tls: tuple[Path, Path]) -> None:
    out, ca = with_tls
    facts = _facts(out)
    assert facts["qrmid_scheme"] == facts["emulator_scheme"] == "https"
    assert facts["spank_qrmid_url"] == "https://10.77.0.20:8470"
    endpoints = [
        v for r in facts["qrmi_resources"] for k, v in r["environment"].items() if k.endswith(("ENDPOINT", "URL"))
    ]
    assert endpoints and all(v.startswith("https://10.77.0.20:8480") for v in endpoints), endpoints
    # the CA the common role installs: relative to the site directory
    assert facts["common_site_ca_certificate_file"] == ".rehearsal/tls/ca.crt"
    assert Path(facts["common_site_ca_source"]).resolve() == ca.resolve()


def test_prometheus_scrapes_the_access_path_over_https(with_tls: tuple[Path, Path], plain: Path) -> None:
    jobs = _jobs(with_tls[0])
    for name in ("qrmid", "emulator"):
        assert jobs[name]["scheme"] == "https"
        assert jobs[name]["tls_config"] == {"ca_file": "/etc/ssl/certs/ca-certificates.crt"}
    for name in ("node", "prometheus", "alertmanager"):
        assert jobs[name].get("scheme", "http") == "http"


def test_alertmanager_requires_a_login_and_prometheus_has_it(plain: Path) -> None:
    facts = _facts(plain)
    assert "--web.config.file=/etc/prometheus/alertmanager-web.yml" in facts["alertmanager_args"]
    assert "--cluster.listen-address=" in facts["alertmanager_args"]
    config = yaml.safe_load((plain / "prometheus.yml").read_text())
    auth = {"username": "prometheus", "password_file": "/etc/prometheus/alertmanager.password"}
    assert config["alerting"]["alertmanagers"][0]["basic_auth"] == auth
    assert _jobs(plain)["alertmanager"]["basic_auth"] == auth
    assert "am-password" not in (plain / "prometheus.yml").read_text()


def test_the_services_accept_their_rendered_tls_configs(with_tls: tuple[Path, Path]) -> None:
    """When the node environment has the services, their own --check accepts the rendered files."""
    out, _ = with_tls
    checked = 0
    for tool, config in (("qrmid", out / "qrmid.json"), ("qpu-emulator", out / "emulator.yaml")):
        binary = NODE_BIN / tool
        if not binary.exists():
            continue
        done = subprocess.run(
            [str(binary), "--check", "--config", str(config)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{tool}: {done.stdout[-1000:]}{done.stderr[-2000:]}"
        checked += 1
    if not checked:
        pytest.skip("node environment (.venv-node) without qrmid/qpu-emulator")


def test_the_emulator_role_renders_the_twins_the_kit_shapes_in_python(plain: Path) -> None:
    """roles/emulator and site_survey/service_configs.py (the Kubernetes stack's source) give each twin the
    same credentials: the very secrets qrmid holds for its QPU, sorted by the QRMI type catalogue."""
    from site_survey import service_configs

    rendered = yaml.safe_load((plain / "emulator.yaml").read_text())
    site = load_site(LAB)
    host = site.host("qgw")
    assert host is not None
    shaped = service_configs.rollout_emulator_config(site, host, LAB_VAULT.get)
    assert rendered["twins"] == shaped["twins"]
    assert {t["name"]: t["credentials"] for t in rendered["twins"]} == {
        "sc_twin": {"api_keys": ["k-sc"], "tokens": [], "clients": {}},
        "FRESNEL": {"api_keys": [], "tokens": ["t-fresnel"], "clients": {}},
        "spark": {"api_keys": [], "tokens": ["t-spark"], "clients": {}},
    }


def test_the_emulator_role_renders_the_s3_stores_of_ibm_quantum_system_twins(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """An emulated ibm-quantum-system QPU: the role gives the twin the QPU's IAM key and lists the site's
    store in s3_endpoints, as service_configs.py does (the emulator connects to no other store)."""
    from site_survey import service_configs

    base = tmp_path_factory.mktemp("qs")
    doc = yaml.safe_load(LAB.read_text())
    doc["facility"]["network"]["tls"] = {"enabled": False}
    twin = dict(doc["qpus"][0]["emulator"], coupling_map=None, backend_name="qs_twin")
    doc["qpus"].append({
        "name": "qs_twin", "vendor": "IBM", "modality": "superconducting", "qubits": 5,
        "room": doc["facility"]["rooms"][0]["name"], "access": {"mode": "emulator"}, "emulator": twin,
        "qrmi": {
            "type": "ibm-quantum-system",
            "settings": {"QRMI_IBM_QS_SERVICE_CRN": "crn:v1:x", "QRMI_IBM_QS_S3_ENDPOINT": "http://10.77.0.20:9000",
                         "QRMI_IBM_QS_S3_BUCKET": "jobs", "QRMI_IBM_QS_S3_REGION": "us-east-1"},
            "secrets": {"QRMI_IBM_QS_IAM_APIKEY": {"vault": "vault_qs_apikey"},
                        "QRMI_IBM_QS_AWS_ACCESS_KEY_ID": {"vault": "vault_qs_s3_id"},
                        "QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY": {"vault": "vault_qs_s3_secret"}},
        },
    })
    site_file = base / "lab-qs" / "site.yaml"
    site_file.parent.mkdir()
    site_file.write_text(yaml.safe_dump(doc, sort_keys=False))  # schema_version first, as the plugin looks for it
    vault = {**LAB_VAULT, "vault_qs_apikey": "k-qs", "vault_qs_s3_id": "s3-id", "vault_qs_s3_secret": "s3-secret"}
    out = _render(base, site_file, vault)
    rendered = yaml.safe_load((out / "emulator.yaml").read_text())
    site = load_site(site_file)
    host = site.host(twin["host"])
    assert host is not None
    shaped = service_configs.rollout_emulator_config(site, host, vault.get)
    assert rendered["s3_endpoints"] == shaped["s3_endpoints"] == ["http://10.77.0.20:9000"]
    qs = next(t for t in rendered["twins"] if t["name"] == "qs_twin")
    assert qs["api"] == "ibm-quantum-system" and qs["credentials"]["api_keys"] == ["k-qs"]
    assert "s3-secret" not in (out / "emulator.yaml").read_text()  # the store's key is qrmid's, not the twin's
