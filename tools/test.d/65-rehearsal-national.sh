# Twin rehearsal of a production-shaped site (issue 13): a cold `qpusite up national --twins`
# (its QPUs replaced by emulator twins, each partition sampled to a few compute nodes, on
# national's own addresses), the acceptance smoke tier against the twin copy, then
# `qpusite down national` and a check that nothing is left. Needs root and the packages in
# tools/apt/rehearsal.txt, like 60-rehearsal.sh.
# QPUSITE_TWIN_SITE=<name or path> rehearses another site the same way;
# QPUSITE_TWINS_PER_PARTITION (default 1) keeps CI's copy small.
set -euo pipefail
PY=.venv/bin/python
SITE=${QPUSITE_TWIN_SITE:-national}
PER_PARTITION=${QPUSITE_TWINS_PER_PARTITION:-1}

if [ ! -f site.yml ]; then
  echo "65-rehearsal-national: SKIPPED — site.yml does not exist yet"
  exit 0
fi

SITE_NAME=$($PY -c 'import sys; from site_survey import load_site; print(load_site(sys.argv[1]).site.name)' "$SITE")
SITE_FILE=$($PY -c 'import sys; from site_survey.loader import resolve_site_path; print(resolve_site_path(sys.argv[1]))' "$SITE")
TWIN_FILE=$(dirname "$SITE_FILE")/.rehearsal/twins/site.yaml
SUMMARY=reports/$SITE_NAME/rehearsal/summary.json
started=$(date +%s)

cleanup() { timeout 300 $PY -m qpusite down "$SITE" >/dev/null 2>&1 || true; }
trap cleanup EXIT
# check_summary SUMMARY RUN [noop [reused]]
source "$(dirname "$0")/lib/rehearsal.sh"

echo "65-rehearsal-national: cold start (removing $SITE_NAME's rehearsal)"
timeout 300 $PY -m qpusite down "$SITE"
rm -f "$SUMMARY"
timeout 3000 $PY -m qpusite up "$SITE" --twins --twins-per-partition "$PER_PARTITION" || true
check_summary "$SUMMARY" "up --twins"
up_done=$(date +%s)

echo "65-rehearsal-national: acceptance smoke against the twin copy"
timeout 900 $PY -m qpusite accept "$TWIN_FILE" --tier smoke
accept_done=$(date +%s)

echo "65-rehearsal-national: down"
trap - EXIT
timeout 300 $PY -m qpusite down "$SITE"
$PY -m rehearsal.leftovers "$SITE"
echo "65-rehearsal-national: ok — up --twins $((up_done - started)) s, acceptance smoke $((accept_done - up_done)) s," \
  "total $(($(date +%s) - started)) s"
