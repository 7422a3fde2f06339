"""qpu-env (roles/quantum_runtime/files/qpu-env): the environment a job's QPUs use, from the runtime
table the role writes out of the site model (derive.runtime_families); run as a user would, with the
table and environments in a temporary directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from site_survey.derive import runtime_families
from site_survey.loader import load_site

REPO = Path(__file__).resolve().parents[2]
QPU_ENV = REPO / "roles" / "quantum_runtime" / "files" / "qpu-env"


def test_lab_families_come_from_the_catalogue() -> None:
    got = {f["name"]: (f["shares_main"], f["types"], f["qpus"]) for f in runtime_families(
        load_site(REPO / "inventories" / "lab" / "site.yaml"))}
    assert got == {"ibm": (True, ["ibm-quantum-compute-service"], ["sc_twin"]),
                   "pasqal": (True, ["pasqal-cloud"], ["FRESNEL"]),
                   "iqm": (False, ["iqm-server"], ["spark"])}


@pytest.fixture
def table(tmp_path: Path) -> Path:
    main, iqm = tmp_path / "runtime", tmp_path / "runtime-iqm"
    for prefix in (main, iqm):
        (prefix / "bin").mkdir(parents=True)
    doc = {"main": str(main), "families": {"ibm": str(main), "pasqal": str(main), "iqm": str(iqm)},
           "types": {"ibm-quantum-compute-service": "ibm", "pasqal-cloud": "pasqal", "iqm-server": "iqm"}}
    path = tmp_path / "runtimes.json"
    path.write_text(json.dumps(doc))
    return path


def run(table: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ["PATH"], "QPU_ENV_TABLE": str(table), **env}
    return subprocess.run([sys.executable, str(QPU_ENV), *args], capture_output=True, text=True, env=clean,
                          timeout=30)


def test_a_family_runs_the_command_in_its_environment(table: Path) -> None:
    r = run(table, "iqm", "sh", "-c", 'echo "$VIRTUAL_ENV"; echo "$PATH"')
    assert r.returncode == 0, r.stderr
    venv, path = r.stdout.splitlines()
    assert venv.endswith("/runtime-iqm") and path.startswith(venv + "/bin:")


def test_auto_picks_the_environment_of_the_jobs_qpus(table: Path) -> None:
    r = run(table, "--path", "auto", QRMI_JOB_QPU_TYPES="iqm-server")
    assert r.returncode == 0 and r.stdout.strip().endswith("/runtime-iqm"), r.stderr
    shared = run(table, "--path", "auto", QRMI_JOB_QPU_TYPES="ibm-quantum-compute-service,pasqal-cloud")
    assert shared.returncode == 0 and shared.stdout.strip().endswith("/runtime"), shared.stderr
    legacy = run(table, "--path", "auto", SLURM_JOB_QPU_TYPES="pasqal-cloud")
    assert legacy.returncode == 0 and legacy.stdout.strip().endswith("/runtime")


@pytest.mark.parametrize(("args", "env", "says"), [
    (("--path", "auto"), {"QRMI_JOB_QPU_TYPES": "ibm-quantum-compute-service,iqm-server"}, "different environments"),
    (("--path", "auto"), {}, "not a QPU job"),
    (("--path", "auto"), {"QRMI_JOB_QPU_TYPES": "oqtopus"}, "no environment on this node serves"),
    (("--path", "../etc"), {}, "unknown family"),
    (("nope", "true"), {}, "unknown family"),
    (("iqm",), {}, "usage"),
    (("iqm", "--"), {}, "no command"),
    (("iqm", "/no/such/program"), {}, "cannot run"),
])
def test_bad_use_exits_2_with_the_reason(table: Path, args: tuple[str, ...], env: dict[str, str], says: str) -> None:
    r = run(table, *args, **env)
    assert r.returncode == 2 and says in r.stderr, (r.returncode, r.stderr)


def test_a_malformed_table_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "runtimes.json"
    bad.write_text(json.dumps({"families": {"iqm": "relative/path"}, "types": {}}))
    r = run(bad, "--path", "iqm")
    assert r.returncode == 2 and "malformed" in r.stderr


def with_bundle(table: Path, bundle: str) -> Path:
    doc = json.loads(table.read_text())
    doc["ca_bundle"] = bundle
    table.write_text(json.dumps(doc))
    return table


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    path = tmp_path / "ca-certificates.crt"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def requests_bundle(table: Path, *args: str, **env: str) -> str:
    r = run(table, *args, "sh", "-c", 'echo "${REQUESTS_CA_BUNDLE-<unset>}"', **env)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_the_command_trusts_the_tables_ca_bundle(table: Path, bundle: Path) -> None:
    with_bundle(table, str(bundle))
    assert requests_bundle(table, "iqm") == str(bundle)
    assert requests_bundle(table, "auto", QRMI_JOB_QPU_TYPES="iqm-server") == str(bundle)
    assert requests_bundle(table, "ibm", REQUESTS_CA_BUNDLE="") == str(bundle)  # empty: requests ignores it too


def test_the_users_own_bundle_is_kept(table: Path, bundle: Path) -> None:
    with_bundle(table, str(bundle))
    assert requests_bundle(table, "iqm", REQUESTS_CA_BUNDLE="/home/u/mine.pem") == "/home/u/mine.pem"
    # requests falls back to CURL_CA_BUNDLE: setting REQUESTS_CA_BUNDLE would override the user's choice
    assert requests_bundle(table, "iqm", CURL_CA_BUNDLE="/home/u/mine.pem") == "<unset>"


def test_no_bundle_when_the_node_has_none_or_the_table_names_none(table: Path, tmp_path: Path) -> None:
    assert requests_bundle(table, "iqm") == "<unset>"  # a table from before ca_bundle
    assert requests_bundle(with_bundle(table, ""), "iqm") == "<unset>"
    assert requests_bundle(with_bundle(table, str(tmp_path / "missing.crt")), "iqm") == "<unset>"
    assert requests_bundle(with_bundle(table, str(tmp_path)), "iqm") == "<unset>"  # a directory is no bundle


@pytest.mark.parametrize("value", ["ca.crt", "/etc/ssl/../../home/u/ca.crt", "/etc/ssl/ca.crt\nX=1", "/a b", 3])
def test_a_malformed_ca_bundle_is_refused(table: Path, value: object) -> None:
    doc = json.loads(table.read_text())
    doc["ca_bundle"] = value
    table.write_text(json.dumps(doc))
    r = run(table, "iqm", "true")
    assert r.returncode == 2 and "ca_bundle" in r.stderr, (r.returncode, r.stderr)


ACTIVATE_BLOCK = REPO / "roles" / "quantum_runtime" / "templates" / "activate_ca_bundle.sh.j2"


def sourced(tmp_path: Path, bundle: str, **env: str) -> str:
    """What REQUESTS_CA_BUNDLE is after `source bin/activate` with the role's block in it."""
    import jinja2

    activate = tmp_path / "activate"
    activate.write_text(jinja2.Template(ACTIVATE_BLOCK.read_text()).render(quantum_runtime_ca_bundle=bundle))
    r = subprocess.run(["bash", "-c", f'. {activate} && echo "${{REQUESTS_CA_BUNDLE-<unset>}}"'],
                       capture_output=True, text=True, env={"PATH": os.environ["PATH"], **env}, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_activate_trusts_the_bundle_as_qpu_env_does(tmp_path: Path, bundle: Path) -> None:
    assert sourced(tmp_path, str(bundle)) == str(bundle)
    assert sourced(tmp_path, str(bundle), REQUESTS_CA_BUNDLE="/home/u/mine.pem") == "/home/u/mine.pem"
    assert sourced(tmp_path, str(bundle), CURL_CA_BUNDLE="/home/u/mine.pem") == "<unset>"
    assert sourced(tmp_path, str(tmp_path / "missing.crt")) == "<unset>"
