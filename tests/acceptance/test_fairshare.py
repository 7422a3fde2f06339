"""Check 025 (fair-share moves): where it runs, and its verdicts on sshare output as Slurm 22.05
prints it (``sshare -a -n -P``: accounts indented by depth, LevelFS inf for an unused
association, no FairShare on account rows under Fair Tree)."""

from __future__ import annotations

import pytest

from acceptance.checks import load_all
from acceptance.checks.fairshare import (
    Charge,
    Share,
    account_row,
    billing_of,
    duration_s,
    judge,
    parse_config,
    parse_sshare,
    user_row,
)
from acceptance.spec import CheckFailed, Tier
from site_survey.loader import load_site
from site_survey.model import Site
from tests.conftest import REPO

WEEK_S = 7 * 24 * 3600


def sshare(dev_usage: int, dev_fs: str, prod_usage: int = 0, prod_fs: str = "1.000000",
           dev_level: str = "", prod_level: str = "") -> str:
    """sshare -a -n -P -o Account,User,RawShares,RawUsage,EffectvUsage,LevelFS,FairShare (Fair Tree)."""
    dev_level = dev_level or ("inf" if dev_usage == 0 else "0.700000")
    prod_level = prod_level or ("inf" if prod_usage == 0 else "3.000000")
    return "\n".join([
        f"root|||{dev_usage + prod_usage}|1.000000||",
        " root|root|1|0|0.000000|inf|1.000000",
        f" development||1|{dev_usage}|0.700000|{dev_level}|",
        f"  development|alice|1|{dev_usage}|1.000000|{dev_level}|{dev_fs}",
        f" production||1|{prod_usage}|0.300000|{prod_level}|",
        f"  production|bob|1|{prod_usage}|0.000000|inf|{prod_fs}",
    ]) + "\n"


def charge(before: str, after: str, billing: float = 65, started: float = 1000, tick: float | None = 1030,
           span_s: float = 90) -> Charge:
    return Charge("development", "alice", parse_sshare(before), parse_sshare(after), billing, 65, started,
                  tick, WEEK_S, span_s, 64)


def test_runs_in_smoke_on_slurm_sites_only(lab_site: Site) -> None:
    assert "025_fairshare_moves" in {i.id for i in load_all().instances(lab_site, Tier.smoke)}
    ge = load_site(REPO / "inventories" / "lab-ge" / "site.yaml")
    assert not any(i.id.startswith("025_") for i in load_all().instances(ge, Tier.l2))


def test_sshare_rows_keep_accounts_users_and_infinite_level_fs() -> None:
    rows = parse_sshare(sshare(16310, "0.500000"))
    dev = account_row(rows, "development")
    assert dev == Share("development", "", 1, 16310, 0.7, 0.7, None)
    alice = user_row(rows, "development", "alice")
    assert alice is not None and alice.fairshare == 0.5 and alice.raw_usage == 16310
    bob = user_row(rows, "production", "bob")
    assert bob is not None and bob.level_fs == float("inf") and bob.fairshare == 1.0
    assert parse_sshare("garbage\n|||\n") == []


def test_slurm_durations_billing_and_config() -> None:
    assert duration_s("00:01:00") == 60 and duration_s("7-00:00:00") == WEEK_S and duration_s("5 min") == 300
    assert duration_s("soon") is None
    assert billing_of("cpu=1,mem=100M,node=1,billing=65,license/sc_twin=1") == 65
    assert billing_of("cpu=1,node=1") is None
    conf = parse_config("Configuration data as of 2026-12-03T01:00:00\nPriorityCalcPeriod      = 00:01:00\n"
                        "PriorityType            = priority/multifactor\n")
    assert conf == {"PriorityCalcPeriod": "00:01:00", "PriorityType": "priority/multifactor"}


def test_a_charge_of_billing_times_run_before_the_tick_passes_with_its_figures() -> None:
    # 30 s before the tick at billing 65 (1 CPU + the QPU license's 64): +1950
    verdict = judge(charge(sshare(0, "1.000000"), sshare(1950, "0.500000")))
    assert "RawUsage 0 -> 1950 (+1950 = 30 s before the tick x billing 65; billing 65 = 1 CPU + 64" in verdict
    assert "alice 1.000 -> 0.500, below bob@production 1.000" in verdict


def test_usage_that_did_not_grow_fails() -> None:
    with pytest.raises(CheckFailed, match="RawUsage did not grow: 1950 -> 1950"):
        judge(charge(sshare(1950, "0.5"), sshare(1950, "0.5")))


def test_a_billing_without_the_qpu_license_weight_fails() -> None:
    # TRESBillingWeights missing: billing is the CPU count only
    with pytest.raises(CheckFailed, match="billing is 1, expected 65"):
        judge(charge(sshare(0, "1.0"), sshare(30, "0.5"), billing=1))


def test_a_charge_that_does_not_match_the_run_before_the_tick_fails() -> None:
    # 10 s charged for 30 s of run
    with pytest.raises(CheckFailed, match="charged 650 .* but the job ran 30 s before the tick"):
        judge(charge(sshare(0, "1.0"), sshare(650, "0.5")))
    # the tick unknown (its state file unreadable): only the growth is judged
    assert "+650" in judge(charge(sshare(0, "1.0"), sshare(650, "0.5"), tick=None))


def test_decay_of_earlier_use_is_allowed_for() -> None:
    # 10^8 before decays by up to 10^8 x (1 - 2^(-90 s/week)) ~ 10,300 while 1950 is charged: RawUsage
    # falls, yet the charge fits; with no decay possible (span 0) it does not
    big = 100_000_000
    assert "+-6050 = 30 s" in judge(charge(sshare(big, "0.5"), sshare(big + 1950 - 8000, "0.5", 0)))
    with pytest.raises(CheckFailed, match="did not grow"):
        judge(charge(sshare(big, "0.5"), sshare(big + 1950 - 8000, "0.5"), span_s=0))


def test_a_user_not_behind_a_less_used_account_fails() -> None:
    with pytest.raises(CheckFailed, match="FairShare 1.000 in development .* not below bob's 1.000"):
        judge(charge(sshare(0, "1.000000"), sshare(1950, "1.000000")))


def test_no_less_used_account_is_said_not_failed() -> None:
    # production used more than development: nothing to compare with, the growth alone is judged
    verdict = judge(charge(sshare(0, "0.5", 900_000, "1.0", "inf", "0.3"),
                           sshare(1950, "1.000000", 900_000, "0.500000", "3.0", "0.3")))
    assert "no less-used account to compare with" in verdict
