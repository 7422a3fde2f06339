"""Host references in the site model: the one syntax every list of hosts accepts.

An entry is a host name (``cn001``), a Slurm hostlist (``cn[001-192]``,
``cn[001-010],gpu[1-4]``), ``set:<name>`` (every host of a host set) or
``role:<role>`` (every host with that role). Entries resolve, in order and
without repeats, to host names; what does not resolve is reported with the
entry's path and what exists.
"""

from __future__ import annotations

from collections.abc import Sequence

from site_survey import hostlist
from site_survey.errors import Problem
from site_survey.model import HostRole, Site

_ROLES = {r.value: r for r in HostRole}


def resolve(site: Site, refs: Sequence[str], path: str) -> tuple[list[str], list[Problem]]:
    """Host names the entries stand for, and a problem per entry that names nothing known."""
    names: list[str] = []
    seen: set[str] = set()
    problems: list[Problem] = []

    def add(found: list[str]) -> None:
        for name in found:
            if name not in seen:
                seen.add(name)
                names.append(name)

    set_index = {s.name: i for i, s in enumerate(site.host_sets)}
    for j, ref in enumerate(refs):
        at = f"{path}[{j}]"
        kind, sep, rest = ref.partition(":")
        if sep and kind == "set":
            if rest not in set_index:
                known = ", ".join(sorted(set_index)) or "none"
                problems.append(Problem(at, f"no such host set; host_sets are: {known}", ref))
            else:
                add(site.set_hosts(set_index[rest]))
        elif sep and kind == "role":
            role = _ROLES.get(rest)
            if role is None:
                problems.append(Problem(at, f"no such host role; roles are: {', '.join(_ROLES)}", ref))
            else:
                add([h.name for h in site.hosts_with(role)])
        else:
            try:
                expanded = hostlist.expand(ref)
            except hostlist.HostlistError as exc:
                problems.append(Problem(at, str(exc), ref))
                continue
            missing = [n for n in expanded if site.host(n) is None]
            if missing:
                hint = "write a host of 'hosts' or of a host set, set:<name> or role:<role>"
                what = f"no such host {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                problems.append(Problem(at, f"{what}; {hint}", ref))
            add([n for n in expanded if site.host(n) is not None])
    return names, problems


def names(site: Site, refs: Sequence[str]) -> list[str]:
    """The host names the entries stand for (unknown ones left out: validation reports them)."""
    return resolve(site, refs, "")[0]
