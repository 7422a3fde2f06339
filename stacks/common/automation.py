"""`qpusite cloud preview|up|destroy` through Pulumi's Automation API.

Everything that can be checked without the pulumi CLI is checked first and
reported as bad input (the model, the program's preflight, the secrets and the
state passphrase, exit 2); then the CLI is looked for, and its absence is a
clear message with the way to install it (exit 1), never a traceback.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from site_survey import load_site
from site_survey.errors import SiteModelError
from site_survey.loader import resolve_site_path
from site_survey.model import Site
from stacks.common.outputs_file import cloud_outputs_document, remove_cloud_outputs, write_cloud_outputs
from stacks.common.preflight import check_program
from stacks.common.stack_config import (
    CONFIG_NAMESPACE,
    REPO_ROOT,
    Program,
    SecretInput,
    missing_secret_env,
    secret_inputs,
    stack_config,
)

Action = Literal["preview", "up", "destroy"]
DEFAULT_STATE_DIR = REPO_ROOT / ".state" / "pulumi"

INSTALL_HINT = """the pulumi CLI was not found (looked on PATH and in ~/.pulumi/bin).
`qpusite cloud preview|up|destroy` drive it through Pulumi's Automation API, so it must be installed:
  curl -fsSL https://get.pulumi.com | sh        # installs into ~/.pulumi/bin
  (or unpack a release from https://github.com/pulumi/pulumi/releases and put `pulumi` on PATH)
The provider plugins (openstack, ovh, kubernetes) are fetched by the CLI on first use.
Without the CLI, `qpusite cloud config SITE` still shows the configuration generated from the model."""


class CloudError(Exception):
    """A cloud command cannot go on; carries its exit code (1 environment/failure, 2 bad input)."""

    exit_code = 1


class PulumiCliMissing(CloudError):
    def __init__(self) -> None:
        super().__init__(INSTALL_HINT)


class MissingInputs(CloudError):
    exit_code = 2


class StackFailed(CloudError):
    pass


@dataclass(frozen=True)
class CloudPlan:
    site: Site
    site_file: Path
    program: Program
    stack_name: str
    config: dict[str, str]
    secrets: dict[str, str]  # fully qualified key -> value (stored as Pulumi secrets)
    plain_inputs: dict[str, str]  # fully qualified key -> value (non-secret values from the environment)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def work_dir(self) -> Path:
        return REPO_ROOT / "stacks" / self.program


def find_pulumi_cli(environ: Mapping[str, str]) -> str | None:
    found = shutil.which("pulumi", path=environ.get("PATH", ""))
    if found:
        return found
    home = environ.get("PULUMI_HOME") or str(Path(environ.get("HOME", "~")).expanduser() / ".pulumi")
    candidate = Path(home) / "bin" / "pulumi"
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def _backend_env(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """State backend: the user's, or a local one under .state/ (needs a passphrase for secrets)."""
    env: dict[str, str] = {}
    missing: list[str] = []
    if not environ.get("PULUMI_BACKEND_URL") and not environ.get("PULUMI_ACCESS_TOKEN"):
        env["PULUMI_BACKEND_URL"] = DEFAULT_STATE_DIR.as_uri()
    backend = environ.get("PULUMI_BACKEND_URL") or env.get("PULUMI_BACKEND_URL", "")
    local = backend.startswith("file://")
    if local and not (environ.get("PULUMI_CONFIG_PASSPHRASE") or environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        missing.append("PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): encrypts the stack's secrets")
    return env, missing


def _describe(inputs: list[SecretInput]) -> list[str]:
    return [f"{i.env_var}: {i.purpose}" for i in inputs]


def plan(site_arg: str, program: Program, stack: str | None, environ: Mapping[str, str]) -> CloudPlan:
    """Everything checkable without the CLI; raises SiteModelError or MissingInputs."""
    site_file = resolve_site_path(site_arg)
    site = load_site(site_file)
    problems = check_program(site, site_file.parent, program)
    if problems:
        raise SiteModelError(str(site_file), problems)
    inputs = secret_inputs(site, program)
    env, missing = _backend_env(environ)
    missing = _describe(missing_secret_env(inputs, dict(environ))) + missing
    if missing:
        raise MissingInputs(
            "set these environment variables (values never go in site.yaml or a stack file in clear):\n  "
            + "\n  ".join(missing)
        )
    key = f"{CONFIG_NAMESPACE}:{{}}".format
    return CloudPlan(
        site=site,
        site_file=site_file,
        program=program,
        stack_name=stack or site.site.name,
        config=stack_config(site, site_file, program),
        secrets={key(i.config_key): environ[i.env_var] for i in inputs if i.secret},
        plain_inputs={key(i.config_key): environ[i.env_var] for i in inputs if not i.secret},
        env=env,
    )


def config_values(cloud_plan: CloudPlan) -> dict[str, Any]:
    """The stack configuration to set: model-derived and plain inputs in clear, secrets marked secret
    (Pulumi encrypts those in the stack file)."""
    from pulumi import automation as auto

    values = {k: auto.ConfigValue(value=v) for k, v in {**cloud_plan.config, **cloud_plan.plain_inputs}.items()}
    values.update({k: auto.ConfigValue(value=v, secret=True) for k, v in cloud_plan.secrets.items()})
    return values


def run(
    cloud_plan: CloudPlan,
    action: Action,
    environ: Mapping[str, str],
    on_output: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Runs the action; returns the stack's outputs (plain values) after `up`."""
    cli = find_pulumi_cli(environ)
    if cli is None:
        raise PulumiCliMissing()
    from pulumi import automation as auto  # imported late: only needed with a CLI

    if "PULUMI_BACKEND_URL" in cloud_plan.env:
        DEFAULT_STATE_DIR.mkdir(parents=True, exist_ok=True)
    env = {**environ, **cloud_plan.env}
    try:
        command = auto.PulumiCommand(root=str(Path(cli).parent.parent))
        stack = auto.create_or_select_stack(
            stack_name=cloud_plan.stack_name,
            work_dir=str(cloud_plan.work_dir),
            opts=auto.LocalWorkspaceOptions(env_vars=env, pulumi_command=command),
        )
        stack.set_all_config(config_values(cloud_plan))
        if action == "preview":
            stack.preview(on_output=on_output, diff=False)
            return {}
        if action == "destroy":
            stack.destroy(on_output=on_output)
            if cloud_plan.program == "ovh":
                remove_cloud_outputs(cloud_plan.site_file.parent)
            return {}
        result = stack.up(on_output=on_output)
    except FileNotFoundError:
        raise PulumiCliMissing() from None
    except auto.CommandError as exc:
        raise StackFailed(f"pulumi {action} failed:\n{str(exc).strip()[-2000:]}") from None
    outputs = {k: v.value for k, v in result.outputs.items() if not v.secret}
    if cloud_plan.program == "ovh":
        doc = cloud_outputs_document(cloud_plan.site.site.name, cloud_plan.stack_name, outputs)
        path = write_cloud_outputs(cloud_plan.site_file.parent, doc)
        on_output(f"wrote {path} (the inventory merges it)\n")
    return outputs


def describe(site_arg: str, program: Program, stack: str | None, environ: Mapping[str, str]) -> list[str]:
    """The configuration a run would set, and which inputs it would read, as lines (no CLI needed)."""
    site_file = resolve_site_path(site_arg)
    site = load_site(site_file)
    problems = check_program(site, site_file.parent, program)
    if problems:
        raise SiteModelError(str(site_file), problems)
    lines = [f"# stacks/{program}, stack {stack or site.site.name}, from {site_file}"]
    lines += [f"{key}: {value}" for key, value in sorted(stack_config(site, site_file, program).items())]
    inputs = secret_inputs(site, program)
    unset = {i.env_var for i in missing_secret_env(inputs, dict(environ))}
    for i in inputs:
        kind = "secret" if i.secret else "plain"
        state = "unset" if i.env_var in unset else "set"
        lines.append(f"{CONFIG_NAMESPACE}:{i.config_key}: <{kind}, from ${i.env_var} ({state})>  # {i.purpose}")
    return lines
