"""Filters site.yml's first plays use to decide what a run may go without and what it validates.

Pure functions of plain data (no Ansible objects), so tests call them directly.
"""

from __future__ import annotations

from typing import Any

# The model's host roles, as inventory groups; a host in none of them (a hand-written inventory) is required.
HOST_ROLES = ("controller", "login", "compute", "qpu_access", "emulator", "monitoring")
# Roles whose hosts the model may let a run go without (site_survey.model.Rollout.may_be_unavailable).
MAY_BE_UNAVAILABLE = ("compute", "login")


def unavailability(
    unavailable: dict[str, str], groups: dict[str, list[str]], budget: dict[str, int] | None
) -> dict[str, Any]:
    """Judge the hosts a run cannot use (host -> why: 'unreachable: ...', 'drained: ...').

    A host is tolerated when every role it has may be unavailable and, for each of its roles, the number
    of that role's unavailable hosts stays within the model's budget. Returns {'tolerated': {host: why},
    'problems': [message, ...]} — a run goes on only when problems is empty."""
    budget = {role: int(n) for role, n in (budget or {}).items() if role in MAY_BE_UNAVAILABLE}
    roles_of = {host: [r for r in HOST_ROLES if host in groups.get(r, [])] for host in unavailable}
    problems: list[str] = []
    tolerable: dict[str, str] = {}
    for host in sorted(unavailable):
        roles = roles_of[host]
        required = [r for r in roles if r not in budget] or ([] if roles else ["(no model role)"])
        if required:
            problems.append(
                f"Host {host} {unavailable[host]}; it is required ({', '.join(required)}). Bring it back: only "
                f"{'/'.join(MAY_BE_UNAVAILABLE)} hosts may be left out, as many as the model's "
                "rollout.may_be_unavailable allows."
            )
        else:
            tolerable[host] = unavailable[host]
    for role in sorted(budget):
        missing = sorted(h for h in tolerable if role in roles_of[h])
        if len(missing) > budget[role]:
            total = len(groups.get(role, []))
            problems.append(
                f"{len(missing)} of {total} {role} hosts are unavailable ({', '.join(missing)}) but the model allows "
                f"{budget[role]} (rollout.may_be_unavailable.{role}). Bring some back, or raise the budget."
            )
    if problems:
        return {"tolerated": {}, "problems": problems}
    return {"tolerated": tolerable, "problems": []}


def unreachable_hosts(hosts: list[str], hostvars: Any) -> dict[str, str]:
    """host -> 'is unreachable as user@address:port (ssh's error)' for each host whose ping (registered as
    __site_ping with ignore_unreachable) could not reach it."""
    out: dict[str, str] = {}
    for host in hosts:
        hv = hostvars[host]
        ping = hv.get("__site_ping") or {}
        if not (isinstance(ping, dict) and ping.get("unreachable")):
            continue
        error = " ".join(str(ping.get("msg", "")).split())[:300]
        out[host] = (
            f"is unreachable as {hv.get('ansible_user', '(your user)')}@{hv.get('ansible_host', host)}:"
            f"{hv.get('ansible_port', 22)} ({error or 'no answer'})"
        )
    return out


def drained_nodes(sinfo_lines: list[str], hosts: list[str]) -> dict[str, str]:
    """Nodes an administrator drained, from `sinfo --noheader --Node --format '%N|%T|%E'`: node -> 'drained: reason'.

    Only the drain states count (drained, draining, with or without a '*' for not responding): a node that
    is down without a drain is what this run may repair."""
    out: dict[str, str] = {}
    for line in sinfo_lines:
        name, _, rest = line.partition("|")
        state, _, reason = rest.partition("|")
        if name in hosts and "drain" in state.lower():
            out[name] = f"is drained by Slurm's administrator ({state.strip()}: {reason.strip() or 'no reason given'})"
    return out


def selected_roles(
    roles: list[str], run_tags: list[str], skip_tags: list[str], tag_groups: dict[str, list[str]] | None = None
) -> list[str]:
    """The roles whose tasks a run with these --tags / --skip-tags can reach, so it validates only those.

    A role is reached by the tag 'all' (no --tags), 'validate', its name, one of its stages ('<role>:<stage>')
    or a group tag that names it ('monitoring'); --skip-tags of its name (or of its group) drops it."""
    groups = tag_groups or {}

    def tags_of(role: str) -> set[str]:
        return {role} | {group for group, members in groups.items() if role in members}

    def reached(role: str, tags: list[str]) -> bool:
        names = tags_of(role)
        return any(t in names or t.split(":", 1)[0] == role for t in tags)

    wanted = set(run_tags or ["all"])
    return [
        role
        for role in roles
        if (wanted & {"all", "validate", "tagged"} or reached(role, list(wanted)))
        and not any(t in tags_of(role) for t in skip_tags or [])
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "qpusite_unavailability": unavailability,
            "qpusite_drained_nodes": drained_nodes,
            "qpusite_unreachable_hosts": unreachable_hosts,
            "qpusite_selected_roles": selected_roles,
        }
