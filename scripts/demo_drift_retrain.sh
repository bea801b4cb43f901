#!/usr/bin/env bash
# Drift that retrains, end to end on this machine, with no command typed after the start:
#
#   1. first release: train on a span of the CIFAR-10 data, deploy as `stable`, build its
#      drift reference (test split through the model)
#   2. the serving stack as separate processes: model server, canary router (drift
#      monitoring with on_drift: retrain) and `cifar10-release --watch` (the plain
#      scheduler; the Airflow DAG cifar10_release does the same)
#   3. new labelled data arrives (half of the images inverted) and clients start sending
#      inverted images -> the router's drift monitor alerts and files a retrain request
#   4. the watcher claims it, trains on the newest span (all of the new data, 10 epochs),
#      evaluates, canaries the new version on the live traffic, promotes or rolls back
#   5. the request's outcome and the history
#
# Usage: scripts/demo_drift_retrain.sh [output root]   (default outputs/demo-drift, recreated)
# Env: CIFAR10_DATA_ROOT (else the shared subset), SHIFT (default inverted; see
#      rollout/drift/shifts.py), WINDOW seconds per analysis window (15), SKIP_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${1:-outputs/demo-drift}"
SHIFT="${SHIFT:-inverted}"
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
mkdir -p "$ROOT"
LOG="${ROOT%/}.log"  # TF/Beam chatter and the background processes' output
: > "$LOG"
started=$(date +%s)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
banner() { printf '\n======== %s ========\n' "$*"; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
DATA_ARGS=()
[ -n "${CIFAR10_DATA_ROOT:-}" ] && DATA_ARGS=(--data-root "$CIFAR10_DATA_ROOT")
echo "[demo] output root $ROOT; log $LOG; shift $SHIFT"

# The demo's policy: the shipped one with on_drift: retrain (thresholds unchanged).
POLICY="$ROOT/policy.yaml"
"$PY" - "$POLICY" <<'EOF'
import sys, yaml
from rollout import settings
policy = yaml.safe_load(settings.ROLLOUT_POLICY_PATH.read_text())
policy["drift"]["on_drift"] = "retrain"
open(sys.argv[1], "w").write(yaml.safe_dump(policy, sort_keys=False))
EOF
TRAIN=(--limit 1000 --epochs 3 --accuracy-lower-bound 0.12)
# What the terminal shows of a release: its own lines, the pipeline's per-component
# progress ("[   12.3s] Trainer ... done in 9.8s") and the evaluation summary.
WATCH_LINES='^\[release|^\[ *[0-9.]+s\] .* \.\.\. (done|failed)|^(test accuracy|blessed|pushed)'

banner "1/5 first release: train, bless, push, deploy as stable (+ drift reference)"
"$PY" -m rollout.release --output-root "$ROOT" --policy "$POLICY" "${DATA_ARGS[@]}" \
  "${TRAIN[@]}" 2>>"$LOG" | grep -E '^\[release|^(test accuracy|blessed|pushed)'

banner "2/5 serving stack: model server, canary router (drift -> retrain), release watcher"
GRPC=$(free_port); REST=$(free_port); RGRPC=$(free_port); RREST=$(free_port)
"$PY" -m serving.cli --port "$GRPC" --rest_api_port "$REST" \
  --model_config_file "$ROOT/serving/models.config" --model_config_file_poll_wait_seconds 1 \
  --file_system_poll_wait_seconds 1 --allow_version_labels_for_unavailable_models true \
  >>"$LOG" 2>&1 &
PIDS+=($!)
"$PY" -m rollout.cli --output-root "$ROOT" --policy "$POLICY" route \
  --upstream-rest "http://127.0.0.1:$REST" --upstream-grpc "127.0.0.1:$GRPC" \
  --rest-port "$RREST" --grpc-port "$RGRPC" >>"$LOG" 2>&1 &
PIDS+=($!)
for _ in $(seq 60); do
  curl -sf "http://127.0.0.1:$RREST/v1/models/cifar10" >/dev/null 2>&1 && break; sleep 1
done
echo "model server :$REST, router :$RREST (drift reference: $(ls "$ROOT"/rollout/drift/))"
NEW_DATA="$ROOT/new-data"
# The watcher retrains on the newest data: the folder new data lands in.
# Unbuffered, so step 4 can show its lines as they are written.
PYTHONUNBUFFERED=1 "$PY" -m rollout.release --output-root "$ROOT" --policy "$POLICY" --watch \
  --poll-seconds 2 --max-runs 1 --watch-seconds 1200 --data-root "$NEW_DATA" \
  --server "http://127.0.0.1:$REST" --router "http://127.0.0.1:$RREST" --window "$WINDOW" \
  --epochs 10 --accuracy-lower-bound 0.12 -- --accuracy-max-drop 0.05 \
  >"$ROOT/watch.out" 2>>"$LOG" &
WATCHER=$!
PIDS+=($WATCHER)

banner "3/5 the world changes: new data and live traffic with $SHIFT images"
"$PY" -m demos.drift_retrain make-data "${DATA_ARGS[@]}" --out "$NEW_DATA" --shift "$SHIFT" \
  --fraction 0.5 2>>"$LOG"
"$PY" -m demos.drift_retrain traffic "${DATA_ARGS[@]}" --router "http://127.0.0.1:$RREST" \
  --shift "$SHIFT" --rate 30 >>"$LOG" 2>&1 &
PIDS+=($!)
"$PY" -m demos.drift_retrain wait --output-root "$ROOT" --for alert --timeout 300 2>>"$LOG"

banner "4/5 no one types a command: the watcher retrains, canaries, decides"
# The watcher's log as it happens (one line per pipeline component while it trains, then
# each analysis window); it ends when the watcher does (--max-runs 1, --watch-seconds).
set +e
tail -n +1 -f --pid="$WATCHER" "$ROOT/watch.out" \
  | grep --line-buffered -E "$WATCH_LINES"
wait "$WATCHER"
set -e
# The request's recorded outcome, after the log that led to it.
"$PY" -m demos.drift_retrain wait --output-root "$ROOT" --for outcome --timeout 30 2>>"$LOG"

banner "5/5 history and status"
"$PY" -m rollout.cli --output-root "$ROOT" history | cut -c1-170
"$PY" -m rollout.cli --output-root "$ROOT" status
echo
echo "demo wall time: $(( $(date +%s) - started )) s"
"$PY" - "$ROOT" <<'EOF'
import sys
from rollout import retrain_requests
from rollout.state import StatePaths
outcomes = retrain_requests.outcomes(StatePaths.for_output_root(sys.argv[1]))
sys.exit(0 if outcomes and outcomes[-1]["status"] == "done" else 1)
EOF
