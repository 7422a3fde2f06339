# Emulated QPU service (services/qpu-emulator) and its role (roles/emulator).
# 1. type checks of the service against the node environment's packages; ansible-lint of the role;
# 2. the lab site's emulator config as the role renders it (inventory plugin -> template, stand-in
#    secrets) is accepted by the service's own parser, and the emulated QPUs' QRMI settings point
#    at the emulator with the URL layout the service serves;
# 3. the service's tests: the real service on 127.0.0.1, driven by qrmi, the vendors' SDKs
#    (IQM's client from its own environment, .venv-iqm), raw HTTP and schemathesis.
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH"
# IQM's client runs from its own environment (./bootstrap setup makes it); named here, its test
# runs (and fails if the environment is missing) instead of skipping
export IQM_CLIENT_PYTHON="$PWD/.venv-iqm/bin/python"
.venv/bin/mypy --python-executable .venv-node/bin/python services/qpu-emulator/qpu_emulator
ANSIBLE_INVENTORY_UNPARSED_FAILED=False timeout 600 .venv/bin/ansible-lint -q roles/emulator

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/python - "$tmp" <<'PY'
import sys
import yaml
from site_survey import derive
from site_survey.loader import load_site

site = load_site("lab")
# Stand-in values for every vaulted variable the QPUs name (a real site has them in its vault).
names = {var for r in derive.qrmi_resources(site) for var in r["secrets"].values()}
with open(f"{sys.argv[1]}/secrets.yml", "w") as f:
    yaml.safe_dump({n: f"test-{n}" for n in sorted(names)}, f)
# The emulated QPUs' QRMI settings use the layout the service serves on one port.
for q in site.qpus:
    if q.access.mode != "emulator":
        continue
    base = derive.emulator_base_url(site, q)
    env = derive.qrmi_settings(site, q)
    want = {
        "ibm-quantum-compute-service": {"QRMI_IBM_QCS_ENDPOINT": f"{base}/v1", "QRMI_IBM_QCS_IAM_ENDPOINT": base},
        "pasqal-cloud": {"QRMI_PASQAL_CLOUD_BASE_URL": base, "QRMI_PASQAL_CLOUD_AUTH_ENDPOINT": f"{base}/auth/token"},
        "ibm-quantum-system": {"QRMI_IBM_QS_ENDPOINT": f"{base}/quantum-system", "QRMI_IBM_QS_IAM_ENDPOINT": base},
        "iqm-server": {"QRMI_IQM_ISA_ENDPOINT": base},
    }.get(q.qrmi.type.value, {})
    for key, value in want.items():
        assert env.get(key) == value, f"{q.name}: {key}={env.get(key)!r}, the emulator serves {value!r}"
PY
mkdir "$tmp/render"
timeout 300 .venv/bin/ansible-playbook -i inventories/lab/site.yaml -e "@$tmp/secrets.yml" \
  -e "emulator_render_dir=$tmp/render" roles/emulator/tests/render.yml >"$tmp/render.log" 2>&1 \
  || { cat "$tmp/render.log"; exit 1; }
for cfg in "$tmp"/render/*.yaml; do
  .venv-node/bin/qpu-emulator --check --config "$cfg"
done

(cd services/qpu-emulator && timeout 1200 ../../.venv-node/bin/python -m pytest -q -p no:cacheprovider tests)
