#!/usr/bin/env bash
# The main job on a site (default: lab): validate, survey, render.
set -euo pipefail
cd "$(dirname "$0")/.."
SITE=${1:-lab}
QPUSITE=.venv/bin/qpusite
$QPUSITE validate "$SITE"
$QPUSITE survey "$SITE" --output "reports/$SITE/survey" || status=$?
$QPUSITE render "$SITE" --output "build/$SITE"
exit "${status:-0}"
