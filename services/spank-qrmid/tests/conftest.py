"""Fixtures for the plugin's end-to-end tests: munged, the emulator, qrmid (from
services/qrmid/tests/harness.py) and a one-node Slurm loading the plugin.

Jobs run as existing system accounts so the machine needs no new users:
`daemon` is in the production profile, `bin` in development (fails fast during
windows), `nobody` in none."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "qrmid" / "tests"))

import harness  # noqa: E402
import slurm_harness  # noqa: E402

munged, site, emulator = harness.munged, harness.site, harness.emulator  # the session fixtures the suites share

PROFILE_USER, DEV_USER, OUTSIDER = "daemon", "bin", "nobody"
# `games` is in no profile by name; its primary group `games` is in profile "grouped"
GROUP_USER, GROUP = "games", "games"
# a one-minute QPU hold for PROFILE_USER, chosen explicitly with --qpu-profile=short
# (lowest priority, so never the default): jobs that outlive their hold
SHORT_PROFILE = "short"


def profiles(site: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in site["qpusite_policy_profiles"]:
        users = [PROFILE_USER] if p["name"] == "production" else [DEV_USER]
        out.append({**p, "users": users, "groups": []})
    qpus = sorted({q for p in out for q in p["qpus"]})
    out.append({"name": SHORT_PROFILE, "users": [PROFILE_USER], "groups": [], "qpus": qpus, "max_hold_minutes": 1,
                "priority": -1, "during_calibration": "wait", "max_wait_minutes": 5})
    # admitted through a Unix group (GROUP_USER's primary group), for FRESNEL only
    out.append({"name": "grouped", "users": [], "groups": [GROUP], "qpus": ["FRESNEL"], "max_hold_minutes": 5,
                "priority": -2, "during_calibration": "fail", "max_wait_minutes": 0})
    return out


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    # jobs run as other users: their scripts and output live in a world-writable, sticky dir
    tmp = Path(tempfile.mkdtemp(prefix="spank-qrmid-jobs-"))
    tmp.chmod(0o1777)
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(site, munged, emulator) -> Iterator[tuple[harness.Qrmid, slurm_harness.Slurm]]:
    tmp = Path(tempfile.mkdtemp(prefix="spank-qrmid-stack-"))
    tmp.chmod(0o755)  # slurm.conf must be readable by the submitting users; secrets stay 0600 files
    q = harness.configure_qrmid(tmp, site, emulator.url, munged.socket, qpus=harness.without_windows(site),
                                policy_profiles=profiles(site), reaper={"slurm": "on", "interval_s": 2, "grace_s": 5},
                                cluster=slurm_harness.CLUSTER)
    submit_conf = slurm_harness.render_submit_conf(list(site["qpusite_qpu_licenses"]), profiles(site))
    slurm = slurm_harness.start_slurm(tmp / "slurm", munged.socket, q.url, site["qpusite_qpu_licenses"],
                                      submit_conf)
    # the reaper asks this Slurm (squeue finds it through SLURM_CONF)
    q.env = {"SLURM_CONF": str(slurm.conf)}
    q.start()
    yield q, slurm
    slurm.stop()
    q.stop()
    if not os.environ.get("SPANK_QRMID_KEEP"):  # keep logs for debugging
        shutil.rmtree(tmp, ignore_errors=True)
