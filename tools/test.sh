#!/usr/bin/env bash
# Linters, type checks and every test suite: runs tools/test.d/*.sh in order and
# stops at the first failure. Each suite owns one script there.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
for suite in tools/test.d/*.sh; do
  echo "== ${suite##*/}"
  bash "$suite"
done
