"""HTTP calls made *from a site host* (over SSH), so checks reach services exactly
where the site's own clients do, and credentials never leave the host.

Authentication modes for qrmid: ``munge`` signs the request with a munge
credential made on that host (root on a Slurm host is a trusted principal);
``operator`` reads qrmid's operator token from its config on the access node;
``alertmanager`` logs in to Alertmanager's API with the login its role gives Prometheus.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
from dataclasses import dataclass
from typing import Any, Literal

from acceptance.context import Context
from acceptance.spec import CheckFailed

QRMID_CONFIG = "/etc/qrmid/config.json"  # roles/qrmid; QPUSITE_ACCEPT_QRMID_CONFIG overrides
# munged's socket on the site's hosts; QPUSITE_ACCEPT_MUNGE_SOCKET overrides (a non-default munged)
MUNGE_SOCKET_VARIABLE = "QPUSITE_ACCEPT_MUNGE_SOCKET"
# the Alertmanager API's client login (roles/alertmanager): username and password_file
ALERTMANAGER_CLIENT = "/etc/prometheus/alertmanager-client.yml"

_CLIENT = r"""
import base64, json, subprocess, sys, urllib.error, urllib.request
method, url, path, auth, qrmid_config, munge_socket, payload = sys.argv[1:8]
body = __BODY__
headers = {"Accept": "application/json"}
if body:
    headers["Content-Type"] = "application/json"
if auth == "munge":
    socket_args = ["-S", munge_socket] if munge_socket != "-" else []
    made = subprocess.run(["munge", *socket_args], input=base64.b64decode(payload), capture_output=True)
    if made.returncode:
        print(json.dumps({"status": -1, "error": "munge: " + made.stderr.decode().strip()})); sys.exit(0)
    headers["Authorization"] = "Munge " + made.stdout.decode().strip()
elif auth == "operator":
    try:
        cfg = json.load(open(qrmid_config))
        token = open(cfg["operator_token_file"]).read().strip()
    except (OSError, KeyError, ValueError) as exc:
        print(json.dumps({"status": -1, "error": "no operator token: %s" % exc})); sys.exit(0)
    headers["Authorization"] = "Bearer " + token
elif auth == "alertmanager":
    # the login the alertmanager role gives Prometheus and amtool (readable by root on the monitoring host)
    try:
        fields = dict(line.strip().split(": ", 1) for line in open(ALERTMANAGER_CLIENT) if ": " in line)
        secret = open(fields["password_file"]).read().strip()
    except (OSError, KeyError, ValueError) as exc:
        print(json.dumps({"status": -1, "error": "no Alertmanager login: %s" % exc})); sys.exit(0)
    pair = ("%s:%s" % (fields.get("username", ""), secret)).encode()
    headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
req = urllib.request.Request(url + path, data=body, method=method.upper(), headers=headers)
try:
    with urllib.request.urlopen(req, timeout=20) as resp:
        status, text = resp.status, resp.read().decode(errors="replace")
except urllib.error.HTTPError as err:
    status, text = err.code, err.read().decode(errors="replace")
except OSError as exc:
    print(json.dumps({"status": -1, "error": str(getattr(exc, "reason", exc))})); sys.exit(0)
try:
    doc = json.loads(text)
except ValueError:
    doc = text
print(json.dumps({"status": status, "body": doc}))
"""

Auth = Literal["none", "munge", "operator", "alertmanager"]


def munge_payload(method: str, path: str, body: bytes) -> bytes:
    """What qrmid expects a request's munge credential to carry: the request line and the raw
    body (qrmid.munge_auth.request_payload; a node-side test keeps the two in step)."""
    return f"{method.upper()} {path}\n".encode() + body


@dataclass(frozen=True)
class HttpReply:
    status: int  # -1: no connection
    body: Any
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def call(ctx: Context, host: str, method: str, base_url: str, path: str, body: Any = None,
         auth: Auth = "none", timeout_s: float = 40) -> HttpReply:
    """``method base_url+path`` made by python3 on ``host``; status -1 when nothing answered."""
    qrmid_config = os.environ.get("QPUSITE_ACCEPT_QRMID_CONFIG", QRMID_CONFIG)
    munge_socket = os.environ.get(MUNGE_SOCKET_VARIABLE) or "-"
    raw = json.dumps(body).encode() if body is not None else b""
    payload = base64.b64encode(munge_payload(method, path, raw)).decode()
    argv = " ".join(shlex.quote(a) for a in
                    ("python3", "-", method, base_url, path, auth, qrmid_config, munge_socket, payload))
    # `python3 -` reads its script from stdin to the end, so the body travels inside the script.
    script = _CLIENT.replace("__BODY__", repr(raw or None)).replace("ALERTMANAGER_CLIENT",
                                                                    repr(ALERTMANAGER_CLIENT))
    done = ctx.run(host, argv, stdin=script, timeout_s=timeout_s)
    if not done.ok:
        raise CheckFailed(f"HTTP client failed on {host}: {done.stderr.strip()[-300:]}")
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    return HttpReply(int(doc["status"]), doc.get("body"), doc.get("error", ""))
