"""A job sees only job-scoped credentials; unchanged qrmi user code works through
qrmid's IAM endpoint and proxy; the credentials die with the acquisition; no site
secret reaches the job's environment, its output, qrmid's log or a world-readable
file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import harness
from conftest import without_windows
from test_acquire import acquire

JOB = Path(__file__).with_name("job_sample.py")


def run_job(env: dict[str, str], shots: int = 400) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run([sys.executable, str(JOB), str(shots)], env=clean, capture_output=True, text=True,
                          timeout=300)


def results(out: str) -> dict[str, dict[str, int]]:
    return {d["qpu"]: d["counts"] for d in map(json.loads, out.splitlines()) if "counts" in d}


def test_unchanged_qrmi_code_runs_through_job_credentials(client: harness.Client, qrmid: harness.Qrmid,
                                                          tmp_path: Path) -> None:
    code, a = acquire(client, "501", qpus=["sc_twin", "FRESNEL"])
    assert code == 201, a
    env = a["environment"]
    job = run_job(env)
    assert job.returncode == 0, job.stderr[-3000:]
    counts = results(job.stdout)
    bell = counts["sc_twin"]
    assert sum(bell.values()) == 400
    # the twin is noisy (1 % two-qubit, 1.5 % readout): odd outcomes stay rare
    assert (bell.get("01", 0) + bell.get("10", 0)) / 400 < 0.15, bell
    atom = counts["FRESNEL"]
    assert sum(atom.values()) == 400 and atom.get("1", 0) / 400 > 0.85, atom
    # target() works through qrmid for both (Pasqal's device specs once came back 401)
    targets = {d["qpu"]: d["target_keys"] for d in map(json.loads, job.stdout.splitlines()) if "counts" in d}
    assert targets["sc_twin"] and targets["FRESNEL"], targets

    # what the job saw and wrote: no site credential anywhere
    seen = json.dumps(env) + job.stdout + job.stderr
    for secret in harness.SITE_SECRETS:
        assert secret not in seen

    # the tasks the job ran are counted against its acquisition
    _, acct = client.request("GET", "/v1/accounting?job_id=501")
    assert {r["qpu"]: r["tasks"] for r in acct["records"]} == {"sc_twin": 1, "FRESNEL": 1}

    # after release the same environment is worthless
    client.request("DELETE", "/v1/jobs/501/acquisitions")
    after = run_job(env, shots=10)
    assert after.returncode != 0
    assert "counts" not in after.stdout

    # nothing world-readable that qrmid or the test wrote holds a secret, nor does qrmid's log
    for path in [p for p in tmp_path.rglob("*") if p.is_file()]:
        mode = path.stat().st_mode
        text = path.read_bytes()
        if mode & stat.S_IROTH or path.name == "qrmid.log":
            for secret in harness.SITE_SECRETS:
                assert secret.encode() not in text, f"{path} (mode {oct(mode)}) holds a site secret"


def iam(url: str, apikey: str) -> tuple[int, dict]:
    data = urllib.parse.urlencode({"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": apikey}).encode()
    req = urllib.request.Request(url + "/identity/token", data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def get(url: str, token: str) -> int:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_job_credentials_are_scoped_to_their_own_session(make_qrmid, site, munged) -> None:
    qpus = [{**q, "slots": 2} for q in without_windows(site)]
    q = make_qrmid(qpus=qpus)
    client = harness.Client(q.url, munged.socket)
    _, a = acquire(client, "601")
    _, b = acquire(client, "602")
    ea, eb = a["environment"], b["environment"]
    iam_url = ea["sc_twin_QRMI_IBM_QCS_IAM_ENDPOINT"]
    code, tok_a = iam(iam_url, ea["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"])
    assert code == 200 and 0 < tok_a["expires_in"] <= 600
    assert tok_a["access_token"] != ea["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"]
    # a made-up key and the site's real key are refused; a key works only on its own QPU
    assert iam(iam_url, "qrmid-job-forged")[0] == 401
    assert iam(iam_url, harness.SITE_APIKEY)[0] == 401
    assert iam(iam_url.replace("/iam/sc_twin", "/iam/FRESNEL"), ea["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"])[0] == 401

    base = ea["sc_twin_QRMI_IBM_QCS_ENDPOINT"]
    own, other = ea["sc_twin_QRMI_JOB_ACQUISITION_TOKEN"], eb["sc_twin_QRMI_JOB_ACQUISITION_TOKEN"]
    assert get(f"{base}/sessions/{own}", tok_a["access_token"]) == 200
    assert get(f"{base}/sessions/{other}", tok_a["access_token"]) == 403
    assert get(f"{base}/backends", tok_a["access_token"]) == 200
    assert get(f"{base}/backends", "qrmid-bearer-forged") == 401
    # the job key itself is not a bearer token
    assert get(f"{base}/backends", ea["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"]) == 401

    client.request("POST", f"/v1/acquisitions/{a['id']}/release", {})
    assert get(f"{base}/backends", tok_a["access_token"]) == 401
    assert iam(iam_url, ea["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"])[0] == 401


def forged(token: str, *, header: dict | None = None, claims: dict | None = None, key: bytes | None = None,
           signature: str | None = None) -> str:
    """`token` with its header/claims replaced, signed with `key` (HS256), or given `signature`."""
    import base64
    import hashlib
    import hmac

    def b64(doc: dict) -> str:
        raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def unb64(part: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    h, p, s = token.split(".")
    h = b64({**unb64(h), **header}) if header else h
    p = b64({**unb64(p), **claims}) if claims else p
    if key is not None:
        s = base64.urlsafe_b64encode(hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    return f"{h}.{p}.{s if signature is None else signature}"


def test_job_tokens_are_signed_jwts_and_forgeries_are_refused(make_qrmid, site, munged) -> None:
    """Through the running daemon: the bearer is a JWT (ibm-cloud-sdk-core reads it), and a
    tampered signature or claim, alg none, another key, another job's token and an expired
    token all answer 401 (or 403 for another job's own objects), changing nothing."""
    import jwt

    qpus = [{**q, "slots": 2} for q in without_windows(site)]
    q = make_qrmid(qpus=qpus, job_token_ttl_s=3)
    client = harness.Client(q.url, munged.socket)
    _, a = acquire(client, "701", qpus=["sc_twin", "FRESNEL"])
    code_b, b = acquire(client, "702", qpus=["sc_twin", "FRESNEL"])
    assert code_b == 201, b
    ea, eb = a["environment"], b["environment"]
    iam_url, base = ea["sc_twin_QRMI_IBM_QCS_IAM_ENDPOINT"], ea["sc_twin_QRMI_IBM_QCS_ENDPOINT"]
    session = ea["sc_twin_QRMI_JOB_ACQUISITION_TOKEN"]
    code, tok = iam(iam_url, ea["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"])
    assert code == 200
    bearer = tok["access_token"]

    # what IBM's SDK core does with the answer: decode without verification, read exp and iat
    seen = jwt.decode(bearer, algorithms=["RS256"], options={"verify_signature": False, "verify_aud": False})
    assert 0 < seen["exp"] - seen["iat"] <= 3
    assert (seen["job"], seen["qpu"], seen["sub"], seen["acq"], seen["kind"]) == ("701", "sc_twin", "bob", a["id"],
                                                                                  "bearer")
    # every job credential is a JWT scoped the same way, no site secret in any claim
    for value in (ea["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"], ea["FRESNEL_QRMI_PASQAL_CLOUD_AUTH_TOKEN"]):
        claims = jwt.decode(value, options={"verify_signature": False})
        assert claims["job"] == "701" and claims["kind"] == "job-key"
        assert not any(s in json.dumps(claims) for s in harness.SITE_SECRETS)
    assert get(f"{base}/sessions/{session}", bearer) == 200

    sig = bearer.rsplit(".", 1)[1]
    attacks = {
        "tampered signature": bearer[:-4] + ("AAAA" if not bearer.endswith("AAAA") else "BBBA"),
        "claims changed, signature kept": forged(bearer, claims={"acq": b["id"]}),
        "job changed, signature kept": forged(bearer, claims={"job": "702"}),
        "alg none, no signature": forged(bearer, header={"alg": "none"}, signature=""),
        "alg none, old signature": forged(bearer, header={"alg": "none"}, signature=sig),
        "HS256 with another key": forged(bearer, claims={"exp": seen["exp"] + 3600}, key=b"k" * 32),
        "the job key as a bearer": ea["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"],
        "the Pasqal token as a bearer": ea["FRESNEL_QRMI_PASQAL_CLOUD_AUTH_TOKEN"],
    }
    for what, token in attacks.items():
        assert get(f"{base}/sessions/{session}", token) == 401, what
        assert get(f"{base}/backends", token) == 401, what
    # another job's valid bearer: its own QPU's public list yes, this job's session no
    _, tok_b = iam(eb["sc_twin_QRMI_IBM_QCS_IAM_ENDPOINT"], eb["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"])
    assert get(f"{base}/sessions/{session}", tok_b["access_token"]) == 403
    # a job key of one QPU is no key for another, an IBM bearer no Pasqal token
    fresnel = ea["FRESNEL_QRMI_PASQAL_CLOUD_BASE_URL"]
    assert get(f"{fresnel}/core-fast/api/v1/batches/none", bearer) == 401
    assert iam(iam_url.replace("/iam/sc_twin", "/iam/FRESNEL"), ea["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"])[0] == 401
    assert iam(iam_url, forged(ea["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"], header={"alg": "none"}, signature=""))[0] == 401
    # expired: the bearer lived job_token_ttl_s (3 s), the job key still mints a new one
    import time

    time.sleep(max(0.0, seen["exp"] - time.time()) + 0.5)
    assert get(f"{base}/sessions/{session}", bearer) == 401
    code, fresh = iam(iam_url, ea["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"])
    assert code == 200 and get(f"{base}/sessions/{session}", fresh["access_token"]) == 200
    # the job's own objects are intact after all that
    assert get(f"{base}/sessions/{session}", fresh["access_token"]) == 200
