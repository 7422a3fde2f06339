"""The loader is bounded (issue 11, finding 7): alias bombs, deep nesting, huge
inputs and recursive aliases end with exit 2 and a message, in bounded time and
memory, with nothing written — for `validate`, `survey` and `render`, run as real
subprocesses, and for the Ansible inventory plugin."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from site_survey import SiteModelError, load_site
from tests.conftest import LAB, REPO

# Every subprocess runs under these limits, so a regression fails the test
# instead of taking the shared machine's memory.
MEMORY_LIMIT = 1536 * 1024 * 1024
TIME_LIMIT_S = int(os.environ.get("QPUSITE_TEST_BOUNDS_TIMEOUT_S", "60"))
EXPECTED_WITHIN_S = 30


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_qpusite(*args: str, cwd: Path = REPO) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    try:
        run = subprocess.run(
            [sys.executable, "-m", "qpusite", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT_S,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"qpusite {' '.join(args)} ran longer than {TIME_LIMIT_S} s")
    return run, time.monotonic() - start


# ------------------------------------------------------------------ the bombs


def _laughs_sequences(levels: int = 9, width: int = 10) -> str:
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _laughs_mappings(levels: int = 9, width: int = 10) -> str:
    lines = ["m0: &m0 {k: lol}"]
    for i in range(1, levels + 1):
        lines.append(f"m{i}: &m{i} {{" + ", ".join(f"k{j}: *m{i - 1}" for j in range(width)) + "}")
    return "\n".join(lines) + "\n"


def _laughs_merge_keys(levels: int = 28) -> str:
    # each level merges the previous one twice: the merged key list doubles
    lines = ["g0: &g0 {k0: lol, k1: lol}"]
    for i in range(1, levels + 1):
        lines.append(f"g{i}: &g{i} {{<<: [*g{i - 1}, *g{i - 1}], x{i}: 1}}")
    return "\n".join(lines) + "\n"


def _site_with_top(extra: str) -> str:
    """The lab model with the bomb under `ansible.vars` (a shape validation accepts)."""
    text = LAB.read_text()
    assert "\nansible:" not in text
    indented = "\n".join("    " + line for line in extra.splitlines())
    return text + "\nansible:\n  vars:\n" + indented + "\n"


BOMBS = {
    # top-level keys: the shape check would refuse them, but only after expansion
    "sequences-at-top": _laughs_sequences(),
    "mappings-at-top": _laughs_mappings(),
    "merge-keys-at-top": _laughs_merge_keys(),
    # inside the model, where validation passes: the old render died here
    "sequences-in-ansible-vars": _site_with_top(_laughs_sequences()),
    "mappings-in-ansible-vars": _site_with_top(_laughs_mappings()),
    "merge-keys-in-ansible-vars": _site_with_top(_laughs_merge_keys()),
    "deep-nesting-flow": "schema_version: 1\nsite: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "deep-nesting-in-vars": _site_with_top("deep: " + "{a: " * 5_000 + "1" + "}" * 5_000),
    "nesting-200-in-vars": _site_with_top("deep: " + "{a: " * 200 + "1" + "}" * 200),
    "block-nesting-100-in-vars": _site_with_top(
        "deep:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(100)) + "  " * 101 + "leaf: 1"
    ),
    "alias-depth-in-vars": _site_with_top(
        "d0: &d0 [1]\n" + "\n".join(f"d{i}: &d{i} [*d{i - 1}]" for i in range(1, 120))
    ),
    "recursive-sequence": _site_with_top("loop: &loop [1, *loop]"),
    "recursive-mapping": _site_with_top("loop: &loop {self: *loop}"),
}


def _huge_scalar(path: Path) -> None:
    with path.open("w") as handle:
        handle.write(LAB.read_text())
        handle.write("\nansible:\n  vars:\n    big: '")
        chunk = "x" * 1_048_576
        for _ in range(40):
            handle.write(chunk)
        handle.write("'\n")


def _large_scalar(path: Path) -> None:
    # under the file bound: the model's string bound refuses it
    path.write_text(LAB.read_text() + "\nansible:\n  vars:\n    big: '" + "x" * 8_000_000 + "'\n")


@pytest.fixture(params=[*BOMBS, "huge-scalar", "large-scalar"])
def bomb(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    if request.param == "large-scalar":
        _large_scalar(path)
    elif request.param == "huge-scalar":
        _huge_scalar(path)
    else:
        path.write_text(BOMBS[request.param])
    assert path.stat().st_size < 50 * 1024 * 1024
    return path


def test_bombs_are_small() -> None:
    # the attack is a few KB of YAML, not a big file
    for name in ("sequences-at-top", "mappings-at-top", "merge-keys-at-top"):
        assert len(BOMBS[name]) < 5 * 1024, name


@pytest.mark.parametrize("command", ["validate", "survey", "render"])
def test_commands_refuse_bombs_with_exit_2(command: str, bomb: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [command, str(bomb)] if command == "validate" else [command, str(bomb), "--output", str(out)]
    run, elapsed = run_qpusite(*args)
    assert run.returncode == 2, (run.returncode, run.stdout[-500:], run.stderr[-2000:])
    assert "Traceback" not in run.stderr and "MemoryError" not in run.stderr
    assert "problem(s) in the site model" in run.stderr
    assert any(word in run.stderr for word in ("alias", "nest", "too large", "recursive", "characters long")), (
        run.stderr[-2000:]
    )
    assert elapsed < EXPECTED_WITHIN_S
    assert not out.exists()


def test_in_process_loader_refuses_alias_bomb(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(BOMBS["sequences-in-ansible-vars"])
    start = time.monotonic()
    with pytest.raises(SiteModelError) as info:
        load_site(path)
    assert time.monotonic() - start < 10
    rendered = info.value.render()
    assert "alias" in rendered and "Traceback" not in rendered


def test_small_aliases_still_work(tmp_path: Path) -> None:
    # a modest, honest use of anchors (shared partition host lists) keeps working
    text = LAB.read_text().replace("  policy_profiles:", "  policy_profiles:", 1)
    text += "\nansible:\n  vars:\n    shared: &shared {a: 1, b: [1, 2, 3]}\n    again: *shared\n"
    path = tmp_path / "site.yaml"
    path.write_text(text)
    site = load_site(path)
    assert site.ansible.vars["again"] == {"a": 1, "b": [1, 2, 3]}


def test_inventory_plugin_refuses_alias_bomb(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(BOMBS["sequences-in-ansible-vars"])
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    start = time.monotonic()
    run = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-inventory")), "-i", str(path), "--list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S,
        env=env,
        preexec_fn=_limit_memory,
    )
    assert time.monotonic() - start < EXPECTED_WITHIN_S + 15
    assert "alias" in run.stderr, run.stderr[-2000:]
    assert '"ctl"' not in run.stdout  # no hosts came out of it
