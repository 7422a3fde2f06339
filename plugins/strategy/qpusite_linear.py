"""Ansible's linear strategy, run over Mitogen when Mitogen is installed.

A qpusite rollout is ~210 small tasks per run. With plain SSH every task starts a
new Python on the host and ships its module again; Mitogen keeps one interpreter
per host for the whole run and caches modules there, which roughly halves a no-op
re-run (docs/benchmarks.md). The controller environment installs Mitogen
(tools/requirements/controller-ansible.txt); a controller without it, or with
QPUSITE_MITOGEN=0 in the environment, gets Ansible's own linear strategy with the
same semantics, only slower.
"""

from __future__ import annotations

import os

from ansible.plugins.loader import strategy_loader
from ansible.utils.display import Display

DOCUMENTATION = """
name: qpusite_linear
short_description: linear, over Mitogen when it is installed
description:
  - Same task ordering as ansible.builtin.linear.
  - Uses Mitogen's connection multiplexing when the ansible_mitogen package is importable
    and QPUSITE_MITOGEN is not 0.
"""

_display = Display()


def _mitogen_mixin() -> type | None:
    if os.environ.get("QPUSITE_MITOGEN", "1") == "0":
        return None
    try:
        # Importing the loaders first lets Mitogen wrap Ansible's connection and action plugins.
        import ansible_mitogen.loaders  # noqa: F401
        import ansible_mitogen.strategy
    except ImportError:
        _display.vv("qpusite_linear: ansible_mitogen is not installed; plain linear strategy")
        return None
    except Exception as exc:  # an Ansible release Mitogen does not support yet
        _display.warning(f"qpusite_linear: Mitogen unusable ({exc}); plain linear strategy")
        return None
    return ansible_mitogen.strategy.StrategyMixin


_Linear = strategy_loader.get("linear", class_only=True)
_Mixin = _mitogen_mixin()

# site.yml's first play puts the hosts the model lets a run go without (unreachable within the budget of
# rollout.may_be_unavailable) in this in-memory group.
UNAVAILABLE_GROUP = "qpusite_unavailable"


def tolerated_outcome(outcome: int, unreachable: set[str], tolerated: set[str], failed: bool) -> int:
    """The play's result once unreachable hosts the model tolerates no longer count as a failure."""
    if outcome != 4 or not unreachable or not unreachable <= tolerated:  # 4: TaskQueueManager.RUN_UNREACHABLE_HOSTS
        return outcome
    return 2 if failed else 0  # RUN_FAILED_HOSTS / RUN_OK


_Base = (_Mixin, _Linear) if _Mixin is not None else (_Linear,)


class StrategyModule(*_Base):  # type: ignore[misc]
    def run(self, iterator, play_context, *args, **kwargs):  # type: ignore[no-untyped-def]
        outcome = super().run(iterator, play_context, *args, **kwargs)
        group = self._inventory.groups.get(UNAVAILABLE_GROUP)
        tolerated = {h.name for h in group.get_hosts()} if group is not None else set()
        unreachable = set(self._tqm._unreachable_hosts)
        return tolerated_outcome(outcome, unreachable, tolerated, bool(iterator.get_failed_hosts()))
