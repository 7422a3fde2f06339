"""05x — monitoring: every expected scrape target up, the site's alert rules loaded,
and an alert that fires when an emulated QPU goes down and clears when it returns."""

from __future__ import annotations

import shlex
import time
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from acceptance.checks import REGISTRY, params
from acceptance.checks.params import SiteParam
from acceptance.context import Context
from acceptance.remote_http import Auth, HttpReply, call
from acceptance.spec import CheckFailed, MissingComponent, NotApplicable, Tier, check
from site_survey.derive import monitoring_targets
from site_survey.model import HostRole, Site

RULES_DIR = Path(__file__).resolve().parents[2] / "roles" / "prometheus" / "files" / "rules"
# The rule (roles/prometheus/files/rules/qpusite-alerts.yml) that covers QPU access services.
QPU_DOWN_ALERT = "QpuAccessServiceDown"
EMULATOR_UNIT = "qpu-emulator"
POLL_S = 5


def _monitoring(site: Site) -> tuple[str, str]:
    mon = site.hosts_with(HostRole.monitoring)
    if not mon:
        raise NotApplicable("the site model has no monitoring host")
    return mon[0].name, mon[0].address


def _api(ctx: Context, port: int, path: str, what: str, auth: Auth = "none") -> HttpReply:
    host, address = _monitoring(ctx.site)
    reply = call(ctx, host, "GET", f"http://{address}:{port}", path, auth=auth)
    if reply.status == -1:
        raise MissingComponent(what, host, f"no answer on {address}:{port} ({reply.error})")
    if not reply.ok:
        raise CheckFailed(f"{what} answered {reply.status} to {path}")
    return reply


def expected_rule_names(rules_dir: Path = RULES_DIR) -> set[str]:
    names: set[str] = set()
    for path in sorted(rules_dir.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                names.add(rule.get("alert") or rule.get("record"))
    return names


def target_health(targets_body: Any) -> dict[tuple[str, str], str]:
    """(job, host:port) → health, from Prometheus' /api/v1/targets reply."""
    out: dict[tuple[str, str], str] = {}
    for t in (targets_body or {}).get("data", {}).get("activeTargets", []):
        address = urllib.parse.urlsplit(t.get("scrapeUrl", "")).netloc
        out[(t.get("labels", {}).get("job", ""), address)] = t.get("health", "unknown")
    return out


@check(REGISTRY, 50, "prometheus_targets_up", tier=Tier.smoke, component="prometheus", expand=params.the_site,
       proves="Prometheus scrapes every target the model implies (node exporters, qrmid, emulators, itself, "
              "Alertmanager) and each is up.", timeout_s=60)
def prometheus_targets_up(ctx: Context, p: SiteParam) -> str:
    port = ctx.site.software.monitoring.prometheus_port
    health = target_health(_api(ctx, port, "/api/v1/targets", "prometheus").body)
    problems = []
    expected = monitoring_targets(ctx.site)
    for job, addresses in expected.items():
        for address in addresses:
            state = health.get((job, address))
            if state is None:
                problems.append(f"{job} {address} not scraped")
            elif state != "up":
                problems.append(f"{job} {address} {state}")
    if problems:
        raise CheckFailed("targets: " + "; ".join(problems))
    return f"{sum(len(a) for a in expected.values())} target(s) up in {len(expected)} job(s)"


@check(REGISTRY, 51, "alert_rules_loaded", tier=Tier.smoke, component="prometheus", expand=params.the_site,
       proves="Prometheus has loaded every alert and recording rule the kit ships for the site.", timeout_s=60)
def alert_rules_loaded(ctx: Context, p: SiteParam) -> str:
    port = ctx.site.software.monitoring.prometheus_port
    body = _api(ctx, port, "/api/v1/rules", "prometheus").body or {}
    loaded = {r.get("name") for g in body.get("data", {}).get("groups", []) for r in g.get("rules", [])}
    wanted = expected_rule_names()
    if not wanted:
        raise CheckFailed(f"no rules found in {RULES_DIR}")
    absent = sorted(wanted - loaded)
    if absent:
        raise CheckFailed(f"rules not loaded: {', '.join(absent)}")
    return f"{len(wanted)} rule(s) loaded"


def active_alerts(ctx: Context, name: str) -> list[dict[str, Any]]:
    port = ctx.site.software.monitoring.alertmanager_port
    body = _api(ctx, port, "/api/v2/alerts?active=true&silenced=false&inhibited=false", "alertmanager",
                auth="alertmanager").body
    return [a for a in body or [] if a.get("labels", {}).get("alertname") == name]


def _emulator_host(site: Site) -> str:
    for q in site.qpus:
        if q.access.mode == "emulator" and q.emulator is not None:
            return q.emulator.host
    raise NotApplicable("no emulated QPU to take down")


def _wait(ctx: Context, want_firing: bool, host: str, deadline_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        firing = [a for a in active_alerts(ctx, QPU_DOWN_ALERT)
                  if a.get("labels", {}).get("instance_name") in (host, None)
                  or host in str(a.get("labels", {}).get("instance", ""))]
        if bool(firing) == want_firing:
            return time.monotonic() - started
        time.sleep(POLL_S)
    raise CheckFailed(f"{QPU_DOWN_ALERT} for {host} {'never reached' if want_firing else 'did not clear in'} "
                      f"Alertmanager within {deadline_s:.0f} s")


def _restore(ctx: Context, host: str) -> None:
    """Start the emulator again and wait until it is active — whatever state the stop left it in."""
    unit = shlex.quote(EMULATOR_UNIT)
    ctx.run(host, f"systemctl reset-failed {unit} 2>/dev/null; systemctl start {unit}", timeout_s=150)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ctx.run(host, f"systemctl is-active {unit}").stdout.strip() == "active":
            return
        time.sleep(2)
    ctx.run(host, f"journalctl -u {unit} -n 40 --no-pager")
    raise CheckFailed(f"{EMULATOR_UNIT} on {host} did not come back after the drill (journal in the log)")


@check(REGISTRY, 52, "alert_fires_and_clears", tier=Tier.l1, component="alertmanager", expand=params.the_site,
       proves="Stopping an emulated QPU's service raises QpuAccessServiceDown in Alertmanager; starting it "
              "again clears the alert (the service is always restarted).", timeout_s=600)
def alert_fires_and_clears(ctx: Context, p: SiteParam) -> str:
    host = _emulator_host(ctx.site)
    _monitoring(ctx.site)
    if active_alerts(ctx, QPU_DOWN_ALERT):
        raise CheckFailed(f"{QPU_DOWN_ALERT} is already firing before the drill; fix that first")
    unit = shlex.quote(EMULATOR_UNIT)
    if ctx.run(host, f"systemctl is-active {unit}").stdout.strip() != "active":
        raise MissingComponent("qpu-emulator", host, f"service {EMULATOR_UNIT} is not running")
    try:
        # --no-block: the drill is about the alert, not about how long the unit takes to stop.
        ctx.run(host, f"systemctl stop --no-block {unit}", timeout_s=30)
        fired = _wait(ctx, True, host, 200)
    finally:
        _restore(ctx, host)
    cleared = _wait(ctx, False, host, 180)
    return f"fired {fired:.0f} s after {EMULATOR_UNIT} stopped on {host}; cleared {cleared:.0f} s after restart"


@check(REGISTRY, 53, "alertmanager_needs_login", tier=Tier.smoke, component="alertmanager", expand=params.the_site,
       proves="Alertmanager's API answers only with the login Prometheus uses: an anonymous read or silence is "
              "refused (401), so no cluster user can silence alerts; the login reads its status.", timeout_s=90)
def alertmanager_needs_login(ctx: Context, p: SiteParam) -> str:
    port = ctx.site.software.monitoring.alertmanager_port
    host, address = _monitoring(ctx.site)
    base = f"http://{address}:{port}"
    anonymous_read = call(ctx, host, "GET", base, "/api/v2/status")
    if anonymous_read.status == -1:
        raise MissingComponent("alertmanager", host, f"no answer on {address}:{port} ({anonymous_read.error})")
    silence = {"matchers": [{"name": "alertname", "value": "QpusiteAcceptanceNeverSilenced", "isRegex": False}],
               "startsAt": "2030-01-01T00:00:00Z", "endsAt": "2030-01-01T00:01:00Z",
               "createdBy": "qpusite acceptance", "comment": "must be refused"}
    anonymous_write = call(ctx, host, "POST", base, "/api/v2/silences", body=silence)
    for what, reply in (("read", anonymous_read), ("silence", anonymous_write)):
        if reply.status != 401:
            raise CheckFailed(f"an anonymous {what} got {reply.status} from Alertmanager; it must need a login "
                              "(alertmanager_web_auth)")
    status = _api(ctx, port, "/api/v2/status", "alertmanager", auth="alertmanager")
    return f"anonymous read and silence 401; login reads status ({status.status})"
