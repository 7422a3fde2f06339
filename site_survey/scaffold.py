"""Start a new site model from an example (``qpusite init SITE --like lab``).

The example's text is copied, not re-serialised, so its comments, order and
layout survive. The example's site name is replaced by the new one wherever it
is a whole word inside a string value (``site.name``, ``lab.internal``,
``ops@lab.example``, ``vault_lab_sc_twin_apikey``), except in fixed choices
(``topology: hybrid`` stays) and in comments. A value that only takes
letters, digits and '_' gets the name with '-' written as '_'. The result
is validated before anything is written, and an existing file is never
overwritten.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from site_survey.loader import INVENTORY_ROOT, load_yaml, parse_site
from site_survey.model_paths import annotation_at
from site_survey.reference import describe
from site_survey.strings import NAME, Rule

TEMPLATES = Path(__file__).resolve().parent / "templates"
MINIMAL = "minimal"


class ScaffoldError(Exception):
    """The request cannot be carried out; the message says why and what to do. Nothing was written."""


def examples(root: Path = INVENTORY_ROOT) -> dict[str, Path]:
    """Models a new site can start from: the shipped example sites and the annotated minimal template."""
    found = {p.parent.name: p for p in sorted(root.glob("*/site.yaml"))}
    found[MINIMAL] = TEMPLATES / "minimal.yaml"
    return found


@dataclass(frozen=True)
class Scaffold:
    text: str  # the new site.yaml
    source: Path  # the example it was made from
    renamed: int  # how many values had the example's name replaced


# ------------------------------------------------------------------ the field at a place


def _field_at(path: tuple[Any, ...]) -> tuple[list[Rule], bool]:
    """The typed-string rules of the field at ``path`` and whether it is a fixed choice (Literal/Enum)."""
    found = annotation_at(path)
    if found is None:
        return [], False
    kind = describe(*found)
    return kind.rules, any(a.startswith("one of") for a in kind.allowed)


# ------------------------------------------------------------------ renaming


def _word(old: str) -> re.Pattern[str]:
    """``old`` as a whole word: not inside a longer run of letters and digits ('_', '-', '.', '@' end a word)."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])")


def _token(value: str, pattern: re.Pattern[str], new: str, rules: list[Rule]) -> str:
    """The new name as this value can hold it: as given, or with '-' as '_' where the field refuses '-'."""
    if any(rule.problem(pattern.sub(new, value)) for rule in rules):
        underscored = new.replace("-", "_")
        if not any(rule.problem(pattern.sub(underscored, value)) for rule in rules):
            return underscored
    return new


def _edits(text: str, old: str, new: str) -> list[tuple[int, int, str, Any, str]]:
    """(start, end, replacement text, path, new value) for each string value naming the example's site."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    pattern = _word(old)
    edits: list[tuple[int, int, str, Any, str]] = []

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))
        elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
            if not pattern.search(node.value):
                return
            rules, fixed = _field_at(path)
            if fixed:
                return
            token = _token(node.value, pattern, new, rules)
            value = pattern.sub(token, node.value)
            start, end = node.start_mark.index, node.end_mark.index
            raw = text[start:end]
            if node.style is None:  # plain: rewrite, and quote when YAML would read it as something else
                try:
                    same = yaml.safe_load(value) == value and "\n" not in raw
                except yaml.YAMLError:
                    same = False
                replacement = value if same else json.dumps(value, ensure_ascii=False)
            else:  # quoted or block: the name's characters need no escaping, replace inside
                replacement = pattern.sub(token, raw)
            edits.append((start, end, replacement, path, value))

    if root is not None:
        walk(root, ())
    return edits


def _value_at(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _header(name: str, like: str, source: str, validate_as: str) -> str:
    return (
        f"# Site model of {name}: made by `qpusite init {name} --like {like}` from {source}.\n"
        "# Every value still describes the example: review rooms, hosts and addresses, QPUs, contacts\n"
        "# and vault variable names. Field reference: docs/site-model-reference.md.\n"
        f"# Check it with `qpusite validate {validate_as}`.\n"
        "#\n"
    )


def scaffold(name: str, like: str, root: Path = INVENTORY_ROOT, validate_as: str | None = None) -> Scaffold:
    """The new site's text, made from the example ``like`` and checked to validate.

    ``validate_as`` is what the header tells the reader to validate (the site name, or the file's path
    when it is written outside inventories/).
    """
    problem = NAME.problem(name)
    if problem is not None:
        raise ScaffoldError(f"site name {name!r} {problem}; it names the directory, the Slurm cluster and more")
    choices = examples(root)
    if like not in choices:
        raise ScaffoldError(f"--like {like!r}: no such example; choose one of {', '.join(sorted(choices))}")
    source = choices[like]
    text = source.read_text(encoding="utf-8")
    old = load_yaml(text, str(source))["site"]["name"]
    edits = _edits(text, old, name) if old != name else []
    for start, end, replacement, _path, _value in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:start] + replacement + text[end:]
    data = load_yaml(text, f"<{name} from {like}>")
    for _start, _end, _replacement, path, value in edits:
        if _value_at(data, path) != value:  # the text edit did not say what was meant: never write that
            raise ScaffoldError(f"renaming {'.'.join(map(str, path))} in {like!r} failed; please report this")
    shown = source.relative_to(root.parent) if source.is_relative_to(root.parent) else Path(source.name)
    text = _header(name, like, shown.as_posix(), validate_as or name) + text
    data = load_yaml(text, f"<{name} from {like}>")
    site = parse_site(data, f"<{name} from {like}>", text)  # a SiteModelError here means the rename went wrong
    if site.site.name != name:
        raise ScaffoldError(f"the example {like!r} does not name its site in site.name; start from another example")
    return Scaffold(text, source, len(edits))


def target_path(name: str, output: str | None, root: Path = INVENTORY_ROOT) -> Path:
    """Where ``init`` writes: --output (a file, or a directory to hold site.yaml), else inventories/<name>/site.yaml."""
    if output is None:
        return root / name / "site.yaml"
    path = Path(output)
    return path / "site.yaml" if path.is_dir() or output.endswith("/") else path


def write_new(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, creating its directory; refuse to replace anything that exists."""
    if path.exists() or path.is_symlink():
        raise ScaffoldError(
            f"{path} already exists; init never overwrites a site model. Choose another site name or --output, "
            "or remove the file yourself"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise ScaffoldError(f"{path} already exists; init never overwrites a site model") from None
    except OSError as exc:
        raise ScaffoldError(f"cannot write {path}: {exc.strerror or exc}") from None
