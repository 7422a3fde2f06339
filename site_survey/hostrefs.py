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


def resolve_entries(site: Site, refs: Sequence[str], path: str) -> tuple[list[list[str]], list[Problem]]:
    """Per entry, the known host names it stands for; and a problem per entry naming anything unknown.

    Costs one dictionary lookup per name (a partition written host by host has 10^4 entries)."""
    index = site.host_index()
    set_index = {s.name: i for i, s in enumerate(site.host_sets)}
    out: list[list[str]] = []
    problems: list[Problem] = []
    for j, ref in enumerate(refs):
        at = f"{path}[{j}]"
        if ref in index:  # the common case: a plain host name
            out.append([ref])
            continue
        kind, sep, rest = ref.partition(":")
        found: list[str] = []
        if sep and kind == "set":
            if rest in set_index:
                found = site.set_hosts(set_index[rest])
            else:
                known = ", ".join(sorted(set_index)) or "none"
                problems.append(Problem(at, f"no such host set; host_sets are: {known}", ref))
        elif sep and kind == "role":
            role = _ROLES.get(rest)
            if role is None:
                problems.append(Problem(at, f"no such host role; roles are: {', '.join(_ROLES)}", ref))
            else:
                found = [h.name for h in site.hosts_with(role)]
        else:
            try:
                expanded = hostlist.expand(ref) if hostlist.is_pattern(ref) else [ref]
            except hostlist.HostlistError as exc:
                problems.append(Problem(at, str(exc), ref))
                expanded = []
            missing = [n for n in expanded if n not in index]
            if missing:
                hint = "write a host of 'hosts' or of a host set, set:<name> or role:<role>"
                what = f"no such host {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                problems.append(Problem(at, f"{what}; {hint}", ref))
            found = [n for n in expanded if n in index]
        out.append(found)
    return out, problems


def resolve(site: Site, refs: Sequence[str], path: str) -> tuple[list[str], list[Problem]]:
    """Host names the entries stand for, in order without repeats, and the problems of resolve_entries."""
    entries, problems = resolve_entries(site, refs, path)
    seen: set[str] = set()
    names: list[str] = []
    for entry in entries:
        for name in entry:
            if name not in seen:
                seen.add(name)
                names.append(name)
    return names, problems


def names(site: Site, refs: Sequence[str]) -> list[str]:
    """The host names the entries stand for (unknown ones left out: validation reports them)."""
    return resolve(site, refs, "")[0]
