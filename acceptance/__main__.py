"""python -m acceptance SITE [--tier …] — the same as `qpusite accept` (used by acceptance.yml)."""

from __future__ import annotations

import sys

from qpusite.cli import main

if __name__ == "__main__":
    sys.exit(main(["accept", *sys.argv[1:]]))
