from __future__ import annotations

from rehearsal.recap import parse_recap, totals

OUTPUT = """\
PLAY [Base system] *************************************************************

TASK [common : Install base packages] ******************************************
changed: [ctl]

PLAY RECAP *********************************************************************
c1                         : ok=12   changed=3    unreachable=0    failed=0    skipped=2    rescued=0    ignored=0
ctl                        : ok=20   changed=7    unreachable=0    failed=1    skipped=4    rescued=1    ignored=0
qgw                        : ok=0    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0

"""


def test_counts_per_host():
    recap = parse_recap(OUTPUT)
    assert set(recap) == {"c1", "ctl", "qgw"}
    assert (recap["ctl"].ok, recap["ctl"].changed, recap["ctl"].failed) == (20, 7, 1)
    assert recap["qgw"].unreachable == 1
    assert recap["c1"].counts["skipped"] == 2


def test_totals_add_hosts_up():
    assert totals(parse_recap(OUTPUT)) == {
        "ok": 32, "changed": 10, "unreachable": 1, "failed": 1, "skipped": 6, "rescued": 1, "ignored": 0,
    }


def test_the_last_recap_wins_and_colour_codes_are_ignored():
    second = "PLAY RECAP ***\n\x1b[0;32mc1\x1b[0m : \x1b[0;32mok=5\x1b[0m changed=0 unreachable=0 failed=0\n"
    recap = parse_recap(OUTPUT + "more output\n" + second)
    assert set(recap) == {"c1"}
    assert (recap["c1"].ok, recap["c1"].changed) == (5, 0)


def test_no_recap_means_no_hosts():
    assert parse_recap("ERROR! the playbook: site.yml could not be found\n") == {}


def test_recap_stops_at_the_next_non_host_line():
    recap = parse_recap(OUTPUT.replace("\n\n\n", "\n") + "Saturday 21 November 2026  07:00:00 +0000 (0:00:01.0)\n")
    assert set(recap) == {"c1", "ctl", "qgw"}


def test_failed_tasks_are_named_and_ignored_errors_left_out():
    from rehearsal.recap import parse_failures

    output = (
        "TASK [slurm : Start slurmd] ***\n"
        'fatal: [c1]: FAILED! => {"msg": "Unable to start service slurmd"}\n'
        "TASK [common : Optional probe] ***\n"
        'fatal: [c2]: FAILED! => {"msg": "nope"}\n'
        "...ignoring\n"
        "RUNNING HANDLER [munge : Restart munge] ***\n"
        'failed: [ctl] (item=x) => {"msg": "boom"}\n'
    )
    assert parse_failures(output) == [
        'slurm : Start slurmd: fatal: [c1]: FAILED! => {"msg": "Unable to start service slurmd"}',
        'munge : Restart munge: failed: [ctl] (item=x) => {"msg": "boom"}',
    ]


def test_the_timing_callbacks_tasks_recap_is_not_read_as_hosts():
    output = (
        "PLAY RECAP ****\n"
        "c1                         : ok=1    changed=0    unreachable=0    failed=0    skipped=0   \n\n\n"
        "TASKS RECAP ****\n"
        "Saturday 21 November 2026  07:23:21 +0000 (0:00:03.246)       0:00:03.282 *****\n"
        "ansible.builtin.ping ---------------------------------------------------- 3.25s\n"
    )
    assert set(parse_recap(output)) == {"c1"}
