"""The Grid Engine smoke checks read qhost and qacct as Grid Engine 8.1.9 prints them."""

from __future__ import annotations

import shlex

from rehearsal.smoke_gridengine import as_user, parse_qacct, parse_qhost

QHOST = """\
HOSTNAME                ARCH         NCPU NSOC NCOR NTHR  LOAD  MEMTOT  MEMUSE  SWAPTO  SWAPUS
----------------------------------------------------------------------------------------------
global                  -               -    -    -    -     -       -       -       -       -
c1                      lx-amd64        2    1    2    2  0.13    7.7G  512.0M     0.0     0.0
c2.lab-ge.internal      lx-amd64        2    1    2    2     -       -       -       -       -
"""

QACCT = """\
==============================================================
qname        debug.q
hostname     c1
owner        alice
jobnumber    7
failed       0
exit_status  0
"""


def test_qhost_gives_each_hosts_load_by_short_name() -> None:
    assert parse_qhost(QHOST) == {"c1": "0.13", "c2": "-"}


def test_qacct_fields() -> None:
    fields = parse_qacct(QACCT)
    assert fields["jobnumber"] == "7" and fields["failed"] == "0" and fields["exit_status"] == "0"


def test_a_users_command_is_one_quoted_word() -> None:
    line = as_user("alice", "qsub -l qpu_x=1 -b y 'a b'")
    assert shlex.split(line) == ["runuser", "-l", "alice", "-c", "qsub -l qpu_x=1 -b y 'a b'"]
