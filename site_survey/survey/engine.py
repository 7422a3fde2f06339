"""Run every survey rule over a site and collect the findings."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from site_survey.model import Site
from site_survey.profiles import ProfileLibrary
from site_survey.provenance import provenance_for
from site_survey.survey import (
    access,
    cooling,
    environment,
    floor,
    network,
    placement,
    power,
    safety,
    siteprep,
)
from site_survey.survey.context import SurveyContext
from site_survey.survey.findings import Finding, SurveyResult
from site_survey.survey.headroom import headroom

Rule = Callable[[SurveyContext], Iterable[Finding]]

RULES: tuple[Rule, ...] = (
    placement.check,
    floor.check,
    access.check,
    cooling.check,
    power.check,
    environment.check,
    network.check,
    siteprep.check,
    safety.check,
)


def run_survey(
    site: Site, library: ProfileLibrary | None = None, today: date | None = None, model_path: Path | str | None = None
) -> SurveyResult:
    """``today``: the day measurement ages are counted to (default: the real today);
    ``model_path``: the file the site was loaded from, named in the reports' provenance block."""
    ctx = SurveyContext.build(site, library, today)
    findings = [finding for rule in RULES for finding in rule(ctx)]
    return SurveyResult(
        site=site.site.name, findings=findings, headroom=headroom(ctx), context=ctx,
        provenance=provenance_for(site, model_path),
    )
