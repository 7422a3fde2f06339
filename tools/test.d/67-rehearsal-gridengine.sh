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

# check_summary SUMMARY RUN [noop [reused]]
source "$(dirname "$0")/lib/rehearsal.sh"

echo "67-rehearsal-gridengine: cold start (removing $SITE_NAME's rehearsal)"
timeout 300 $PY -m qpusite down "$SITE"
rm -f "$SUMMARY"
timeout 3000 $PY -m qpusite up "$SITE" || true
check_summary "$SUMMARY" "cold up"
up_done=$(date +%s)

echo "67-rehearsal-gridengine: idempotence re-run"
rm -f "$SUMMARY"
timeout 900 $PY -m qpusite up "$SITE" || true
check_summary "$SUMMARY" "re-run" noop

echo "67-rehearsal-gridengine: check mode after converge"
rm -f "$SUMMARY"
timeout 900 $PY -m qpusite up "$SITE" --check || true
check_summary "$SUMMARY" "check" noop
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
