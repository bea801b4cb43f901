#!/usr/bin/env bash
# Model CD demo on this machine: three releases through `cifar10-release` showing both
# endings of a canary rollout.
#
#   1. first release   -> trained, blessed, pushed, deployed as the first `stable`
#   2. better model    -> canary 10% -> 50% -> 100%, analysis healthy -> PROMOTED
#   3. faulty model    -> pushed as if blessed (--inject-faulty constant: one class for
#                         every image) -> collapse detected -> ROLLED BACK, stable serves on
#   then an offline drift check: images held back from training (quiet) and inverted
#   ones (alert), against the stable model's drift reference
#
# Each release starts the model server (serving/), the canary router (rollout/canary/router.py)
# and a load generator (real CIFAR-10 test images) in-process on free ports.
# Usage: scripts/demo_release.sh [output root]   (default outputs/demo-release, recreated)
# Env: SKIP_BOOTSTRAP=1 uses the existing .venv; WINDOW=seconds per analysis window;
# CIFAR10_DATA_ROOT=cifar-10-batches-py folder for every step (training, load generator,
# drift check: one resolver, ingest.cifar10.resolve_data_root; default the shared subset).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${1:-outputs/demo-release}"
WINDOW="${WINDOW:-15}"

if [ -z "${SKIP_BOOTSTRAP:-}" ]; then
  if ! bash scripts/bootstrap.sh; then
    [ -x .venv/bin/python ] || { echo "[demo] no environment; bootstrap failed" >&2; exit 1; }
    echo "[demo] bootstrap failed (offline?); using the existing .venv" >&2
  fi
fi
PY=.venv/bin/python
# Keras 2, quiet TensorFlow and Google's environment warnings: each entry point sets them
# (models.keras_runtime.prepare_entry_point); nothing is silenced globally here.
rm -rf "$ROOT"
LOG="${ROOT%/}.log"  # TF/Beam chatter goes here; the terminal shows the release steps
mkdir -p "$(dirname "$LOG")" && : > "$LOG"
echo "[demo] output root $ROOT; full log $LOG"
started=$(date +%s)
release() { "$PY" -m demos.release --output-root "$ROOT" --window "$WINDOW" "$@" 2>>"$LOG"; }
banner() { printf '\n======== %s ========\n' "$*"; }

banner "1/3 first release: train on a new span, bless, push, deploy as stable"
release --limit 1000 --epochs 3 --accuracy-lower-bound 0.12 \
  | grep -E '^\[release|^(test accuracy|blessed|pushed)' || true

banner "2/3 a better model: canary rollout with live analysis"
set +e
release --limit 1500 --epochs 3 --accuracy-lower-bound 0.12 --load-rate 30 \
  -- --accuracy-max-drop 0.05 | grep -E '^\[release|^(test accuracy|blessed|pushed)'
good=${PIPESTATUS[0]}

banner "3/3 a faulty model pushed as if it had passed offline evaluation"
release --inject-faulty constant --load-rate 30 | grep -E '^\[release'
faulty=${PIPESTATUS[0]}
set -e

banner "input drift: images held back from training, then inverted ones, vs the stable model's drift reference"
# The releases trained on the first 1,500 training images at most, so data_batch_5 was never
# trained on; the drift reference is the stable model on the test split (another set of
# images). The verdict is on stdout; TF's chatter and the alert's log line go to $LOG.
"$PY" -m rollout.cli --output-root "$ROOT" drift --batch data_batch_5 2>>"$LOG" || true
"$PY" -m rollout.cli --output-root "$ROOT" drift --batch data_batch_5 --shift inverted \
  2>>"$LOG" || true

banner "rollout history"
"$PY" -m rollout.cli --output-root "$ROOT" history | cut -c1-160
"$PY" -m rollout.cli --output-root "$ROOT" history --alerts | cut -c1-160
banner "status"
"$PY" -m rollout.cli --output-root "$ROOT" status
echo
echo "good model: exit $good (0 = promoted); faulty model: exit $faulty (3 = rolled back)"
echo "demo wall time: $(( $(date +%s) - started )) s"
if [ "$good" -eq 0 ] && [ "$faulty" -eq 3 ]; then exit 0; fi
echo "[demo] unexpected outcome; last lines of $LOG:" >&2
tail -n 30 "$LOG" >&2
exit 1
