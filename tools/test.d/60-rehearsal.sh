# Rehearsal of the lab site on systemd containers, upgrade path first (issue 13):
#   1. cold `qpusite up` with the PREVIOUS RELEASE's site.yml, roles, plugins, services and lab model
#      (the commit in tools/previous-release, or QPUSITE_PREVIOUS_RELEASE; extracted with git archive
#      into a temporary directory) — the site's containers, network and rehearsal state removed first,
#      the cached node image kept;
#   2. a job holding a QPU, so qrmid writes an acquisition and an accounting record (rehearsal/upgrade.py);
#   3. `qpusite up` with the current tree: the upgrade — must succeed, keep qrmid's records, rotate no
#      secret, key or CA (the rehearsal state carries over), and pass the smoke check;
#   4. the idempotence re-run (containers reused, PLAY RECAP changed=0, smoke green);
#   5. a `--check --diff` run that must find nothing to change; the acceptance smoke tier; the drills;
#      then `qpusite down` and a check.
# Needs root and the packages in tools/apt/rehearsal.txt.
# QPUSITE_REHEARSAL_SITE=<name or path to site.yaml> rehearses another site the same way (a path is
# used by both releases; a name takes each release's own model). QPUSITE_PREVIOUS_RELEASE=none skips
# the upgrade (a plain cold up instead).
set -euo pipefail
QPUSITE=.venv/bin/qpusite
SITE=${QPUSITE_REHEARSAL_SITE:-lab}
PREVIOUS=${QPUSITE_PREVIOUS_RELEASE:-$(grep -v '^#' tools/previous-release | head -n 1)}

if [ ! -f site.yml ]; then
  echo "60-rehearsal: SKIPPED — site.yml does not exist yet, so there is no rollout to rehearse"
  exit 0
fi

SITE_NAME=$(.venv/bin/python -c 'import sys; from site_survey import load_site; print(load_site(sys.argv[1]).site.name)' "$SITE")
SUMMARY=reports/$SITE_NAME/rehearsal/summary.json
WORK=$(mktemp -d)

cleanup() { timeout 300 "$QPUSITE" down "$SITE" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

# check_summary SUMMARY RUN [noop [reused]]
source "$(dirname "$0")/lib/rehearsal.sh"

echo "60-rehearsal: cold start (removing $SITE_NAME's containers, network and rehearsal state)"
timeout 300 "$QPUSITE" down "$SITE"
rm -f "$SUMMARY"
if [ "$PREVIOUS" = none ]; then
  timeout 3000 "$QPUSITE" up "$SITE" || true  # judged from the summary below
  check_summary "$SUMMARY" "cold up"
else
  if ! git cat-file -e "$PREVIOUS^{commit}" 2>/dev/null; then
    echo "60-rehearsal: FAILED: previous release $PREVIOUS is not in this clone (a shallow clone? fetch it," \
      "or set QPUSITE_PREVIOUS_RELEASE to a commit that is)"
    exit 1
  fi
  PREV_TREE=$WORK/previous
  mkdir -p "$PREV_TREE" build
  git archive "$PREVIOUS" | tar -x -C "$PREV_TREE"
  # Wheelhouses are keyed by their sources' fingerprint, so the releases share the download cache safely.
  ln -s "$PWD/build" "$PREV_TREE/build"
  if [ -d collections ]; then ln -s "$PWD/collections" "$PREV_TREE/collections"; fi
  if [ -f "$SITE" ]; then PREV_SITE=$(readlink -f "$SITE"); else PREV_SITE=$PREV_TREE/inventories/$SITE/site.yaml; fi
  echo "60-rehearsal: previous release ${PREVIOUS:0:12} ($(git log -1 --format=%cs "$PREVIOUS")): cold up"
  # This tree's rehearsal (image, containers, keys) rolls out the previous release's tree and model.
  started=$(date +%s)
  QPUSITE_PLAYBOOK_DIR=$PREV_TREE timeout 3000 "$QPUSITE" up "$PREV_SITE" || true
  check_summary "$SUMMARY" "previous release cold up"
  if [ ! -f "$SITE" ]; then
    # The rehearsal state (SSH key, secrets, site CA) follows the model file: carry it over, never regenerate.
    rm -rf "inventories/$SITE/.rehearsal"
    cp -a "$PREV_TREE/inventories/$SITE/.rehearsal" "inventories/$SITE/.rehearsal"
  fi
  .venv/bin/python -m rehearsal.upgrade record "$SITE" "$WORK/before-upgrade.json"
  echo "60-rehearsal: upgrade to the current tree"
  rm -f "$SUMMARY"
  timeout 3000 "$QPUSITE" up "$SITE" || true
  check_summary "$SUMMARY" "upgrade"
  .venv/bin/python -m rehearsal.upgrade verify "$SITE" "$WORK/before-upgrade.json"
  echo "60-rehearsal: upgrade path ok in $(($(date +%s) - started)) s"
fi

echo "60-rehearsal: idempotence re-run"
rm -f "$SUMMARY"
timeout 900 "$QPUSITE" up "$SITE" || true
check_summary "$SUMMARY" "re-run" noop reused

echo "60-rehearsal: check mode after converge (site.yml --check --diff: nothing to change, nothing failed)"
rm -f "$SUMMARY"
timeout 900 "$QPUSITE" up "$SITE" --check || true
check_summary "$SUMMARY" "check" noop reused

# The site's own acceptance smoke tier (real sbatch --qpu jobs on every QPU, task-level sharing,
# license accounting, windows, a user's job explained, the console page); QPUSITE_REHEARSAL_ACCEPT=0 skips it.
if [ "${QPUSITE_REHEARSAL_ACCEPT:-1}" = 1 ]; then
  echo "60-rehearsal: acceptance smoke"
  accept_started=$(date +%s)
  timeout 900 "$QPUSITE" accept "$SITE" --tier smoke
  echo "60-rehearsal: acceptance smoke ok in $(($(date +%s) - accept_started)) s"
fi

# Drills that need the converged lab (issue 13: a node down, non-root rollout, --tags): before down.
if [ "$SITE_NAME" = lab ] && [ -f tools/test.d/62-rollout-drills.sh ]; then
  QPUSITE_DRILLS_LAB_UP=1 bash tools/test.d/62-rollout-drills.sh
fi

echo "60-rehearsal: down"
trap - EXIT
rm -rf "$WORK"
timeout 300 "$QPUSITE" down "$SITE"
.venv/bin/python -m rehearsal.leftovers "$SITE"
echo "60-rehearsal: down removed containers, network and state"
