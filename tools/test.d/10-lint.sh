# Linters and type checks on the controller code.
set -euo pipefail
.venv/bin/ruff check .
.venv/bin/mypy
