"""Security groups and their rules, created from the checked rule plan
(security_rules.checked_rules refuses anything that opens SSH or an API to
the world before a single resource is declared)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from stacks.common.policy import RuleSpec


@dataclass(frozen=True)
class SecurityGroupsArgs:
    site_name: str
    rules: list[RuleSpec]
    groups: list[str]  # every group key to create, even one without ingress rules


def rule_resource_name(prefix: str, rule: RuleSpec) -> str:
    ports = "all" if rule.port_min is None else f"{rule.port_min}-{rule.port_max}"
    source = re.sub(r"[^0-9a-z]+", "-", rule.remote_cidr.lower()).strip("-")
    return f"{prefix}-{rule.group}-{rule.protocol}-{ports}-{source}"


class SecurityGroups(pulumi.ComponentResource):
    ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: SecurityGroupsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("qpusite:openstack:SecurityGroups", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        groups: dict[str, openstack.networking.SecGroup] = {}
        for key in args.groups:
            groups[key] = openstack.networking.SecGroup(
                f"{name}-{key}",
                name=f"{args.site_name}-{key}",
                description=f"qpusite {args.site_name}: {key} hosts",
                opts=child,
            )
        for rule in args.rules:
            openstack.networking.SecGroupRule(
                rule_resource_name(name, rule),
                security_group_id=groups[rule.group].id,
                direction="ingress",
                ethertype="IPv4",
                protocol=rule.protocol,
                port_range_min=rule.port_min,
                port_range_max=rule.port_max,
                remote_ip_prefix=rule.remote_cidr,
                description=rule.description,
                opts=child,
            )
        self.ids = {key: group.id for key, group in groups.items()}
        self.register_outputs({"ids": self.ids})
