"""03x — the quantum runtime on login/compute nodes and the QRMI configuration there.

The configuration holds credentials, so it is inspected *on the host* by a short
script that prints a redacted copy: secret values never reach the controller's
logs or reports, only whether each one is set.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from acceptance.checks import REGISTRY, params
from acceptance.checks.params import HostParam
from acceptance.context import Context
from acceptance.expectations import QRMI_CONFIG
from acceptance.slurm_jobs import job_user
from acceptance.spec import CheckFailed, MissingComponent, Tier, check
from site_survey.derive import qrmi_resources
from site_survey.model import SECRET_KEY_MARKERS, HostRole

# Runs on the host with its system python3: read the config, redact secrets, and
# try a TCP connection to every endpoint it names (is the QPU service reachable from here?).
_INSPECT = r"""
import json, socket, sys, urllib.parse
path, markers = sys.argv[1], sys.argv[2].split(",")
try:
    doc = json.load(open(path))
except FileNotFoundError:
    print(json.dumps({"error": "missing"})); sys.exit(0)
except ValueError as exc:
    print(json.dumps({"error": "not JSON: %s" % exc})); sys.exit(0)
out = {"resources": [], "reach": {}}
for r in doc.get("resources", []) if isinstance(doc, dict) else []:
    env = r.get("environment", {}) or {}
    red = {}
    for k, v in env.items():
        secret = any(m in k.upper() for m in markers)
        red[k] = ("<set>" if v else "<empty>") if secret else v
        if not secret and (k.endswith("ENDPOINT") or k.endswith("URL")) and isinstance(v, str) and "://" in v:
            u = urllib.parse.urlsplit(v)
            port = u.port or (443 if u.scheme == "https" else 80)
            try:
                socket.create_connection((u.hostname, port), timeout=3).close(); ok = "ok"
            except OSError as exc:
                ok = str(exc)
            out["reach"]["%s:%s" % (u.hostname, port)] = ok
    out["resources"].append({"name": r.get("name"), "type": r.get("type"), "environment": red})
print(json.dumps(out))
"""


@check(REGISTRY, 30, "runtime_installed", tier=Tier.smoke, component="quantum_runtime",
       expand=params.each_runtime_host,
       proves="The node runtime exists at the model's prefix and imports the model's qrmi version.")
def runtime_installed(ctx: Context, p: HostParam) -> str:
    rt = ctx.site.software.runtime
    python = f"{rt.prefix}/bin/python"
    exists = ctx.run(p.host, f"test -x {shlex.quote(python)}")
    if not exists.ok:
        raise MissingComponent("quantum runtime", p.host, f"no {python}")
    code = "import importlib.metadata as m, qrmi; print(m.version('qrmi'))"
    done = ctx.run(p.host, f"{shlex.quote(python)} -c {shlex.quote(code)}", timeout_s=60)
    if not done.ok:
        raise CheckFailed(f"qrmi does not import in {python} on {p.host}: "
                          f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
    version = done.stdout.strip()
    if version != rt.qrmi_version:
        raise CheckFailed(f"qrmi {version} on {p.host}; the model pins {rt.qrmi_version}")
    return f"qrmi {version} in {rt.prefix}"


def compare_qrmi_config(expected: list[dict[str, Any]], found: dict[str, Any], brokered: bool) -> list[str]:
    """Differences between the model's QRMI resources and a host's (redacted) configuration.

    ``brokered``: qrmid holds the site's credentials (the site has a qpu_access host), so a
    credential on a compute node is a failure; without qrmid every secret must be set."""
    problems = []
    on_host = {r.get("name"): r for r in found.get("resources", [])}
    for want in expected:
        name = want["name"]
        got = on_host.pop(name, None)
        if got is None:
            problems.append(f"resource {name} missing")
            continue
        if got.get("type") != want["type"]:
            problems.append(f"{name}: type {got.get('type')!r}, model says {want['type']!r}")
        env = got.get("environment", {})
        for key, value in want["environment"].items():
            if env.get(key) != value:
                problems.append(f"{name}: {key} is {env.get(key)!r}, model says {value!r}")
        for key in want["secrets"]:
            if brokered and key in env:
                problems.append(f"{name}: secret {key} is on this host although qrmid brokers access")
            elif not brokered and env.get(key) != "<set>":
                problems.append(f"{name}: secret {key} is {'empty' if key in env else 'absent'}")
    for extra in on_host:
        problems.append(f"resource {extra} is not in the model")
    for target, outcome in sorted(found.get("reach", {}).items()):
        if outcome != "ok":
            problems.append(f"endpoint {target} unreachable from this host: {outcome}")
    return problems


@check(REGISTRY, 31, "qrmi_config_valid", tier=Tier.smoke, component="quantum_runtime",
       expand=params.each_qrmi_config_host,
       proves="The host's qrmi_config.json lists exactly the model's QPUs with the model's settings, no site "
              "credential where qrmid brokers access (every secret set where none does), and every endpoint "
              "reachable from that host.")
def qrmi_config_valid(ctx: Context, p: HostParam) -> str:
    argv = f"python3 - {shlex.quote(QRMI_CONFIG)} {shlex.quote(','.join(SECRET_KEY_MARKERS))}"
    done = ctx.run(p.host, argv, stdin=_INSPECT, timeout_s=40)
    if not done.ok:
        raise CheckFailed(f"could not inspect {QRMI_CONFIG} on {p.host}: {done.stderr.strip()[-300:]}")
    found = json.loads(done.stdout)
    if found.get("error") == "missing":
        raise MissingComponent("quantum runtime", p.host, f"no {QRMI_CONFIG}")
    if "error" in found:
        raise CheckFailed(f"{QRMI_CONFIG} on {p.host}: {found['error']}")
    brokered = bool(ctx.site.hosts_with(HostRole.qpu_access))
    problems = compare_qrmi_config(qrmi_resources(ctx.site), found, brokered)
    if problems:
        raise CheckFailed(f"{QRMI_CONFIG} on {p.host}: " + "; ".join(problems))
    return f"{len(found['resources'])} resource(s) match the model; {len(found['reach'])} endpoint(s) reachable"


@check(REGISTRY, 32, "job_user_account", tier=Tier.smoke, component="accounts", expand=params.each_runtime_host,
       proves="The user acceptance jobs run as (--job-user, else a member of a policy profile allowed on every "
              "QPU) has an account on the login and compute nodes.")
def job_user_account(ctx: Context, p: HostParam) -> str:
    user = job_user(ctx)
    done = ctx.run(p.host, f"id {shlex.quote(user)}")
    if not done.ok:
        raise CheckFailed(f"user {user} has no account on {p.host}; policy-profile users need accounts on "
                          "login and compute nodes")
    return done.stdout.strip()
