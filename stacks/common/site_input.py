"""How a Pulumi program finds its site model: the stack setting
``qpusite:siteFile`` (written by `qpusite cloud`), or QPUSITE_SITE_FILE."""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from site_survey import load_site
from site_survey.errors import SiteModelError
from site_survey.model import Site
from stacks.common.preflight import check_program
from stacks.common.stack_config import CONFIG_NAMESPACE, Program, resolve_site_file


def site_file() -> Path:
    setting = pulumi.Config(CONFIG_NAMESPACE).get("siteFile") or os.environ.get("QPUSITE_SITE_FILE")
    if not setting:
        raise pulumi.RunError(
            "no site model: run through `qpusite cloud preview SITE`, or `pulumi config set qpusite:siteFile "
            "inventories/<site>/site.yaml`"
        )
    return resolve_site_file(setting)


def load_stack_site() -> tuple[Site, Path]:
    path = site_file()
    return load_site(path), path.parent


def load_checked_site(program: Program) -> tuple[Site, Path]:
    """The site and its directory, with the program's preflight passed.

    Problems become a RunError: the pulumi CLI prints its message without a stack trace."""
    try:
        site, site_dir = load_stack_site()
        problems = check_program(site, site_dir, program)
        if problems:
            raise SiteModelError(str(site_dir / "site.yaml"), problems)
    except SiteModelError as exc:
        raise pulumi.RunError(exc.render()) from None
    return site, site_dir
