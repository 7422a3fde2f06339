"""Policy profiles, calibration windows and maintenance, as the job's stderr will show them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import harness
import pytest
from conftest import without_windows
from test_acquire import acquire


def open_window_now(site: dict, qpu: str = "sc_twin") -> list[dict]:
    """The lab's QPUs with a calibration window on `qpu` that started two minutes ago."""
    start = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%H:%M")
    window = {"name": "nightly", "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": start,
              "duration_minutes": 30, "kind": "calibration"}
    return [{**q, "calibration_windows": [window] if q["name"] == qpu else []} for q in without_windows(site)]


def test_user_outside_profiles_is_refused_and_nothing_changes(client: harness.Client) -> None:
    code, body = acquire(client, "701", user="mallory", uid=1666)
    assert code == 403
    assert "mallory" in body["detail"] and "no QPU policy profile" in body["detail"]
    code, body = acquire(client, "702", user="alice", uid=1002, profile="production")
    assert code == 403 and "not in policy profile 'production'" in body["detail"]
    _, rows = client.request("GET", "/v1/acquisitions")
    assert rows == []


def test_group_membership_admits(client: harness.Client) -> None:
    code, body = acquire(client, "703", user="carol", uid=1003, groups=["quantum-dev"])
    assert code == 201 and body["profile"] == "development"


def test_hold_is_capped_by_the_profile(client: harness.Client) -> None:
    # alice is development: 30 min maximum hold
    code, body = acquire(client, "704", user="alice", uid=1002, time_limit_s=4 * 3600)
    assert code == 201
    assert int(body["environment"]["sc_twin_QRMI_JOB_TIMEOUT_SECONDS"]) <= 1800
    assert "exceeds profile 'development'" in body["message"]


def test_calibration_window_fails_fast_or_waits_per_profile(make_qrmid, site, munged) -> None:
    q = make_qrmid(qpus=open_window_now(site))
    client = harness.Client(q.url, munged.socket)
    # development fails fast, and says why and until when
    code, body = acquire(client, "801", user="alice", uid=1002)
    assert code == 409
    assert "calibration window 'nightly'" in body["detail"] and "until" in body["detail"]
    # production waits; the waiting answer says until when
    code, body = acquire(client, "802", user="bob", wait_s=1)
    assert code == 202 and body["state"] == "waiting"
    assert "calibration window 'nightly'" in body["message"] and body["waiting_until"]
    # FRESNEL has no window: unaffected
    code, body = acquire(client, "803", user="alice", uid=1002, qpus=["FRESNEL"])
    assert code == 201
    _, st = client.request("GET", "/v1/qpus/sc_twin", auth=None)
    assert st["available"] is False and st["block"]["kind"] == "calibration"


def test_waiting_is_bounded_by_the_profile(make_qrmid, site, munged) -> None:
    profiles = [{**p, "max_wait_minutes": 0} if p["name"] == "production" else p
                for p in site["qpusite_policy_profiles"]]
    q = make_qrmid(qpus=open_window_now(site), policy_profiles=profiles)
    client = harness.Client(q.url, munged.socket)
    code, body = acquire(client, "804", user="bob", wait_s=5)
    assert code == 409 and body["state"] == "failed" and body["outcome"] == "timeout"
    assert "waited the profile's maximum" in body["message"]


def test_maintenance_blocks_until_switched_off_or_its_end(client: harness.Client) -> None:
    op = f"Bearer {harness.OPERATOR_TOKEN}"
    # only the operator may switch maintenance
    code, _ = client.request("PUT", "/v1/qpus/sc_twin/maintenance", {"message": "x"})
    assert code == 403
    code, _ = client.request("PUT", "/v1/qpus/sc_twin/maintenance", {"message": "x"}, auth="Bearer wrong")
    assert code == 401
    until = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    code, st = client.request("PUT", "/v1/qpus/sc_twin/maintenance",
                              {"message": "cryostat refill", "until": until}, auth=op)
    assert code == 200 and st["block"]["kind"] == "maintenance"
    code, body = acquire(client, "901", user="alice", uid=1002)
    assert code == 409 and "cryostat refill" in body["detail"]
    code, body = acquire(client, "902", user="bob", wait_s=0.5)
    assert code == 202 and "cryostat refill" in body["message"]
    # the maintenance ends by itself: the waiting job is granted
    code, body = client.request("GET", f"/v1/acquisitions/{body['id']}?wait_s=15")
    assert body["state"] == "granted"
    # switched on without an end, switched off by hand
    client.request("PUT", "/v1/qpus/FRESNEL/maintenance", {"message": "laser alignment"}, auth=op)
    code, body = acquire(client, "903", user="bob", qpus=["FRESNEL"], wait_s=0.5)
    assert code == 202
    _, metrics = client.request("GET", "/metrics", auth=None)
    assert 'qrmid_qpu_maintenance{qpu="FRESNEL"} 1.0' in metrics
    client.request("DELETE", "/v1/qpus/FRESNEL/maintenance", auth=op)
    code, body = client.request("GET", f"/v1/acquisitions/{body['id']}?wait_s=15")
    assert body["state"] == "granted"


def test_metrics_follow_acquisitions(client: harness.Client) -> None:
    code, a = acquire(client, "951")
    assert code == 201
    _, m = client.request("GET", "/metrics", auth=None)
    assert 'qrmid_active_acquisitions{profile="production",qpu="sc_twin"} 1.0' in m
    assert 'qrmid_acquisition_wait_seconds_count{qpu="sc_twin"} 1.0' in m
    client.request("POST", f"/v1/acquisitions/{a['id']}/release", {})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _, m = client.request("GET", "/metrics", auth=None)
        if ('qrmid_active_acquisitions{profile="production",qpu="sc_twin"} 0.0' in m
                and 'qrmid_releases_total{qpu="sc_twin",result="ok"} 1.0' in m):
            break
        time.sleep(0.2)
    assert 'qrmid_active_acquisitions{profile="production",qpu="sc_twin"} 0.0' in m
    assert 'qrmid_releases_total{qpu="sc_twin",result="ok"} 1.0' in m


def test_a_zero_hold_profile_is_refused_at_load() -> None:
    import pydantic
    from qrmid.config import Profile

    with pytest.raises(pydantic.ValidationError, match="max_hold_minutes"):
        Profile(name="p", qpus=["q"], max_hold_minutes=0)
    assert Profile(name="p", qpus=["q"], max_hold_minutes=1).max_hold_minutes == 1
