"""What a report is bound to: when it was generated, by which kit version, from
which model file and which exact model content (sha256 of its canonical form).

The model hash is taken over the validated model, not the file's bytes, so
comments and key order do not change it while any figure does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from site_survey.model import SCHEMA_VERSION, Site


def canonical_json(data: Any) -> str:
    """One text per value: sorted keys, no whitespace, UTF-8 kept (the hash input)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_of(data: Any) -> str:
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def model_hash(site: Site) -> str:
    return sha256_of(site.model_dump(mode="json"))


def kit_version() -> str:
    try:
        return metadata.version("qpusite")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


@dataclass(frozen=True)
class ReportProvenance:
    site: str
    generated_at: str  # UTC, ISO 8601, seconds
    kit_version: str
    model_path: str
    model_sha256: str
    schema_version: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[tuple[str, str]]:
        return [
            ("site", self.site), ("generated", self.generated_at), ("qpusite version", self.kit_version),
            ("model", self.model_path), ("model sha256", self.model_sha256),
            ("schema version", str(self.schema_version)),
        ]


def shown_path(path: Path | str | None) -> str:
    """The model path as a reader would type it: relative to the working directory when under it."""
    if path is None:
        return "(in memory)"
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def provenance_for(site: Site, model_path: Path | str | None = None, now: datetime | None = None) -> ReportProvenance:
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return ReportProvenance(
        site=site.site.name,
        generated_at=moment.isoformat().replace("+00:00", "Z"),
        kit_version=kit_version(),
        model_path=shown_path(model_path),
        model_sha256=model_hash(site),
        schema_version=SCHEMA_VERSION,
    )
