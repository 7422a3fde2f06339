"""Installed Debian packages as ansible_facts.packages, read with one dpkg-query call.

Same shape as ansible.builtin.package_facts (name -> list of {name, version, arch,
source}), which the roles use to skip apt when their packages are already there.
package_facts builds python-apt's whole cache for that, ~1-3 s per host on a loaded
2-core machine; dpkg-query answers in tens of milliseconds.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: dpkg_package_facts
short_description: Installed Debian packages as ansible_facts.packages
description:
  - Runs C(dpkg-query) once and returns the fully installed packages in the shape of
    M(ansible.builtin.package_facts) (only the fields qpusite's roles read).
options: {}
"""

RETURN = r"""
ansible_facts:
  description: packages, a mapping of package name to a list of installed versions
  returned: always
  type: dict
"""

_FORMAT = "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n"


def installed_packages(dpkg_output: str) -> dict[str, list[dict[str, str]]]:
    packages: dict[str, list[dict[str, str]]] = {}
    for line in dpkg_output.splitlines():
        fields = line.split("\t")
        # "ii " = wanted install, installed; anything else (rc, iU, …) is not usable
        if len(fields) != 4 or not fields[0].startswith("ii"):
            continue
        _, name, version, arch = fields
        packages.setdefault(name, []).append({"name": name, "version": version, "arch": arch, "source": "apt"})
    return packages


def main() -> None:
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    dpkg_query = module.get_bin_path("dpkg-query", required=True)
    rc, out, err = module.run_command([dpkg_query, "-W", "-f", _FORMAT])
    if rc != 0:
        module.fail_json(msg=f"dpkg-query failed ({rc}): {err.strip()}")
    module.exit_json(changed=False, ansible_facts={"packages": installed_packages(out)})


if __name__ == "__main__":
    main()
