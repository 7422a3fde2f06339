# Rehearsal of the Grid Engine site (issue 17): a cold `qpusite up lab-ge` (qmaster on ctl, execution hosts
# c1/c2, each QPU a consumable complex qpu_<name> on the global host), its smoke checks (execution hosts report,
# a `qsub -l qpu_<qpu>=1` job as a model user completes), the idempotence re-run (changed=0) and the
# `--check` run (changed=0); then, as a non-root user on the login host, one job holding qpu_<qpu> and a second
# one that must wait in `qw`; the acceptance smoke tier and l1's 042-044 (two QPUs, accounting, qdel releases); `qpusite down` and a check that nothing is left.
# Needs root and the packages in tools/apt/rehearsal.txt, like 60-rehearsal.sh. lab-ge has its own subnet
# (10.78.0.0/24), so it can run beside the lab rehearsal.
# QPUSITE_GE_SITE=<name or path> rehearses another Grid Engine site the same way;
# QPUSITE_GE_ACCEPT=0 leaves out the acceptance smoke tier.
set -euo pipefail
PY=.venv/bin/python
SITE=${QPUSITE_GE_SITE:-lab-ge}
ACCEPT=${QPUSITE_GE_ACCEPT:-1}

if [ ! -f site.yml ]; then
  echo "67-rehearsal-gridengine: SKIPPED — site.yml does not exist yet"
  exit 0
fi

SITE_NAME=$($PY -c 'import sys; from site_survey import load_site; print(load_site(sys.argv[1]).site.name)' "$SITE")
SUMMARY=reports/$SITE_NAME/rehearsal/summary.json
started=$(date +%s)

cleanup() { timeout 300 $PY -m qpusite down "$SITE" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# Fails unless the summary shows a healthy site; $1 says which run, $2 (optional) requires changed=0.
check_summary() {
  $PY - "$SUMMARY" "$1" "${2:-}" <<'PY'
import json, os, sys
path, run, want_noop = sys.argv[1], sys.argv[2], sys.argv[3] == "noop"
if not os.path.exists(path):
    sys.exit(f"67-rehearsal-gridengine: {run} FAILED: `qpusite up` stopped before writing {path}")
doc = json.load(open(path))
rollout = doc["rollout"] or {}
totals = rollout.get("totals", {})
problems = []
if not doc["ok"]:
    problems.append("the site is not healthy")
if rollout.get("returncode") != 0:
    problems.append(f"ansible-playbook exited {rollout.get('returncode')}")
problems += [f"smoke {s['name']}: {s['detail']}" for s in doc["smoke"] if s["ok"] is False]
if want_noop and totals.get("changed") != 0:
    changed = {h: v["recap"]["changed"] for h, v in doc["hosts"].items() if v["recap"] and v["recap"]["changed"]}
    problems.append(f"not a no-op: changed={totals.get('changed')} {changed}")
phases = ", ".join(f"{p['name']} {p['seconds']:.0f}s" for p in doc["phases"])
print(f"67-rehearsal-gridengine: {run}: {len(doc['hosts'])} hosts, changed={totals.get('changed')} "
      f"failed={totals.get('failed')}, {phases}")
if problems:
    sys.exit(f"67-rehearsal-gridengine: {run} FAILED: " + "; ".join(problems) + f" (log: {rollout.get('log')})")
PY
}

echo "67-rehearsal-gridengine: cold start (removing $SITE_NAME's rehearsal)"
timeout 300 $PY -m qpusite down "$SITE"
rm -f "$SUMMARY"
timeout 3000 $PY -m qpusite up "$SITE" || true
check_summary "cold up"
up_done=$(date +%s)

echo "67-rehearsal-gridengine: idempotence re-run"
rm -f "$SUMMARY"
timeout 900 $PY -m qpusite up "$SITE" || true
check_summary "re-run" noop

echo "67-rehearsal-gridengine: check mode after converge"
rm -f "$SUMMARY"
timeout 900 $PY -m qpusite up "$SITE" --check || true
check_summary "check" noop
rerun_done=$(date +%s)

echo "67-rehearsal-gridengine: a job holding a QPU runs, a second one for the same QPU waits in qw"
$PY -m rehearsal.gridengine_drill "$SITE"
drill_done=$(date +%s)

if [ "$ACCEPT" = 1 ]; then
  echo "67-rehearsal-gridengine: acceptance smoke"
  timeout 900 $PY -m qpusite accept "$SITE" --tier smoke
  # The issue's l1 proofs under Grid Engine: a two-QPU job (042), its accounting (043), qdel releases (044).
  echo "67-rehearsal-gridengine: acceptance l1 checks 042-044"
  timeout 900 $PY -m qpusite accept "$SITE" --tier l1 --check 42 --check 43 --check 44 -o "reports/$SITE_NAME/acceptance-l1"
fi
accept_done=$(date +%s)

echo "67-rehearsal-gridengine: down"
trap - EXIT
timeout 300 $PY -m qpusite down "$SITE"
$PY -m rehearsal.leftovers "$SITE"
echo "67-rehearsal-gridengine: ok — cold up $((up_done - started)) s, re-run and check $((rerun_done - up_done)) s," \
  "qw drill $((drill_done - rerun_done)) s, acceptance smoke $((accept_done - drill_done)) s," \
  "total $(($(date +%s) - started)) s"
