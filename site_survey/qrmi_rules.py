"""Per-QRMI-type rules at `qpusite validate` time: the rules the rollout applies
(qrmid's --check, the qrmi_config.json schema, qrmi itself) checked before anything
is deployed, from the catalogue's table of types (site_survey/catalogue/qrmi_types.py).

Each problem names the field path and the fix: unknown settings or secrets (with the
nearest known key), required settings or secrets missing after the kit has filled in
the endpoint, values a type cannot use, and how access.endpoint_url maps to a setting.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from urllib.parse import urlsplit

from site_survey.catalogue.qrmi_types import QRMI_TYPES, QrmiTypeSpec, qrmi_type
from site_survey.derive import qrmi_settings
from site_survey.errors import Problem
from site_survey.model import Qpu, Site


def _known(keys: Iterable[str]) -> str:
    return ", ".join(sorted(keys)) or "none"


def _nearest(key: str, keys: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _unknown_keys(path: str, qpu: Qpu, spec: QrmiTypeSpec) -> Iterable[Problem]:
    assert qpu.qrmi is not None
    # (section, its keys in the model, what the type reads there, the other section, the fix when filed there)
    sides = (
        ("settings", qpu.qrmi.settings, spec.settings, spec.secrets,
         f"is a secret of {spec.type}; move it to qrmi.secrets as {{vault: <variable name>}}"),
        ("secrets", qpu.qrmi.secrets, spec.secrets, spec.settings,
         f"is not a secret of {spec.type}; put its value under qrmi.settings"),
    )
    for section, given, reads, other, misfiled in sides:
        for key in given:
            if key in reads:
                continue
            if key in other:
                yield Problem(f"{path}.{section}.{key}", f"{key} {misfiled}")
                continue
            yield Problem(
                f"{path}.{section}.{key}",
                f"{spec.type} does not read {key}{_nearest(key, reads)}; its {section} are: {_known(reads)}",
            )


def _missing_keys(path: str, qpu: Qpu, spec: QrmiTypeSpec, settings: dict[str, str]) -> Iterable[Problem]:
    assert qpu.qrmi is not None
    given = set(settings) | set(qpu.qrmi.secrets)
    for key in spec.required_settings:
        if key in settings:
            continue
        if qpu.access.mode == "emulator" and (key == spec.endpoint_key or key in spec.emulator_settings):
            continue  # filled from the twin's host (an unknown host is reported with emulator.host)
        if qpu.access.mode == "emulator" and key in spec.emulator_store_settings:
            continue  # the twin's own store on its emulator host (roles/twin_s3, software.twin_s3_port)
        if key == spec.endpoint_key:
            yield Problem(
                "{}.access.endpoint_url".format(path.removesuffix(".qrmi")),
                f"{spec.type} needs {key}: set access.endpoint_url (the kit maps it to {key}) or "
                f"qrmi.settings.{key}",
            )
        else:
            yield Problem(f"{path}.settings", f"{spec.type} requires {key}; add it under qrmi.settings")
    for key in spec.required_secrets:
        if key not in qpu.qrmi.secrets:
            yield Problem(
                f"{path}.secrets",
                f"{spec.type} requires the secret {key}; add {key}: {{vault: <variable name>}} under qrmi.secrets "
                "and put the value in an ansible-vault file",
            )
    twin_keys = (*spec.emulator_api_keys, *spec.emulator_tokens, *(spec.emulator_client or ())[1:])
    covered = set(spec.required_secrets).union(*spec.one_of)  # reported by the rules above and below
    if (qpu.access.mode == "emulator" and twin_keys and not set(twin_keys) & covered
            and not set(twin_keys) & set(qpu.qrmi.secrets)):
        # the twin accepts only the credentials qrmid holds for it: without one nobody can reach it
        yield Problem(
            f"{path}.secrets",
            f"an emulated {spec.type} QPU needs a credential for its twin: add {twin_keys[0]}: "
            "{vault: <variable name>} under qrmi.secrets",
        )
    for group in spec.one_of:
        if not given & set(group):
            yield Problem(
                f"{path}.secrets",
                f"{spec.type} needs one of {', '.join(group)}; add it under qrmi.secrets as {{vault: <variable name>}}",
            )


def _values(path: str, qpu: Qpu, spec: QrmiTypeSpec, settings: dict[str, str]) -> Iterable[Problem]:
    assert qpu.qrmi is not None
    own = qpu.qrmi.settings
    for key, value in settings.items():
        # a value the kit filled in from access.endpoint_url is reported there
        where = f"{path}.settings.{key}" if key in own else "{}.access.endpoint_url".format(path.removesuffix(".qrmi"))
        allowed = spec.choices.get(key)
        if allowed is not None and value not in allowed:
            yield Problem(where, f"{key} must be one of: {', '.join(allowed)}", value)
        if key in spec.integers and not (value.isdigit() and int(value) > 0):
            yield Problem(where, f"{key} must be a whole number greater than 0", value)
        if key in spec.urls:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                yield Problem(where, f"{key} must be an http:// or https:// URL", value)
        if key == spec.endpoint_key and spec.endpoint_suffix and not value.rstrip("/").endswith(spec.endpoint_suffix):
            yield Problem(where, f"{key} must end in {spec.endpoint_suffix} ({spec.type} calls its API below it)",
                          value)


def _endpoint(path: str, qpu: Qpu, spec: QrmiTypeSpec) -> Iterable[Problem]:
    assert qpu.qrmi is not None
    qpath = path.removesuffix(".qrmi")
    own = qpu.qrmi.settings
    if qpu.access.mode == "emulator":
        if spec.emulator_api is None:
            yield Problem(
                f"{qpath}.access.mode",
                f"no emulator twin speaks {spec.type}'s API; use access.mode onprem or vendor_service, or a type "
                f"a twin serves ({', '.join(t for t, s in QRMI_TYPES.items() if s.emulator_api)})",
                qpu.access.mode,
            )
        if qpu.access.endpoint_url:
            yield Problem(f"{qpath}.access.endpoint_url", "an emulated QPU is reached at its twin's address; "
                          "remove access.endpoint_url")
        for key in (spec.endpoint_key, *spec.emulator_settings):
            if key and key in own:
                yield Problem(f"{path}.settings.{key}", f"the kit points {key} at the emulator twin; remove it")
        return
    url = qpu.access.endpoint_url
    key = spec.endpoint_key
    if url and key and key in own and spec.endpoint_value(url) != own[key].rstrip("/"):
        yield Problem(
            f"{path}.settings.{key}",
            f"access.endpoint_url is {url!r}, which the kit maps to {key}, but settings give {key} another value; "
            "keep one of them",
            own[key],
        )


def _iqm_name(qpath: str, qpu: Qpu) -> Iterable[Problem]:
    """qrmi's iqm-server resource reads the QPU name's last '_' as ':' (garnet_mock is the quantum computer
    garnet:mock); qrmid's proxy never forwards a ':' in a path, so such a QPU could not be brokered."""
    if "_" in qpu.name:
        yield Problem(f"{qpath}.name", "an iqm-server QPU is named as its quantum computer's alias, and qrmi reads "
                      "'_' in it as ':', which qrmid's proxy cannot forward; use a name without '_' (e.g. "
                      f"{qpu.name.replace('_', '')})", qpu.name)


def qrmi_type_problems(site: Site) -> Iterable[Problem]:
    for i, qpu in enumerate(site.qpus):
        if qpu.qrmi is None:
            continue
        path = f"qpus[{i}].qrmi"
        spec = qrmi_type(qpu.qrmi.type.value)
        settings = qrmi_settings(site, qpu)
        yield from _unknown_keys(path, qpu, spec)
        yield from _missing_keys(path, qpu, spec, settings)
        yield from _values(path, qpu, spec, settings)
        yield from _endpoint(path, qpu, spec)
        if spec.type == "iqm-server":
            yield from _iqm_name(f"qpus[{i}]", qpu)


def external_qpu_problems(site: Site) -> Iterable[Problem]:
    """qrmid brokers QRMI QPUs only: a policy profile cannot name an 'external' one."""
    external = {q.name for q in site.qpus if q.qrmi is None}
    for i, profile in enumerate(site.software.policy_profiles):
        for j, name in enumerate(profile.qpus):
            if name in external:
                yield Problem(
                    f"software.policy_profiles[{i}].qpus[{j}]",
                    "this QPU has access.mode 'external': qrmid does not broker it, so no profile applies; "
                    "remove it from the profile",
                    name,
                )
