"""Requirement profiles: what a QPU asks of the facility, as data with sources.

Profiles live in ``site_survey/profiles/``: one file per modality
(``modalities/<modality>.yaml``) and one per named vendor system
(``systems/<id>.yaml``). Every figure carries its source and a confidence note,
because public figures are scarce and partly second-hand.

The requirement the survey applies to a QPU is layered, most specific wins:
modality profile → system profile (``qpus[].system``) → the QPU's own
``requirements`` in the site model (source "site model override").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from site_survey.errors import Problem, SiteModelError
from site_survey.model import (
    HazardKind,
    Modality,
    Qpu,
    Redundancy,
    RequirementOverrides,
    Site,
    SourcedFlag,
    SourcedNumber,
)
from site_survey.strings import NAME

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
OVERRIDE_SOURCE = "site model override"
UNSOURCED = "site model override, unsourced (no document given)"


class Confidence(str, Enum):
    high = "high"  # vendor's own published figure for this exact system
    medium = "medium"  # published by a credible party, or a vendor figure for a related system
    low = "low"  # second-hand, cross-modality, or a kit assumption where nothing is public


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Figure(_Data):
    source: str = Field(min_length=3, description="Where the figure comes from (publication, date).")
    confidence: Confidence = Field(description="How far to trust the figure.")
    note: str = Field(default="", description="Caveats: what the figure covers and what it does not.")


class NumberFigure(Figure):
    value: float


class FlagFigure(Figure):
    value: bool


class RedundancyFigure(Figure):
    value: Redundancy


class HazardsFigure(Figure):
    value: list[HazardKind] = Field(min_length=1)


class ProfileRequirements(_Data):
    """The same keys as the site model's RequirementOverrides, each with its provenance."""

    mass_kg: NumberFigure | None = None
    footprint_m2: NumberFigure | None = None
    floor_load_kg_m2: NumberFigure | None = None
    cooling_kw: NumberFigure | None = None
    air_cooling_kw: NumberFigure | None = None
    water_supply_temp_min_c: NumberFigure | None = None
    water_supply_temp_max_c: NumberFigure | None = None
    cooling_redundancy_min: RedundancyFigure | None = None
    power_kw: NumberFigure | None = None
    power_phases: NumberFigure | None = None
    supply_voltage_v: NumberFigure | None = None
    ups_required: FlagFigure | None = None
    ups_autonomy_minutes: NumberFigure | None = None
    field_dc_ut_max: NumberFigure | None = None
    field_ac_ut_max: NumberFigure | None = None
    vibration_um_s_max: NumberFigure | None = None
    humidity_min_pct: NumberFigure | None = None
    humidity_max_pct: NumberFigure | None = None
    temperature_stability_c: NumberFigure | None = None
    emi_distance_min_m: NumberFigure | None = None
    latency_ms_max: NumberFigure | None = None
    bandwidth_mbps_min: NumberFigure | None = None
    door_width_m_min: NumberFigure | None = None
    door_height_m_min: NumberFigure | None = None
    ceiling_height_m_min: NumberFigure | None = None
    crate_length_m: NumberFigure | None = None
    point_load_kg: NumberFigure | None = None
    noise_dba: NumberFigure | None = None
    water_flow_l_min: NumberFigure | None = None
    water_pressure_bar_min: NumberFigure | None = None
    breaker_a_min: NumberFigure | None = None
    compressed_air_required: FlagFigure | None = None
    nitrogen_required: FlagFigure | None = None
    helium_recovery_required: FlagFigure | None = None
    exhaust_required: FlagFigure | None = None
    hazards: HazardsFigure | None = None


class Profile(_Data):
    id: Annotated[str, NAME] = Field(description="Profile name; equals the file name.")
    kind: Literal["modality", "system"]
    title: str = Field(min_length=1)
    modality: Modality
    vendor: str | None = None
    summary: str = ""
    requirements: ProfileRequirements

    @model_validator(mode="after")
    def _modality_id(self) -> Profile:
        if self.kind == "modality" and self.id != self.modality.value:
            raise ValueError(f"a modality profile's id must be its modality ({self.modality.value!r})")
        if self.kind == "system" and not self.vendor:
            raise ValueError("a system profile names its vendor")
        return self


class ProfileDataError(Exception):
    """A shipped (or user-supplied) profile file is malformed."""


@dataclass(frozen=True)
class ProfileLibrary:
    modalities: dict[Modality, Profile]
    systems: dict[str, Profile]

    def get(self, name: str) -> Profile | None:
        """A profile by name: a modality ('superconducting') or a system id."""
        for modality, profile in self.modalities.items():
            if modality.value == name:
                return profile
        return self.systems.get(name)


@dataclass(frozen=True)
class Requirement:
    """One effective requirement of one QPU, with where it came from."""

    key: str
    value: float | bool | Redundancy | tuple[HazardKind, ...]
    source: str
    confidence: Confidence
    note: str
    origin: str  # "modality profile 'x'", "system profile 'y'" or "site model override"

    @property
    def number(self) -> float:
        if isinstance(self.value, (tuple, Redundancy)):
            raise TypeError(f"requirement {self.key} is a list, not a number")
        return float(self.value)


def _load_file(path: Path, kind: str) -> Profile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileDataError(f"{path}: cannot read profile: {exc}") from None
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<document>'}: {err['msg']}" for err in exc.errors()
        )
        raise ProfileDataError(f"{path}: invalid profile: {details}") from None
    if profile.kind != kind:
        raise ProfileDataError(f"{path}: kind is {profile.kind!r} but the file is under {kind}s/")
    if profile.id != path.stem:
        raise ProfileDataError(f"{path}: id {profile.id!r} differs from the file name {path.stem!r}")
    return profile


def load_profiles(root: Path | None = None) -> ProfileLibrary:
    """Load every profile under ``root`` (default: the profiles shipped with the kit)."""
    if root is None:
        return _shipped_profiles()
    return _load_dir(root)


@lru_cache(maxsize=1)
def _shipped_profiles() -> ProfileLibrary:
    return _load_dir(PROFILES_DIR)


def _load_dir(root: Path) -> ProfileLibrary:
    modalities: dict[Modality, Profile] = {}
    for path in sorted((root / "modalities").glob("*.yaml")):
        profile = _load_file(path, "modality")
        modalities[profile.modality] = profile
    systems = {p.id: p for p in (_load_file(path, "system") for path in sorted((root / "systems").glob("*.yaml")))}
    return ProfileLibrary(modalities=modalities, systems=systems)


def _layer(out: dict[str, Requirement], profile: Profile) -> None:
    origin = f"{profile.kind} profile {profile.id!r}"
    for key in ProfileRequirements.model_fields:
        figure = getattr(profile.requirements, key)
        if figure is None:
            continue
        value = tuple(figure.value) if isinstance(figure, HazardsFigure) else figure.value
        out[key] = Requirement(key, value, figure.source, figure.confidence, figure.note, origin)


def effective_requirements(qpu: Qpu, library: ProfileLibrary | None = None) -> dict[str, Requirement]:
    """Modality profile, refined by the system profile, overridden by the QPU's own figures."""
    library = library or load_profiles()
    out: dict[str, Requirement] = {}
    modality = library.modalities.get(qpu.modality)
    if modality is not None:
        _layer(out, modality)
    if qpu.system is not None:
        system = library.systems.get(qpu.system)
        if system is None:
            raise SiteModelError(
                "<site>", [Problem("qpus.system", _unknown_system_message(library), qpu.system)]
            )
        _layer(out, system)
    for key in RequirementOverrides.model_fields:
        given = getattr(qpu.requirements, key)
        if given is None:
            continue
        if isinstance(given, (SourcedNumber, SourcedFlag)):
            out[key] = Requirement(
                key, given.value, given.cite(), Confidence(given.confidence),
                f"given for QPU {qpu.name} in site.yaml (qpus[].requirements.{key})", OVERRIDE_SOURCE,
            )
            continue
        shown = tuple(HazardKind(v) for v in given) if key == "hazards" else given
        out[key] = Requirement(
            key, shown, UNSOURCED, Confidence.high,
            f"given for QPU {qpu.name} in site.yaml without a source: write it as "
            f"{{value, source, document, revision, date}} so a reader can check it",
            OVERRIDE_SOURCE,
        )
    return out


def _unknown_system_message(library: ProfileLibrary) -> str:
    known = ", ".join(sorted(library.systems)) or "none"
    return f"no such system profile; known systems: {known} (or remove 'system' to use the modality profile)"


def system_problems(site: Site, library: ProfileLibrary | None = None) -> Iterable[Problem]:
    """Consistency rule: every ``qpus[].system`` names a shipped profile of the QPU's modality."""
    library = library or load_profiles()
    for i, qpu in enumerate(site.qpus):
        if qpu.system is None:
            continue
        profile = library.systems.get(qpu.system)
        if profile is None:
            yield Problem(f"qpus[{i}].system", _unknown_system_message(library), qpu.system)
        elif profile.modality != qpu.modality:
            yield Problem(
                f"qpus[{i}].system",
                f"system {qpu.system!r} is a {profile.modality.value} system but the QPU's modality is "
                f"{qpu.modality.value!r}; fix one of them",
                qpu.system,
            )


# Kept next to the data model so a new RequirementOverrides key cannot go unnoticed (see tests).
OVERRIDE_KEYS = tuple(RequirementOverrides.model_fields)
