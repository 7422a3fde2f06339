"""Ansible inventory plugin: the site model *is* the inventory.

Enabled by the repository's ansible.cfg; picks up any file named site.yaml or
site.yml that declares ``schema_version``, so
``ansible-playbook -i inventories/<site>/site.yaml site.yml`` needs no
generated files.
"""

from __future__ import annotations

import gc
import os
import sys

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

DOCUMENTATION = r"""
name: qpusite
short_description: Inventory from a qpusite site model (inventories/<site>/site.yaml)
description:
  - Validates the site model and turns it into groups (one per host role, the
    feature groups slurm, munge and quantum_runtime, and partition_<name>,
    set_<name>, room_<name> and qpu_<name>), host variables and site variables
    named qpusite_*. Host sets (cn[001-192]) are expanded into hosts.
  - Site-wide variables (qpusite_hosts, qpusite_slurm_nodes, ...) are set once,
    on the group all; a host carries only its own address (ansible_host), its
    roles (qpusite_host_roles) and the connection settings in which it differs
    from the other hosts (shared ones are set on all too). So the inventory
    grows linearly with the hosts. The repository's ansible.cfg sets
    `[inventory] export = True`, so `ansible-inventory --list` shows it that way
    (without it, --list repeats every inherited variable in every host).
  - Any problem in the model fails the inventory with every problem listed.
  - The model is read with the same bounded loader as every qpusite command
    (site_survey.load_site); size, nesting and alias expansion are limited
    before anything is built, so an alias bomb fails the inventory with a message.
options: {}
"""

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)


class InventoryModule(BaseInventoryPlugin):
    NAME = "qpusite"

    def verify_file(self, path: str) -> bool:
        if not super().verify_file(path):
            return False
        if os.path.basename(path) not in ("site.yaml", "site.yml"):
            return False
        # a top-level schema_version key anywhere: a model dumped with sorted keys has it after `qpus`
        try:
            with open(path, encoding="utf-8") as handle:
                return any(line.startswith("schema_version:") for line in handle)
        except (OSError, UnicodeDecodeError):
            return False

    def parse(self, inventory, loader, path, cache=True):  # type: ignore[no-untyped-def]
        super().parse(inventory, loader, path, cache)
        # Building a large site allocates many long-lived objects; Python's cyclic collector would walk
        # all of them again and again (at 10,000 hosts about a third of `ansible-inventory`'s time).
        # Nothing built here forms garbage cycles that matter, so the collector pauses while it runs;
        # afterwards the inventory, which lives as long as the run, is frozen out of later collections.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._parse(path)
        finally:
            if collecting:
                gc.collect()
                gc.freeze()
                gc.enable()

    def _parse(self, path: str) -> None:
        from site_survey import SiteModelError, load_site
        from site_survey.derive import inventory as derive_inventory

        try:
            site = load_site(path)
        except SiteModelError as exc:
            raise AnsibleParserError(exc.render()) from None
        data = derive_inventory(site, os.path.dirname(os.path.abspath(path)))
        hostvars = data.pop("_meta")["hostvars"]
        all_group = data.pop("all")
        for name, value in all_group["vars"].items():
            self.inventory.set_variable("all", name, value)
        for group, spec in data.items():
            self.inventory.add_group(group)
            for host in spec.get("hosts", []):
                self.inventory.add_host(host, group=group)
            for name, value in spec.get("vars", {}).items():
                self.inventory.set_variable(group, name, value)
        for host, variables in hostvars.items():
            self.inventory.add_host(host)
            for name, value in variables.items():
                self.inventory.set_variable(host, name, value)
