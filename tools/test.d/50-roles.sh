# Rollout roles (issue 3): ansible-lint (production profile) on site.yml and every
# role, and promtool unit tests of the alert/recording rules. The role tests under
# tests/roles run with the unit tests (20-unit.sh); molecule runs via `make molecule`.
set -euo pipefail
# Syntax checks need an inventory; the lab model is the embedded one.
export ANSIBLE_INVENTORY=inventories/lab/site.yaml
.venv/bin/ansible-lint --offline --nocolor -q --profile production site.yml roles/*
for rules_test in tests/roles/prometheus/*.test.yml; do
  promtool test rules "$rules_test"
done
