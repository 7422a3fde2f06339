"""Find the Debian mirror this machine already uses, so the base image comes from it.

The repository never names a mirror host: the machine's own apt sources (one-line
``.list`` files and deb822 ``.sources`` files) say which mirror is reachable here.
QPUSITE_DEBIAN_MIRROR overrides them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rehearsal.errors import RehearsalInputError

APT_DIR = Path("/etc/apt")


def _one_line_entries(text: str) -> Iterable[tuple[str, list[str], list[str]]]:
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        words = line.split()[1:]
        if words and words[0].startswith("["):  # options such as [signed-by=…]
            while words and not words[0].endswith("]"):
                words.pop(0)
            words = words[1:]
        if len(words) >= 3:
            yield words[0], [words[1]], words[2:]


def _deb822_entries(text: str) -> Iterable[tuple[str, list[str], list[str]]]:
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for raw in stanza.splitlines():
            if raw.startswith("#") or ":" not in raw:
                continue
            key, value = raw.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            yield uri, fields.get("suites", "").split(), fields.get("components", "").split()


def mirror_from_sources(sources: dict[str, str], suite: str) -> str | None:
    """First URI that serves `suite` with component main; `sources` maps file names to contents."""
    for name in sorted(sources):
        text = sources[name]
        entries = _deb822_entries(text) if name.endswith(".sources") else _one_line_entries(text)
        for uri, suites, components in entries:
            if suite in suites and "main" in components:
                return uri.rstrip("/")
    return None


def _read_sources(apt_dir: Path) -> dict[str, str]:
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list")),
             *sorted((apt_dir / "sources.list.d").glob("*.sources"))]
    out: dict[str, str] = {}
    for path in files:
        try:
            out[str(path)] = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    return out


def debian_mirror(suite: str, apt_dir: Path = APT_DIR) -> str:
    override = os.environ.get("QPUSITE_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    found = mirror_from_sources(_read_sources(apt_dir), suite)
    if found is None:
        raise RehearsalInputError(
            f"no Debian mirror serving '{suite} main' in {apt_dir}/sources.list*; "
            "the base image is built with debootstrap from the machine's mirror — "
            "set QPUSITE_DEBIAN_MIRROR=<mirror URL> to name one"
        )
    return found
