"""What a check body gets: the site model, SSH to its hosts, a log and a place for metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from acceptance.remote import Completed, Remote
from acceptance.results import Metric
from acceptance.spec import CheckFailed
from site_survey.model import Site


@dataclass
class Context:
    site: Site
    site_dir: Path
    log: Callable[[str], None]
    metrics: list[Metric] = field(default_factory=list)
    job_user: str | None = None  # who submits acceptance jobs; None = derived from the policy profiles
    _remote: Remote | None = None

    @property
    def remote(self) -> Remote:
        if self._remote is None:
            self._remote = Remote(self.site, self.site_dir, self.log)
        return self._remote

    def run(self, host: str, command: str, timeout_s: float = 30, stdin: str | None = None) -> Completed:
        return self.remote.run(host, command, timeout_s=timeout_s, stdin=stdin)

    def run_ok(self, host: str, command: str, what: str, timeout_s: float = 30, stdin: str | None = None) -> str:
        """Run a command that must succeed; its stdout, or CheckFailed naming ``what``."""
        done = self.run(host, command, timeout_s=timeout_s, stdin=stdin)
        if not done.ok:
            detail = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[-1]
            raise CheckFailed(f"{what} failed on {host}: {detail}")
        return done.stdout

    def record(self, metric: Metric) -> None:
        self.metrics.append(metric)
