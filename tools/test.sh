#!/usr/bin/env bash
# Linters, type checks and every test suite. Exit non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== unit and integration tests (controller environment)"
.venv/bin/python -m pytest -q tests
