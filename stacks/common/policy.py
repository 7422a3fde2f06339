"""The exposure policy: no rule may admit SSH or a kit API from the whole
Internet. Security-group rules are described as :class:`RuleSpec` before any
resource exists, so the policy is checked on the plan, in tests and at run time."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

WORLD_V4 = "0.0.0.0/0"


@dataclass(frozen=True)
class RuleSpec:
    """One ingress rule of a security group."""

    group: str  # security-group key, e.g. "base", "compute"
    protocol: str  # "tcp", "udp" or "icmp"
    port_min: int | None
    port_max: int | None
    remote_cidr: str
    description: str

    def covers(self, port: int) -> bool:
        if self.port_min is None or self.port_max is None:
            return self.protocol != "icmp"  # no range on tcp/udp means every port
        return self.port_min <= port <= self.port_max


def is_world(cidr: str) -> bool:
    return ipaddress.ip_network(cidr, strict=False).prefixlen == 0


def world_exposures(rules: list[RuleSpec], protected_tcp_ports: set[int]) -> list[RuleSpec]:
    """Rules that open a protected TCP port (SSH, Slurm, qrmid, …) or every port to 0.0.0.0/0 or ::/0."""
    bad = []
    for rule in rules:
        if not is_world(rule.remote_cidr):
            continue
        every_port = rule.port_min is None and rule.protocol in ("tcp", "udp")
        if every_port or (rule.protocol == "tcp" and any(rule.covers(p) for p in protected_tcp_ports)):
            bad.append(rule)
    return bad


class ExposureError(ValueError):
    """A planned rule would open SSH or an API to the world."""

    def __init__(self, rules: list[RuleSpec]):
        self.rules = rules
        lines = [
            f"{r.group}: {r.protocol} {r.port_min}-{r.port_max} from {r.remote_cidr} ({r.description})" for r in rules
        ]
        super().__init__("refusing to open SSH or a service API to the world:\n  " + "\n  ".join(lines))
