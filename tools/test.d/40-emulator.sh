# Emulated QPU service (services/qpu-emulator), node environment.
# 1. type checks of the service against the node environment's packages;
# 2. the lab site's twins, as site_survey.derive renders them, are a valid service configuration;
# 3. the service's tests: the real service on 127.0.0.1, driven by qrmi, raw HTTP and schemathesis.
set -euo pipefail
.venv/bin/mypy --python-executable .venv-node/bin/python services/qpu-emulator/qpu_emulator

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/python - "$tmp" <<'PY'
import json, sys
from site_survey import derive
from site_survey.loader import load_site

site = load_site("lab")
out = sys.argv[1]
for host, twins in derive.emulator_twins(site).items():
    for t in twins:  # credentials come from the vault at rollout; placeholders here
        t["credentials"] = {"api_keys": ["k"]} if t["api"] == "ibm" else {"tokens": ["t"]}
    cfg = {"listen": {"host": "127.0.0.1", "port": 8480}, "state_dir": f"{out}/{host}.state", "twins": twins}
    with open(f"{out}/{host}.json", "w") as f:
        json.dump(cfg, f)
PY
for cfg in "$tmp"/*.json; do
  .venv-node/bin/qpu-emulator --config "$cfg" --check
done

(cd services/qpu-emulator && timeout 1200 ../../.venv-node/bin/python -m pytest -q -p no:cacheprovider tests)
