"""Grid Engine's side of brokered QPU access: the job's acquisition from qrmid, as the SPANK
plugin does it under Slurm (same request, same munge signing, same environment contract).

Used by ``qpu-prolog`` and ``qpu-epilog`` (this directory), which Grid Engine runs as root
(queue ``prolog root@…``/``epilog root@…``) on the job's master host. Python standard library
only: it runs with the node's python3.

Where the facts come from (never from the job's own environment, which the user shapes):
- job id, array task id and owner: the shepherd's ``config`` file in the job's spool
  directory (written by sge_execd);
- the QPUs: the job's hard resource list (``qpu_<name>=1``) as ``qstat -j`` prints it, the
  consumable Grid Engine scheduled the job with;
- qrmid's URL, cluster and QPU names: this node's configuration file (root-owned JSON).

qrmid's answer becomes lines of ``$SGE_JOB_SPOOL_DIR/environment``, which the shepherd reads
for every child it starts (prolog, job, epilog): ``NAME=value`` per line, read with a 10000
byte buffer, ``\\n`` in a value turned into a newline. So only keys of the QRMI contract pass,
values carry no control character and no backslash, and every line stays far below that buffer.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CONFIG = "/etc/qpusite/ge-qrmid.json"
MARKER = "qpusite-qrmid"  # written into the job's spool dir before qrmid is first asked
MAX_RESPONSE = 256 * 1024
MAX_ENV_KEYS = 256
MAX_KEY_LEN = 128
MAX_VALUE_BYTES = 8192  # key + '=' + value + newline stays far below the shepherd's 10000-byte line buffer
MAX_MESSAGE_LEN = 1000
MAX_GROUPS = 256
POLL_WAIT_S = 20
# Grid Engine kills a prolog after script_timeout (120 s, fixed by sge_execd); a prolog killed that
# way puts the queue in error state, so waiting for a QPU ends well before that
MAX_WAIT_CAP_S = 100

EXIT_OK = 0
EXIT_RESCHEDULE = 99  # Grid Engine puts the job back in the queue (qw)
EXIT_JOB_ERROR = 100  # Grid Engine puts the job (not the queue) in error state: Eqw, with the reason on stderr

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
CLUSTER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
GROUP = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
DIGITS = re.compile(r"^[0-9]{1,10}$")
ACQ_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
WORD = re.compile(r"^[A-Z0-9_]+$")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
URL = re.compile(r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?/?$")
CONTRACT_PREFIXES = ("QRMI_", "QRMID_", "SLURM_JOB_QPU_")


class Refused(Exception):
    """A problem to report on the job's stderr; exit_code says what Grid Engine does with the job."""

    def __init__(self, message: str, exit_code: int = EXIT_JOB_ERROR):
        super().__init__(message)
        self.exit_code = exit_code


# ------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class Settings:
    url: str
    cluster: str
    qpus: tuple[str, ...]
    ca_file: str | None = None
    munge: str = "/usr/bin/munge"
    munge_socket: str | None = None
    qstat: str = "/usr/bin/qstat"
    timeout_s: int = 30
    max_wait_s: int = 90


def _absolute(value: Any, key: str, path: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or CONTROL.search(value) or len(value) > 4096:
        raise Refused(f"{path}: {key} must be an absolute path, got {value!r}")
    return value


def load_settings(path: str) -> Settings:
    """The node's configuration (JSON, written by the rollout). A bad field names itself."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.loads(fh.read(64 * 1024))
    except (OSError, ValueError) as exc:
        raise Refused(f"cannot read {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise Refused(f"{path}: expected a JSON object")
    url = raw.get("url")
    if not isinstance(url, str) or not URL.match(url):
        raise Refused(f"{path}: url must be http(s)://host[:port], got {url!r}")
    cluster = raw.get("cluster")
    if not isinstance(cluster, str) or not CLUSTER.match(cluster):
        raise Refused(f"{path}: cluster must be 1-64 letters, digits, '_' or '-', got {cluster!r}")
    qpus = raw.get("qpus")
    if not isinstance(qpus, list) or not all(isinstance(q, str) and NAME.match(q) for q in qpus):
        raise Refused(f"{path}: qpus must be a list of QPU names (letters, digits, '_'), got {qpus!r}")
    out: dict[str, Any] = {"url": url.rstrip("/"), "cluster": cluster, "qpus": tuple(qpus)}
    for key in ("ca_file", "munge", "munge_socket", "qstat"):
        if raw.get(key) is not None:
            out[key] = _absolute(raw[key], key, path)
    for key, low, high in (("timeout_s", 1, 300), ("max_wait_s", 0, MAX_WAIT_CAP_S)):
        if key in raw:
            value = raw[key]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise Refused(f"{path}: {key} must be an integer from {low} to {high}, got {value!r}")
            out[key] = value
    return Settings(**out)


# ------------------------------------------------------------------ the job, from Grid Engine


@dataclass(frozen=True)
class Job:
    number: str  # Grid Engine's job number
    task: str | None  # array task id, None for a job that is not an array
    owner: str
    spool_dir: str

    @property
    def job_id(self) -> str:
        """The id qrmid knows the job by: `1234`, or `1234.5` for task 5 of array job 1234
        (the notation qstat and qacct use for one task)."""
        return f"{self.number}.{self.task}" if self.task else self.number


def parse_shepherd_config(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and key not in out:
            out[key] = value
    return out


def job_from_spool(spool_dir: str) -> Job:
    """The job as sge_execd wrote it for the shepherd. The spool dir must be a real directory
    not owned by the job's user (it is sge_execd's)."""
    if not spool_dir or not os.path.isabs(spool_dir) or CONTROL.search(spool_dir):
        raise Refused(f"SGE_JOB_SPOOL_DIR is not an absolute path: {spool_dir!r}")
    try:
        st = os.lstat(spool_dir)
        with open(os.path.join(spool_dir, "config"), encoding="utf-8", errors="replace") as fh:
            conf = parse_shepherd_config(fh.read(1024 * 1024))
    except OSError as exc:
        raise Refused(f"cannot read the job's spool directory {spool_dir}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise Refused(f"{spool_dir} is not a directory")
    number, task, owner = conf.get("job_id", ""), conf.get("ja_task_id", "0"), conf.get("job_owner", "")
    if not DIGITS.match(number) or not DIGITS.match(task):
        raise Refused(f"{spool_dir}/config: job_id {number!r} / ja_task_id {task!r} are not job numbers")
    if not USER.match(owner):
        raise Refused(f"{spool_dir}/config: job_owner {owner!r} is not a user name")
    try:
        owner_uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise Refused(f"job owner {owner!r} has no passwd entry on this host") from None
    if st.st_uid == owner_uid and owner_uid != 0:
        raise Refused(f"{spool_dir} belongs to the job's user, not to sge_execd")
    return Job(number=number, task=None if task == "0" else task, owner=owner, spool_dir=spool_dir)


@dataclass
class JobRequest:
    hard: dict[str, str] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)


def _pairs(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if sep and key:
            out[key.strip()] = val.strip()
    return out


def parse_qstat_job(text: str) -> JobRequest:
    """`qstat -j <job>`: the `hard resource_list:` and `context:` lines (`name=value,…`)."""
    req = JobRequest()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key == "hard resource_list":
            req.hard.update(_pairs(value))
        elif key == "context":
            req.context.update(_pairs(value))
    return req


def requested_qpus(hard: dict[str, str], known: tuple[str, ...]) -> list[str]:
    """The site QPUs among the job's hard requests `qpu_<name>=<n>` (n > 0), in the site's spelling
    (Grid Engine compares complex names without regard to case)."""
    by_complex = {f"qpu_{q}".lower(): q for q in known}
    out: list[str] = []
    for name, value in hard.items():
        qpu = by_complex.get(name.lower())
        if qpu is None or qpu in out:
            continue
        try:
            amount = float(value)
        except ValueError:
            continue
        if amount > 0:
            out.append(qpu)
    return out


def seconds(value: str) -> int | None:
    """A Grid Engine time value (`3600`, `1:00:00`, `0:30`), None for INFINITY or nonsense."""
    value = value.strip()
    if not value or value.upper() == "INFINITY":
        return None
    parts = value.split(":")
    if len(parts) > 3 or not all(p.isdigit() and len(p) <= 10 for p in parts):
        return None
    total = 0
    for p in parts:
        total = total * 60 + int(p)
    return total or None


def ask_qstat(settings: Settings, job: Job, environ: dict[str, str]) -> JobRequest:
    """`qstat -j <number>` as an argument vector, with Grid Engine's own variables only."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
    for key in ("SGE_ROOT", "SGE_CELL", "SGE_QMASTER_PORT", "SGE_EXECD_PORT"):
        value = environ.get(key)
        if value and not CONTROL.search(value):
            env[key] = value
    try:
        proc = subprocess.run(  # noqa: S603 - argv list, absolute path from the node's configuration
            [settings.qstat, "-j", job.number], capture_output=True, timeout=settings.timeout_s, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Refused(f"cannot ask Grid Engine about job {job.number} ({settings.qstat}): {exc}") from None
    if proc.returncode != 0:
        raise Refused(f"qstat -j {job.number} failed: {printable(proc.stderr.decode(errors='replace'))}")
    return parse_qstat_job(proc.stdout[: 4 * 1024 * 1024].decode(errors="replace"))


# ------------------------------------------------------------------ the environment contract


def printable(text: str | None) -> str:
    return CONTROL.sub(" ", text or "")[:MAX_MESSAGE_LEN].strip()


def contract_key(key: str, qpus: list[str]) -> bool:
    """QRMI_<W>, QRMID_<W>, SLURM_JOB_QPU_<W> and <one of the job's QPUs>_QRMI_<W>."""
    if not 0 < len(key) <= MAX_KEY_LEN:
        return False
    for prefix in CONTRACT_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return bool(WORD.match(key[len(prefix):]))
    name, sep, rest = key.partition("_QRMI_")
    return bool(sep and name in qpus and rest and WORD.match(rest))


def contract_variable(name: str) -> bool:
    """Any variable of the contract, whoever set it: removed before qrmid's values go in."""
    return name.startswith(CONTRACT_PREFIXES) or "_QRMI_" in name


def clean_value(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value.encode("utf-8", errors="replace")) <= MAX_VALUE_BYTES
        and not CONTROL.search(value)
        and "\\" not in value  # the shepherd turns a literal \n into a newline
    )


def checked_environment(answer: Any, qpus: list[str]) -> tuple[dict[str, str], list[str]]:
    """qrmid's `environment`, only contract keys with clean values; (kept, refused keys)."""
    env = answer.get("environment") if isinstance(answer, dict) else None
    if not isinstance(env, dict):
        raise Refused(f"no QPU acquired for {','.join(qpus)}: qrmid granted the QPUs but sent no environment")
    if len(env) > MAX_ENV_KEYS:
        raise Refused(f"qrmid sent {len(env)} variables, more than the {MAX_ENV_KEYS} a job may get")
    kept: dict[str, str] = {}
    refused: list[str] = []
    for key, value in env.items():
        if isinstance(key, str) and contract_key(key, qpus) and clean_value(value):
            kept[key] = value
        else:
            refused.append(printable(str(key))[:MAX_KEY_LEN])
    return kept, refused


def write_environment(spool_dir: str, env: dict[str, str]) -> None:
    """Rewrite the job's environment file: the user's lines minus every contract variable, then
    qrmid's. Atomic (a temp file in the same directory, renamed), same owner and mode."""
    path = os.path.join(spool_dir, "environment")
    st = os.lstat(path)
    with open(path, "rb") as fh:
        old = fh.read(16 * 1024 * 1024).split(b"\n")
    kept = [line for line in old if line and not contract_variable(line.split(b"=", 1)[0].decode("utf-8", "replace"))]
    new = kept + [f"{k}={v}".encode() for k, v in env.items()]
    fd, tmp = tempfile.mkstemp(prefix=".environment.", dir=spool_dir)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"\n".join(new) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ------------------------------------------------------------------ munge + HTTP


class Qrmid:
    """Calls to qrmid, each signed with a munge credential whose payload is the request itself
    ("<METHOD> <path?query>\\n<body>", qrmid's munge_auth.request_payload)."""

    def __init__(self, settings: Settings):
        self.s = settings
        context = ssl.create_default_context(cafile=settings.ca_file) if settings.url.startswith("https") else None
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    def credential(self, payload: bytes) -> str:
        argv = [self.s.munge]
        if self.s.munge_socket:
            argv += ["--socket", self.s.munge_socket]
        try:
            proc = subprocess.run(  # noqa: S603 - argv list, absolute path from the node's configuration
                argv, input=payload, capture_output=True, timeout=self.s.timeout_s, check=False,
                env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Refused(f"munge could not sign the request: {exc} (is munged running?)") from None
        cred = proc.stdout.decode(errors="replace").strip()
        if proc.returncode != 0 or not cred or len(cred) > 64 * 1024 or CONTROL.search(cred):
            raise Refused(f"munge could not sign the request: {printable(proc.stderr.decode(errors='replace'))} "
                          "(is munged running?)")
        return cred

    def call(self, method: str, path: str, body: bytes | None, read_timeout: float) -> tuple[int, Any]:
        """(HTTP status, parsed JSON or None); status -1 when qrmid cannot be reached."""
        payload = f"{method} {path}\n".encode() + (body or b"")
        headers = {"Authorization": f"Munge {self.credential(payload)}", "Accept": "application/json",
                   "User-Agent": "ge-qrmid"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.s.url + path, data=body, method=method, headers=headers)  # noqa: S310
        try:
            with self._opener.open(req, timeout=read_timeout) as resp:
                status, raw = resp.status, resp.read(MAX_RESPONSE + 1)
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read(MAX_RESPONSE + 1)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            return -1, {"detail": f"cannot reach qrmid at {self.s.url}: {reason}"}
        if len(raw) > MAX_RESPONSE:
            return -1, {"detail": f"qrmid at {self.s.url} sent an answer larger than {MAX_RESPONSE} bytes"}
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return (-1, {"detail": f"qrmid sent an answer that is not JSON (HTTP {status})"}) if status < 300 else (
                status, None)


def message_of(answer: Any) -> str:
    if isinstance(answer, dict):
        for key in ("message", "detail"):
            value = answer.get(key)
            if isinstance(value, str):
                return printable(value)
            if isinstance(value, list) and value and isinstance(value[0], dict):
                return printable(str(value[0].get("msg", "")))
    return ""


def groups_of(user: str, gid: int) -> list[str]:
    out: list[str] = []
    try:
        gids = os.getgrouplist(user, gid)
    except OSError:
        return out
    for g in gids:
        try:
            name = grp.getgrgid(g).gr_name
        except KeyError:
            continue
        if GROUP.match(name) and name not in out:
            out.append(name)
        if len(out) >= MAX_GROUPS:
            break
    return out


def acquire_body(settings: Settings, job: Job, qpus: list[str], request: JobRequest, nodes: int) -> bytes:
    pw = pwd.getpwnam(job.owner)
    body: dict[str, Any] = {"cluster": settings.cluster, "job_id": job.job_id, "user": job.owner, "uid": pw.pw_uid,
                            "groups": groups_of(job.owner, pw.pw_gid), "qpus": qpus}
    limit = seconds(request.hard.get("h_rt", ""))
    if limit:
        body["time_limit_s"] = limit
    profile = request.context.get("qpu_profile")
    if profile:
        if not NAME.match(profile):
            raise Refused(f"the job's context qpu_profile={printable(profile)!r} is not a profile name")
        body["profile"] = profile
    if 0 < nodes <= 1_000_000:
        body["nodes"] = nodes
    body["wait_s"] = POLL_WAIT_S
    return json.dumps(body, separators=(",", ":")).encode()


def acquire(client: Qrmid, settings: Settings, job: Job, qpus: list[str], body: bytes,
            clock: Any = time.monotonic) -> tuple[dict[str, str], list[str], str]:
    """(environment, refused keys, notices). Retries a 5xx or unreachable qrmid (a repeated request
    for the job is answered with its one acquisition); polls while the answer is 202; past
    max_wait_s releases the waiting acquisition and asks Grid Engine to requeue the job."""
    started = clock()
    status, answer = -1, None
    for attempt in range(4):
        status, answer = client.call("POST", "/v1/acquisitions?format=json", body, POLL_WAIT_S + settings.timeout_s)
        if 0 < status < 500:
            break
        if clock() - started + (2 << attempt) > settings.max_wait_s:
            break
        time.sleep(2 << attempt)
    while status == 202:
        acq = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(acq, str) or not ACQ_ID.match(acq):
            raise Refused("qrmid answered 202 without a valid acquisition id")
        if clock() - started >= settings.max_wait_s:
            release(client, settings, job)
            raise Refused(f"QPU(s) {','.join(qpus)} not granted within {settings.max_wait_s} s "
                          f"({message_of(answer) or 'waiting'}); the job goes back to the queue", EXIT_RESCHEDULE)
        wait = max(1, min(POLL_WAIT_S, int(settings.max_wait_s - (clock() - started))))
        status, answer = client.call("GET", f"/v1/acquisitions/{acq}?wait_s={wait}&format=json", None,
                                     wait + settings.timeout_s)
        if status < 0 or status >= 500:
            time.sleep(2)
            status, answer = 202, {"id": acq}
    if status == 201:
        env, refused = checked_environment(answer, qpus)
        waited = int(clock() - started)
        notice = f"QPU(s) {','.join(qpus)} granted after waiting {waited} s" if waited >= 5 else ""
        return env, refused, notice
    if status < 0:
        raise Refused(f"no QPU acquired: {message_of(answer)}; the QPU service is unavailable, try again later or "
                      "contact the site operators")
    raise Refused(f"no QPU acquired for {','.join(qpus)}: {message_of(answer) or f'qrmid answered {status}'}")


def release(client: Qrmid, settings: Settings, job: Job, attempts: int = 3) -> bool:
    path = f"/v1/jobs/{job.job_id}/acquisitions?cluster={settings.cluster}"
    for attempt in range(attempts):
        status, answer = client.call("DELETE", path, None, settings.timeout_s)
        if 200 <= status < 300:
            return True
        log(f"qrmid: job {job.job_id}: release failed ({status}): {message_of(answer)}")
        if attempt + 1 < attempts:
            time.sleep(1)
    return False


def log(message: str) -> None:
    print(printable(message), file=sys.stderr, flush=True)
