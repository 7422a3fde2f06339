# Rollout drills on the converged rehearsal (issue 13): a compute node down, a rollout as a
# non-root user with become, the node back, and a slurm.conf change pushed with --tags slurm.
#
# Needs the lab rehearsal up and converged: tools/test.d/60-rehearsal.sh calls this script
# (QPUSITE_DRILLS_LAB_UP=1) before it takes the lab down. Run on its own it drills a lab that
# is up (`qpusite up lab`) and skips when none is.
#
#   1. c2's container stopped; `up --keep-stopped` with the lab model as user 'deploy' with
#      become (rollout.connection): exit 0, summary names c2 (went without), smoke passes.
#   2. `up lab` (root, the model as it is): c2 started again, converged, smoke (c2 idle).
#   3. the model with one more slurm.conf key, `up --tags slurm`: slurm.conf changed, no task
#      of another role ran.
# Variants of the model live in a temporary directory whose .rehearsal links to the lab's
# (same site name: same containers, key, secrets and host keys).
# QPUSITE_DRILLS_SITE=<path to a lab-shaped site.yaml> drills a copy of the lab under another
# name and subnet instead (it must have compute hosts c1 and c2 and a host ctl).
set -euo pipefail
QPUSITE=".venv/bin/python -m qpusite"
LAB=${QPUSITE_DRILLS_SITE:-inventories/lab/site.yaml}
SITE_NAME=$(.venv/bin/python -c 'import sys; from site_survey import load_site; print(load_site(sys.argv[1]).site.name)' "$LAB")
SITE_DIR=$(cd "$(dirname "$LAB")" && pwd)
SUMMARY=reports/$SITE_NAME/rehearsal/summary.json
DOWN_HOST=c2

running() {
  .venv/bin/python - "$SITE_NAME" <<'PY'
import sys
from rehearsal.hosts import site_containers
from rehearsal.site_up import podman_for_project
states = site_containers(podman_for_project(), sys.argv[1])
sys.exit(0 if states and all(s.running for s in states.values()) else 1)
PY
}

if [ "${QPUSITE_DRILLS_LAB_UP:-0}" != 1 ] && ! running 2>/dev/null; then
  echo "62-rollout-drills: SKIPPED here — no lab rehearsal is up (60-rehearsal.sh runs these drills before its down)"
  exit 0
fi

started=$(date +%s)
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  # Whatever happened, the lab's containers run again (60-rehearsal takes them down next).
  .venv/bin/python -c 'from rehearsal.site_up import podman_for_project as p; p().run(["start", "qpusite-'"$SITE_NAME"'-'"$DOWN_HOST"'"], check=False)' || true
}
trap cleanup EXIT

# $1: directory; stdin: a Python expression editing `doc` (the lab model as a dict).
variant() {
  mkdir -p "$1"
  ln -sfn "$SITE_DIR/.rehearsal" "$1/.rehearsal"
  .venv/bin/python -c '
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
exec(sys.stdin.read())
yaml.safe_dump(doc, open(sys.argv[2], "w"), sort_keys=False)
' "$LAB" "$1/site.yaml"
}

# $1 drill name; $2: Python statements judging `doc` (summary.json) and `log` (the rollout log's text).
judge() {
  .venv/bin/python - "$SUMMARY" "$1" "$2" <<'PY'
import json, sys
path, drill, code = sys.argv[1:4]
doc = json.load(open(path))
rollout = doc.get("rollout") or {}
log = open(rollout["log"]).read() if rollout.get("log") else ""
problems = []
if rollout.get("returncode") != 0:
    problems.append(f"ansible-playbook exited {rollout.get('returncode')}")
if not doc["ok"]:
    problems.append("the site is not healthy: " + "; ".join(rollout.get("failures", [])
                    + [s["name"] + ": " + s["detail"] for s in doc["smoke"] if s["ok"] is False]))
exec(code)
totals = rollout.get("totals", {})
print(f"62-rollout-drills: {drill}: changed={totals.get('changed')} unreachable={totals.get('unreachable')} "
      f"went without={rollout.get('unavailable')} in {rollout.get('seconds', 0):.0f} s")
if problems:
    sys.exit(f"62-rollout-drills: {drill} FAILED: " + "; ".join(problems) + f" (log: {rollout.get('log')})")
PY
}

echo "62-rollout-drills: 1. $DOWN_HOST stopped, rollout as a non-root user with become"
.venv/bin/python -c 'from rehearsal.site_up import podman_for_project as p; p().run(["stop", "--time", "10", "qpusite-'"$SITE_NAME"'-'"$DOWN_HOST"'"])'
variant "$work/deploy" <<'PY'
for host in doc["hosts"]:
    host.get("connection", {}).pop("user", None)
doc["rollout"]["connection"] = {"user": "deploy", "become": True}
PY
rm -f "$SUMMARY"
timeout 1200 $QPUSITE up "$work/deploy/site.yaml" --keep-stopped || true
judge "down node + non-root" '
if rollout.get("unavailable") != ["'"$DOWN_HOST"'"]:
    problems.append("expected the run to go without '"$DOWN_HOST"', it names " + str(rollout.get("unavailable")))
if doc["hosts"]["'"$DOWN_HOST"'"]["container"] != "kept stopped":
    problems.append("the stopped container was started")
'

# The rollout logged in as deploy (sshd's journal on the controller), not as root.
.venv/bin/python - "$SITE_NAME" <<'PY'
import sys
from rehearsal.site_up import podman_for_project
login_count = "journalctl -u ssh --since -30min --no-pager | grep -c 'Accepted publickey for deploy' || true"
out = podman_for_project().run(["exec", f"qpusite-{sys.argv[1]}-ctl", "sh", "-c", login_count]).stdout.strip()
if not out.isdigit() or int(out) == 0:
    sys.exit("62-rollout-drills: down node + non-root FAILED: no SSH login as deploy on ctl")
print(f"62-rollout-drills: {out} SSH login(s) as deploy on ctl")
PY

echo "62-rollout-drills: 2. $DOWN_HOST back: the next run converges it"
rm -f "$SUMMARY"
timeout 1200 $QPUSITE up "$LAB" || true
judge "node back" '
if rollout.get("unavailable"):
    problems.append("still going without " + str(rollout["unavailable"]))
if not doc["hosts"]["'"$DOWN_HOST"'"]["recap"] or doc["hosts"]["'"$DOWN_HOST"'"]["recap"]["ok"] == 0:
    problems.append("'"$DOWN_HOST"' was not part of the run")
idle = [s for s in doc["smoke"] if s["name"] == "slurm nodes idle"]
if not idle or "'"$DOWN_HOST"'" in idle[0]["detail"] or not idle[0]["ok"]:
    problems.append("Slurm nodes not all idle: " + str(idle))
'

echo "62-rollout-drills: 3. a slurm.conf change pushed with --tags slurm"
variant "$work/slurmconf" <<'PY'
doc["software"]["scheduler"]["conf_overrides"]["MessageTimeout"] = 20
PY
rm -f "$SUMMARY"
timeout 900 $QPUSITE up "$work/slurmconf/site.yaml" --tags slurm || true
judge "--tags slurm" '
import re
ran = re.findall(r"^TASK \[(?:(\w+) : )?([^\]]*)\]", log, re.M)
others = sorted({f"{r} : {t}" for r, t in ran if r and r != "slurm" and not t.startswith(("Validat", "Publish the plugstack"))})
if others:
    problems.append("tasks of other roles ran: " + str(others[:5]))
if not re.search(r"TASK \[slurm : Render slurm.conf\][^\n]*\n(?:(?!TASK)[^\n]*\n)*?changed: \[ctl\]", log):
    problems.append("slurm.conf was not changed on the controller")
if not re.search(r"RUNNING HANDLER \[slurm : ", log):
    problems.append("no Slurm handler ran after the change")
'
echo "62-rollout-drills: done in $(( $(date +%s) - started )) s"
