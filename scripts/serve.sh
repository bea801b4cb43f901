#!/usr/bin/env bash
# Serve the pushed models the TF Serving way: gRPC on 8500, REST on 8501 (flags of
# tensorflow_model_server; see `scripts/serve.sh --help`). Sets up .venv if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/cifar10-serve "$@"
