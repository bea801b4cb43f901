#!/usr/bin/env bash
# One command for a newcomer: set up the environment if needed, then run the whole pipeline
# on the data it finds (see beam_runner.py --help; extra arguments are passed through).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python beam_runner.py "$@"
