"""The rollout's templates, rendered for the lab site with the rollout's own variables.

tests/roles/render_templates.yml renders every template on the controller through
ansible-playbook (the real Jinja environment and filters), with promtool, amtool
and the qrmi_config.json schema check as `validate:` steps; these tests read the
results and check what the files must say.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from site_survey import derive, hostlist, service_configs
from site_survey.loader import load_site
from tests.conftest import LAB, REPO

PLAYBOOK = REPO / "tests" / "roles" / "render_templates.yml"
SCHEMA = REPO / "roles" / "quantum_runtime" / "files" / "qrmi_config.schema.json"
CHECKER = REPO / "roles" / "quantum_runtime" / "files" / "check_qrmi_config.py"
PLUGIN = {"path": "/usr/lib/slurm/spank_test.so", "args": ["/etc/slurm/qrmi_config.json", "--env:X=1"]}

pytestmark = pytest.mark.skipif(
    not (shutil.which("promtool") and shutil.which("amtool")), reason="promtool/amtool missing (tools/apt/ansible.txt)"
)


@pytest.fixture(scope="module")
def site() -> Any:
    return load_site(LAB)


@pytest.fixture(scope="module")
def secrets(site: Any) -> dict[str, str]:
    names = {v for r in derive.qrmi_resources(site) for v in r["secrets"].values()}
    names.add("vault_slurmdbd_storage_password")
    return {name: f"secret-value-of-{name}" for name in sorted(names)}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, secrets: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("rendered")
    extra = {"out_dir": str(out), "slurm_plugstack_entries": [PLUGIN], **secrets}
    (out / "extra.json").write_text(json.dumps(extra))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i", str(LAB), str(PLAYBOOK),
            "-e", f"@{out / 'extra.json'}",
            "-e", f"ansible_python_interpreter={sys.executable}",
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    (out / "extra.json").unlink()
    assert not any(s in result.stdout for s in secrets.values()), "a secret was printed by the render run"
    return out


def _conf_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def test_slurm_conf_has_one_license_per_qpu_with_its_slots(rendered: Path, site: Any) -> None:
    licenses = [line for line in _conf_lines(rendered / "slurm.conf") if line.startswith("Licenses=")]
    assert len(licenses) == 1
    pairs = dict(item.split(":") for item in licenses[0].removeprefix("Licenses=").split(","))
    assert {k: int(v) for k, v in pairs.items()} == derive.qpu_licenses(site)


def test_slurm_conf_accounts_every_qpu_license_in_slurmdbd_with_fair_share(rendered: Path, site: Any) -> None:
    conf = dict(line.split("=", 1) for line in _conf_lines(rendered / "slurm.conf") if not line.startswith(
        ("NodeName=", "PartitionName=")))
    accounting = derive.slurm_accounting(site)
    assert conf["AccountingStorageType"] == "accounting_storage/slurmdbd"
    assert conf["AccountingStorageHost"] == accounting["address"] and conf["AccountingStoragePort"] == "6819"
    assert sorted(conf["AccountingStorageTRES"].split(",")) == sorted(f"license/{q}" for q in derive.qpu_licenses(site))
    assert conf["PriorityType"] == "priority/multifactor"
    assert int(conf["PriorityWeightFairshare"]) > int(conf["PriorityWeightAge"]) > 0
    # use is charged to fair-share every PriorityCalcPeriod minutes: the model's (lab: 1, a rehearsal)
    assert conf["PriorityCalcPeriod"] == str(accounting["fairshare_calc_period_minutes"]) == "1"
    # fair-share charges a held QPU license as the model's weight in CPUs, on every partition
    weight = accounting["qpu_billing_weight"]
    partitions = [line for line in _conf_lines(rendered / "slurm.conf") if line.startswith("PartitionName=")]
    assert partitions
    for line in partitions:
        fields = dict(f.split("=", 1) for f in line.split())
        billed = dict(w.split("=") for w in fields["TRESBillingWeights"].split(","))
        assert billed == {"CPU": "1.0", **{f"License/{q}": str(weight) for q in derive.qpu_licenses(site)}}


def test_slurmdbd_conf_stores_in_mariadb_with_the_vaulted_password(rendered: Path, secrets: dict[str, str]) -> None:
    conf = dict(line.split("=", 1) for line in _conf_lines(rendered / "slurmdbd.conf"))
    password = secrets["vault_slurmdbd_storage_password"]
    assert conf["StorageType"] == "accounting_storage/mysql" and conf["StorageHost"] == "localhost"
    assert conf["StoragePass"] == password and conf["AuthType"] == "auth/munge"
    sql = (rendered / "database.sql").read_text()
    assert sql.count(f"IDENTIFIED BY '{password}'") == 2 and "CREATE DATABASE IF NOT EXISTS `slurm_acct_db`" in sql


def test_slurm_conf_nodes_partitions_and_addresses_come_from_the_model(rendered: Path, site: Any) -> None:
    lines = _conf_lines(rendered / "slurm.conf")
    nodes = [dict(kv.split("=", 1) for kv in line.split()) for line in lines if line.startswith("NodeName=")]
    # alike nodes share one line, names and addresses as hostlists that pair up in order
    assert len(nodes) == len({(n["cpus"], n["memory_mb"]) for n in derive.slurm_nodes(site)}) == 1
    rendered_nodes = [
        {"name": name, "address": address, "cpus": int(n["CPUs"]), "memory_mb": int(n["RealMemory"])}
        for n in nodes
        for name, address in zip(hostlist.expand(n["NodeName"]), hostlist.expand(n["NodeAddr"]), strict=True)
    ]
    assert sorted(rendered_nodes, key=lambda n: n["name"]) == sorted(derive.slurm_nodes(site), key=lambda n: n["name"])
    assert nodes[0]["NodeName"] == "c[1-2]"
    partitions = [line for line in lines if line.startswith("PartitionName=")]
    # (TRESBillingWeights: test_slurm_conf_accounts_every_qpu_license_in_slurmdbd_with_fair_share)
    partitions = [" ".join(f for f in p.split() if not f.startswith("TRESBillingWeights=")) for p in partitions]
    assert partitions == ["PartitionName=debug Nodes=c[1-2] Default=YES MaxTime=60 State=UP"]
    assert "SlurmctldHost=ctl(10.77.0.10)" in lines
    assert "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny" in lines


def test_slurm_conf_model_overrides_win_over_role_defaults(rendered: Path) -> None:
    lines = _conf_lines(rendered / "slurm.conf")
    # The role's production default is proctrack/cgroup; the lab model overrides it for containers.
    assert "ProctrackType=proctrack/linuxproc" in lines
    assert "TaskPlugin=task/none" in lines
    keys = [line.split("=", 1)[0] for line in lines if not line.startswith(("NodeName=", "PartitionName="))]
    assert len(keys) == len(set(keys)), "a slurm.conf key is rendered twice"


def test_plugstack_lists_spank_plugins_in_order_then_the_include(rendered: Path) -> None:
    assert _conf_lines(rendered / "plugstack.conf") == [
        "required /usr/lib/slurm/spank_test.so /etc/slurm/qrmi_config.json --env:X=1",
        "include /etc/slurm/plugstack.conf.d/*.conf",
    ]
    assert _conf_lines(rendered / "gres.conf") == []


def test_prometheus_scrapes_every_model_target_by_host_name(rendered: Path, site: Any) -> None:
    config = yaml.safe_load((rendered / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = derive.monitoring_targets(site)
    assert set(jobs) == set(targets)
    names = {h.address: h.name for h in site.hosts}
    for job, addresses in targets.items():
        statics = jobs[job]["static_configs"]
        assert [s["targets"][0] for s in statics] == addresses
        assert [s["labels"]["instance_name"] for s in statics] == [names[a.split(":")[0]] for a in addresses]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == targets["alertmanager"]


def test_alertmanager_routes_to_the_model_contacts(rendered: Path) -> None:
    config = yaml.safe_load((rendered / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert [c["to"] for c in receivers["operators"]["email_configs"]] == ["ops@lab.example"]
    assert config["route"]["receiver"] == "operators"
    # The only on-call contact is an operator, who gets every alert already.
    assert "email_configs" not in receivers["on-call"]
    assert config["route"]["routes"][-1] == {"receiver": "operators"}


def test_no_service_config_binds_every_address(rendered: Path) -> None:
    for name in ("slurm.conf", "prometheus.yml", "alertmanager.yml"):
        assert "0.0.0.0" not in (rendered / name).read_text(), name


def test_qrmi_config_holds_no_credential_where_qrmid_brokers(
    rendered: Path, site: Any, secrets: dict[str, str]
) -> None:
    """lab has a qpu_access host (qrmid): compute nodes get the settings and no site credential."""
    text = (rendered / "qrmi_config.json").read_text()
    config = json.loads(text)
    resources = {r["name"]: r for r in config["resources"]}
    assert set(resources) == {q.name for q in site.qpus}
    for model in derive.qrmi_resources(site):
        env = resources[model["name"]]["environment"]
        assert resources[model["name"]]["type"] == model["type"]
        for key, value in model["environment"].items():
            assert env[key] == value
        assert not set(model["secrets"]) & set(env), "a credential key reached a compute node's config"
    assert not any(value in text for value in secrets.values())
    assert resources["sc_twin"]["environment"]["QRMI_IBM_QCS_ENDPOINT"].endswith("/v1")


def test_qrmi_config_embeds_vaulted_secrets_without_qrmid(rendered: Path, site: Any, secrets: dict[str, str]) -> None:
    config = json.loads((rendered / "qrmi_config.embedded.json").read_text())
    resources = {r["name"]: r for r in config["resources"]}
    for model in derive.qrmi_resources(site):
        env = resources[model["name"]]["environment"]
        for key, variable in model["secrets"].items():
            assert env[key] == secrets[variable]


def test_qrmi_config_is_the_document_the_kit_shapes_in_python(
    rendered: Path, site: Any, secrets: dict[str, str]
) -> None:
    """roles/quantum_runtime writes what site_survey/service_configs.py shapes (and `qpusite render` previews),
    with and without the credentials."""
    assert json.loads((rendered / "qrmi_config.json").read_text()) == service_configs.qrmi_config(site)
    embedded = json.loads((rendered / "qrmi_config.embedded.json").read_text())
    assert embedded == service_configs.qrmi_config(site, secret=secrets.__getitem__)


def _check(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "qrmi_config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, str(CHECKER), str(SCHEMA), str(path)], capture_output=True, text=True, timeout=60
    )


def test_schema_rejects_a_missing_setting_without_printing_values(rendered: Path, tmp_path: Path) -> None:
    config = json.loads((rendered / "qrmi_config.embedded.json").read_text())
    assert _check(config, tmp_path).returncode == 0
    sc = next(r for r in config["resources"] if r["name"] == "sc_twin")
    del sc["environment"]["QRMI_IBM_QCS_IAM_ENDPOINT"]
    result = _check(config, tmp_path)
    assert result.returncode == 1
    assert "missing QRMI_IBM_QCS_IAM_ENDPOINT" in result.stderr
    assert "secret-value-of" not in result.stderr + result.stdout


def test_schema_rejects_an_ibm_endpoint_without_v1(rendered: Path, tmp_path: Path) -> None:
    config = json.loads((rendered / "qrmi_config.json").read_text())
    sc = next(r for r in config["resources"] if r["name"] == "sc_twin")
    sc["environment"]["QRMI_IBM_QCS_ENDPOINT"] = "http://10.77.0.20:8480"
    result = _check(config, tmp_path)
    assert result.returncode == 1
    assert "QRMI_IBM_QCS_ENDPOINT" in result.stderr and "/v1$" in result.stderr


def test_schema_rejects_unknown_types_and_non_string_values(tmp_path: Path) -> None:
    bad_type = {"resources": [{"name": "q", "type": "ibm-nonsense", "environment": {}}]}
    assert _check(bad_type, tmp_path).returncode == 1
    bad_value = {"resources": [{"name": "q", "type": "pasqal-local", "environment": {"QRMI_WARDEN_URL": 5}}]}
    assert _check(bad_value, tmp_path).returncode == 1
    good = {"resources": [{"name": "q", "type": "pasqal-local", "environment": {"QRMI_WARDEN_URL": "http://a"}}]}
    assert _check(good, tmp_path).returncode == 0


def test_overview_dashboard_is_structurally_valid(rendered: Path, site: Any) -> None:
    dashboard = json.loads((rendered / "qpusite-overview.json").read_text())
    assert dashboard["title"] and len(dashboard["uid"]) <= 40
    assert isinstance(dashboard["schemaVersion"], int)
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert set(grid) == {"x", "y", "w", "h"} and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        for target in panel.get("targets", []):
            assert target["expr"] and target["refId"]
            assert target["datasource"]["uid"] == "prometheus"
    # Panels never overlap.
    cells = set()
    for panel in panels:
        g = panel["gridPos"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, panel["title"]
        cells |= mine
    text = next(p for p in panels if p["type"] == "text")["options"]["content"]
    for qpu in site.qpus:
        assert f"| {qpu.name} |" in text


def test_dashboard_queries_use_recorded_series_that_exist(rendered: Path) -> None:
    recorded = set()
    for name in ("qpusite-recording.yml", "qpusite-qpu.yml"):
        rules = yaml.safe_load((REPO / "roles/prometheus/files/rules" / name).read_text())
        recorded |= {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    dashboard = json.loads((rendered / "qpusite-overview.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {e for e in exprs if ":" in e and "{" not in e}
    assert used and used <= recorded
