"""Survey reports: a terminal summary, Markdown, self-contained HTML with a
headroom chart per room, JSON, and a safety file per QPU."""

from site_survey.reports.writer import FORMATS, write_reports

__all__ = ["FORMATS", "write_reports"]
