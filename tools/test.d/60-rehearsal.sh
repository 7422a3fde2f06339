# Rehearsal of the lab site on systemd containers: a cold `qpusite up lab` (the site's
# containers, network and rehearsal state removed first; the cached node image is kept),
# the idempotence re-run (containers reused, PLAY RECAP changed=0, smoke green), then
# `qpusite down lab`. Needs root and the packages in tools/apt/rehearsal.txt.
set -euo pipefail
QPUSITE=.venv/bin/qpusite
SUMMARY=reports/lab/rehearsal/summary.json

if [ ! -f site.yml ]; then
  echo "60-rehearsal: SKIPPED — site.yml does not exist yet, so there is no rollout to rehearse"
  exit 0
fi

cleanup() { timeout 300 "$QPUSITE" down lab >/dev/null 2>&1 || true; }
trap cleanup EXIT

# Fails unless the summary shows a healthy site; $1 says which run, $2 (optional) requires changed=0.
check_summary() {
  .venv/bin/python - "$SUMMARY" "$1" "${2:-}" <<'PY'
import json, sys
path, run, want_noop = sys.argv[1], sys.argv[2], sys.argv[3] == "noop"
doc = json.load(open(path))
rollout = doc["rollout"] or {}
totals = rollout.get("totals", {})
problems = []
if not doc["ok"]:
    problems.append("the site is not healthy")
if rollout.get("returncode") != 0:
    problems.append(f"ansible-playbook exited {rollout.get('returncode')}")
bad = [s["name"] + ": " + s["detail"] for s in doc["smoke"] if s["ok"] is False]
problems += [f"smoke {b}" for b in bad]
if want_noop:
    if totals.get("changed") != 0:
        changed = {h: v["recap"]["changed"] for h, v in doc["hosts"].items() if v["recap"] and v["recap"]["changed"]}
        problems.append(f"re-run is not a no-op: changed={totals.get('changed')} {changed}")
    recreated = [h for h, v in doc["hosts"].items() if v["container"] != "reused"]
    if recreated:
        problems.append(f"containers not reused on re-run: {recreated}")
phases = ", ".join(f"{p['name']} {p['seconds']:.0f}s" for p in doc["phases"])
print(f"60-rehearsal: {run}: {len(doc['hosts'])} hosts, changed={totals.get('changed')} "
      f"failed={totals.get('failed')}, {phases}")
if problems:
    print(f"60-rehearsal: {run} FAILED: " + "; ".join(problems) + f" (log: {rollout.get('log')})")
    sys.exit(1)
PY
}

echo "60-rehearsal: cold start (removing lab's containers, network and rehearsal state)"
timeout 300 "$QPUSITE" down lab
rm -f "$SUMMARY"
timeout 3000 "$QPUSITE" up lab
check_summary "cold up"

echo "60-rehearsal: idempotence re-run"
rm -f "$SUMMARY"
timeout 900 "$QPUSITE" up lab
check_summary "re-run" noop

echo "60-rehearsal: down"
trap - EXIT
timeout 300 "$QPUSITE" down lab
.venv/bin/python - <<'PY'
import os, subprocess
from rehearsal.site_up import podman_for_project
podman = podman_for_project()
left = podman.run(["ps", "-a", "--format", "{{.Names}}", "--filter", "name=^qpusite-lab-"]).stdout.split()
assert not left, f"containers left after down: {left}"
assert not podman.ok(["network", "exists", "qpusite-lab"]), "network qpusite-lab left after down"
assert not os.path.exists("inventories/lab/.rehearsal"), "rehearsal state left after down"
print("60-rehearsal: down removed containers, network and state")
PY
