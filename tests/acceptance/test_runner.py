"""The runner: per-check process and timeout, a hung check's children ended, outcomes
mapped to statuses, the suite going on after a failure."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from acceptance.context import Context
from acceptance.runner import RunOptions, run_all, run_instance
from acceptance.spec import CheckFailed, CheckInstance, MissingComponent, NotApplicable, Registry, Status, Tier, check
from site_survey.model import Site


def _instances(reg: Registry, site: Site) -> list[CheckInstance]:
    return reg.instances(site, Tier.l2)


def test_outcomes_map_to_statuses_and_the_suite_goes_on(lab_site: Site, tmp_path: Path) -> None:
    reg = Registry()
    one = dict(tier=Tier.smoke, component="test", proves="p.", expand=lambda s: [None])

    @check(reg, 1, "passes", **one)  # type: ignore[arg-type]
    def _passes(ctx: Context, p: None) -> str:
        ctx.log("hello from the check")
        return "fine"

    @check(reg, 2, "fails", **one)  # type: ignore[arg-type]
    def _fails(ctx: Context, p: None) -> str:
        raise CheckFailed("found 3, wanted 4")

    @check(reg, 3, "missing", **one)  # type: ignore[arg-type]
    def _missing(ctx: Context, p: None) -> str:
        raise MissingComponent("qrmid", "qgw", "no service qrmid")

    @check(reg, 4, "broken", **one)  # type: ignore[arg-type]
    def _broken(ctx: Context, p: None) -> str:
        return {}["no such key"]  # type: ignore[no-any-return]

    @check(reg, 5, "skipped", **one)  # type: ignore[arg-type]
    def _skipped(ctx: Context, p: None) -> str:
        raise NotApplicable("analog device")

    results = run_all(_instances(reg, lab_site), lab_site, tmp_path)
    by = {r.name: r for r in results}
    assert [r.name for r in results] == ["passes", "fails", "missing", "broken", "skipped"]
    assert by["passes"].status == Status.passed and "hello from the check" in by["passes"].log
    assert by["fails"].status == Status.failed and by["fails"].message == "found 3, wanted 4"
    assert by["missing"].status == Status.missing
    assert by["missing"].message == "qrmid not deployed on qgw: no service qrmid"
    assert by["broken"].status == Status.failed and "KeyError" in by["broken"].message
    assert "Traceback" in by["broken"].log
    assert by["skipped"].status == Status.skipped and not by["skipped"].status.is_failure


def test_a_hung_check_times_out_with_its_log_and_its_children_are_ended(lab_site: Site, tmp_path: Path) -> None:
    reg = Registry()
    pid_file = tmp_path / "child.pid"

    @check(reg, 1, "hangs", tier=Tier.smoke, component="test", proves="p.", expand=lambda s: [None], timeout_s=1.5)
    def _hangs(ctx: Context, p: None) -> str:
        ctx.log("about to wait for a job that never ends")
        child = subprocess.Popen(["sleep", "300"])
        pid_file.write_text(str(child.pid))
        child.wait()
        return "unreachable"

    @check(reg, 2, "after", tier=Tier.smoke, component="test", proves="p.", expand=lambda s: [None])
    def _after(ctx: Context, p: None) -> str:
        return "ran after the hung one"

    started = time.monotonic()
    results = run_all(_instances(reg, lab_site), lab_site, tmp_path)
    assert time.monotonic() - started < 15
    hung, after = results
    assert hung.status == Status.failed and "timed out after 2 s" in hung.message
    assert "about to wait for a job that never ends" in hung.log
    assert after.status == Status.passed
    child_pid = int(pid_file.read_text())
    time.sleep(0.2)
    try:
        os.kill(child_pid, 0)
        state = Path(f"/proc/{child_pid}/stat").read_text().split()[2]
        assert state == "Z", f"the hung check's child {child_pid} is still running"
    except ProcessLookupError:
        pass


def test_timeout_scale_stretches_every_timeout(lab_site: Site, tmp_path: Path) -> None:
    reg = Registry()

    @check(reg, 1, "slowish", tier=Tier.smoke, component="test", proves="p.", expand=lambda s: [None], timeout_s=0.5)
    def _slowish(ctx: Context, p: None) -> str:
        time.sleep(1.0)
        return "done"

    inst = _instances(reg, lab_site)[0]
    assert run_instance(inst, lab_site, tmp_path, RunOptions()).status == Status.failed
    assert run_instance(inst, lab_site, tmp_path, RunOptions(timeout_scale=4)).status == Status.passed


def test_checks_on_an_unreachable_host_are_not_tried(lab_site: Site, tmp_path: Path) -> None:
    from acceptance.checks.params import HostParam, PairParam

    reg = Registry()
    marker = tmp_path / "tried"

    @check(reg, 10, "host_reachable", tier=Tier.smoke, component="host", proves="p.",
           expand=lambda s: [HostParam("ctl"), HostParam("c1")])
    def _reach(ctx: Context, p: HostParam) -> str:
        if p.host == "c1":
            raise CheckFailed("host c1 unreachable over SSH: Connection refused")
        return "ok"

    @check(reg, 20, "pair", tier=Tier.smoke, component="munge", proves="p.",
           expand=lambda s: [PairParam("ctl", "c1"), PairParam("ctl", "qgw")])
    def _pair(ctx: Context, p: PairParam) -> str:
        with open(marker, "a") as f:  # runs in a child process: record on disk
            f.write(p.label() + "\n")
        return "ok"

    results = run_all(_instances(reg, lab_site), lab_site, tmp_path)
    by = {r.id: r for r in results}
    assert by["020_pair[ctl->c1]"].status == Status.failed
    assert by["020_pair[ctl->c1]"].message == "not run: host c1 unreachable (see host_reachable)"
    assert by["020_pair[ctl->qgw]"].status == Status.passed
    tried = marker.read_text().split()
    assert tried == ["ctl->qgw"]
    # Each result names the hosts it ran against: the rows of the report's host × component summary.
    assert by["020_pair[ctl->c1]"].hosts == ["c1", "ctl"] and by["010_host_reachable[ctl]"].hosts == ["ctl"]
