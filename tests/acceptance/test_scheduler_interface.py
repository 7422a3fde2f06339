"""The scheduler interface of the acceptance suite: the implementation follows the model's
scheduler kind, Slurm-only checks do not expand on a Grid Engine site, and the Grid Engine
implementation drives qsub/qstat/qdel/qacct with the commands and parsing Grid Engine 8.1.9
expects. Grid Engine cannot run here (its daemons bind every address): the commands meet a
scripted site that answers what Grid Engine prints; lab-ge runs them for real."""

from __future__ import annotations

import copy
import shlex
from pathlib import Path

import pytest
import yaml

from acceptance import gridengine_jobs as ge
from acceptance.batch_jobs import RESULT_PREFIX
from acceptance.checks import load_all
from acceptance.context import Context
from acceptance.expectations import login_host
from acceptance.remote import Completed
from acceptance.scheduler import for_site
from acceptance.slurm_jobs import Slurm
from site_survey import parse_site
from site_survey.model import Site
from tests.acceptance.conftest import LAB

QSTAT = """job-ID  prior   name       user         state submit/start at     queue                  slots ja-task-ID
----------------------------------------------------------------------------------------------------
     12 0.55500 qpusite-ac alice        r     12/02/2026 19:00:01 all.q@c1                           1
     13 0.00000 qpusite-ac alice        qw    12/02/2026 19:00:03                                    1
     14 0.00000 qpusite-ac bob          Eqw   12/02/2026 19:00:04                                    1
     15 0.55500 arr        alice        r     12/02/2026 19:00:05 all.q@c2                           1 2
     15 0.00000 arr        alice        qw    12/02/2026 19:00:05                                    1 3-10:1
"""

QACCT = """==============================================================
qname        all.q
hostname     c1
group        alice
owner        alice
project      NONE
department   defaultdepartment
jobname      qpusite-accept-probe-sc_twin-0a1b2c3d
jobnumber    12
taskid       undefined
account      sge
priority     0
qsub_time    Wed Dec  2 19:00:00 2026
start_time   Wed Dec  2 19:00:01 2026
end_time     Wed Dec  2 19:00:09 2026
granted_pe   NONE
slots        1
failed       0
exit_status  0
ru_wallclock 8s
ru_utime     1.204s
"""


def ge_site() -> Site:
    doc = yaml.safe_load(LAB.read_text())
    sched = doc["software"]["scheduler"]
    sched["kind"] = "gridengine"
    for key in ("conf_overrides", "accounting"):
        sched.pop(key, None)
    return parse_site(copy.deepcopy(doc), "<lab as gridengine>")


def test_the_implementation_follows_the_scheduler_kind(lab_site: Site) -> None:
    assert isinstance(for_site(lab_site), Slurm) and for_site(lab_site).waiting == "PENDING"
    grid = for_site(ge_site())
    assert isinstance(grid, ge.GridEngine) and (grid.kind, grid.waiting) == ("gridengine", "qw")


def test_slurm_only_checks_do_not_expand_under_grid_engine(lab_site: Site) -> None:
    specs = {s.name: s for s in load_all().specs}
    site = ge_site()
    slurm_only = ["slurm_nodes_idle", "slurm_qpu_licenses", "batch_job_runs", "srun_qpu_job", "salloc_qpu_steps",
                  "qpu_job_explained", "drill_zero_time_limit", "drill_license_without_qpu",
                  "drill_license_kept_on_update"]
    neutral = ["qpu_job_correct", "multi_qpu_job", "accounting_record", "scancel_releases", "busy_qpu_job_waits",
               "drill_wrong_endpoint", "drill_unauthorised_user", "drill_qpu_maintenance", "drill_cross_job_objects"]
    for name in slurm_only:
        assert specs[name].expand(site) == [], name
        assert specs[name].expand(lab_site), name
    for name in neutral:
        assert specs[name].expand(site) and specs[name].expand(lab_site), name


def test_qsub_argv_requests_each_qpu_as_its_consumable() -> None:
    argv = ge.qsub_argv("qpusite-accept-x-1", ["sc_twin", "FRESNEL"], 10, {"sc_twin_QRMI_X": "http://127.0.0.1:9/v1"})
    assert argv == ["qsub", "-terse", "-N", "qpusite-accept-x-1", "-o", "/tmp/qpusite-accept-$JOB_ID.out", "-j", "y",
                    "-wd", "/tmp", "-S", "/bin/bash", "-l", "h_rt=600", "-l", "qpu_sc_twin=1,qpu_FRESNEL=1",
                    "-v", "sc_twin_QRMI_X=http://127.0.0.1:9/v1"]
    for bad in ({"A B": "x"}, {"A": "x,y"}, {"A": "x\ny"}):
        with pytest.raises(Exception, match="qsub -v"):
            ge.qsub_argv("n", ["sc_twin"], 1, bad)


def test_qstat_and_qacct_parsing() -> None:
    assert ge.parse_qstat_states(QSTAT) == {"12": "r", "13": "qw", "14": "Eqw", "15": "r"}
    g = ge.GridEngine()
    assert [g.is_running(s) for s in ("r", "Rr", "t", "qw", "hqw", "Eqw", "")] == [True, True, False, False, False,
                                                                                   False, False]
    assert [g.is_over(s) for s in ("", "Eqw", "r", "qw", "dr")] == [True, True, False, False, False]
    rec = ge.parse_qacct(QACCT + QACCT.replace("jobnumber    12", "jobnumber    99"))
    assert (rec["hostname"], rec["jobnumber"], rec["exit_status"], rec["failed"]) == ("c1", "12", "0", "0")
    assert ge.outcome_state(rec, False) == ("COMPLETED", 0)
    assert ge.outcome_state({**rec, "exit_status": "137", "failed": "100 : assumedly after job"}, False) == (
        "CANCELLED", 137)
    assert ge.outcome_state({**rec, "exit_status": "1"}, False) == ("FAILED", 1)
    assert ge.outcome_state(rec, True)[0] == "CANCELLED"
    assert ge.seconds("8s") == 8.0 and ge.seconds("8.250") == 8.25 and ge.seconds("x") is None


class ScriptedSite(Context):
    """Answers the commands a Grid Engine site would: qsub queues the job, qstat shows it waiting,
    then running, then gone, qacct has its record, the output file is on c1."""

    def __init__(self, site: Site) -> None:
        super().__init__(site, Path("."), lambda _msg: None)
        self.calls: list[tuple[str, str, str | None]] = []
        self.states = ["qw", "r", ""]

    def run(self, host: str, command: str, timeout_s: float = 30, stdin: str | None = None) -> Completed:
        self.calls.append((host, command, stdin))
        if command.startswith("id -u "):
            return Completed(command, 0, "1000\n", "")
        if "qsub" in command:
            return Completed(command, 0, "12\n", "")
        if command == "qstat -u '*'":
            state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            listing = QSTAT.splitlines()[:2] + ([f"     12 0.55500 qpusite-ac alice        {state}     "
                                                  "12/02/2026 19:00:01 all.q@c1       1"] if state else [])
            return Completed(command, 0, "\n".join(listing) + "\n", "")
        if command == "qacct -j 12":
            return Completed(command, 0, QACCT, "")
        if command.startswith("cat /tmp/qpusite-accept-12.out"):
            return Completed(command, 0, RESULT_PREFIX + '{"qpu": "sc_twin", "value": 0.97}\n', "")
        return Completed(command, 1, "", "unexpected")


def test_a_grid_engine_job_is_submitted_watched_and_read_back() -> None:
    site = ge_site()
    ctx = ScriptedSite(site)
    done = ge.GridEngine().run_program(ctx, ["sc_twin"], [["probe", "--qpu", "sc_twin"]], "probe-sc_twin",
                                       timeout_s=30)
    assert (done.job_id, done.state, done.exit_code, done.batch_host, done.elapsed_s) == ("12", "COMPLETED", 0, "c1",
                                                                                         8.0)
    assert done.result() == {"qpu": "sc_twin", "value": 0.97}
    submit = next(c for c in ctx.calls if "qsub" in c[1])
    login = login_host(site)
    assert login is not None and submit[0] == login.name
    assert submit[2] is not None and submit[2].startswith("#!/bin/bash")
    user_command = shlex.split(submit[1])[-1]  # su -s /bin/sh USER -c '<qsub …>'
    assert shlex.split(user_command)[:2] == ["qsub", "-terse"] and "qpu_sc_twin=1" in shlex.split(user_command)
    assert ("c1", "cat /tmp/qpusite-accept-12.out 2>/dev/null && rm -f /tmp/qpusite-accept-12.out", None) in ctx.calls


@pytest.mark.parametrize("site_dir", ["lab", "lab-ge"])
def test_host_expectations_follow_the_scheduler_kind(site_dir: str) -> None:
    """Packages, services and files acceptance expects are those of the site's own scheduler."""
    from acceptance import expectations
    from site_survey import load_site

    site = load_site(Path("inventories") / site_dir / "site.yaml")
    expected = {
        name
        for h in site.hosts
        for name in [s.component for s in expectations.services(site, h)]
        + [c for c, _ in expectations.client_packages(site, h)]
        + [f.component for f in expectations.config_files(site, h)]
    }
    slurm_daemons = {"slurmctld", "slurmd"}
    grid_engine = {"sge_qmaster", "sge_execd"}
    if site.software.scheduler.kind == "gridengine":
        assert grid_engine <= expected and not slurm_daemons & expected
    else:
        assert slurm_daemons <= expected and not grid_engine & expected
