# Unit and integration tests of the controller tooling (controller environment).
set -euo pipefail
.venv/bin/python -m pytest -q tests
