"""Job tokens are JWTs the vendors' decoders read, and qrmid's verifier refuses every
forgery: a changed claim or signature, ``alg: none`` or another algorithm, a token
past its expiry or not yet valid, one of another QPU, use or key, and any encoding
that is not qrmid's canonical one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path

import jwt
import pytest
from qrmid.job_tokens import InvalidToken, Signer, load_key, signer_for

KEY = bytes(range(32))
NOW = 1_700_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def mint(signer: Signer, **over: object) -> str:
    args: dict[str, object] = {"kind": "bearer", "acquisition_id": "acq-1", "qpu": "sc_twin", "job_id": "42",
                               "cluster": "lab", "user": "alice", "expires_at": NOW + 600, "now": NOW}
    args.update(over)
    return signer.mint(**args)  # type: ignore[arg-type]


def resign(token: str, header: dict | None = None, claims: dict | None = None, key: bytes = KEY) -> str:
    """The token with its header/claims replaced and a valid HS256 signature under `key`."""
    h, p, _ = token.split(".")
    h = b64(json.dumps(header, separators=(",", ":"), sort_keys=True).encode()) if header is not None else h
    p = b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()) if claims is not None else p
    sig = b64(hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest())
    return f"{h}.{p}.{sig}"


def parts(token: str) -> tuple[dict, dict]:
    h, p, _ = token.split(".")
    return json.loads(unb64(h)), json.loads(unb64(p))


def test_a_token_is_a_jwt_the_vendor_decoders_read() -> None:
    token = mint(Signer(KEY))
    # what ibm-cloud-sdk-core does with an IAM access_token (no signature check, exp and iat read)
    seen = jwt.decode(token, algorithms=["RS256"], options={"verify_signature": False, "verify_aud": False})
    assert seen["exp"] - seen["iat"] == 600
    assert {seen["qpu"], seen["job"], seen["cluster"], seen["sub"], seen["acq"]} == {"sc_twin", "42", "lab", "alice",
                                                                                   "acq-1"}
    # and it is a standard HS256 JWT under qrmid's key
    assert jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_exp": False})["kind"] == "bearer"
    claims = Signer(KEY).verify(token, qpu="sc_twin", kind="bearer", now=NOW + 1)
    assert (claims.acquisition_id, claims.job_id, claims.user) == ("acq-1", "42", "alice")
    assert mint(Signer(KEY)) != token  # jti: never the same token twice


def test_the_token_never_outlives_its_acquisition() -> None:
    token = mint(Signer(KEY), expires_at=NOW + 30)
    assert parts(token)[1]["exp"] == int(NOW + 30)


@pytest.mark.parametrize(
    ("forge", "why"),
    [
        (lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BA"), "bad token signature"),
        (lambda t: resign(t, claims={**parts(t)[1], "acq": "acq-2"}, key=b"k" * 32), "bad token signature"),
        # claims changed, signature kept
        (lambda t: ".".join([t.split(".")[0], b64(json.dumps({**parts(t)[1], "job": "43"}, separators=(",", ":"),
                                                              sort_keys=True).encode()), t.split(".")[2]]),
         "bad token signature"),
        # alg none, with or without a signature
        (lambda t: b64(b'{"alg":"none","kid":"x","typ":"JWT"}') + "." + t.split(".")[1] + ".", "algorithm"),
        (lambda t: b64(b'{"alg":"none","typ":"JWT"}') + "." + t.split(".")[1] + "." + t.split(".")[2], "algorithm"),
        (lambda t: resign(t, header={**parts(t)[0], "alg": "HS512"}), "algorithm"),
        (lambda t: resign(t, header={**parts(t)[0], "alg": "RS256"}), "algorithm"),
        (lambda t: resign(t, header={**parts(t)[0], "kid": "0000000000000000"}), "another key"),
        (lambda t: resign(t, header={**parts(t)[0], "jku": "http://x"}), "header"),
        # claims qrmid does not write, or of the wrong type
        (lambda t: resign(t, claims={**parts(t)[1], "admin": True}), "claims"),
        (lambda t: resign(t, claims={**parts(t)[1], "exp": float(NOW + 600)}), "claims"),
        (lambda t: resign(t, claims={**parts(t)[1], "iss": "ibm"}), "issued"),
        # encodings that are not qrmid's own
        (lambda t: t + "=", "malformed"),
        (lambda t: t.replace(".", "..", 1), "three parts"),
        (lambda t: t + ".x", "three parts"),
        (lambda t: b64(b'{"typ":"JWT","alg":"HS256"}') + t[t.index("."):], "canonical"),
        (lambda t: t.split(".")[0] + "." + b64(json.dumps(parts(t)[1], indent=1).encode()) + "." + t.split(".")[2],
         "bad token signature"),
        (lambda t: "\u00e9" + t, "malformed"),
        (lambda t: "A" * 3000, "malformed"),
    ],
)
def test_forged_tokens_are_refused(forge, why: str) -> None:
    signer = Signer(KEY)
    token = forge(mint(signer))
    with pytest.raises(InvalidToken, match=why):
        signer.verify(token, qpu="sc_twin", kind="bearer", now=NOW + 1)


def test_non_canonical_payload_with_a_valid_signature_is_refused() -> None:
    """Even signed with the right key, a payload qrmid would not have written is not one of its tokens."""
    token = mint(Signer(KEY))
    h, p, _ = token.split(".")
    spaced = b64(json.dumps(parts(token)[1], sort_keys=True).encode())  # ", " and ": "
    sig = b64(hmac.new(KEY, f"{h}.{spaced}".encode(), hashlib.sha256).digest())
    with pytest.raises(InvalidToken, match="canonical"):
        Signer(KEY).verify(f"{h}.{spaced}.{sig}", qpu="sc_twin", kind="bearer", now=NOW + 1)
    dup = b64(b'{"acq":"acq-1","acq":"acq-2"}')
    sig = b64(hmac.new(KEY, f"{h}.{dup}".encode(), hashlib.sha256).digest())
    with pytest.raises(InvalidToken, match="duplicated"):
        Signer(KEY).verify(f"{h}.{dup}.{sig}", qpu="sc_twin", kind="bearer", now=NOW + 1)


def test_stray_base64_bits_are_refused() -> None:
    token = mint(Signer(KEY))
    h, p, s = token.split(".")
    # the signature's last character carries 2 unused bits: a variant that decodes to the same bytes
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = s[:-1] + alphabet[alphabet.index(s[-1]) ^ 1]
    assert unb64(twin) == unb64(s)
    with pytest.raises(InvalidToken, match="canonical"):
        Signer(KEY).verify(f"{h}.{p}.{twin}", qpu="sc_twin", kind="bearer", now=NOW + 1)


def test_time_and_scope() -> None:
    signer = Signer(KEY)
    token = mint(signer)
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify(token, qpu="sc_twin", kind="bearer", now=NOW + 600)
    with pytest.raises(InvalidToken, match="not valid yet"):
        signer.verify(token, qpu="sc_twin", kind="bearer", now=NOW - 5)
    with pytest.raises(InvalidToken, match="unknown credential for this QPU"):
        signer.verify(token, qpu="FRESNEL", kind="bearer", now=NOW + 1)
    with pytest.raises(InvalidToken, match="unknown credential for this QPU"):
        signer.verify(token, qpu="sc_twin", kind="job-key", now=NOW + 1)
    with pytest.raises(InvalidToken, match="another key"):
        Signer(b"x" * 32).verify(token, qpu="sc_twin", kind="bearer", now=NOW + 1)


def test_the_key_file_is_created_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "job-token.key"
    key = load_key(str(path))
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_key(str(path)) == key  # a restart keeps the key: tokens stay valid
    token = mint(Signer(key), expires_at=time.time() + 60, now=time.time())
    assert signer_for(str(path), "unused").verify(token, qpu="sc_twin", kind="bearer").job_id == "42"
    # default: next to the SQLite database
    db = tmp_path / "state" / "qrmid.sqlite"
    db.parent.mkdir()
    signer_for(None, str(db))
    assert (db.parent / "job-token.key").stat().st_mode & 0o777 == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="chmod 0600"):
        load_key(str(path))
    os.chmod(path, 0o600)
    path.write_text("short\n")
    with pytest.raises(ValueError, match="delete it"):
        load_key(str(path))


def test_verified_claims_name_the_qpu_of_a_genuine_token_only() -> None:
    """What routes the IQM Server API at qrmid's root: the QPU of a token qrmid minted, whatever its QPU
    and use; a forged, foreign-key or expired token names none."""
    signer = Signer(KEY)
    token = mint(signer, kind="job-key", qpu="spark")
    claims = signer.verified_claims(token, now=NOW + 1)
    assert (claims.qpu, claims.kind, claims.acquisition_id) == ("spark", "job-key", "acq-1")
    _, body = parts(token)
    for bad in (
        resign(token, claims={**body, "qpu": "garnet"}, key=bytes(32)),  # re-pointed, signed with another key
        ".".join([*token.split(".")[:2], b64(b"x" * 32)]),  # signature replaced
        mint(Signer(bytes(32)), kind="job-key", qpu="spark"),  # another qrmid's key
    ):
        with pytest.raises(InvalidToken):
            signer.verified_claims(bad, now=NOW + 1)
    with pytest.raises(InvalidToken, match="expired"):
        signer.verified_claims(token, now=NOW + 601)
