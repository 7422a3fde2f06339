"""01x — host state: reachable, packages installed, services enabled and running,
ports bound to the model's address only, configuration files with owner and mode.
These say "it is installed"; the 04x checks say "it runs under the resource manager"."""

from __future__ import annotations

import shlex

from acceptance.checks import REGISTRY, params
from acceptance.checks.params import FileParam, HostParam, PackageParam, ServiceParam
from acceptance.context import Context
from acceptance.spec import CheckFailed, MissingComponent, NotApplicable, Tier, check
from site_survey.catalogue.components import component

WILDCARDS = {"0.0.0.0",  # noqa: S104 - the addresses we flag, not ones we bind
             "*", "[::]", "::", "[::ffff:0.0.0.0]"}
COMMAND_NOT_FOUND = 127


@check(REGISTRY, 10, "host_reachable", tier=Tier.smoke, component="host", expand=params.each_host,
       proves="The controller logs in to the host over SSH with the model's connection settings.", timeout_s=20)
def host_reachable(ctx: Context, p: HostParam) -> str:
    out = ctx.run_ok(p.host, "uname -n && cat /etc/debian_version 2>/dev/null || true", "login", timeout_s=15)
    lines = out.split()
    return f"logged in; node name {lines[0] if lines else '?'}, Debian {lines[1] if len(lines) > 1 else '?'}"


@check(REGISTRY, 11, "package_installed", tier=Tier.smoke, component="packages", expand=params.each_package,
       proves="The Debian package the component needs is installed on the host.")
def package_installed(ctx: Context, p: PackageParam) -> str:
    done = ctx.run(p.host, f"dpkg-query -W -f='${{Status}} ${{Version}}' {shlex.quote(p.package)}")
    if "install ok installed" not in done.stdout:
        raise MissingComponent(p.component, p.host, f"package {p.package} is not installed")
    return f"{p.package} {done.stdout.split()[-1]} installed"


def _unit_loaded(ctx: Context, p: ServiceParam) -> None:
    done = ctx.run(p.host, f"systemctl show -p LoadState --value {shlex.quote(p.service.unit)}")
    if done.returncode == COMMAND_NOT_FOUND:
        raise CheckFailed(f"systemctl not found on {p.host}: the host does not run systemd")
    if done.stdout.strip() != "loaded":
        raise MissingComponent(p.service.component, p.host, f"no service {p.service.unit}")


@check(REGISTRY, 12, "service_enabled", tier=Tier.smoke, component="services", expand=params.each_service,
       proves="The component's systemd unit exists and starts at boot.")
def service_enabled(ctx: Context, p: ServiceParam) -> str:
    _unit_loaded(ctx, p)
    state = ctx.run(p.host, f"systemctl is-enabled {shlex.quote(p.service.unit)}").stdout.strip()
    if state not in ("enabled", "static", "alias"):
        raise CheckFailed(f"{p.service.unit} on {p.host} is {state or 'not enabled'}; it would not start at boot")
    return f"{p.service.unit} {state}"


@check(REGISTRY, 13, "service_running", tier=Tier.smoke, component="services", expand=params.each_service,
       proves="The component's systemd unit is active now.")
def service_running(ctx: Context, p: ServiceParam) -> str:
    _unit_loaded(ctx, p)
    unit = shlex.quote(p.service.unit)
    state = ctx.run(p.host, f"systemctl is-active {unit}").stdout.strip()
    if state != "active":
        # The unit's journal goes into the check's log: the first thing an operator needs.
        ctx.run(p.host, f"journalctl -u {unit} -n 40 --no-pager")
        raise CheckFailed(f"{p.service.unit} on {p.host} is {state or 'not active'} (journal in the log)")
    since = ctx.run(p.host, f"systemctl show -p ActiveEnterTimestamp --value {unit}").stdout.strip()
    return f"{p.service.unit} active since {since or '?'}"


def listening_addresses(ss_output: str, port: int) -> list[str]:
    """Local addresses listening on ``port`` in ``ss -Htln`` output (IPv6 in brackets)."""
    found = []
    for line in ss_output.splitlines():
        cols = line.split()
        if len(cols) < 4:
            continue
        local = cols[3]
        address, _, port_text = local.rpartition(":")
        if port_text == str(port):
            if "%" in address:  # drop an interface scope: [fe80::1%eth0] -> [fe80::1]
                address = address.split("%")[0] + ("]" if address.startswith("[") else "")
            found.append(address)
    return found


@check(REGISTRY, 14, "port_bound", tier=Tier.smoke, component="network", expand=params.each_listening_service,
       proves="The service listens on its port at the host's model address and on no wildcard address.")
def port_bound(ctx: Context, p: ServiceParam) -> str:
    assert p.service.port is not None
    _unit_loaded(ctx, p)
    addresses = listening_addresses(ctx.run_ok(p.host, "ss -Htln", "listing TCP sockets"), p.service.port)
    if not addresses:
        raise CheckFailed(f"nothing listens on TCP port {p.service.port} on {p.host} ({p.service.unit})")
    wild = [a for a in addresses if a in WILDCARDS]
    unavoidable = component(p.service.component).wildcard_bind
    if wild and unavoidable:
        # Not a pass: the daemon cannot do better, so the port's exposure is the site firewall's job.
        raise NotApplicable(
            f"{p.service.unit} on {p.host} listens on {wild[0]}:{p.service.port} ({unavoidable}); "
            f"the site's firewall must admit port {p.service.port} only from the cluster's networks"
        )
    if wild:
        raise CheckFailed(
            f"{p.service.unit} on {p.host} listens on {wild[0]}:{p.service.port} (every interface); "
            f"it must bind {p.address} only"
        )
    if p.address not in addresses:
        raise CheckFailed(f"{p.service.unit} on {p.host} listens on {', '.join(addresses)} but not on {p.address}")
    return f"listens on {', '.join(sorted(set(addresses)))}:{p.service.port}, no wildcard"


@check(REGISTRY, 15, "config_file", tier=Tier.smoke, component="config", expand=params.each_config_file,
       proves="The configuration file is present with the expected owner, group and mode.")
def config_file(ctx: Context, p: FileParam) -> str:
    f = p.file
    done = ctx.run(p.host, f"stat -c '%U %G %a' {shlex.quote(f.path)}")
    if not done.ok:
        raise MissingComponent(f.component, p.host, f"no file {f.path}")
    owner, group, mode = done.stdout.split()
    mode = mode.zfill(4)
    found, wanted = (owner, group, mode), (f.owner, f.group, f.mode)
    if found != wanted:
        raise CheckFailed(f"{f.path} on {p.host} is {owner}:{group} {mode}; expected {f.owner}:{f.group} {f.mode}")
    return f"{f.path} {owner}:{group} {mode}"
