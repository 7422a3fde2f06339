"""What a string of the site model may hold.

Model strings end up in config lines (slurm.conf, the SPANK plugin's
``env=KEY=VALUE`` lines, requirements.txt, /etc/hosts), in environments and
in commands. Two layers keep them there as data:

* every string anywhere in the model — field values, list items, mapping keys
  and values, free-form ``ansible.vars`` — refuses control characters (Unicode
  category Cc: U+0000–U+001F, U+007F–U+009F, which includes NUL, tab, CR and
  LF) and the line and paragraph separators U+2028/U+2029, and is at most
  :data:`MAX_STRING_CHARS` long. :class:`site_survey.model.Strict` applies this
  to every field of every model, so a field added tomorrow is covered without
  anyone thinking of it;
* the values that reach a command, a config line or pip are typed with a
  :class:`Rule`: an allow-list pattern (also published in the JSON schema) and,
  where a parser exists, the parser itself (``packaging`` for versions and
  requirements, ``zoneinfo`` for time zones, ``ipaddress`` for addresses).

Every refusal says, in words, what is wrong and what to write instead.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import unicodedata
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

MAX_STRING_CHARS = 4096

# JSON-schema form of the model-wide rule (ECMA-262 regular expression).
NO_CONTROL_PATTERN = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029]*$"

_LINE_BREAKS = {"\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"}
_NAMES = {
    "\x00": "NUL", "\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\x1b": "ESCAPE", "\x7f": "DELETE",
    "\x85": "NEXT LINE", "\u2028": "LINE SEPARATOR", "\u2029": "PARAGRAPH SEPARATOR",
}


def _forbidden(char: str) -> bool:
    return char in ("\u2028", "\u2029") or unicodedata.category(char) == "Cc"


def text_problem(value: str) -> str | None:
    """Why a model string is refused whatever its field, or None."""
    if len(value) > MAX_STRING_CHARS:
        return (
            f"is {len(value)} characters long; strings in the site model are at most {MAX_STRING_CHARS} "
            "characters (keep long text in a file and refer to it)"
        )
    if value.isprintable():  # fast path: no Cc, no separators
        return None
    for char in value:
        if _forbidden(char):
            code = f"U+{ord(char):04X}"
            name = _NAMES.get(char) or unicodedata.name(char, "")
            label = f"{code} {name}".strip()
            if char in _LINE_BREAKS:
                return (
                    f"contains a line break ({label}); model strings are single-line text: write it on one line, "
                    "a line break would start a new line in the configuration files the value is written to"
                )
            return (
                f"contains a control character ({label}); model strings hold printable text only: remove it "
                "(tabs, NUL and escape characters are refused too)"
            )
    return None


def find_unsafe_text(value: Any, at: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], str] | None:
    """The first string inside ``value`` (keys included) that :func:`text_problem` refuses, with where it is.

    Model instances are skipped: they check their own fields.
    """
    if isinstance(value, str):
        problem = text_problem(value)
        return (at, problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                problem = text_problem(key)
                if problem:
                    return (at, f"key {key[:40]!r} {problem}")
            found = find_unsafe_text(item, (*at, key))
            if found:
                return found
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        for i, item in enumerate(value):
            if type(item) is str and len(item) <= MAX_STRING_CHARS and item.isprintable():
                continue  # the common case, without a call
            found = find_unsafe_text(item, (*at, i))
            if found:
                return found
    return None


def check_text_tree(value: Any) -> Any:
    """Raise a pydantic error naming the offending place when any string inside ``value`` is refused."""
    found = find_unsafe_text(value)
    if found is not None:
        at, problem = found
        raise PydanticCustomError("unsafe_text", "{problem}", {"at": at, "problem": problem})
    return value


# ------------------------------------------------------------------ typed values


@dataclass(frozen=True)
class Rule:
    """A typed string: the model-wide text rule, then an allow-list pattern and an optional parser check.

    ``words`` says in plain language what is accepted and ``example`` shows one
    accepted value; together they are the error message ("must be <words>,
    e.g. <example>") and the field reference's "allowed" and "example"
    columns. The pattern is for the JSON schema and the check here only: no
    message ever shows it, because a person writing YAML should not have to
    read a regular expression.
    """

    pattern: str  # ECMA-262/Python common subset, anchored with ^…$
    words: str  # a noun phrase, e.g. "a lower-case name: …"; no regular expression syntax
    example: str  # one accepted value
    check: Callable[[str], str | None] | None = None
    max_length: int | None = None

    @property
    def message(self) -> str:
        return f"must be {self.words}, e.g. {self.example}"

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        target = handler.resolve_ref_schema(out)
        target["pattern"] = self.pattern
        if self.max_length is not None:
            target["maxLength"] = self.max_length
        return out

    def problem(self, value: str) -> str | None:
        """Why ``value`` is refused, in words, or None."""
        problem = text_problem(value)
        if problem is None and self.max_length is not None and len(value) > self.max_length:
            problem = f"is {len(value)} characters long; at most {self.max_length}: {self.message}"
        if problem is None and _compiled(self.pattern).fullmatch(value) is None:
            # the parser's own complaint is more specific when it has one ("did you mean Europe/Paris?")
            problem = (self.check(value) if self.check is not None else None) or self.message
        if problem is None and self.check is not None:
            problem = self.check(value)
        return problem

    def validate(self, value: str) -> str:
        problem = self.problem(value)
        if problem is not None:
            raise PydanticCustomError("value_error", "{problem}", {"problem": problem})
        return value


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# --- names


NAME = Rule(
    r"^[a-z][a-z0-9-]{0,62}$",
    "a lower-case name: a letter, then lower-case letters, digits or '-', at most 63 characters",
    "server-room",
)
QPU_NAME = Rule(
    r"^[A-Za-z][A-Za-z0-9_]{0,62}$",
    "a QPU name: a letter, then letters, digits or '_' (no '-'), at most 63 characters",
    "sc_twin",
)
VAR_NAME = Rule(
    r"^[a-z_][a-z0-9_]{0,127}$",
    "an Ansible variable name: lower-case letters, digits and '_' (no '-'), not starting with a digit",
    "vault_site_ibm_apikey",
)
UNIX_NAME = Rule(
    r"^[a-z_][a-z0-9_-]{0,31}$",
    "a Unix user or group name: lower-case letters, digits, '_' or '-', starting with a letter or '_', "
    "at most 32 characters",
    "quantum-dev",
)
ENV_NAME = Rule(
    r"^[A-Z][A-Z0-9_]*$",
    "an upper-case environment variable name: capital letters, digits and '_', starting with a letter",
    "QRMI_IBM_QCS_SESSION_MODE",
    max_length=128,
)
EMAIL = Rule(
    r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$",
    "an e-mail address: letters, digits and . _ % + - before '@', a domain with at least one dot after it",
    "ops@site.example",
    max_length=254,
)
HH_MM = Rule(
    r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
    "a time of day as HH:MM on the 24-hour clock, two digits each (quote it in YAML)",
    '"02:30"',
)
GECOS = Rule(
    r"^[^:\u0000-\u001F\u007F-\u009F\u2028\u2029]*$",
    "a comment without ':' (the field separator of /etc/passwd)",
    "Alice Martin",
    max_length=256,
)


def _dns_name_problem(value: str) -> str | None:
    return None if len(value) <= 253 else "is longer than 253 characters, the limit of a DNS name"


DNS_NAME = Rule(
    r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
    "a DNS name: labels of letters, digits and '-' (not at either end of a label, at most 63 characters each) "
    "separated by single dots",
    "site.internal",
    check=_dns_name_problem,
)


def _host_problem(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", value):
        return f"{value!r} looks like an IP address but is not one, e.g. 203.0.113.10"
    if _compiled(DNS_NAME.pattern).fullmatch(value) is None:
        return (
            "is neither an IP address nor a DNS name (labels of letters, digits and '-', not at either end of a "
            "label, separated by single dots), e.g. gw.site.example"
        )
    return _dns_name_problem(value)


# One or more SSH jump hosts ([user@]host[:port], comma-separated) as ssh's ProxyJump takes them; the
# value lands in an ssh option, so no host part may start with '-' and nothing but these characters passes.
_JUMP = r"(?:[a-z_][a-z0-9_-]{0,31}@)?[A-Za-z0-9][A-Za-z0-9.-]{0,252}(?::[0-9]{1,5})?"
PROXY_JUMP = Rule(
    rf"^{_JUMP}(?:,{_JUMP}){{0,3}}$",
    "one to four SSH jump hosts for ProxyJump, comma-separated, each [user@]host[:port]",
    "admin@bastion.site.example:22",
)
HOST = Rule(
    r"^[A-Za-z0-9:.-]+$",
    "an IP address or a DNS name: letters, digits, '.', '-' and ':' only",
    "gw.site.example",
    check=_host_problem,
)


def _url_problem(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        return f"is not a URL ({exc}); write scheme://host[:port][/path], e.g. https://qpu.site.example"
    if not parts.hostname:
        return "names no host; write scheme://host[:port][/path], e.g. https://qpu.site.example"
    return None


URL = Rule(
    r"^https?://[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]+$",
    "an http:// or https:// URL with a host, without spaces, quotes, '<', '>' or backslashes",
    "https://qpu.site.example/api",
    check=_url_problem,
    max_length=2048,
)


SHA256 = Rule(
    r"^[0-9a-f]{64}$",
    "a SHA-256 digest: 64 lower-case hexadecimal digits (0-9 and a-f), as printed in the file",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
)


# --- paths


def _path_problem(value: str) -> str | None:
    if any(segment in (".", "..") for segment in value.split("/")[1:]):
        return "has a '.' or '..' segment; write the absolute path without them, e.g. /opt/qpusite/runtime"
    return None


ABSOLUTE_PATH = Rule(
    r"^(/[A-Za-z0-9._@+-]+)+$",
    "an absolute path: '/' followed by names made of letters, digits and . _ - + @, separated by single "
    "'/', no trailing '/', no '.' or '..' segment, no spaces or shell characters",
    "/opt/qpusite/runtime",
    check=_path_problem,
    max_length=1024,
)


FILE_PATH = Rule(
    r"^[A-Za-z0-9._@+~/][A-Za-z0-9._@+~/-]*$",
    "a file path of letters, digits and . _ - + @ ~ /, not starting with '-', without spaces or shell characters",
    ".rehearsal/id_ed25519",
    max_length=1024,
)


# --- time zones


# Files beside the zones in a tz directory that name no zone (available_timezones() lists some of them).
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules", "leapseconds", "tzdata.zi", "zone.tab"})


@cache
def iana_zones() -> frozenset[str]:
    """The zone names this machine's IANA database lists (empty when it lists none)."""
    try:
        return frozenset(zoneinfo.available_timezones()) - _NOT_ZONES
    except OSError:
        return frozenset()


def nearest_zones(value: str, limit: int = 3) -> list[str]:
    """Known zone names close to ``value``: same name in another case, same city, then similar spellings."""
    zones = sorted(iana_zones())
    folded = value.casefold().replace(" ", "_")
    exact = [z for z in zones if z.casefold() == folded]
    if exact:
        return exact[:limit]
    city = folded.rsplit("/", 1)[-1]
    same_city = [z for z in zones if z.casefold().rsplit("/", 1)[-1] == city]
    if same_city:
        return same_city[:limit]
    by_folded = {z.casefold(): z for z in zones}
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.75)  # one guess: the closest
    if not close:
        cities: dict[str, str] = {}
        for z in zones:
            cities.setdefault(z.casefold().rsplit("/", 1)[-1], z)
        close = [cities[c].casefold() for c in difflib.get_close_matches(city, list(cities), n=1, cutoff=0.75)]
    return [by_folded[c] for c in close]


def _timezone_problem(value: str) -> str | None:
    zones = iana_zones()
    if zones:
        known = value in zones
    else:  # no zone list on this machine: ask the database for the one zone
        try:
            zoneinfo.ZoneInfo(value)
            known = value not in _NOT_ZONES
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            known = False
    if known:
        return None
    near = nearest_zones(value)
    hint = f" Did you mean {' or '.join(near)}?" if near else ""
    return (
        f"{value!r} is not an IANA time zone name this machine's time zone database knows.{hint} Write the zone "
        "as the tz database names it (Area/Location, or UTC), e.g. Europe/Paris"
    )


TIMEZONE = Rule(
    r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$",
    "an IANA time zone name (Area/Location, as in the tz database)",
    "Europe/Paris",
    check=_timezone_problem,
    max_length=64,
)


# --- Python packages (requirements.txt lines)


def _version_problem(value: str) -> str | None:
    try:
        Version(value)
    except InvalidVersion:
        return f"{value!r} is not a Python package version; write one exact version, e.g. 0.26.4"
    return None


EXACT_VERSION = Rule(
    r"^[0-9][0-9A-Za-z.!+_-]*$",
    "one exact Python package version (no operator, no spaces, no pip option)",
    "0.26.4",
    check=_version_problem,
    max_length=64,
)


def _requirement_problem(value: str) -> str | None:
    hint = (
        "write a requirement: a package name, optional [extras] and optional version specifiers, "
        "e.g. qiskit-aer[gpu]>=0.15,<1"
    )
    try:
        req = Requirement(value)
    except InvalidRequirement as exc:
        return f"is not a PEP 508 requirement ({str(exc).splitlines()[0]}); {hint}"
    if req.url:
        return f"is a direct URL requirement; the wheelhouse is built from the package index only: {hint}"
    if req.marker is not None:
        return f"has an environment marker; the node runtime is one Python on one platform: {hint}"
    return None


REQUIREMENT = Rule(
    r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?(\[[A-Za-z0-9._,-]*\])?([<>=!~]{1,3}[A-Za-z0-9.*+!_-]+"
    r"(,[<>=!~]{1,3}[A-Za-z0-9.*+!_-]+)*)?$",
    "a Python requirement: a package name, optional [extras] and optional version specifiers, without "
    "spaces, pip options ('-…'), URLs or markers",
    "qiskit-aer[gpu]>=0.15,<1",
    check=_requirement_problem,
    max_length=256,
)


# --- slurm.conf


SLURM_KEY = Rule(
    r"^[A-Za-z][A-Za-z0-9_]*$",
    "a slurm.conf parameter name: letters, digits and '_', starting with a letter",
    "SchedulerParameters",
    max_length=64,
)
SLURM_VALUE = Rule(
    r"^[A-Za-z0-9_./:,=+@%*~\[\]-]+$",
    "one slurm.conf value token: letters, digits and _ . / : , = + @ % * ~ [ ] -, without spaces, "
    "quotes, '#' or '$' (a space would start another key=value on the line)",
    "bf_continue,max_rpc_cnt=150",
    max_length=1024,
)


# --- container images


IMAGE_REGISTRY = Rule(
    r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$",
    "a registry prefix: a lower-case host name, optional :port and /path",
    "registry.site.example:5000/qpu",
    max_length=255,
)
IMAGE_TAG = Rule(
    r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
    "an image tag: letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128 characters",
    "0.1.0",
)
