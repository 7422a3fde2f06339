"""The site model: one typed, validated description of a QPU-hosting HPC site.

Every other artefact (survey, inventory, roles, stacks, acceptance) is derived
from an instance of :class:`Site`. Field names carry their units
(``capacity_kw``, ``floor_load_rating_kg_m2``) so a number never travels
without its meaning. Unknown keys are rejected everywhere (``extra="forbid"``)
so a typo cannot pass silently.

Cross-field rules (a QPU in a room that does not exist, two hosts with one
address, …) live in :mod:`site_survey.consistency`; this module only describes
the shape of a document.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from datetime import date
from enum import Enum
from functools import cache
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_serializer,
    field_validator,
    model_validator,
)

from site_survey import hostlist
from site_survey.strings import (
    ABSOLUTE_PATH,
    DNS_NAME,
    EMAIL,
    ENV_NAME,
    EXACT_VERSION,
    FILE_PATH,
    GECOS,
    HH_MM,
    HOST,
    IMAGE_REGISTRY,
    IMAGE_TAG,
    MAX_STRING_CHARS,
    NAME,
    PROXY_JUMP,
    QPU_NAME,
    REQUIREMENT,
    SHA256,
    SLURM_KEY,
    SLURM_VALUE,
    TIMEZONE,
    UNIX_NAME,
    URL,
    VAR_NAME,
    Rule,
    check_text_tree,
)

SCHEMA_VERSION = 1

Name = Annotated[str, NAME, Field(description="Lower-case name: letters, digits and '-', starting with a letter.")]
QpuName = Annotated[
    str,
    QPU_NAME,
    Field(
        description=(
            "QPU resource name as users pass it to `--qpu` and as QRMI knows it "
            "(letters, digits, '_'); also the Slurm license name."
        ),
    ),
]
VarName = Annotated[str, VAR_NAME, Field(description="Ansible variable name (lower case, digits, '_').")]
UnixName = Annotated[str, UNIX_NAME, Field(description="Unix user or group name.")]
EnvName = Annotated[str, ENV_NAME, Field(description="Upper-case environment variable name.")]
AbsolutePath = Annotated[str, ABSOLUTE_PATH]
Requirement = Annotated[str, REQUIREMENT]
SlurmKey = Annotated[str, SLURM_KEY]
SlurmValue = Annotated[str, SLURM_VALUE]
Percent = Annotated[float, Field(ge=0, le=100)]


class Strict(BaseModel):
    """Base for every model object: unknown keys are errors, values are checked on assignment.

    Every string of every field — values, list items, mapping keys, free-form
    values — refuses control characters and is bounded in length
    (:mod:`site_survey.strings`); a field added later is covered without
    thinking of it. Values that reach a command or a config line are typed
    on top of that.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    @field_validator("*", mode="after")
    @classmethod
    def _printable_text_only(cls, value: Any) -> Any:
        if type(value) is str and len(value) <= MAX_STRING_CHARS and value.isprintable():
            return value  # the common case, without a call
        if value is None or isinstance(value, (BaseModel, int, float)):
            return value
        return check_text_tree(value)


# --------------------------------------------------------------------------- site


class ContactRole(str, Enum):
    operator = "operator"
    facility = "facility"
    safety = "safety"
    security = "security"
    vendor = "vendor"
    management = "management"


class Contact(Strict):
    name: Name = Field(description="Short identifier used to refer to this contact elsewhere.")
    full_name: str = Field(min_length=1, description="The person's or team's name as printed on reports.")
    role: ContactRole = Field(description="What this contact answers for.")
    email: Annotated[str, EMAIL] = Field(description="E-mail address (alert routes use it).")
    phone: str | None = Field(default=None, description="Phone number for emergencies.")
    on_call: bool = Field(default=False, description="Receives critical alerts outside office hours.")


class SiteMeta(Strict):
    name: Name = Field(description="Site identifier; also the Slurm cluster name and the rehearsal prefix.")
    description: str = Field(default="", description="One line saying what this site is.")
    organisation: str = Field(default="", description="Owning organisation.")
    country: str = Field(default="", description="ISO 3166 country code or name.")
    timezone: Annotated[str, TIMEZONE] = Field(
        default="UTC",
        description=(
            "IANA time zone of the site (e.g. Europe/Paris); calibration windows are in it. Must be a zone the "
            "IANA database knows: qrmid refuses to start with an unknown one."
        ),
    )
    contacts: list[Contact] = Field(default_factory=list, description="People and teams responsible for the site.")


# ----------------------------------------------------------------------- facility


def _iso_date(value: str | None) -> str | None:
    """Dates are kept as the operator typed them, but must be ISO 8601 (YYYY-MM-DD) so ages can be computed."""
    if value is None or not value.isprintable():
        return value  # control characters are reported by Strict's own check, with its clearer message
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date; write it as YYYY-MM-DD, e.g. 2026-09-14") from None
    return value


IsoDate = Annotated[str, AfterValidator(_iso_date)]


class Source(Strict):
    """Where a figure typed into the model comes from, so a reader can check it."""

    source: str = Field(min_length=1, description="Who issued the figure (vendor, surveyor, facilities team).")
    document: str | None = Field(default=None, description="Document title or id (e.g. a site-preparation guide).")
    revision: str | None = Field(default=None, description="Revision of that document.")
    date: IsoDate | None = Field(default=None, description="Date of the document or measurement (YYYY-MM-DD).")
    confidence: Literal["high", "medium", "low"] = Field(
        default="high", description="How far to trust the figure (high: the vendor's own figure for this system)."
    )

    def cite(self) -> str:
        """One line naming the source: 'Bluefors, Site preparation guide rev C (2025-03-01)'."""
        text = self.source + (f", {self.document}" if self.document else "")
        text += f" rev {self.revision}" if self.revision else ""
        return text + (f" ({self.date})" if self.date else "")


class SourcedNumber(Source):
    """A requirement figure with its provenance: ``{value, source, document, revision, date, confidence}``."""

    value: float = Field(description="The figure, in the unit the key names.")


class SourcedFlag(Source):
    value: bool = Field(description="The yes/no requirement.")



class AccessPath(Strict):
    min_door_width_m: float = Field(gt=0, description="Narrowest door or corridor on the delivery path, metres.")
    min_door_height_m: float = Field(gt=0, description="Lowest door or ceiling on the delivery path, metres.")
    lift_capacity_kg: float | None = Field(
        default=None, ge=0, description="Goods lift capacity on the path, kg; null when no lift is needed."
    )
    lift_car_depth_m: float | None = Field(
        default=None, gt=0, description="Inside depth of the goods lift car, metres (the longest crate must fit)."
    )


GasSupply = Literal["compressed_air", "nitrogen", "helium"]
FireSuppression = Literal["none", "sprinkler", "water_mist", "inert_gas", "chemical_agent", "aerosol"]


class Room(Strict):
    name: Name = Field(description="Room identifier.")
    area_m2: float = Field(gt=0, description="Usable floor area, square metres.")
    floor_load_rating_kg_m2: float = Field(gt=0, description="Rated distributed floor load, kg per square metre.")
    ceiling_height_m: float | None = Field(default=None, gt=0, description="Clear ceiling height, metres.")
    access_path: AccessPath | None = Field(default=None, description="Delivery path dimensions into the room.")
    seismic_zone: int | None = Field(default=None, ge=0, le=5, description="Local seismic zone (0 = none).")
    volume_m3: float | None = Field(
        default=None, gt=0, description="Free air volume, m³ (default: area × ceiling height); used for the O2 figure."
    )
    ventilation_m3_h: float | None = Field(
        default=None, ge=0, description="Fresh-air supply to the room, m³/h (mechanical ventilation, normal mode)."
    )
    source: Source | None = Field(default=None, description="Where the room's figures come from (drawing, survey).")
    point_load_rating_kg: float | None = Field(
        default=None, gt=0, description="Load one foot or castor may put on the floor, kg (raised floors: per tile)."
    )
    noise_limit_dba: float | None = Field(
        default=None, gt=0, description="Highest noise level allowed in the room, dB(A) (occupancy, neighbours)."
    )
    gas_supplies: list[GasSupply] = Field(
        default_factory=list, description="Gases piped to the room (compressed air, nitrogen, helium)."
    )
    helium_recovery: bool | None = Field(default=None, description="A helium recovery line serves the room.")
    exhaust_to_outside: bool | None = Field(
        default=None, description="An exhaust duct to the outside is available (relief valves, vacuum pumps)."
    )
    fire_suppression: FireSuppression | None = Field(
        default=None, description="Fire suppression in the room; inert gas is itself an oxygen-depletion hazard."
    )


class CoolingType(str, Enum):
    chilled_water = "chilled_water"
    warm_water = "warm_water"
    air = "air"
    direct_expansion = "direct_expansion"


class Redundancy(str, Enum):
    n = "N"
    n_plus_1 = "N+1"
    two_n = "2N"


class CoolingLoop(Strict):
    name: Name = Field(description="Cooling loop identifier.")
    type: CoolingType = Field(description="Kind of loop.")
    supply_temp_min_c: float = Field(ge=-10, le=80, description="Lowest supply temperature the loop delivers, °C.")
    supply_temp_max_c: float = Field(ge=-10, le=80, description="Highest supply temperature the loop delivers, °C.")
    capacity_kw: float = Field(gt=0, description="Heat the loop can remove, kW.")
    redundancy: Redundancy = Field(default=Redundancy.n, description="Redundancy of the plant serving the loop.")
    serves_rooms: list[Name] = Field(min_length=1, description="Rooms this loop serves.")
    source: Source | None = Field(default=None, description="Where the loop's figures come from.")
    flow_l_min: float | None = Field(default=None, gt=0, description="Flow the loop can deliver to QPUs, L/min.")
    pressure_bar: float | None = Field(
        default=None, gt=0, description="Differential pressure available at the connection, bar."
    )
    delta_t_c: float | None = Field(default=None, gt=0, description="Design supply/return temperature rise, K.")
    water_quality: str | None = Field(
        default=None, description="Water treatment (e.g. 'closed loop, 50 µm filter, < 500 µS/cm, pH 7-9')."
    )

    @model_validator(mode="after")
    def _range_ordered(self) -> CoolingLoop:
        if self.supply_temp_min_c > self.supply_temp_max_c:
            raise ValueError(
                f"supply_temp_min_c ({self.supply_temp_min_c}) is above supply_temp_max_c "
                f"({self.supply_temp_max_c}); swap them"
            )
        return self


class PowerFeed(Strict):
    name: Name = Field(description="Power feed identifier.")
    capacity_kva: float = Field(gt=0, description="Feed capacity, kVA.")
    phases: Literal[1, 3] = Field(default=3, description="Number of phases.")
    voltage_v: float = Field(default=400, gt=0, description="Nominal voltage, volts.")
    ups_kva: float = Field(default=0, ge=0, description="UPS capacity behind this feed, kVA (0 = no UPS).")
    ups_autonomy_minutes: float = Field(default=0, ge=0, description="UPS autonomy at rated load, minutes.")
    generator: bool = Field(default=False, description="A standby generator backs this feed.")
    serves_rooms: list[Name] = Field(min_length=1, description="Rooms this feed serves.")
    source: Source | None = Field(default=None, description="Where the feed's figures come from.")
    breaker_a: float | None = Field(default=None, gt=0, description="Breaker rating of the outlet for QPUs, A.")
    earthing: Literal["TN-S", "TN-C-S", "TT", "IT"] | None = Field(
        default=None, description="Earthing system (IEC 60364); QPU control electronics prefer TN-S."
    )
    thd_pct: float | None = Field(default=None, ge=0, le=100, description="Measured voltage THD, %.")


class EmiSource(Strict):
    kind: Literal[
        "railway", "tram", "metro", "gsm_antenna", "transformer", "mri", "elevator", "radio_transmitter", "other"
    ] = Field(description="Kind of electromagnetic interference source.")
    distance_m: float = Field(ge=0, description="Distance from the room, metres.")
    note: str = Field(default="", description="Free-text detail.")


class Environment(Strict):
    room: Name = Field(description="Room these measurements were taken in.")
    measured_on: IsoDate | None = Field(
        default=None, description="Date of the measurement campaign (YYYY-MM-DD); old campaigns are flagged."
    )
    source: Source | None = Field(default=None, description="Who measured, and the report the figures come from.")
    field_dc_ut: float | None = Field(default=None, ge=0, description="Static (DC) magnetic field deviation, µT.")
    field_ac_ut: float | None = Field(default=None, ge=0, description="AC magnetic field, µT peak-to-peak.")
    vibration_um_s: float | None = Field(default=None, ge=0, description="Floor vibration velocity (RMS), µm/s.")
    humidity_min_pct: Percent | None = Field(default=None, description="Lowest relative humidity observed, %.")
    humidity_max_pct: Percent | None = Field(default=None, description="Highest relative humidity observed, %.")
    temperature_stability_c: float | None = Field(
        default=None, ge=0, description="Room temperature stability, ± °C over 24 h."
    )
    fluorescent_lighting_distance_m: float | None = Field(
        default=None, ge=0, description="Distance to the nearest fluorescent lighting, metres."
    )
    emi_sources: list[EmiSource] = Field(default_factory=list, description="Nearby EMI sources.")

    @model_validator(mode="after")
    def _humidity_ordered(self) -> Environment:
        if (
            self.humidity_min_pct is not None
            and self.humidity_max_pct is not None
            and self.humidity_min_pct > self.humidity_max_pct
        ):
            raise ValueError("humidity_min_pct is above humidity_max_pct; swap them")
        return self


class HazardKind(str, Enum):
    cryogen_odh = "cryogen_odh"
    high_voltage = "high_voltage"
    laser = "laser"
    magnetic_field = "magnetic_field"
    floor_load = "floor_load"
    seismic = "seismic"
    pressurised_gas = "pressurised_gas"
    uhv_vacuum = "uhv_vacuum"
    rf_radiation = "rf_radiation"


class RiskRating(Strict):
    """One cell of the 5 × 5 risk matrix: risk = likelihood × severity (1-4 low, 5-9 medium, 10-14 high, 15-25
    very high; see docs/survey.md)."""

    likelihood: int = Field(ge=1, le=5, description="1 rare, 2 unlikely, 3 possible, 4 likely, 5 almost certain.")
    severity: int = Field(ge=1, le=5, description="1 negligible, 2 minor, 3 moderate, 4 major, 5 fatal.")

    @property
    def score(self) -> int:
        return self.likelihood * self.severity


class Hazard(Strict):
    kind: HazardKind = Field(description="Hazard category.")
    room: Name = Field(description="Room where the hazard is present.")
    description: str = Field(default="", description="What the hazard is, in this room.")
    risk_before: RiskRating | None = Field(default=None, description="Risk without the controls.")
    risk_after: RiskRating | None = Field(default=None, description="Residual risk with the controls in place.")


class Control(Strict):
    hazard: HazardKind = Field(description="Hazard this control mitigates.")
    room: Name = Field(description="Room where the control is in place.")
    kind: Literal["engineering", "interlock", "monitoring", "procedure", "ppe", "signage", "training"] = Field(
        description="Kind of control."
    )
    description: str = Field(min_length=1, description="What the control is.")
    responsible: Name = Field(description="Contact (by name) responsible for this control.")


class LaserInstallation(Strict):
    room: Name = Field(description="Room with the laser.")
    name: str = Field(default="", description="Which laser (e.g. '1064 nm trapping laser').")
    laser_class: Literal["1", "1M", "2", "2M", "3R", "3B", "4"] = Field(description="IEC 60825-1 laser class.")
    interlocked: bool = Field(description="Door/enclosure interlocks cut the beam.")
    controlled_zone: bool = Field(default=False, description="A laser-controlled zone with access control exists.")
    wavelength_nm: float | None = Field(default=None, gt=0, description="Wavelength, nm.")
    power_w: float | None = Field(default=None, gt=0, description="Maximum output power (CW), W.")
    beam_diameter_mm: float | None = Field(default=None, gt=0, description="Beam diameter at the aperture, mm.")
    divergence_mrad: float | None = Field(default=None, gt=0, description="Full-angle beam divergence, mrad.")
    mpe_w_m2: float | None = Field(
        default=None, gt=0, description="Maximum permissible exposure for the eye, W/m² (IEC 60825-1, by the LSO)."
    )
    nohd_m: float | None = Field(default=None, ge=0, description="Nominal ocular hazard distance declared, m.")
    eyewear: str | None = Field(default=None, description="Eyewear marking (e.g. 'OD 7+ at 1064 nm').")
    safety_officer: Name | None = Field(default=None, description="Laser safety officer (a contact).")
    key_control: bool | None = Field(default=None, description="The laser needs a key held by an authorised person.")
    source: Source | None = Field(default=None, description="Where the beam figures come from (data sheet).")


class CryogenInventory(Strict):
    """One vessel or charge whose content could be released into the room."""

    room: Name = Field(description="Room holding it.")
    vessel: str = Field(min_length=1, description="What holds it (e.g. 'LN2 cold-trap dewar', 'compressor charge').")
    substance: Literal["helium", "nitrogen", "argon"] = Field(description="Gas or cryogen.")
    liquid_l: float | None = Field(default=None, gt=0, description="Liquid content, litres.")
    gas_m3: float | None = Field(default=None, gt=0, description="Gas content, m³ at 15 °C and 1 atm.")
    source: Source | None = Field(default=None, description="Where the quantity comes from.")

    @model_validator(mode="after")
    def _one_quantity(self) -> CryogenInventory:
        if (self.liquid_l is None) == (self.gas_m3 is None):
            raise ValueError("give exactly one of liquid_l (litres of liquid) or gas_m3 (m³ of gas at 15 °C, 1 atm)")
        return self


class PressureRelief(Strict):
    room: Name = Field(description="Room the relief device is in.")
    location: str = Field(min_length=1, description="Which line or vessel it protects.")
    set_pressure_bar: float = Field(gt=0, description="Set pressure, bar (gauge).")
    inspection_interval_months: int = Field(ge=1, le=120, description="Inspection interval, months.")
    last_inspected: IsoDate | None = Field(default=None, description="Date of the last inspection.")


class Inspection(Strict):
    room: Name = Field(description="Room the item is in.")
    item: str = Field(min_length=1, description="What is inspected (O2 sensors, interlocks, seismic anchors…).")
    interval_months: int = Field(ge=1, le=120, description="Interval, months.")
    responsible: Name = Field(description="Contact who does or orders it.")
    last_done: IsoDate | None = Field(default=None, description="Date it was last done.")


class SiteProcedure(Strict):
    """The site's own procedure text: it replaces the kit's generic starting point in the safety file."""

    hazard: HazardKind | None = Field(default=None, description="Hazard it answers; null: the room's general one.")
    steps: list[str] = Field(min_length=1, max_length=40, description="Steps, in order, one line each.")


class RoomSafety(Strict):
    """What the safety file of one room needs besides hazards and controls."""

    room: Name = Field(description="Room this applies to.")
    procedures: list[SiteProcedure] = Field(default_factory=list, description="The site's emergency procedures.")
    escape_routes: list[str] = Field(default_factory=list, description="Escape routes from the room.")
    training: list[str] = Field(default_factory=list, description="Training required before entry or work.")
    vendor_contact: Name | None = Field(default=None, description="Vendor field engineer to call (a contact).")


class EmergencyNumber(Strict):
    label: str = Field(min_length=1, description="Who answers (e.g. 'site security', 'fire brigade').")
    number: str = Field(min_length=1, max_length=40, description="Phone number.")


class DocumentSignOff(Strict):
    """Sign-off of one room's safety file, bound to the content it signed."""

    room: Name = Field(description="Room whose safety file was signed.")
    revision: int = Field(ge=1, description="Revision signed.")
    signed_by: Name = Field(description="Contact who signed.")
    signed_on: IsoDate = Field(description="Date of signature.")
    content_sha256: Annotated[str, SHA256] = Field(
        description="The document's content hash as printed in the file that was signed."
    )
    sections: dict[str, Annotated[str, SHA256]] = Field(
        default_factory=dict, max_length=32,
        description="Per-section hashes printed in the file, so a change can be located.",
    )


class OdhMonitoring(Strict):
    room: Name = Field(description="Room monitored for oxygen deficiency.")
    sensors: int = Field(ge=0, description="Number of O2 sensors.")
    alarm_o2_pct: float = Field(default=19.5, gt=0, lt=21, description="O2 level that raises the alarm, % vol.")
    linked_ventilation: bool = Field(default=False, description="Alarm starts forced ventilation.")


class EmergencyStop(Strict):
    room: Name = Field(description="Room the stop is in.")
    location: str = Field(min_length=1, description="Where the stop is (e.g. 'beside door A').")
    cuts: str = Field(default="", description="What pressing it cuts (e.g. 'compressor, RF racks').")


class SignOffState(str, Enum):
    draft = "draft"
    reviewed = "reviewed"
    signed = "signed"


class SignOff(Strict):
    state: SignOffState = Field(default=SignOffState.draft, description="State of the safety file.")
    signed_by: Name | None = Field(default=None, description="Contact who signed.")
    signed_on: str | None = Field(default=None, description="Date of signature (ISO 8601).")

    @model_validator(mode="after")
    def _signed_has_signer(self) -> SignOff:
        if self.state == SignOffState.signed and not (self.signed_by and self.signed_on):
            raise ValueError("state 'signed' needs signed_by and signed_on")
        return self


class Safety(Strict):
    hazards: list[Hazard] = Field(default_factory=list, description="Hazards present on site.")
    controls: list[Control] = Field(default_factory=list, description="Controls in place per hazard and room.")
    lasers: list[LaserInstallation] = Field(default_factory=list, description="Laser installations.")
    odh_monitoring: list[OdhMonitoring] = Field(default_factory=list, description="Oxygen-deficiency monitoring.")
    emergency_stops: list[EmergencyStop] = Field(default_factory=list, description="Emergency stops.")
    sign_off: SignOff = Field(
        default_factory=SignOff,
        description="Site-wide sign-off (kept for compatibility; not bound to content — prefer documents).",
    )
    cryogens: list[CryogenInventory] = Field(
        default_factory=list, description="Cryogen and inert-gas inventory per room (decides the ODH assessment)."
    )
    pressure_reliefs: list[PressureRelief] = Field(default_factory=list, description="Pressure-relief devices.")
    inspections: list[Inspection] = Field(default_factory=list, description="Inspection schedule.")
    rooms: list[RoomSafety] = Field(default_factory=list, description="Per-room procedures, escape routes, training.")
    emergency_numbers: list[EmergencyNumber] = Field(default_factory=list, description="Emergency numbers.")
    odh_threshold_o2_pct: float = Field(
        default=19.5, gt=0, lt=21,
        description="Worst-case O2 below this makes the room an oxygen-deficiency-hazard zone, % vol (BCGA CP36).",
    )
    documents: list[DocumentSignOff] = Field(default_factory=list, description="Per-room safety file sign-offs.")


class Vlan(Strict):
    name: Name = Field(description="VLAN name.")
    vlan_id: int = Field(ge=1, le=4094, description="802.1Q VLAN id.")
    cidr: str = Field(description="IPv4 network of the VLAN (e.g. 10.1.0.0/24).")
    purpose: str = Field(default="", description="What the VLAN carries.")
    routed_to: list[Name] = Field(default_factory=list, description="Other VLANs this one is routed to.")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"not an IPv4 network with host bits zero (e.g. 10.1.0.0/24): {exc}") from None
        return value


class NetworkLink(Strict):
    from_role: Literal["controller", "login", "compute", "qpu_access", "emulator", "monitoring"] = Field(
        description="Host role at one end (measured from every host in it)."
    )
    to_qpu: QpuName = Field(description="QPU whose access point is at the other end.")
    latency_ms: float = Field(ge=0, description="Measured round-trip latency, milliseconds.")
    bandwidth_mbps: float = Field(gt=0, description="Measured bandwidth, Mbit/s.")
    measured_on: str | None = Field(default=None, description="Date of the measurement (ISO 8601).")


class HostTls(Strict):
    """A service host's certificate and key, as references to vaulted variables (never the PEM text)."""

    certificate: SecretRef = Field(description="Vaulted variable holding the host's PEM certificate (leaf first).")
    key: SecretRef = Field(description="Vaulted variable holding the host's PEM private key.")


class SiteTls(Strict):
    """TLS on the QPU access path: qrmid and the emulators serve HTTPS with certificates from the site's CA."""

    enabled: bool = Field(
        default=False,
        description=(
            "Serve qrmid and the emulators over HTTPS and install the site CA into every host's trust store; "
            "false keeps plain HTTP."
        ),
    )
    ca_certificate_file: str | None = Field(
        default=None,
        description=(
            "The site CA's certificate (PEM, public), relative to the site directory or absolute. Required when "
            "enabled; a rehearsal (`qpusite up`) makes a CA of its own and uses that instead."
        ),
    )
    hosts: dict[Name, HostTls] = Field(
        default_factory=dict,
        description=(
            "Certificate and key per service host (roles qpu_access, emulator), issued by the site CA for the "
            "host's name, FQDN and address. A host not listed uses the vaulted variables "
            "vault_tls_<host>_certificate and vault_tls_<host>_key ('-' in the host name becomes '_')."
        ),
    )

    @model_validator(mode="after")
    def _ca_when_enabled(self) -> SiteTls:
        if self.enabled and not self.ca_certificate_file:
            raise ValueError("tls.enabled needs tls.ca_certificate_file (the site CA's PEM certificate)")
        return self


class Network(Strict):
    admin_cidrs: list[str] = Field(
        default_factory=list, description="Networks administrators connect from (SSH, operator APIs)."
    )
    vlans: list[Vlan] = Field(default_factory=list, description="Site VLANs; host addresses must fall in one.")
    links: list[NetworkLink] = Field(default_factory=list, description="Measured links from host roles to QPUs.")
    domain: Annotated[str, DNS_NAME] = Field(default="site.internal", description="DNS domain appended to host names.")
    tls: SiteTls = Field(default_factory=SiteTls, description="TLS on the QPU access path and the site CA.")

    @field_validator("admin_cidrs")
    @classmethod
    def _admin_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not a network with host bits zero: {exc}") from None
        return value


class Facility(Strict):
    rooms: list[Room] = Field(default_factory=list, description="Rooms on the site.")
    cooling_loops: list[CoolingLoop] = Field(default_factory=list, description="Cooling loops.")
    power_feeds: list[PowerFeed] = Field(default_factory=list, description="Power feeds.")
    environment: list[Environment] = Field(default_factory=list, description="Environment measurements per room.")
    safety: Safety = Field(default_factory=Safety, description="Safety file inputs.")
    network: Network = Field(default_factory=Network, description="Site network.")
    measurement_max_age_days: int = Field(
        default=365, ge=1, le=36500,
        description="Environment measurements older than this many days are flagged as stale by the survey.",
    )


# --------------------------------------------------------------------------- QPUs


class Modality(str, Enum):
    superconducting = "superconducting"
    neutral_atom = "neutral-atom"
    photonic = "photonic"
    trapped_ion = "trapped-ion"
    annealer = "annealer"


# The type strings the kit generates: site_survey/catalogue/qrmi_types.py holds what each needs (a test keeps
# the two equal).
class QrmiType(str, Enum):
    ibm_quantum_compute_service = "ibm-quantum-compute-service"
    ibm_quantum_system = "ibm-quantum-system"
    pasqal_cloud = "pasqal-cloud"
    pasqal_local = "pasqal-local"
    iqm_server = "iqm-server"
    alice_bob_felis = "alice-bob-felis"
    oqtopus = "oqtopus"  # a vendor-neutral job gateway (keys QRMI_OQTOPUS_*)


PASQAL_CLOUD_DEVICES = ("FRESNEL", "FRESNEL_CAN1", "EMU_MPS", "EMU_FREE", "EMU_FRESNEL")

# Setting keys that hold secrets: their values must be references, never literals.
SECRET_KEY_MARKERS = ("APIKEY", "API_KEY", "TOKEN", "SECRET", "PASSWORD", "ACCESS_KEY", "PRIVATE_KEY")


class SecretRef(Strict):
    """Where a secret lives. The model never holds the secret itself."""

    vault: VarName = Field(
        description="Name of the (ansible-vault encrypted) variable that holds the value, e.g. vault_ibm_apikey."
    )


class Access(Strict):
    mode: Literal["onprem", "vendor_service", "emulator", "external"] = Field(
        description=(
            "onprem: the QPU sits on site behind an access host; vendor_service: a vendor's API endpoint; "
            "emulator: this site's own emulator (digital twin) serves it; external: reached another way than "
            "QRMI (the vendor's own tools), so no qrmi block, no qrmid brokering, only its Slurm license."
        )
    )
    access_host: Name | None = Field(
        default=None, description="Host (role qpu_access) that reaches the QPU; required for onprem."
    )
    endpoint_url: Annotated[str, URL] | None = Field(
        default=None,
        description="Service endpoint for vendor_service or onprem; derived from the emulator host for emulator.",
    )


class Qrmi(Strict):
    type: QrmiType = Field(description="QRMI resource type.")
    settings: dict[EnvName, str] = Field(
        default_factory=dict,
        description=(
            "Non-secret QRMI settings without the '<name>_' prefix (e.g. QRMI_IBM_QCS_SESSION_MODE). "
            "Endpoints for emulated QPUs are filled in by the kit."
        ),
    )
    secrets: dict[EnvName, SecretRef] = Field(
        default_factory=dict,
        description="Secret QRMI settings by key, each a reference to a vaulted variable (never the value).",
    )

    @field_validator("settings")
    @classmethod
    def _no_secret_in_settings(cls, value: dict[str, str]) -> dict[str, str]:
        leaked = [k for k in value if any(marker in k.upper() for marker in SECRET_KEY_MARKERS)]
        if leaked:
            raise ValueError(
                f"{', '.join(sorted(leaked))} look(s) like secret(s) pasted as plain settings; move each to "
                "qrmi.secrets as {vault: <variable name>} and put the value in an ansible-vault file"
            )
        return value

    @field_validator("secrets", mode="before")
    @classmethod
    def _secret_is_reference(cls, value: Any) -> Any:
        if isinstance(value, dict):
            literal = [k for k, v in value.items() if isinstance(v, (str, int, float))]
            if literal:
                raise ValueError(
                    f"{', '.join(sorted(literal))}: a secret value was pasted where a reference belongs; "
                    "write {vault: <variable name>} and keep the value in an ansible-vault file"
                )
        return value


class CalibrationWindow(Strict):
    name: Name = Field(description="Window identifier.")
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        min_length=1, description="Days the window recurs on."
    )
    start: Annotated[str, HH_MM] = Field(description="Local start time, HH:MM (site time zone).")
    duration_minutes: int = Field(gt=0, le=24 * 60, description="Length of the window, minutes.")
    kind: Literal["calibration", "maintenance"] = Field(default="calibration", description="Why the QPU is busy.")


class Noise(Strict):
    single_qubit_error: float = Field(default=0.0, ge=0, le=1, description="Depolarising error per 1-qubit gate.")
    two_qubit_error: float = Field(default=0.0, ge=0, le=1, description="Depolarising error per 2-qubit gate.")
    readout_error: float = Field(default=0.0, ge=0, le=1, description="Probability a measured bit flips.")
    t1_us: float | None = Field(default=None, gt=0, description="Energy relaxation time T1, µs (null = none).")
    t2_us: float | None = Field(default=None, gt=0, description="Dephasing time T2, µs (null = none).")


class PulserDevice(Strict):
    name: str = Field(default="TwinDevice", description="Device name reported by the twin.")
    dimensions: Literal[2, 3] = Field(default=2, description="Register dimensions.")
    max_atom_num: int = Field(gt=0, description="Maximum number of atoms.")
    min_atom_distance_um: float = Field(gt=0, description="Minimum distance between atoms, µm.")
    max_radial_distance_um: float = Field(gt=0, description="Maximum distance of an atom from the centre, µm.")
    max_rabi_frequency_rad_us: float = Field(default=12.57, gt=0, description="Maximum Rabi frequency, rad/µs.")
    max_abs_detuning_rad_us: float = Field(default=125.66, gt=0, description="Maximum |detuning|, rad/µs.")
    max_sequence_duration_ns: int = Field(default=6000, gt=0, description="Longest sequence, ns.")
    max_runs: int = Field(default=1000, gt=0, description="Most shots per job.")
    interaction_coeff_rad_um6_us: float = Field(
        default=5420158.53, gt=0, description="C6 interaction coefficient, rad·µm⁶/µs."
    )
    state_prep_error: float = Field(default=0.0, ge=0, le=1, description="Probability an atom is missing.")
    readout_false_positive: float = Field(default=0.0, ge=0, le=1, description="P(read 1 | atom in 0).")
    readout_false_negative: float = Field(default=0.0, ge=0, le=1, description="P(read 0 | atom in 1).")


class EmulatorTwin(Strict):
    host: Name = Field(description="Emulator host (role emulator) that serves this twin.")
    backend_name: str | None = Field(
        default=None, description="Name the twin reports as its backend/device; defaults to the QPU name."
    )
    coupling_map: list[tuple[int, int]] | None = Field(
        default=None, description="Directed qubit pairs where 2-qubit gates are allowed (gate-based devices)."
    )
    basis_gates: list[str] | None = Field(default=None, description="Native gate names (gate-based devices).")
    noise: Noise = Field(default_factory=Noise, description="Noise parameters of the twin.")
    pulser_device: PulserDevice | None = Field(
        default=None, description="Pulser device description (neutral-atom devices)."
    )
    max_shots: int = Field(default=100_000, gt=0, description="Most shots per job the twin accepts.")


_Positive = Annotated[float, Field(gt=0)]
_NonNegative = Annotated[float, Field(ge=0)]
_Celsius = Annotated[float, Field(ge=-10, le=80)]
_Volts = Annotated[float, Field(gt=0, le=1000)]
_Phases = Annotated[int, Field(ge=1, le=3)]
Num = _NonNegative | SourcedNumber | None
Pos = _Positive | SourcedNumber | None


class RequirementOverrides(Strict):
    """Per-QPU figures that replace the modality/system profile (from the vendor's site-prep guide).

    Each figure is either a plain number (shown in reports as unsourced) or
    ``{value, source, document, revision, date, confidence}`` naming where it comes from.
    """

    mass_kg: Pos = Field(default=None, description="Heaviest single unit, kg.")
    footprint_m2: Pos = Field(default=None, description="Floor area the system needs, m².")
    floor_load_kg_m2: Pos = Field(default=None, description="Distributed floor load, kg/m².")
    cooling_kw: Num = Field(default=None, description="Heat to remove via water, kW.")
    air_cooling_kw: Num = Field(
        default=None, description="Heat released to the room air, kW (default: power_kw minus cooling_kw)."
    )
    water_supply_temp_min_c: _Celsius | SourcedNumber | None = Field(
        default=None, description="Lowest acceptable supply, °C."
    )
    water_supply_temp_max_c: _Celsius | SourcedNumber | None = Field(
        default=None, description="Highest acceptable supply, °C."
    )
    cooling_redundancy_min: Redundancy | None = Field(
        default=None, description="Least redundancy of the water loop's plant (N, N+1, 2N)."
    )
    power_kw: Num = Field(default=None, description="Electrical power, kW.")
    power_phases: _Phases | SourcedNumber | None = Field(default=None, description="Supply phases needed (1 or 3).")
    supply_voltage_v: _Volts | SourcedNumber | None = Field(
        default=None, description="Nominal supply voltage, V (line-to-line for 3 phases); a feed within ±10 % fits."
    )
    ups_required: bool | SourcedFlag | None = Field(default=None, description="Plant must be on UPS.")
    ups_autonomy_minutes: Num = Field(default=None, description="Needed UPS autonomy, minutes.")
    field_dc_ut_max: Num = Field(default=None, description="Tolerated DC field, µT.")
    field_ac_ut_max: Num = Field(default=None, description="Tolerated AC field, µT.")
    vibration_um_s_max: Num = Field(default=None, description="Tolerated floor vibration, µm/s.")
    humidity_min_pct: Percent | SourcedNumber | None = Field(default=None, description="Lowest acceptable humidity, %.")
    humidity_max_pct: Percent | SourcedNumber | None = Field(
        default=None, description="Highest acceptable humidity, %."
    )
    temperature_stability_c: Num = Field(default=None, description="Needed stability, ± °C.")
    emi_distance_min_m: Num = Field(default=None, description="Minimum distance to EMI sources, m.")
    latency_ms_max: Num = Field(default=None, description="Max latency compute→access, ms.")
    bandwidth_mbps_min: Num = Field(default=None, description="Min bandwidth compute→access, Mbit/s.")
    door_width_m_min: Pos = Field(default=None, description="Narrowest door the delivery needs, m.")
    door_height_m_min: Pos = Field(default=None, description="Lowest door the delivery needs, m.")
    ceiling_height_m_min: Pos = Field(default=None, description="Clear ceiling height the installed system needs, m.")
    crate_length_m: Pos = Field(default=None, description="Longest shipping crate, m (must fit the goods lift).")
    point_load_kg: Pos = Field(default=None, description="Heaviest load on one foot or castor, kg.")
    noise_dba: Num = Field(default=None, description="Noise the system emits at 1 m, dB(A).")
    water_flow_l_min: Pos = Field(default=None, description="Cooling-water flow the system needs, L/min.")
    water_pressure_bar_min: Pos = Field(default=None, description="Least differential pressure needed, bar.")
    breaker_a_min: Pos = Field(default=None, description="Breaker rating the system needs, A.")
    compressed_air_required: bool | SourcedFlag | None = Field(
        default=None, description="Needs compressed air (pneumatic valves)."
    )
    nitrogen_required: bool | SourcedFlag | None = Field(default=None, description="Needs a nitrogen supply.")
    helium_recovery_required: bool | SourcedFlag | None = Field(
        default=None, description="Needs a helium recovery line."
    )
    exhaust_required: bool | SourcedFlag | None = Field(default=None, description="Needs an exhaust to the outside.")
    hazards: list[HazardKind] | None = Field(default=None, description="Hazards this system brings.")

    @model_validator(mode="after")
    def _sourced_values_in_range(self) -> RequirementOverrides:
        """A sourced figure's value obeys the same bounds as a plain one (e.g. mass_kg > 0)."""
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, (SourcedNumber, SourcedFlag)):
                plain = get_args(info.annotation)[0]
                try:
                    _adapter(plain).validate_python(value.value)
                except ValidationError as exc:
                    raise ValueError(f"{name}.value: {exc.errors()[0]['msg']}") from None
        return self


@cache
def _adapter(plain: Any) -> TypeAdapter[Any]:
    return TypeAdapter(plain)


class BenchmarkThresholds(Strict):
    ghz_fidelity_min: float = Field(default=0.8, ge=0, le=1, description="Lowest acceptable GHZ fidelity.")
    quantum_volume_min: int = Field(default=4, ge=1, description="Lowest acceptable quantum volume (2^n).")
    mirror_survival_min: float = Field(default=0.6, ge=0, le=1, description="Lowest mirror-circuit survival.")
    drift_tolerance: float = Field(
        default=0.1, ge=0, le=1, description="Allowed relative drop below the QPU's own history."
    )
    quench_error_max: float = Field(
        default=0.1, ge=0, le=2,
        description=(
            "Analog devices: largest allowed |measured - exact| neighbour connected <ZZ> in the Ising-ring quench."
        ),
    )
    qscore_min: int | None = Field(
        default=None, ge=1, description="Lowest acceptable Q-score (l2 tier); null = reported, not judged."
    )


class QpuSharing(Strict):
    """Who holds the QPU: a job for its whole run (job), or qrmid per task (task-level sharing)."""

    mode: Literal["job", "task"] = Field(
        default="job",
        description=(
            "job: a job holds one of the QPU's slots from start to end (classical phases included). task: up to "
            "max_jobs jobs hold the QPU at once (the Slurm license count) and qrmid queues their tasks for the "
            "QPU's slots, dispatching by profile priority, fair-share and age, never into a calibration window."
        ),
    )
    max_jobs: int | None = Field(
        default=None, ge=1, le=1024,
        description="task mode: how many jobs Slurm admits to the QPU at once (its license count); at least slots.",
    )
    lookahead: int = Field(
        default=1, ge=0, le=8,
        description=(
            "task mode: how many tasks beyond the free slots qrmid forwards to wait in the QPU service's own "
            "queue, so the service starts the next task the moment one ends (no qrmid poll in between). The "
            "policy still picks the order; a forwarded task can no longer be overtaken, and none is forwarded "
            "whose run would reach into a calibration window. 0: forward only into free slots."
        ),
    )


class Qpu(Strict):
    name: QpuName = Field(description="Resource name users pass to --qpu; QRMI resource id; Slurm license name.")
    vendor: str = Field(min_length=1, description="Vendor name.")
    system: str | None = Field(
        default=None, description="Named vendor system profile (see `qpusite profiles`), refines the modality profile."
    )
    modality: Modality = Field(description="Physical modality.")
    qubits: int = Field(gt=0, description="Number of qubits (or atoms / modes).")
    room: Name | None = Field(default=None, description="Room hosting the QPU; null for remote or emulated QPUs.")
    access: Access = Field(description="How jobs reach the QPU.")
    qrmi: Qrmi | None = Field(
        default=None, description="QRMI resource type and settings; required unless access.mode is 'external'."
    )
    slots: int = Field(
        default=1, ge=1, le=1024,
        description="How many jobs may hold the QPU at once; with sharing.mode task, how many tasks run at once.",
    )
    sharing: QpuSharing = Field(default_factory=QpuSharing, description="Job- or task-level sharing of the QPU.")
    calibration_windows: list[CalibrationWindow] = Field(default_factory=list, description="Recurring windows.")
    emulator: EmulatorTwin | None = Field(default=None, description="Digital twin served by the site's emulator.")
    requirements: RequirementOverrides = Field(
        default_factory=RequirementOverrides, description="Overrides of the profile's facility requirements."
    )
    benchmarks: BenchmarkThresholds = Field(
        default_factory=BenchmarkThresholds, description="Acceptance benchmark thresholds."
    )

    @model_validator(mode="after")
    def _shape(self) -> Qpu:
        problems = []
        if self.access.mode == "external" and self.qrmi is not None:
            problems.append(
                "access.mode 'external' means the QPU is not reached through QRMI; remove the 'qrmi:' block, "
                "or pick the access mode QRMI uses (onprem, vendor_service, emulator)"
            )
        if self.access.mode != "external" and self.qrmi is None:
            problems.append(
                f"access.mode {self.access.mode!r} reaches the QPU through QRMI: add a 'qrmi:' block with its type, "
                "or set access.mode to 'external' when the QPU is reached another way"
            )
        if self.access.mode == "external" and self.emulator is not None:
            problems.append("an 'external' QPU has no QRMI path for a twin to stand in for; remove 'emulator:'")
        if self.qrmi is not None and self.qrmi.type == QrmiType.pasqal_cloud and self.name not in PASQAL_CLOUD_DEVICES:
            problems.append(
                f"name {self.name!r}: a pasqal-cloud resource must be named after its device, one of "
                f"{', '.join(PASQAL_CLOUD_DEVICES)}"
            )
        if self.sharing.mode == "task" and self.sharing.max_jobs is None:
            problems.append("sharing.mode 'task' needs sharing.max_jobs (how many jobs share the QPU, at least slots)")
        if self.sharing.mode == "task" and self.sharing.max_jobs is not None and self.sharing.max_jobs < self.slots:
            problems.append(
                f"sharing.max_jobs ({self.sharing.max_jobs}) is below slots ({self.slots}): the QPU would admit "
                "fewer jobs than it runs tasks; raise max_jobs or lower slots"
            )
        if self.sharing.mode == "job" and self.sharing.max_jobs is not None:
            problems.append("sharing.max_jobs applies to sharing.mode 'task' only; remove it or set mode: task")
        # The default as such passes: a model written back from a loaded one (twin copies, tests) carries it.
        default_lookahead = QpuSharing.model_fields["lookahead"].default
        if self.sharing.mode == "job" and self.sharing.lookahead != default_lookahead:
            problems.append("sharing.lookahead applies to sharing.mode 'task' only; remove it or set mode: task")
        if self.access.mode == "emulator" and self.emulator is None:
            problems.append("access.mode is 'emulator' but no emulator twin is described; add an 'emulator:' block")
        if self.access.mode == "onprem" and not self.access.access_host:
            problems.append("access.mode 'onprem' needs access.access_host (a host with role qpu_access)")
        if self.access.mode == "vendor_service" and not self.access.endpoint_url:
            problems.append("access.mode 'vendor_service' needs access.endpoint_url")
        if self.access.mode == "onprem" and self.room is None:
            problems.append("an on-prem QPU needs 'room' (the survey checks the room against the QPU)")
        twin = self.emulator
        if twin is not None and twin.coupling_map:
            bad = [pair for pair in twin.coupling_map if max(pair) >= self.qubits or min(pair) < 0]
            if bad:
                problems.append(f"emulator.coupling_map names qubits outside 0..{self.qubits - 1}: {bad[:3]}")
        if twin is not None and self.modality == Modality.neutral_atom and twin.pulser_device is None:
            problems.append("a neutral-atom twin needs emulator.pulser_device")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# -------------------------------------------------------------------------- hosts


class HostRole(str, Enum):
    controller = "controller"
    login = "login"
    compute = "compute"
    qpu_access = "qpu_access"
    emulator = "emulator"
    monitoring = "monitoring"


class Connection(Strict):
    """How Ansible reaches a host. Only the fields a site writes reach the inventory: a host's own value wins
    over the site's `rollout.connection`, which wins over Ansible's own default (your local user, port 22)."""

    user: UnixName = Field(default="root", description="SSH user Ansible connects as (when unset: not emitted).")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port (when unset: not emitted).")
    private_key_file: Annotated[str, FILE_PATH] | None = Field(
        default=None, description="SSH private key path (relative to the site dir); passed to ssh."
    )
    become: bool = Field(default=False, description="Escalate privileges with sudo (when unset: not emitted).")
    proxy_jump: Annotated[str, PROXY_JUMP] | None = Field(
        default=None, description="SSH jump host(s) in front of the host, as ssh's ProxyJump: [user@]host[:port]."
    )

    def set_fields(self) -> dict[str, Any]:
        """The fields the site model wrote (not the defaults), in declaration order."""
        return {name: getattr(self, name) for name in type(self).model_fields if name in self.model_fields_set}


class HostAttributes(Strict):
    """What a host and a host set share: roles, Slurm resources, connection, placement."""

    roles: list[HostRole] = Field(min_length=1, description="What the host does; each role is an Ansible group.")
    cpus: int = Field(default=1, ge=1, description="CPU cores Slurm may schedule.")
    memory_mb: int = Field(default=1024, ge=64, description="Memory Slurm may schedule, MiB.")
    connection: Connection = Field(default_factory=Connection, description="How Ansible reaches the host.")
    location: Literal["onprem", "cloud"] = Field(default="onprem", description="Where the host runs (hybrid sites).")
    room: Name | None = Field(
        default=None, description="Room of facility.rooms the host stands in (gives the inventory group room_<name>)."
    )

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, value: list[HostRole]) -> list[HostRole]:
        if len(set(value)) != len(value):
            raise ValueError("a role is listed twice")
        return value


def _ipv4(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address (e.g. 10.1.0.10)") from None
    return value


class Host(HostAttributes):
    name: Name = Field(description="Host name (short).")
    address: str = Field(description="IPv4 address Ansible and the services use.")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return _ipv4(value)


class HostSet(HostAttributes):
    """Many alike hosts written once: a hostlist of names, consecutive addresses, shared attributes.

    Loading expands a set into ordinary hosts (appended to ``hosts``), so every
    consumer sees hosts; the inventory also gets the group ``set_<name>``.
    """

    name: Name = Field(description="Set name; partitions and other host lists refer to it as set:<name>.")
    hosts: str = Field(
        min_length=1,
        description=(
            "Slurm hostlist of the set's host names, e.g. cn[001-192] or cn[001-096],gpu[01-08]; zero padding is "
            f"kept; at most {hostlist.MAX_NAMES:,} names."
        ),
    )
    first_address: str = Field(
        description=(
            "IPv4 address of the first host; the others follow one by one in hostlist order (cn001 = first, "
            "cn002 = first + 1, …). All must fall in one VLAN and collide with no other host."
        )
    )

    @field_validator("first_address")
    @classmethod
    def _first_address(cls, value: str) -> str:
        return _ipv4(value)

    @field_validator("hosts")
    @classmethod
    def _hostlist(cls, value: str) -> str:
        try:
            size = hostlist.count(value)
        except hostlist.HostlistError as exc:
            raise ValueError(str(exc)) from None
        if size > hostlist.MAX_NAMES:
            raise ValueError(
                f"{value!r} stands for {size:,} hosts; a set holds at most {hostlist.MAX_NAMES:,} "
                "(check the range bounds, or split the set)"
            )
        if size == 0:
            raise ValueError("the hostlist names no host; write e.g. cn[001-192]")
        return value

    def names(self) -> list[str]:
        return hostlist.expand(self.hosts)

    def addresses(self, count: int) -> list[str]:
        first = int(ipaddress.IPv4Address(self.first_address))
        if first + count - 1 > 0xFFFFFFFF:
            raise ValueError(f"{count} addresses from {self.first_address} run past 255.255.255.255")
        return [str(ipaddress.IPv4Address(first + i)) for i in range(count)]


# ----------------------------------------------------------------------- software


HOST_REF_HELP = (
    "a host name, a hostlist (cn[001-192]), set:<host set name> or role:<host role> (e.g. role:compute)"
)


def check_host_refs(value: Any) -> Any:
    """A host list may be one string or a list; each entry must be a well-formed reference."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return value  # the list type reports it
    for ref in value:
        if not isinstance(ref, str):
            continue
        kind, sep, rest = ref.partition(":")
        if sep:
            if kind not in ("set", "role") or not rest:
                raise ValueError(f"{ref!r}: each entry is {HOST_REF_HELP}")
            continue
        try:
            size = hostlist.count(ref)
        except hostlist.HostlistError as exc:
            raise ValueError(f"{exc}; each entry is {HOST_REF_HELP}") from None
        if size > hostlist.MAX_NAMES:
            raise ValueError(f"{ref!r} stands for {size:,} hosts; at most {hostlist.MAX_NAMES:,} (check the range)")
    return value


_HOST_REF_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": hostlist.MAX_EXPRESSION_CHARS,
    "pattern": r"^[A-Za-z0-9._:,\[\]-]+$",  # editors' hint; the loader parses each entry
}
HostRefs = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=hostlist.MAX_EXPRESSION_CHARS)]],
    # one string or a list of them (the string becomes a one-entry list when loaded)
    WithJsonSchema({"anyOf": [_HOST_REF_SCHEMA, {"type": "array", "minItems": 1, "items": _HOST_REF_SCHEMA}]}),
    Field(
        min_length=1,
        description=(
            "Hosts, as one string or a list; each entry is " + HOST_REF_HELP + ". "
            "Unknown names, sets or roles are errors."
        ),
    ),
]


class Partition(Strict):
    name: Name = Field(description="Slurm partition name.")
    hosts: HostRefs = Field(
        description=(
            "Compute hosts in the partition: one string or a list, each entry " + HOST_REF_HELP + " (e.g. set:cpu)."
        )
    )

    _refs = field_validator("hosts", mode="before")(classmethod(lambda cls, v: check_host_refs(v)))
    default: bool = Field(default=False, description="Default partition.")
    max_time_minutes: int | None = Field(default=None, gt=0, description="Longest job, minutes (null = unlimited).")


class SlurmAccounting(Strict):
    enabled: bool = Field(
        default=True, description="Run slurmdbd with MariaDB: sacct/sreport, license TRES, fair-share associations."
    )
    host: Name | None = Field(
        default=None, description="Host that runs slurmdbd and its MariaDB database (default: the controller)."
    )
    qpu_billing_weight: float = Field(
        default=64.0, gt=0, le=100000,
        description=(
            "Fair-share charge of one held QPU license, in CPUs (TRESBillingWeights License/<qpu>); an assumption "
            "each site sets: how many cores' worth of allocation an hour of QPU counts as."
        ),
    )
    fairshare_calc_period_minutes: int = Field(
        default=5, ge=1, le=60,
        description=(
            "How often slurmctld charges running jobs' use to their accounts and recomputes fair-share "
            "(PriorityCalcPeriod), minutes; 1 (Slurm's minimum) to 60. Use is charged only at these ticks: the run "
            "time between a job's last tick and its end is not charged, so a job shorter than the period may be "
            "charged nothing. Short on a rehearsal, so fair-share moves within a minute."
        ),
    )


class GridEngine(Strict):
    """Grid Engine (Son of Grid Engine 8.1.9 from Debian; Open Cluster Scheduler's complex model)."""

    cell: Name = Field(default="default", description="SGE_CELL: the cell directory under /var/lib/gridengine.")
    cluster_name: Name = Field(
        default="qpusite", description="SGE_CLUSTER_NAME: names the cluster (and its systemd units on other builds)."
    )
    qmaster_port: int = Field(default=6444, ge=1, le=65535, description="sge_qmaster's TCP port (SGE_QMASTER_PORT).")
    execd_port: int = Field(default=6445, ge=1, le=65535, description="sge_execd's TCP port (SGE_EXECD_PORT).")
    min_uid: int = Field(
        default=1000, ge=1, le=60000,
        description="Lowest uid that may run jobs (global configuration min_uid; root's jobs are always refused).",
    )


# Which scheduler each Slurm- or Grid Engine-only field of software.scheduler belongs to.
SCHEDULER_ONLY_FIELDS: dict[str, str] = {"accounting": "slurm", "conf_overrides": "slurm", "gridengine": "gridengine"}


class Scheduler(Strict):
    kind: Literal["slurm", "gridengine"] = Field(
        default="slurm",
        description=(
            "Batch scheduler: slurm (QPUs as licenses, sbatch --qpu) or gridengine (QPUs as consumable complexes "
            "qpu_<name> on the global host, qsub -l qpu_<name>=1)."
        ),
    )
    partitions: list[Partition] = Field(
        default_factory=list,
        description=(
            "Partitions (Slurm). Under Grid Engine each becomes a host group @<name> and a cluster queue "
            "<name>.q on those hosts (max_time_minutes becomes the queue's h_rt)."
        ),
    )
    accounting: SlurmAccounting = Field(
        default_factory=SlurmAccounting,
        description="Slurm accounting (slurmdbd + MariaDB) and fair-share; Slurm only.",
    )
    conf_overrides: dict[SlurmKey, SlurmValue | int] = Field(
        default_factory=dict,
        description=(
            "slurm.conf keys merged over the kit's defaults (e.g. container-only ProctrackType). Each key is a "
            "parameter name, each value one token without spaces, quotes, '#' or '$' (or an integer). Slurm only."
        ),
    )
    gridengine: GridEngine | None = Field(
        default=None,
        description="Grid Engine options (cell, cluster name, ports, min_uid); Grid Engine only (default when unset).",
    )

    @property
    def grid_engine(self) -> GridEngine:
        """The Grid Engine options, defaults where the model sets none."""
        return self.gridengine or GridEngine()

    def misplaced_fields(self) -> list[str]:
        """Fields the model sets that belong to the other scheduler (Slurm-only under gridengine and back)."""
        return [
            name for name, owner in SCHEDULER_ONLY_FIELDS.items()
            if owner != self.kind and name in self.model_fields_set
            and getattr(self, name) not in (None, {}, [])  # an empty mapping written out harms nothing
        ]


class PolicyProfile(Strict):
    name: Name = Field(description="Profile name (e.g. development, production).")
    users: list[UnixName] = Field(default_factory=list, description="Users in this profile.")
    groups: list[UnixName] = Field(default_factory=list, description="Unix groups in this profile.")
    qpus: list[QpuName] = Field(min_length=1, description="QPUs the profile may use.")
    max_hold_minutes: int = Field(gt=0, description="Longest a job may hold a QPU, minutes.")
    priority: int = Field(default=0, description="Higher wins when several waiting jobs want one QPU.")
    during_calibration: Literal["wait", "fail"] = Field(
        default="wait", description="Whether an acquisition in a calibration window waits or fails fast."
    )
    max_wait_minutes: int = Field(default=10, ge=0, description="Longest an acquisition waits for a window, minutes.")


class Account(Strict):
    name: UnixName = Field(description="Unix user name.")
    uid: int = Field(ge=1000, le=60000, description="Numeric user id, the same on every host.")
    groups: list[UnixName] = Field(
        default_factory=list, description="Supplementary Unix groups (created if missing)."
    )
    comment: Annotated[str, GECOS] = Field(default="", description="GECOS comment (e.g. the person's name), no ':'.")


class Monitoring(Strict):
    prometheus_port: int = Field(default=9090, ge=1, le=65535, description="Prometheus listen port.")
    alertmanager_port: int = Field(default=9093, ge=1, le=65535, description="Alertmanager listen port.")
    node_exporter_port: int = Field(default=9100, ge=1, le=65535, description="node exporter listen port.")
    scrape_interval_s: int = Field(default=15, ge=1, description="Scrape interval, seconds.")
    retention_days: int = Field(default=15, ge=1, description="Prometheus retention, days.")
    grafana: bool = Field(default=False, description="Provision Grafana dashboards (Grafana installed separately).")


class Runtime(Strict):
    qrmi_version: Annotated[str, EXACT_VERSION] = Field(
        default="0.26.4", description="qrmi package version for the node runtime: one exact version (e.g. 0.26.4)."
    )
    extras: list[Requirement] = Field(
        default_factory=list,
        description=(
            "Extra Python packages for the node runtime, each a PEP 508 requirement without spaces, URL, marker or "
            "pip option (e.g. qiskit-aer[gpu]>=0.15,<1); each becomes one line of the wheelhouse's requirements.txt."
        ),
    )
    prefix: AbsolutePath = Field(
        default="/opt/qpusite/runtime",
        description="Where the runtime environment is installed: an absolute path without spaces or shell characters.",
    )


class Software(Strict):
    topology: Literal["onprem", "cloud", "hybrid"] = Field(default="onprem", description="Where the site runs.")
    scheduler: Scheduler = Field(default_factory=Scheduler, description="Batch scheduler.")
    policy_profiles: list[PolicyProfile] = Field(default_factory=list, description="QPU access policy profiles.")
    accounts: list[Account] = Field(
        default_factory=list,
        description=(
            "Local user accounts the rollout creates on Slurm and QPU access hosts. Production sites usually take "
            "users from a directory service and leave this empty; rehearsal and test sites list their users here."
        ),
    )
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Monitoring options.")
    runtime: Runtime = Field(default_factory=Runtime, description="Quantum runtime on compute and login nodes.")
    qrmid_port: int = Field(default=8470, ge=1, le=65535, description="QRMI daemon listen port.")
    emulator_port: int = Field(default=8480, ge=1, le=65535, description="Emulator service listen port.")
    twin_s3_port: int = Field(
        default=8490, ge=1, le=65535,
        description=(
            "Listen port of the S3-compatible store (moto's server) the rollout runs on an emulator host for its "
            "IBM Quantum System twins whose qrmi.settings name no QRMI_IBM_QS_S3_ENDPOINT (roles/twin_s3)."
        ),
    )


# -------------------------------------------------------------------------- cloud


class CloudNetwork(Strict):
    private_cidr: str = Field(default="10.60.0.0/24", description="Private network for the site's VMs.")
    vrack: bool = Field(default=False, description="Use an OVH vRack for the private network.")
    external_network: str = Field(default="Ext-Net", description="Provider's external network name.")
    vrack_vlan_id: int = Field(
        default=0, ge=0, le=4000, description="VLAN id of the OVH vRack private network (0 = untagged); vrack only."
    )
    public_tcp_ports: dict[HostRole, list[Annotated[int, Field(ge=1, le=65535)]]] = Field(
        default_factory=dict,
        description=(
            "TCP ports deliberately opened to the whole Internet (0.0.0.0/0), per host role; empty by default. "
            "SSH and the kit's service ports are refused here: they stay private or admin-only."
        ),
    )

    @field_validator("private_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"not an IPv4 network: {exc}") from None
        return value


class Kubernetes(Strict):
    enabled: bool = Field(default=False, description="Run emulators, qrmid and Prometheus on Kubernetes.")
    managed: bool = Field(default=True, description="Use the provider's managed Kubernetes.")
    version: str = Field(default="1.31", description="Kubernetes minor version.")
    node_flavor: str = Field(default="b3-8", description="Flavor of worker nodes.")
    nodes: int = Field(default=3, ge=1, description="Number of worker nodes.")
    namespace: Name = Field(default="qpusite", description="Namespace for the site's objects.")
    image_registry: Annotated[str, IMAGE_REGISTRY] = Field(
        default="localhost",
        description="Registry prefix of the images the kit builds locally (qpusite-emulator, qpusite-qrmid, …).",
    )
    image_tag: Annotated[str, IMAGE_TAG] = Field(default="0.1.0", description="Tag of the kit's images.")


class HybridLink(Strict):
    kind: Literal["wireguard", "provider_vpn"] = Field(default="wireguard", description="Private link type.")
    onprem_cidr: str = Field(description="On-prem network reachable over the link.")
    cloud_cidr: str = Field(description="Cloud network reachable over the link.")
    onprem_endpoint: Annotated[str, HOST] = Field(
        description="Public address or DNS name of the on-prem link endpoint."
    )
    port: int = Field(default=51820, ge=1, le=65535, description="Link UDP port.")
    gateway_host: Name | None = Field(
        default=None,
        description="Cloud host that terminates a WireGuard link and routes for the others; null = first cloud host.",
    )
    tunnel_cidr: str = Field(
        default="10.255.255.0/30",
        description="WireGuard interface addresses: first usable = cloud gateway, second = on-prem end (/30 or wider).",
    )


class Cloud(Strict):
    provider: Literal["ovh", "openstack"] = Field(description="Cloud provider.")
    region: str = Field(min_length=1, description="Region (e.g. GRA11).")
    image: str = Field(default="Debian 12", description="VM image name.")
    flavors: dict[HostRole, str] = Field(default_factory=dict, description="Flavor per host role.")
    network: CloudNetwork = Field(default_factory=CloudNetwork, description="Cloud networking.")
    kubernetes: Kubernetes = Field(default_factory=Kubernetes, description="Kubernetes options.")
    hybrid_link: HybridLink | None = Field(default=None, description="Private link to on-prem (hybrid).")
    ssh_public_key_file: Annotated[str, FILE_PATH] | None = Field(
        default=None, description="Public key installed on VMs."
    )
    project_id: str | None = Field(
        default=None,
        description=(
            "OVH Public Cloud project id (the OVH API's service_name); needed for vrack and managed Kubernetes."
        ),
    )
    object_storage: bool = Field(default=False, description="Create an object-storage container for results.")


# --------------------------------------------------------------------------- site


# A count of hosts, or a percentage of the role's hosts ("10%").
UNAVAILABLE_SHARE = Rule(
    r"^(100|[1-9]?[0-9])%$",
    "a count of hosts (2) or a whole percentage of the role's hosts",
    "10%",
)


class Rollout(Strict):
    """How the kit rolls out onto the site's hosts: how to reach them, and how many may be missing."""

    connection: Connection = Field(
        default_factory=Connection,
        description=(
            "Site-wide connection defaults (user, port, key, become, jump host); a host's own wins field by field."
        ),
    )
    may_be_unavailable: dict[
        Literal["compute", "login"], Annotated[int, Field(ge=0)] | Annotated[str, UNAVAILABLE_SHARE]
    ] = Field(
        default_factory=dict,
        description=(
            "Per host role, how many of its hosts may be unreachable or admin-drained without failing a rollout: "
            "a count (2) or a percentage of the role's hosts, rounded down (\"10%\"). Hosts with any other role "
            "(controller, qpu_access, monitoring, emulator) are always required."
        ),
    )

    def budget(self, role: str, hosts: int) -> int:
        """How many of `hosts` hosts with `role` may be unavailable."""
        value: int | str = self.may_be_unavailable.get(role, 0)  # type: ignore[call-overload]
        if isinstance(value, str):
            return hosts * int(value.rstrip("%")) // 100
        return min(value, hosts)


class AnsibleExtras(Strict):
    vars: dict[str, Any] = Field(default_factory=dict, description="Extra variables for every host (escape hatch).")
    group_vars: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Extra variables per group.")


class Site(Strict):
    schema_version: Literal[1] = Field(description="Version of this schema; 1.")
    site: SiteMeta = Field(description="Site metadata and contacts.")
    facility: Facility = Field(default_factory=Facility, description="Rooms, cooling, power, environment, safety.")
    qpus: list[Qpu] = Field(default_factory=list, description="Quantum processors.")
    hosts: list[Host] = Field(default_factory=list, description="Classical hosts, one by one.")
    host_sets: list[HostSet] = Field(
        default_factory=list,
        description=(
            "Many alike hosts written once (cn[001-192] with consecutive addresses); loading expands each into "
            "ordinary hosts after those of 'hosts'."
        ),
    )
    software: Software = Field(default_factory=Software, description="Software topology and options.")
    cloud: Cloud | None = Field(default=None, description="Cloud provisioning (cloud and hybrid sites).")
    rollout: Rollout = Field(default_factory=Rollout, description="Connection defaults and unavailability budget.")
    ansible: AnsibleExtras = Field(default_factory=AnsibleExtras, description="Extra Ansible variables.")

    _host_index: tuple[tuple[int, int], dict[str, Host]] | None = PrivateAttr(default=None)
    # host name -> index in host_sets, for the hosts a set expanded into; and those Host objects' ids
    _from_set: dict[str, int] = PrivateAttr(default_factory=dict)
    _made: set[int] = PrivateAttr(default_factory=set)
    _set_members: list[list[str]] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _expand_host_sets(self) -> Site:
        """Append each set's hosts to ``hosts``; validated once per set, not per host (sets hold 10^4)."""
        made, ids = self._from_set, self._made
        if ids:  # validated again (an assignment): drop what the last expansion added, then expand anew
            self.hosts[:] = [h for h in self.hosts if id(h) not in ids]
            made.clear()
            ids.clear()
        members = self._set_members
        members.clear()
        name_re = re.compile(NAME.pattern)
        problems = []
        for i, hs in enumerate(self.host_sets):
            members.append([])
            names = hs.names()
            bad = [n for n in names if not name_re.match(n)]
            if bad:
                problems.append(
                    f"host_sets[{i}].hosts: {bad[0]!r} is not a host name ({len(bad)} such); names are lower-case "
                    "letters, digits and '-', starting with a letter (e.g. cn[001-192])"
                )
                continue
            try:
                addresses = hs.addresses(len(names))
            except ValueError as exc:
                problems.append(f"host_sets[{i}].first_address: {exc}")
                continue
            for name, address in zip(names, addresses, strict=True):
                # the set's fields were validated once; each host only gets its name and address
                host = Host.model_construct(
                    name=name, address=address, roles=list(hs.roles), cpus=hs.cpus, memory_mb=hs.memory_mb,
                    connection=hs.connection, location=hs.location, room=hs.room,
                )
                self.hosts.append(host)
                made[name] = i
                ids.add(id(host))
            members[i] = names
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_serializer("hosts", mode="wrap")
    def _written_hosts(self, hosts: list[Host], handler: SerializerFunctionWrapHandler) -> Any:
        """Dump the hosts as written: a set's hosts stay in their set, so a dump loads back the same."""
        return handler([h for h in hosts if id(h) not in self._made])

    def host_set_of(self, name: str) -> int | None:
        """Index in host_sets of the set a host came from; None for a host of ``hosts``."""
        return self._from_set.get(name)

    def host_path(self, index: int, field: str = "") -> str:
        """Where a host of ``hosts`` (expanded sets included) is written: hosts[i] or its host_sets[j]."""
        host = self.hosts[index]
        j = self._from_set.get(host.name)
        if j is None:
            return f"hosts[{index}]" + (f".{field}" if field else "")
        mapped = {"address": "first_address", "name": "hosts"}.get(field, field)
        return f"host_sets[{j}]" + (f".{mapped}" if mapped else "")

    def set_hosts(self, index: int) -> list[str]:
        """Names of the hosts host_sets[index] expanded into, in hostlist order."""
        members = self._set_members
        return list(members[index]) if index < len(members) else []

    def hosts_with(self, role: HostRole) -> list[Host]:
        return [h for h in self.hosts if role in h.roles]

    def host_index(self) -> dict[str, Host]:
        """Hosts by name (the first of a repeated name wins), rebuilt when the host list changes."""
        # Index by name: rules look hosts up once per reference, and large sites have 10^4 hosts. The
        # private slot is read directly: pydantic's __getattr__ costs more than the lookup itself.
        private = self.__pydantic_private__ or {}
        key = (id(self.hosts), len(self.hosts))
        cached = private.get("_host_index")
        if cached is None or cached[0] != key:
            cached = (key, {h.name: h for h in reversed(self.hosts)})
            self._host_index = cached
        return cached[1]

    def host(self, name: str) -> Host | None:
        return self.host_index().get(name)

    def connection_for(self, host: Host) -> Connection:
        """The connection Ansible uses for `host`: its own fields, then `ansible.vars`' ansible_user/port/become
        (they are `all`'s variables, written over `rollout.connection`), then `rollout.connection`, then defaults."""
        merged = {**self.rollout.connection.set_fields()}
        for name, var in (("user", "ansible_user"), ("port", "ansible_port"), ("become", "ansible_become")):
            if var in self.ansible.vars:
                # a free-form escape-hatch value: used only when it is a valid connection setting
                with contextlib.suppress(ValueError):
                    merged[name] = getattr(Connection.model_validate({name: self.ansible.vars[var]}), name)
        merged.update(host.connection.set_fields())
        return Connection.model_validate(merged)

    def qpu(self, name: str) -> Qpu | None:
        return next((q for q in self.qpus if q.name == name), None)

    def room(self, name: str) -> Room | None:
        return next((r for r in self.facility.rooms if r.name == name), None)
