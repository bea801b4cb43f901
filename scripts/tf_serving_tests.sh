#!/usr/bin/env bash
# Run TF Serving's own model-server tests (tensorflow_model_server_test.py), unchanged,
# against this repository's server, offline, and print the tally:
#   scripts/tf_serving_tests.sh [TF_SERVING_CHECKOUT] [--test NAME ...] [--workdir DIR]
# The checkout is a TF Serving work tree or git repository (default: $TF_SERVING_CHECKOUT,
# else the local mirror when present); nothing of it is copied into this repository.
# See serving/testing/tf_serving_suite.py and docs/serving.md ("TF Serving's own tests").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m serving.testing.tf_serving_suite "$@"
