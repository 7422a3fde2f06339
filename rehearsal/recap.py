"""Read Ansible's PLAY RECAP: per host, how many tasks were ok, changed, failed, unreachable."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_COUNTER = re.compile(r"([a-z]+)=(\d+)")
_HOST_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counters>(?:[a-z]+=\d+\s*)+)$")
COUNTERS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")


@dataclass(frozen=True)
class HostRecap:
    host: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.counts.get("ok", 0)

    @property
    def changed(self) -> int:
        return self.counts.get("changed", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)

    @property
    def unreachable(self) -> int:
        return self.counts.get("unreachable", 0)


def parse_recap(output: str) -> dict[str, HostRecap]:
    """The last PLAY RECAP block in `output` (one playbook run prints one); empty if there is none."""
    lines = [_ANSI.sub("", line).rstrip() for line in output.splitlines()]
    starts = [i for i, line in enumerate(lines) if line.startswith("PLAY RECAP")]
    if not starts:
        return {}
    recap: dict[str, HostRecap] = {}
    for line in lines[starts[-1] + 1 :]:
        if not line.strip():
            if recap:
                break
            continue
        match = _HOST_LINE.match(line.strip())
        if match is None:
            break
        counts = {k: int(v) for k, v in _COUNTER.findall(match["counters"])}
        recap[match["host"]] = HostRecap(match["host"], counts)
    return recap


def totals(recap: dict[str, HostRecap]) -> dict[str, int]:
    return {name: sum(h.counts.get(name, 0) for h in recap.values()) for name in COUNTERS}


# site.yml's first play (playbooks/reach.yml) names the hosts the run goes without on one line.
_UNAVAILABLE = re.compile(r'"msg": "qpusite-unavailable: (?P<hosts>[A-Za-z0-9_.-]+(?:, [A-Za-z0-9_.-]+)*)"')


def parse_unavailable(output: str) -> list[str]:
    """Hosts the run went without (unreachable or drained within the model's budget), as the play named them."""
    found: list[str] = []
    for match in _UNAVAILABLE.finditer(_ANSI.sub("", output)):
        found += [h for h in match["hosts"].split(", ") if h not in found]
    return found


def parse_failures(output: str, limit: int = 8, width: int = 300) -> list[str]:
    """'<task>: <fatal line>' for each task that failed on a host (ignored errors excluded), first `limit`.

    A host the run went without (parse_unavailable) is unreachable by design: not a failure."""
    task = "?"
    found: list[str] = []
    lines = [_ANSI.sub("", line).rstrip() for line in output.splitlines()]
    tolerated = {f"fatal: [{h}]: UNREACHABLE!" for h in parse_unavailable(output)}
    for i, line in enumerate(lines):
        if line.startswith("TASK [") or line.startswith("RUNNING HANDLER ["):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith(("fatal: [", "failed: [")):
            ignored = (i + 1 < len(lines) and lines[i + 1].startswith("...ignoring")) or line.startswith(
                tuple(tolerated)
            )
            if not ignored:
                found.append(f"{task}: {line[:width]}")
                if len(found) >= limit:
                    break
    return found
