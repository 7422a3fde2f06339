"""JSON schema of the site model, for editors (yaml-language-server) and reviewers.

The schema carries the model-wide string rule too: every string refuses control
characters and line breaks (``pattern``) and is bounded (``maxLength``), and
mapping keys are strings under the same rule (``propertyNames``).
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from site_survey.model import Site
from site_survey.strings import MAX_STRING_CHARS, NO_CONTROL_PATTERN

_TEXT_RULE = (
    "Single-line printable text: no control characters (U+0000-U+001F, U+007F-U+009F, which include tab, "
    "CR and LF) and no U+2028/U+2029."
)


class _SiteSchema(GenerateJsonSchema):
    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        out = super().str_schema(schema)
        if "pattern" in out:
            out["allOf"] = [{"pattern": NO_CONTROL_PATTERN}]
        else:
            out["pattern"] = NO_CONTROL_PATTERN
        out.setdefault("maxLength", MAX_STRING_CHARS)
        return out

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        out = super().dict_schema(schema)
        names = out.setdefault("propertyNames", {})
        patterns = list(out.get("patternProperties", {}))
        if len(patterns) == 1:  # typed keys: a key that does not match is an error, not merely unchecked
            names["pattern"] = patterns[0]
        else:
            names.setdefault("pattern", NO_CONTROL_PATTERN)
        names.setdefault("maxLength", MAX_STRING_CHARS)
        return out


def json_schema() -> dict[str, Any]:
    schema = Site.model_json_schema(schema_generator=_SiteSchema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "qpusite site model"
    schema["description"] = (
        "One QPU-hosting HPC site. Every string in the document, including mapping keys and free-form values, is "
        + _TEXT_RULE
        + f" At most {MAX_STRING_CHARS} characters. The file itself is at most 16 MiB, nests at most 64 levels, "
        "and its aliases may at most double it (site_survey/loader.py)."
    )
    return schema
