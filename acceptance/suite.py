"""One acceptance run: select the checks for a tier, run them, compare benchmark
figures with the history, write the JUnit XML, the HTML report and the JSON
record, and print the summary. The CLI (`qpusite accept`) and the playbook
(`acceptance/acceptance.yml`) both come here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from acceptance import history
from acceptance.checks import load_all
from acceptance.history import Drift
from acceptance.report import html, junit, overview, terminal
from acceptance.results import CheckResult, RunRecord
from acceptance.runner import RunOptions, run_all
from acceptance.spec import Status, Tier
from site_survey import load_site
from site_survey.loader import resolve_site_path
from site_survey.provenance import provenance_for

DRIFT_CHECK_NUMBER, DRIFT_CHECK_NAME = 90, "benchmark_drift"


@dataclass
class Outcome:
    record: RunRecord
    drift: list[Drift]
    paths: dict[str, str]

    @property
    def exit_code(self) -> int:
        return 0 if self.record.ok else 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def drift_results(drift: list[Drift], tier: Tier) -> list[CheckResult]:
    """Drift verdicts as check results, so a drifting QPU fails the run like any check."""
    return [
        CheckResult(
            id=f"{DRIFT_CHECK_NUMBER:03d}_{DRIFT_CHECK_NAME}[{d.qpu}:{d.benchmark}]", number=DRIFT_CHECK_NUMBER,
            name=DRIFT_CHECK_NAME, label=f"{d.qpu}:{d.benchmark}", tier=tier.value, component="benchmark",
            status=Status.failed if d.drifted else Status.passed, message=d.message, duration_s=0.0,
        )
        for d in drift
    ]


def run(site_ref: str, tier: Tier = Tier.smoke, output: Path | None = None, only: tuple[str, ...] = (),
        console: Console | None = None, options: RunOptions | None = None) -> Outcome:
    """Run the suite against a site (name, directory or site.yaml). Raises SiteModelError on a bad model."""
    console = console or Console()
    site_file = resolve_site_path(site_ref)
    site = load_site(site_file)
    out = output or Path("reports") / site.site.name / "acceptance"
    instances = load_all().instances(site, tier, only)
    console.print(f"[bold]qpusite accept {site.site.name}[/] — tier {tier.value}: {len(instances)} check(s)")
    started = _now()
    with terminal.LiveProgress(console, len(instances)) as progress:
        results = run_all(instances, site, site_file.parent.resolve(), options, progress=progress)
    record = RunRecord(site=site.site.name, tier=tier.value, started=started, finished=_now(), results=results,
                       provenance=provenance_for(site, site_file), qpus=overview.qpu_kinds(site))
    runs_dir = out / "runs"
    earlier, unreadable = history.load(runs_dir)
    for problem in unreadable:
        console.print(f"[yellow]ignoring an unreadable run record: {problem}[/]")
    drift = history.compare(record, earlier, site)
    record.results.extend(drift_results(drift, tier))
    out.mkdir(parents=True, exist_ok=True)
    record_path = history.save(record, runs_dir)
    paths = {"HTML report": str(out / "report.html"), "JUnit XML": str(out / "junit.xml"),
             "run record": str(record_path)}
    (out / "junit.xml").write_text(junit.render(record), encoding="utf-8")
    (out / "report.html").write_text(html.render(record, drift, earlier, paths), encoding="utf-8")
    terminal.summary(console, record, drift, paths)
    return Outcome(record, drift, paths)
