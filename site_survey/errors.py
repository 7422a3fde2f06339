"""Errors for people: every problem names the field path, the value and what was expected."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: str  # dotted field path, e.g. "qpus[1].room"
    message: str  # what is wrong and how to fix it
    value: object = None
    line: int | None = None  # 1-based line in the source file, when known

    def render(self, source: str = "") -> str:
        where = f"{source}:{self.line}: " if source and self.line else (f"{source}: " if source else "")
        shown = ""
        if self.value is not None and not isinstance(self.value, (dict, list)):
            text = repr(self.value)
            shown = f" (got {text if len(text) <= 60 else text[:57] + '...'})"
        return f"{where}{self.path or '<document>'}: {self.message}{shown}"


class SiteModelError(Exception):
    """The site model is invalid; carries every problem found, not just the first."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.source}: {len(self.problems)} problem(s) in the site model"
        return "\n".join([head, *("  - " + p.render(self.source) for p in self.problems)])
