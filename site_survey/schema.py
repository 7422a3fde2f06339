"""JSON schema of the site model, for editors (yaml-language-server) and reviewers."""

from __future__ import annotations

from typing import Any

from site_survey.model import Site


def json_schema() -> dict[str, Any]:
    schema = Site.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "qpusite site model"
    return schema
