from __future__ import annotations

import pytest

from rehearsal.errors import RehearsalInputError
from rehearsal.mirror import debian_mirror, mirror_from_sources

DEB822 = """\
Types: deb
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_sources():
    assert mirror_from_sources({"debian.sources": DEB822}, "bookworm") == "http://mirror.example/debian"


def test_security_suite_alone_does_not_count():
    only_security = DEB822.split("\n\n")[1]
    assert mirror_from_sources({"debian.sources": only_security}, "bookworm") is None


def test_disabled_stanzas_are_skipped():
    disabled = DEB822.replace("Types: deb\nURIs: http://mirror", "Types: deb\nEnabled: no\nURIs: http://mirror")
    assert mirror_from_sources({"debian.sources": disabled}, "bookworm") is None


def test_one_line_format_with_options_and_comments():
    text = (
        "# deb http://commented.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
    )
    assert mirror_from_sources({"sources.list": text}, "bookworm") == "http://one.example/debian"


def test_component_main_is_required():
    assert mirror_from_sources({"x.list": "deb http://nf.example/debian bookworm non-free\n"}, "bookworm") is None


def test_nothing_found_says_how_to_name_a_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv("QPUSITE_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    with pytest.raises(RehearsalInputError, match="QPUSITE_DEBIAN_MIRROR"):
        debian_mirror("bookworm", apt_dir=tmp_path)


def test_environment_overrides_the_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("QPUSITE_DEBIAN_MIRROR", "http://override.example/debian/")
    assert debian_mirror("bookworm", apt_dir=tmp_path) == "http://override.example/debian"


def test_reads_the_files_of_an_apt_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("QPUSITE_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert debian_mirror("bookworm", apt_dir=tmp_path) == "http://mirror.example/debian"
