"""The facility survey: checks a site's rooms, cooling, power, environment,
network and safety files against the QPUs placed in them.

One module per rule family (floor, access, cooling, power, environment,
network, safety); :func:`run_survey` runs them all.
"""

from site_survey.survey.engine import RULES, run_survey
from site_survey.survey.findings import Finding, Severity, SurveyResult

__all__ = ["RULES", "Finding", "Severity", "SurveyResult", "run_survey"]
