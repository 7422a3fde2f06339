#!/usr/bin/env bash
# The main job on a site (default: lab): validate the model, survey the facility,
# rehearse the whole rollout on local systemd containers, then prove it with the
# acceptance suite's smoke tier. Ends with the acceptance summary and report path.
set -euo pipefail
cd "$(dirname "$0")/.."
SITE=${1:-lab}
QPUSITE=.venv/bin/qpusite

$QPUSITE validate "$SITE"
# A blocker in the survey is a finding about the facility, not a reason to stop a rehearsal.
$QPUSITE survey "$SITE" --output "reports/$SITE/survey" || survey_status=$?
$QPUSITE up "$SITE"
$QPUSITE accept "$SITE" --tier smoke
echo
echo "survey:     reports/$SITE/survey/survey.html"
echo "acceptance: reports/$SITE/acceptance/ (report.html, junit.xml)"
echo "the rehearsal keeps running; remove it with: .venv/bin/qpusite down $SITE"
exit "${survey_status:-0}"
