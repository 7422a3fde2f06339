"""Slurm accounting from the site model: where slurmdbd runs, and the fair-share associations."""

from __future__ import annotations

from typing import Any

import pytest

from site_survey import SiteModelError, derive, parse_site


def test_slurmdbd_runs_on_the_controller_by_default(lab: dict[str, Any]) -> None:
    site = parse_site(lab)
    acct = derive.slurm_accounting(site)
    assert acct["enabled"] and acct["host"] == site.hosts_with(derive.HostRole.controller)[0].name
    assert derive.groups(site)["slurmdbd"] == [acct["host"]]


def test_a_named_accounting_host_joins_the_munge_domain(lab: dict[str, Any]) -> None:
    outside = next(h for h in lab["hosts"] if "monitoring" in h["roles"])
    lab["software"].setdefault("scheduler", {})["accounting"] = {"host": outside["name"]}
    site = parse_site(lab)
    groups = derive.groups(site)
    assert groups["slurmdbd"] == [outside["name"]] and outside["name"] in groups["munge"]
    assert derive.slurm_accounting(site)["address"] == outside["address"]


def test_an_unknown_accounting_host_is_refused_with_its_path(lab: dict[str, Any]) -> None:
    lab["software"].setdefault("scheduler", {})["accounting"] = {"host": "nosuch"}
    with pytest.raises(SiteModelError) as info:
        parse_site(lab, "site.yaml")
    assert any("software.scheduler.accounting.host" in p.render() for p in info.value.problems)


def test_disabled_accounting_has_no_slurmdbd_host(lab: dict[str, Any]) -> None:
    lab["software"].setdefault("scheduler", {})["accounting"] = {"enabled": False}
    site = parse_site(lab)
    assert derive.groups(site)["slurmdbd"] == [] and not derive.slurm_accounting(site)["enabled"]


def test_one_account_per_profile_users_by_name_or_group(lab: dict[str, Any]) -> None:
    site = parse_site(lab)
    acct = derive.slurm_accounting(site)
    profiles = sorted(site.software.policy_profiles, key=lambda p: -p.priority)
    assert [a["name"] for a in acct["accounts"]] == [p.name for p in profiles]
    for user in acct["users"]:
        account = next(a for a in site.software.accounts if a.name == user["name"]) if any(
            a.name == user["name"] for a in site.software.accounts) else None
        for name in user["accounts"]:
            p = next(p for p in profiles if p.name == name)
            assert user["name"] in p.users or (account and set(account.groups) & set(p.groups))
        # the default account is the user's highest-priority profile
        assert user["default_account"] == user["accounts"][0]
        ranks = [next(p.priority for p in profiles if p.name == n) for n in user["accounts"]]
        assert ranks == sorted(ranks, reverse=True)
    # a user in two profiles (alice, by group, also named in production) gets both accounts
    lab["software"]["policy_profiles"][1]["users"].append("alice")
    both = {u["name"]: u for u in derive.slurm_accounting(parse_site(lab))["users"]}
    assert len(both["alice"]["accounts"]) == 2


def test_the_fair_share_period_defaults_to_slurms_and_lab_shortens_it(lab: dict[str, Any]) -> None:
    assert derive.slurm_accounting(parse_site(lab))["fairshare_calc_period_minutes"] == 1  # lab: a rehearsal
    lab["software"]["scheduler"].pop("accounting")
    assert derive.slurm_accounting(parse_site(lab))["fairshare_calc_period_minutes"] == 5  # PriorityCalcPeriod's


@pytest.mark.parametrize("minutes", [0, -1, 61, "often"])
def test_a_fair_share_period_out_of_bounds_is_refused_naming_the_field(lab: dict[str, Any], minutes: Any) -> None:
    lab["software"]["scheduler"]["accounting"] = {"fairshare_calc_period_minutes": minutes}
    with pytest.raises(SiteModelError) as info:
        parse_site(lab, "site.yaml")
    rendered = [p.render() for p in info.value.problems]
    assert any("software.scheduler.accounting.fairshare_calc_period_minutes" in r for r in rendered), rendered
