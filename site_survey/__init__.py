"""qpusite's site model, requirement profiles and facility survey."""

from site_survey.errors import Problem, SiteModelError
from site_survey.loader import load_site, parse_site
from site_survey.model import Site

__all__ = ["Problem", "Site", "SiteModelError", "load_site", "parse_site"]
