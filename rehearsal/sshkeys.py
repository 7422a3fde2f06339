"""The rehearsal's SSH key pair: made once per site, kept until `qpusite down`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from rehearsal.errors import RehearsalError


def ensure_key_pair(private_key: Path, comment: str) -> str:
    """Create an ed25519 key pair without passphrase if absent; return the public key text."""
    public_key = private_key.with_name(private_key.name + ".pub")
    private_key.parent.mkdir(parents=True, exist_ok=True)
    private_key.parent.chmod(0o700)
    if not (private_key.is_file() and public_key.is_file()):
        for stale in (private_key, public_key):
            stale.unlink(missing_ok=True)
        done = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(private_key)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise RehearsalError(f"ssh-keygen could not write {private_key}: {done.stderr.strip()}")
    private_key.chmod(0o600)
    return public_key.read_text(encoding="utf-8")
