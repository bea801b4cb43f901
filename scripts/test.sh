#!/usr/bin/env bash
# One command for a newcomer and for CI: set up the environment (with the dev and airflow
# extras) if needed, lint, then run the whole test suite. Extra arguments go to pytest,
# e.g. `scripts/test.sh -m "not slow"` for the quick unit tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev,airflow
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -ra --durations=15 "$@"
