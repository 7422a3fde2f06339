# QRMI daemon (services/qrmid), its SPANK plugin (services/spank-qrmid) and Grid Engine's
# prolog/epilog (services/ge-qrmid), node environment.
# Real components: munged with its own key and socket, the qpu-emulator on 127.0.0.1,
# the qrmi library; the plugin suite also runs slurmctld/slurmd on 127.0.0.1.
set -euo pipefail
# IQM's own client (its environment, .venv-iqm) runs a job through qrmid's proxy
export IQM_CLIENT_PYTHON="$PWD/.venv-iqm/bin/python"
# qrmid's code type-checks strictly against the node environment it runs in
.venv/bin/mypy --strict --python-executable .venv-node/bin/python services/qrmid/qrmid
(cd services/qrmid && timeout 1200 ../../.venv-node/bin/python -m pytest -q -p no:cacheprovider tests)
# Grid Engine's prolog/epilog (the node's python3) against the same real qrmid, munged and emulator
(cd services/ge-qrmid && timeout 600 ../../.venv-node/bin/python -m pytest -q -p no:cacheprovider tests)
if [ -f services/spank-qrmid/tests/run.sh ]; then
  timeout 1200 bash services/spank-qrmid/tests/run.sh
fi
