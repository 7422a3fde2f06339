#!/usr/bin/env bash
# Run molecule scenarios (roles/<role>/molecule/default) with the project's podman:
# the same project-local containers.conf/storage as the rehearsal, and its cached
# node image (`qpusite up lab --skip-rollout` builds it). Usage: tools/molecule.sh ROLE...
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${QPUSITE_STATE_DIR:-$PWD/.state}
export CONTAINERS_CONF=$STATE/podman/containers.conf
export CONTAINERS_STORAGE_CONF=$STATE/podman/storage.conf
export PATH=$PWD/.venv/bin:$PATH
if [ ! -f "$CONTAINERS_CONF" ]; then
  echo "no project podman configuration at $CONTAINERS_CONF: run 'qpusite up lab --skip-rollout' once" >&2
  exit 2
fi
if [ -z "${QPUSITE_NODE_IMAGE:-}" ]; then
  QPUSITE_NODE_IMAGE=$(podman images --filter reference=localhost/qpusite-node --format '{{.Repository}}:{{.Tag}}' | head -1)
fi
if [ -z "$QPUSITE_NODE_IMAGE" ]; then
  echo "no node image (localhost/qpusite-node): run 'qpusite up lab --skip-rollout' once to build it" >&2
  exit 2
fi
export QPUSITE_NODE_IMAGE
status=0
for role in "$@"; do
  echo "== molecule: $role"
  (cd "roles/$role" && molecule test) || { status=1; echo "!! molecule failed: $role" >&2; }
done
exit $status
