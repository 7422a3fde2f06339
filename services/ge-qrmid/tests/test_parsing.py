"""ge_qrmid's parsing and checks: the shepherd's config, qstat -j, the contract, the environment file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import ge_qrmid as g
import pytest
from conftest import qstat_j


def spool(tmp_path: Path, config: str) -> Path:
    d = tmp_path / "active_jobs" / "1.1"
    d.mkdir(parents=True)
    (d / "config").write_text(config)
    return d


def test_job_ids_of_plain_jobs_and_array_tasks(tmp_path: Path) -> None:
    d = spool(tmp_path, "job_owner=daemon\njob_id=1234\nja_task_id=5\nprolog=root@/x\n")
    job = g.job_from_spool(str(d))
    assert (job.job_id, job.number, job.task, job.owner) == ("1234.5", "1234", "5", "daemon")
    (d / "config").write_text("job_owner=daemon\njob_id=1234\nja_task_id=0\n")
    assert g.job_from_spool(str(d)).job_id == "1234"


@pytest.mark.parametrize("config, message", [
    ("job_owner=daemon\njob_id=12a\nja_task_id=0\n", "not job numbers"),
    ("job_owner=daemon\njob_id=1\nja_task_id=1;2\n", "not job numbers"),
    ("job_owner=Bad User\njob_id=1\nja_task_id=0\n", "not a user name"),
    ("job_owner=no-such-user-x\njob_id=1\nja_task_id=0\n", "no passwd entry"),
])
def test_bad_shepherd_config_is_refused(tmp_path: Path, config: str, message: str) -> None:
    with pytest.raises(g.Refused, match=message):
        g.job_from_spool(str(spool(tmp_path, config)))


def test_a_spool_dir_of_the_job_owner_is_refused(tmp_path: Path) -> None:
    d = spool(tmp_path, "job_owner=daemon\njob_id=1\nja_task_id=0\n")
    os.chown(d, 1, 1)  # daemon
    with pytest.raises(g.Refused, match="belongs to the job's user"):
        g.job_from_spool(str(d))
    with pytest.raises(g.Refused, match="not an absolute path"):
        g.job_from_spool("relative/dir")


def test_qstat_hard_requests_context_and_qpus() -> None:
    text = qstat_j("7", "daemon", "h_rt=1:30:00,QPU_sc_twin=1,qpu_FRESNEL=0,qpu_other=1,mem_free=1G",
                   "qpu_profile=production,x=y", "1-10:1")
    req = g.parse_qstat_job(text + "soft resource_list:         qpu_FRESNEL=1\n")
    assert req.hard["h_rt"] == "1:30:00" and req.context == {"qpu_profile": "production", "x": "y"}
    assert g.requested_qpus(req.hard, ("sc_twin", "FRESNEL")) == ["sc_twin"]  # soft requests do not count
    assert g.requested_qpus({"qpu_sc_twin": "1.000000", "qpu_FRESNEL": "2"}, ("sc_twin", "FRESNEL")) == [
        "sc_twin", "FRESNEL"]
    assert g.requested_qpus({"qpu_sc_twin": "TRUE"}, ("sc_twin",)) == []
    assert g.parse_qstat_job(qstat_j("8", "daemon", "")).hard == {}
    assert [g.seconds(v) for v in ("3600", "1:30:00", "0:30", "INFINITY", "", "1:x", "0")] == [
        3600, 5400, 30, None, None, None, None]


def test_contract_keys_and_values() -> None:
    qpus = ["sc_twin"]
    good = ["QRMI_JOB_ID", "QRMID_ACQUISITION_ID", "SLURM_JOB_QPU_TYPES", "sc_twin_QRMI_IBM_QCS_ENDPOINT"]
    bad = ["PATH", "LD_PRELOAD", "FRESNEL_QRMI_X", "QRMI_", "QRMI_lower", "sc_twin_QRMI_", "QRMI_A=B", "Q" * 129,
           "sc_twin_QRMI_X\nPATH"]
    assert all(g.contract_key(k, qpus) for k in good)
    assert not any(g.contract_key(k, qpus) for k in bad)
    answer = {"environment": {"QRMI_JOB_ID": "1", "PATH": "/evil", "QRMI_A": "x\ny", "QRMI_B": "a\\nPATH=/x",
                              "QRMI_C": "é" * 5000, "QRMI_D": 3, "QRMI_E": "\x85", "QRMI_F": "ok"}}
    kept, refused = g.checked_environment(answer, qpus)
    assert kept == {"QRMI_JOB_ID": "1", "QRMI_F": "ok"}
    assert sorted(refused) == ["PATH", "QRMI_A", "QRMI_B", "QRMI_C", "QRMI_D", "QRMI_E"]
    with pytest.raises(g.Refused, match="more than the 256"):
        g.checked_environment({"environment": {f"QRMI_{i}": "x" for i in range(257)}}, qpus)
    with pytest.raises(g.Refused, match="sent no environment"):
        g.checked_environment({"state": "granted"}, qpus)


def test_environment_file_is_rewritten_atomically_without_the_users_contract(tmp_path: Path) -> None:
    env = tmp_path / "environment"
    env.write_text("HOME=/h\nQRMI_JOB_ID=999\nx_QRMI_Y=1\nQRMID_ACQUISITION_ID=fake\nA=b=c\nSLURM_JOB_QPU_X=1\n")
    env.chmod(0o640)
    os.chown(env, 1, 1)
    g.write_environment(str(tmp_path), {"QRMI_JOB_ID": "1234.5", "sc_twin_QRMI_A": "v"})
    assert env.read_text() == "HOME=/h\nA=b=c\nQRMI_JOB_ID=1234.5\nsc_twin_QRMI_A=v\n"
    st = env.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1, 1, 0o640)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["environment"]


def test_settings_name_the_bad_field(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    base = {"url": "https://qgw.example:8470/", "cluster": "lab-ge", "qpus": ["sc_twin"]}
    path.write_text(json.dumps(base))
    s = g.load_settings(str(path))
    assert (s.url, s.max_wait_s, s.qstat) == ("https://qgw.example:8470", 90, "/usr/bin/qstat")
    for change, message in [({"url": "http://a b"}, "url"), ({"cluster": "a/b"}, "cluster"),
                            ({"qpus": ["a;b"]}, "qpus"), ({"qstat": "qstat"}, "qstat must be an absolute path"),
                            ({"max_wait_s": 500}, "max_wait_s must be an integer from 0 to 100"),
                            ({"timeout_s": True}, "timeout_s")]:
        path.write_text(json.dumps({**base, **change}))
        with pytest.raises(g.Refused, match=message):
            g.load_settings(str(path))
