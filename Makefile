# Convenience targets; CI runs ./bootstrap test (tools/test.d/*.sh).
SHELL := /bin/bash
ROLES ?= common accounts munge qrmid spank_qrmid slurm node_exporter prometheus alertmanager grafana_dashboards \
	quantum_runtime emulator

.PHONY: molecule
# Every role's molecule scenario on systemd containers from the rehearsal's node image
# (build it once with `qpusite up lab --skip-rollout`). About 1-3 min per role here.
molecule:
	tools/molecule.sh $(ROLES)
