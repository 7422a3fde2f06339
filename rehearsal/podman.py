"""Run podman with the project's configuration; the only place that spawns podman."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from typing import Any

from rehearsal.errors import RehearsalError
from rehearsal.podman_config import PodmanLayout, write_podman_config

# Generous: an image import or a container stop on a busy 2-core machine is slow.
DEFAULT_TIMEOUT_S = 300


class Podman:
    def __init__(self, layout: PodmanLayout, executable: str = "podman"):
        self.layout = layout
        self.executable = executable
        self.env = {**os.environ, **write_podman_config(layout)}

    def run(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        input_text: str | None = None,
        stdin: Any = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.executable, *args]
        try:
            result = subprocess.run(
                cmd,
                env=self.env,
                input=input_text,
                stdin=stdin if input_text is None else None,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RehearsalError(f"`podman {' '.join(args)}` did not finish within {timeout:.0f} s") from None
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise RehearsalError(f"`podman {' '.join(args)}` failed ({result.returncode}): {' / '.join(detail)}")
        return result

    def ok(self, args: Sequence[str], timeout: float = 60) -> bool:
        return self.run(args, check=False, timeout=timeout).returncode == 0

    def json(self, args: Sequence[str]) -> Any:
        out = self.run(args).stdout.strip()
        return json.loads(out) if out else []
