"""Which QPUs the facility checks apply to: QPUs without a room are skipped, saying so."""

from __future__ import annotations

from collections.abc import Iterator

from site_survey.survey.context import SurveyContext
from site_survey.survey.findings import Finding, Severity


def check(ctx: SurveyContext) -> Iterator[Finding]:
    for qpu in ctx.site.qpus:
        if qpu.room is None:
            yield Finding(
                "placement.room",
                Severity.info,
                f"QPU {qpu.name} has no room ({qpu.access.mode} access): facility checks skipped",
                passed=True,
                qpu=qpu.name,
                hint="Set qpus[].room if the QPU is installed on this site.",
            )
