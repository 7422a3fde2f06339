"""The service's configuration file (YAML), rendered from the site model by roles/emulator.

Each twin has the shape `site_survey.derive.emulator_twins()` produces, plus the
credentials that may use it. Nothing else is read from the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Noise(_Strict):
    single_qubit_error: float = Field(default=0.0, ge=0, le=1)
    two_qubit_error: float = Field(default=0.0, ge=0, le=1)
    readout_error: float = Field(default=0.0, ge=0, le=1)
    t1_us: float | None = Field(default=None, gt=0)
    t2_us: float | None = Field(default=None, gt=0)

    @property
    def is_noiseless(self) -> bool:
        return (
            self.single_qubit_error == 0
            and self.two_qubit_error == 0
            and self.readout_error == 0
            and self.t1_us is None
            and self.t2_us is None
        )


class PulserDevice(_Strict):
    name: str = "TwinDevice"
    dimensions: Literal[2, 3] = 2
    max_atom_num: int = Field(gt=0)
    min_atom_distance_um: float = Field(gt=0)
    max_radial_distance_um: float = Field(gt=0)
    max_rabi_frequency_rad_us: float = Field(default=12.57, gt=0)
    max_abs_detuning_rad_us: float = Field(default=125.66, gt=0)
    max_sequence_duration_ns: int = Field(default=6000, gt=0)
    max_runs: int = Field(default=1000, gt=0)
    interaction_coeff_rad_um6_us: float = Field(default=5420158.53, gt=0)
    state_prep_error: float = Field(default=0.0, ge=0, le=1)
    readout_false_positive: float = Field(default=0.0, ge=0, le=1)
    readout_false_negative: float = Field(default=0.0, ge=0, le=1)


class Credentials(_Strict):
    """Who may use a twin. IBM twins take IAM API keys; Pasqal twins take static
    tokens and/or OAuth client credentials (client_id -> client_secret)."""

    api_keys: list[str] = Field(default_factory=list)
    tokens: list[str] = Field(default_factory=list)
    clients: dict[str, str] = Field(default_factory=dict)


class Twin(_Strict):
    name: str = Field(min_length=1)
    backend_name: str = Field(min_length=1)
    api: Literal["ibm", "pasqal-cloud", "iqm-server", "ibm-quantum-system"]
    modality: str = "superconducting"
    num_qubits: int = Field(gt=0, le=64)
    coupling_map: list[list[int]] | None = None
    basis_gates: list[str] | None = None
    noise: Noise = Field(default_factory=Noise)
    pulser_device: PulserDevice | None = None
    max_shots: int = Field(default=100_000, gt=0)
    # Emulated QPU time: a job occupies its worker slot for at least shots × this many seconds
    # (a real QPU's time grows with shots); 0, the default, returns as soon as it is computed.
    # Benchmarks that replay a trace (benchmarks/replay_bench.py) set it.
    shot_time_s: float = Field(default=0.0, ge=0, le=1)
    credentials: Credentials = Field(default_factory=Credentials)

    @model_validator(mode="after")
    def _shape(self) -> Twin:
        if self.api == "pasqal-cloud" and self.pulser_device is None:
            raise ValueError(f"twin {self.name!r}: a pasqal-cloud twin needs pulser_device")
        for pair in self.coupling_map or []:
            if len(pair) != 2 or not all(0 <= q < self.num_qubits for q in pair):
                raise ValueError(f"twin {self.name!r}: coupling_map pair {pair} is outside 0..{self.num_qubits - 1}")
        return self


class Tls(_Strict):
    """Serve HTTPS with this certificate (chain, PEM) and its private key (PEM)."""

    certificate_file: Path
    key_file: Path


class Listen(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8480, ge=0, le=65535)
    tls: Tls | None = None


class Limits(_Strict):
    """Bounds every submission is checked against before anything is built from it."""

    max_instructions: int = Field(default=100_000, gt=0, description="Instructions (statements) per circuit.")
    max_clbits: int = Field(default=1024, gt=0, description="Classical bits per circuit.")
    max_inflated_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Bytes a compressed circuit or array may inflate to."
    )
    check_timeout_s: float = Field(default=30, gt=0, description="Seconds a checker may spend on one submission.")
    checker_memory_bytes: int = Field(
        default=3 * 1024**3, ge=0, description="Address-space limit of each checker process (0: none)."
    )
    worker_memory_bytes: int = Field(
        default=4 * 1024**3, ge=0, description="Address-space limit of each worker process (0: none)."
    )


class Retention(_Strict):
    max_jobs: int = Field(default=1000, gt=0, description="Finished jobs kept; the oldest are purged first.")
    max_age_s: int = Field(default=7 * 24 * 3600, gt=0, description="Finished jobs older than this are purged.")


class Config(_Strict):
    listen: Listen = Field(default_factory=Listen)
    state_dir: Path = Path("/var/lib/qpu-emulator")
    workers: int = Field(default=2, ge=1, le=64, description="Jobs executed at once (one process each).")
    queue_limit: int = Field(default=200, ge=1, description="Queued jobs accepted before new ones are refused.")
    checkers: int = Field(default=1, ge=1, le=16, description="Processes that check submissions (one each at a time).")
    limits: Limits = Field(default_factory=Limits)
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    token_ttl_s: int = Field(default=3600, ge=60)
    allow_anonymous: bool = False
    signing_key: str | None = Field(default=None, description="HMAC key for issued tokens; generated if absent.")
    retention: Retention = Field(default_factory=Retention)
    s3_endpoints: list[str] = Field(
        default_factory=list,
        description="S3-compatible stores (scheme://host:port) whose presigned URLs IBM Quantum System jobs may "
        "name; the service connects to no other.",
    )
    twins: list[Twin] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Config:
        from qpu_emulator.s3_links import normalise_endpoint

        for url in self.s3_endpoints:
            try:
                normalise_endpoint(url)
            except ValueError:
                raise ValueError(f"s3_endpoints: {url[:80]!r} is not an http(s) URL") from None
        seen: set[str] = set()
        for t in self.twins:
            for n in {t.name, t.backend_name}:
                if n in seen:
                    raise ValueError(f"twin name/backend_name {n!r} is used twice")
                seen.add(n)
        return self

    def twin(self, backend: str) -> Twin | None:
        for t in self.twins:
            if backend in (t.backend_name, t.name):
                return t
        return None


class ConfigError(Exception):
    """A config file that cannot be used; the message names the field."""


def parse(data: Any, source: str = "<config>") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: invalid emulator configuration"]
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {loc}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


def load(path: str | Path) -> Config:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from None
    return parse(data or {}, str(p))


def check_files(config: Config, source: str = "<config>") -> None:
    """Files the configuration names exist and are readable (TLS certificate and key)."""
    tls = config.listen.tls
    if tls is None:
        return
    import ssl

    problems = []
    for field, path in (("certificate_file", tls.certificate_file), ("key_file", tls.key_file)):
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as exc:
            problems.append(f"  listen.tls.{field}: cannot read {path} ({exc.strerror})")
    if not problems:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                str(tls.certificate_file), str(tls.key_file)
            )
        except (ssl.SSLError, OSError) as exc:
            problems.append(f"  listen.tls: the certificate and key cannot be used together ({exc})")
    if problems:
        raise ConfigError("\n".join([f"{source}: invalid emulator configuration", *problems]))
