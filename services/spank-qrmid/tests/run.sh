# Build the plugin and run its end-to-end tests (real slurmctld/slurmd/munged, qrmid, emulator).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s
../../.venv-node/bin/python -m pytest -q -p no:cacheprovider tests "$@"
