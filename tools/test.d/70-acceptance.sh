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
# The trace replay's smoke (benchmarks/replay_bench.py, issue 14; the full replay is a benchmark,
# not CI): 4 trace jobs under both policies on a local Slurm + qrmid + emulator (root, as above);
# exit 1 if any job's program failed.
if [ "$(id -u)" = 0 ] && command -v slurmctld >/dev/null; then
  timeout 300 .venv-node/bin/python benchmarks/replay_bench.py --jobs 4 --scale 200
fi
