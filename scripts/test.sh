#!/usr/bin/env bash
# One command for a newcomer and for CI: set up the environment (with the dev, airflow and kubeflow
# extras) if needed, lint, check formatting and types, then run the whole test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not slow"` for the quick unit tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev,airflow,kubeflow
# The real servers and tools some tests start (MariaDB, PostgreSQL, Prometheus, Chromium).
if ! bash scripts/install_system_packages.sh; then
  echo "[test] could not install the Debian packages in .ci/apt-packages.txt (needs root or" \
       "passwordless sudo): the tests that need them are skipped here (CI fails them)" >&2
fi
.venv/bin/ruff check .            # lint, including unused noqa comments (RUF100)
.venv/bin/ruff format --check .   # formatting
.venv/bin/mypy                    # types of the annotated packages (pyproject.toml)
exec .venv/bin/python -m pytest -ra --durations=15 "$@"
