# Acceptance suite (issue 6), node side: the benchmark programs and their math in the
# node environment, end to end through qrmi against the real emulator on 127.0.0.1.
# The controller-side framework tests (tests/acceptance) run with the unit tests.
# With QPUSITE_ACCEPT_LAB=1 it also runs a real smoke acceptance against the rehearsal
# site, which must already be up (`qpusite up lab`); it never brings the lab up or down.
set -euo pipefail
timeout 900 .venv-node/bin/python -m pytest -q -p no:cacheprovider tests/acceptance/node
if [ "${QPUSITE_ACCEPT_LAB:-0}" = 1 ]; then
  timeout 600 .venv/bin/qpusite accept lab --tier smoke
fi
