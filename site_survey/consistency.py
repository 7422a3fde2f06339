"""Cross-field rules of the site model: references resolve, addresses are unique,
every compute host can reach the QPU access hosts. Each rule returns problems;
all of them are reported together."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from site_survey import derive, hostrefs
from site_survey.catalogue.components import FEATURE_GROUPS, port_fields, srun_port_range
from site_survey.cloud import cloud_section_problems
from site_survey.errors import Problem
from site_survey.model import SCHEDULER_ONLY_FIELDS, CoolingLoop, HostRole, PowerFeed, Site
from site_survey.profiles import system_problems
from site_survey.qrmi_rules import external_qpu_problems, qrmi_type_problems

Rule = Callable[[Site], Iterable[Problem]]


class _Named(Protocol):
    name: str


class _InRoom(Protocol):
    room: str


def _names(items: Iterable[_Named]) -> list[str]:
    return [i.name for i in items]


def _duplicates(path: str, names: list[str], what: str) -> Iterable[Problem]:
    for name, count in Counter(names).items():
        if count > 1:
            index = names.index(name, names.index(name) + 1)
            yield Problem(f"{path}[{index}].name", f"{what} {name!r} is defined {count} times; names must be unique")


def unique_names(site: Site) -> Iterable[Problem]:
    f = site.facility
    yield from _duplicates("hosts", _names(site.hosts), "host")
    yield from _duplicates("host_sets", _names(site.host_sets), "host set")
    yield from _duplicates("qpus", _names(site.qpus), "QPU")
    yield from _duplicates("facility.rooms", _names(f.rooms), "room")
    yield from _duplicates("facility.cooling_loops", _names(f.cooling_loops), "cooling loop")
    yield from _duplicates("facility.power_feeds", _names(f.power_feeds), "power feed")
    yield from _duplicates("facility.network.vlans", _names(f.network.vlans), "VLAN")
    yield from _duplicates("site.contacts", _names(site.site.contacts), "contact")
    yield from _duplicates("software.policy_profiles", _names(site.software.policy_profiles), "profile")
    yield from _duplicates("software.scheduler.partitions", _names(site.software.scheduler.partitions), "partition")
    lowered = [q.name.lower() for q in site.qpus]
    for name, count in Counter(lowered).items():
        if count > 1 and len({q.name for q in site.qpus if q.name.lower() == name}) > 1:
            yield Problem("qpus", f"QPU names differing only in case ({name!r}) confuse users and Slurm")


def unique_accounts(site: Site) -> Iterable[Problem]:
    accounts = site.software.accounts
    yield from _duplicates("software.accounts", [a.name for a in accounts], "account")
    uids = [a.uid for a in accounts]
    for i, account in enumerate(accounts):
        if uids.index(account.uid) != i:
            other = accounts[uids.index(account.uid)].name
            yield Problem(f"software.accounts[{i}].uid", f"uid is already used by account {other!r}", account.uid)


def unique_addresses(site: Site) -> Iterable[Problem]:
    seen: dict[str, str] = {}
    reported: set[str] = set()
    for i, host in enumerate(site.hosts):
        if host.address in seen:
            path = site.host_path(i, "address")
            if path in reported:  # one problem per host set, not one per host
                continue
            reported.add(path)
            yield Problem(
                path,
                f"address of host {host.name!r} is already used by host {seen[host.address]!r}; every host needs "
                "its own address" + ("" if path.startswith("hosts[") else " (move the set's first_address)"),
                host.address,
            )
        else:
            seen[host.address] = host.name


def rooms_exist(site: Site) -> Iterable[Problem]:
    rooms = set(_names(site.facility.rooms))
    hint = f"rooms are: {', '.join(sorted(rooms)) or 'none'} (add it under facility.rooms or fix the name)"
    for i, q in enumerate(site.qpus):
        if q.room is not None and q.room not in rooms:
            yield Problem(f"qpus[{i}].room", f"no such room; {hint}", q.room)
    f = site.facility
    served: tuple[tuple[str, Sequence[CoolingLoop | PowerFeed]], ...] = (
        ("cooling_loops", f.cooling_loops),
        ("power_feeds", f.power_feeds),
    )
    for kind, items in served:
        for i, item in enumerate(items):
            for j, room in enumerate(item.serves_rooms):
                if room not in rooms:
                    yield Problem(f"facility.{kind}[{i}].serves_rooms[{j}]", f"no such room; {hint}", room)
    for i, hs in enumerate(site.host_sets):
        if hs.room is not None and hs.room not in rooms:
            yield Problem(f"host_sets[{i}].room", f"no such room; {hint}", hs.room)
    for i, host in enumerate(site.hosts):
        if host.room is not None and host.room not in rooms and site.host_set_of(host.name) is None:
            yield Problem(f"hosts[{i}].room", f"no such room; {hint}", host.room)
    for i, env in enumerate(f.environment):
        if env.room not in rooms:
            yield Problem(f"facility.environment[{i}].room", f"no such room; {hint}", env.room)
    s = f.safety
    located: tuple[tuple[str, Sequence[_InRoom]], ...] = (
        ("hazards", s.hazards),
        ("controls", s.controls),
        ("lasers", s.lasers),
        ("odh_monitoring", s.odh_monitoring),
        ("emergency_stops", s.emergency_stops),
        ("cryogens", s.cryogens),
        ("pressure_reliefs", s.pressure_reliefs),
        ("inspections", s.inspections),
        ("rooms", s.rooms),
        ("documents", s.documents),
    )
    for kind, entries in located:
        for i, entry in enumerate(entries):
            room = entry.room
            if room not in rooms:
                yield Problem(f"facility.safety.{kind}[{i}].room", f"no such room; {hint}", room)


def contacts_exist(site: Site) -> Iterable[Problem]:
    contacts = set(_names(site.site.contacts))
    hint = f"contacts are: {', '.join(sorted(contacts)) or 'none'} (add it under site.contacts)"
    for i, control in enumerate(site.facility.safety.controls):
        if control.responsible not in contacts:
            yield Problem(f"facility.safety.controls[{i}].responsible", f"no such contact; {hint}", control.responsible)
    signer = site.facility.safety.sign_off.signed_by
    if signer is not None and signer not in contacts:
        yield Problem("facility.safety.sign_off.signed_by", f"no such contact; {hint}", signer)
    s = site.facility.safety
    named: list[tuple[str, str | None]] = [
        *((f"facility.safety.lasers[{i}].safety_officer", x.safety_officer) for i, x in enumerate(s.lasers)),
        *((f"facility.safety.inspections[{i}].responsible", x.responsible) for i, x in enumerate(s.inspections)),
        *((f"facility.safety.rooms[{i}].vendor_contact", x.vendor_contact) for i, x in enumerate(s.rooms)),
        *((f"facility.safety.documents[{i}].signed_by", x.signed_by) for i, x in enumerate(s.documents)),
    ]
    for path, name in named:
        if name is not None and name not in contacts:
            yield Problem(path, f"no such contact; {hint}", name)


def _host_role_check(site: Site, path: str, name: str | None, role: HostRole) -> Iterable[Problem]:
    if name is None:
        return
    host = site.host(name)
    if host is None:
        yield Problem(path, f"no such host; hosts are: {', '.join(_names(site.hosts)) or 'none'}", name)
    elif role not in host.roles:
        yield Problem(path, f"host {name!r} does not have role {role.value!r}; add it to the host's roles", name)


def qpu_references(site: Site) -> Iterable[Problem]:
    for i, q in enumerate(site.qpus):
        yield from _host_role_check(site, f"qpus[{i}].access.access_host", q.access.access_host, HostRole.qpu_access)
        if q.emulator is not None:
            yield from _host_role_check(site, f"qpus[{i}].emulator.host", q.emulator.host, HostRole.emulator)
    names = set(_names(site.qpus))
    for i, link in enumerate(site.facility.network.links):
        if link.to_qpu not in names:
            yield Problem(f"facility.network.links[{i}].to_qpu", "no such QPU", link.to_qpu)


def scheduler_references(site: Site) -> Iterable[Problem]:
    qpus = set(_names(site.qpus))
    for i, profile in enumerate(site.software.policy_profiles):
        for j, qpu in enumerate(profile.qpus):
            if qpu not in qpus:
                yield Problem(
                    f"software.policy_profiles[{i}].qpus[{j}]",
                    f"no such QPU; QPUs are: {', '.join(sorted(qpus)) or 'none'}",
                    qpu,
                )
    partitions = site.software.scheduler.partitions
    for i, part in enumerate(partitions):
        path = f"software.scheduler.partitions[{i}].hosts"
        entries, problems = hostrefs.resolve_entries(site, part.hosts, path)
        yield from problems
        index = site.host_index()
        for j, (ref, found) in enumerate(zip(part.hosts, entries, strict=True)):
            # per entry, not per host: one entry may stand for thousands
            not_compute = [n for n in found if HostRole.compute not in index[n].roles]
            if not_compute:
                more = f" (and {len(not_compute) - 1} more)" if len(not_compute) > 1 else ""
                yield Problem(
                    f"{path}[{j}]",
                    f"host {not_compute[0]!r}{more} is not a compute host; only compute hosts run jobs",
                    ref,
                )
    if sum(p.default for p in partitions) > 1:
        yield Problem("software.scheduler.partitions", "more than one partition is marked default: true")
    accounting = site.software.scheduler.accounting
    if accounting.enabled and accounting.host is not None and site.host(accounting.host) is None:
        yield Problem(
            "software.scheduler.accounting.host",
            f"no such host; name one of the site's hosts ({', '.join(h.name for h in site.hosts)}) or drop it "
            "to run slurmdbd on the controller",
            accounting.host,
        )


def scheduler_fields(site: Site) -> Iterable[Problem]:
    """Slurm-only fields under gridengine and Grid Engine-only fields under slurm are errors, not ignored."""
    sched = site.software.scheduler
    names = {"slurm": "Slurm", "gridengine": "Grid Engine"}
    for name in sched.misplaced_fields():
        owner = SCHEDULER_ONLY_FIELDS[name]
        yield Problem(
            f"software.scheduler.{name}",
            f"applies to {names[owner]} only, and software.scheduler.kind is {sched.kind!r}; remove it, or set "
            f"kind: {owner}",
        )


def required_roles(site: Site) -> Iterable[Problem]:
    if not site.hosts:
        return
    controllers = site.hosts_with(HostRole.controller)
    if len(controllers) != 1:
        yield Problem("hosts", f"exactly one host needs role 'controller' (found {len(controllers)})")
    if site.qpus and not site.hosts_with(HostRole.compute):
        yield Problem("hosts", "the site has QPUs but no host with role 'compute' to run jobs on them")
    if any(q.access.mode == "emulator" for q in site.qpus) and not site.hosts_with(HostRole.emulator):
        yield Problem("hosts", "a QPU is emulated but no host has role 'emulator'")


def _vlan_finder(site: Site) -> Callable[[str], str | None]:
    """address -> name of the first VLAN holding it (networks parsed once, not once per host)."""
    nets = [(ipaddress.IPv4Network(v.cidr), v.name) for v in site.facility.network.vlans]
    bounds = [(int(n.network_address), int(n.broadcast_address), name) for n, name in nets]

    def find(address: str) -> str | None:
        ip = int(ipaddress.IPv4Address(address))
        for lo, hi, name in bounds:
            if lo <= ip <= hi:
                return name
        return None

    return find


def host_set_addresses(site: Site) -> Iterable[Problem]:
    """A set's consecutive addresses stay in one VLAN and off its network and broadcast addresses."""
    vlans = [(ipaddress.IPv4Network(v.cidr), v.name) for v in site.facility.network.vlans]
    if not vlans:
        return
    for i, hs in enumerate(site.host_sets):
        hosts = site.set_hosts(i)
        if not hosts:
            continue
        first = ipaddress.IPv4Address(hs.first_address)
        last = first + (len(hosts) - 1)
        home = next(((net, name) for net, name in vlans if first in net), None)
        if home is None:
            continue  # network_paths reports an address in no VLAN
        net, name = home
        if last not in net or (net.prefixlen < 31 and (first == net.network_address or last == net.broadcast_address)):
            room = net.num_addresses - 2 if net.prefixlen < 31 else net.num_addresses
            yield Problem(
                f"host_sets[{i}].first_address",
                f"the set's {len(hosts)} addresses run {first}–{last}, outside the usable addresses of VLAN "
                f"{name!r} ({net}, {room} hosts); move first_address or split the set",
                hs.first_address,
            )


def network_paths(site: Site) -> Iterable[Problem]:
    """Every host sits in a VLAN (when VLANs are described) and compute hosts reach the QPU access hosts."""
    net = site.facility.network
    if not net.vlans:
        return
    vlan_names = set(_names(net.vlans))
    for i, vlan in enumerate(net.vlans):
        for j, other in enumerate(vlan.routed_to):
            if other not in vlan_names:
                yield Problem(f"facility.network.vlans[{i}].routed_to[{j}]", "no such VLAN", other)
    vlan_of = _vlan_finder(site)
    where: dict[str, str | None] = {}
    reported: set[str] = set()  # a host set's paths: one problem per set, not one per host
    for i, host in enumerate(site.hosts):
        where[host.name] = vlan_of(host.address)
        if where[host.name] is None:
            path = site.host_path(i, "address")
            if path not in reported:
                reported.add(path)
                yield Problem(
                    path,
                    f"address of host {host.name!r} is in no VLAN of facility.network.vlans; fix the address or add "
                    "the VLAN",
                    host.address,
                )
    routes = {(v.name, r) for v in net.vlans for r in v.routed_to}
    routes |= {(b, a) for a, b in routes}
    targets = [(t.name, where[t.name]) for t in site.hosts_with(HostRole.qpu_access)]
    unreachable: set[tuple[str, str]] = set()
    for i, host in enumerate(site.hosts):
        a = where[host.name]
        if a is None or HostRole.compute not in host.roles:
            continue
        for target, b in targets:
            if b is None or a == b or (a, b) in routes:
                continue
            path = site.host_path(i)
            if (path, target) in unreachable:
                continue
            unreachable.add((path, target))
            yield Problem(
                path,
                f"compute host {host.name!r} (VLAN {a}) has no network path to QPU access host "
                f"{target!r} (VLAN {b}); add {b!r} to routed_to of VLAN {a!r} or move a host",
            )


def group_names(site: Site) -> Iterable[Problem]:
    """Inventory groups per partition, set, room and QPU must not take a role or feature group's name."""
    fixed = {r.value for r in HostRole} | set(FEATURE_GROUPS)
    for group in sorted(set(derive.placement_group_names(site)) & fixed):
        owners = [
            (f"qpus[{i}].name", q.name) for i, q in enumerate(site.qpus) if derive.group_name("qpu", q.name) == group
        ]
        for path, value in owners or [("", group)]:
            yield Problem(
                path,
                f"gives the inventory group {group!r}, which is already a host role or feature group; rename it",
                value,
            )


def cloud_consistency(site: Site) -> Iterable[Problem]:
    topology = site.software.topology
    if topology in ("cloud", "hybrid") and site.cloud is None:
        yield Problem("cloud", f"topology {topology!r} needs a 'cloud:' section (provider, region, flavors)")
    if site.cloud is None:
        return
    if topology == "hybrid" and site.cloud.hybrid_link is None:
        yield Problem("cloud.hybrid_link", "a hybrid site needs cloud.hybrid_link (the private link to on-prem)")
    cloud_hosts = [h for h in site.hosts if h.location == "cloud"]
    if topology == "onprem" and cloud_hosts:
        yield Problem("software.topology", "hosts are placed in the cloud but topology is 'onprem'; use 'hybrid'")
    for h in cloud_hosts:
        missing = [r.value for r in h.roles if r not in site.cloud.flavors]
        if missing:
            yield Problem("cloud.flavors", f"no flavor for role(s) {', '.join(missing)} of cloud host {h.name!r}")
    cidr = ipaddress.IPv4Network(site.cloud.network.private_cidr)
    reported: set[str] = set()
    for i, h in enumerate(site.hosts):
        if h.location == "cloud" and ipaddress.IPv4Address(h.address) not in cidr:
            path = site.host_path(i, "address")
            if path not in reported:
                reported.add(path)
                yield Problem(
                    path, f"address of cloud host {h.name!r} is outside cloud.network.private_cidr {cidr}", h.address
                )
    # placement, exposure (SSH/APIs never world-open), provider services, hybrid link
    yield from cloud_section_problems(site)


def ports_distinct(site: Site) -> Iterable[Problem]:
    """Every port of the catalogue's components (Slurm's included) is used once."""
    seen: dict[int, str] = {}
    for name, (path, port) in port_fields(site).items():
        if port in seen:
            yield Problem(path, f"port of {name} is already used by {seen[port]}; pick another port", port)
        else:
            seen[port] = f"{name} ({path})"
    if site.software.scheduler.kind != "slurm":
        return  # srun's callback ports are Slurm's
    try:
        low, high = srun_port_range(site)
    except ValueError:
        return  # a malformed SrunPortRange is Slurm's to refuse; nothing to compare against
    for port, path in seen.items():
        if low <= port <= high:
            yield Problem(path, f"port is inside srun's port range {low}-{high} (SrunPortRange); pick another port",
                          port)


RULES: tuple[Rule, ...] = (
    unique_names,
    unique_accounts,
    unique_addresses,
    host_set_addresses,
    rooms_exist,
    contacts_exist,
    qpu_references,
    scheduler_references,
    scheduler_fields,
    required_roles,
    network_paths,
    group_names,
    cloud_consistency,
    ports_distinct,
    qrmi_type_problems,  # per-type QRMI settings and secrets (site_survey/qrmi_rules.py)
    external_qpu_problems,
    system_problems,  # qpus[].system names a known requirement profile (site_survey/profiles/systems)
)


def check_consistency(site: Site) -> list[Problem]:
    return [problem for rule in RULES for problem in rule(site)]
