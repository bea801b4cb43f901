#!/usr/bin/env bash
# Run the CIFAR-10 DAG here, in a real local Airflow: a throwaway AIRFLOW_HOME with SQLite
# and the SequentialExecutor, `airflow db migrate`, `airflow dags test` on a tiny subset, then
# every task's state and where the model went. Exits non-zero unless every task succeeded.
#
# Environment (all optional):
#   CIFAR10_DATA_ROOT      raw cifar-10-batches-py folder (default: ../shared subset or download)
#   CIFAR10_OUTPUT_ROOT    spans, artifacts, models (default: <workdir>/outputs)
#   CIFAR10_PIPELINE_ARGS  beam_runner.py flags (default: a tiny run, see below)
#   CIFAR10_BEAM_ARGS      Beam args for every component
#   AIRFLOW_TEST_WORKDIR   where AIRFLOW_HOME, outputs and the full log go (default: a
#                          temporary folder, removed after a passing run, kept after a failure)
#   AIRFLOW_TEST_KEEP=1    keep the temporary folder after a passing run too
#
# The first run installs the project's `airflow` extra into .venv (Apache Airflow and its
# dependencies, pinned by constraints.txt); it says so first and logs the install.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
py="$repo/.venv/bin/python"

if [ -n "${AIRFLOW_TEST_WORKDIR:-}" ]; then
  work="$AIRFLOW_TEST_WORKDIR"
  temporary=0
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/cifar10-airflow.XXXXXX")"
  temporary=1
fi
mkdir -p "$work"
work="$(cd "$work" && pwd)"
cleanup() {
  local rc=$?
  if [ "$temporary" -eq 1 ] && [ "$rc" -eq 0 ] && [ "${AIRFLOW_TEST_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
    echo "removed $work (AIRFLOW_TEST_KEEP=1 keeps it)"
  elif [ "$temporary" -eq 1 ]; then
    echo "kept $work (Airflow home, outputs, logs); remove it when done"
  fi
}
trap cleanup EXIT

airflow_version="$(sed -n 's/^apache-airflow==//p' constraints.txt)"
if ! "$py" -c 'import airflow' >/dev/null 2>&1; then
  echo "installing the project's 'airflow' extra into .venv: Apache Airflow $airflow_version"
  echo "  and its dependencies (about 95 packages, pinned by constraints.txt; once, a few minutes)"
fi
if ! bash scripts/bootstrap.sh dev,airflow >"$work/bootstrap.log" 2>&1; then
  tail -20 "$work/bootstrap.log" >&2
  echo "setting up .venv failed; see $work/bootstrap.log" >&2
  exit 1
fi
installed="$(grep -c '^ + ' "$work/bootstrap.log" || true)"
[ "$installed" -gt 0 ] && echo "installed $installed packages into .venv (list: $work/bootstrap.log)"
# Never the caller's Airflow: its own home, config and metadata DB.
export AIRFLOW_HOME="$work/airflow"
export AIRFLOW_CONFIG="$AIRFLOW_HOME/airflow.cfg"
export AIRFLOW__CORE__DAGS_FOLDER="$repo/airflow_dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=SequentialExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
# Importing TFX takes 20-40 s; Airflow's default import timeout is 30 s.
export AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT=300
export AIRFLOW__CORE__DAG_FILE_PROCESSOR_TIMEOUT=300
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}"
export CIFAR10_OUTPUT_ROOT="${CIFAR10_OUTPUT_ROOT:-$work/outputs}"
export CIFAR10_PIPELINE_ARGS="${CIFAR10_PIPELINE_ARGS:---limit 300 --epochs 1 --accuracy-lower-bound 0}"
export CIFAR10_AIRFLOW_RETRIES="${CIFAR10_AIRFLOW_RETRIES:-0}"  # a local test fails fast
export TF_CPP_MIN_LOG_LEVEL=2  # Airflow's own processes import TensorFlow too
export TMPDIR="$work/tmp"  # TF's autograph and Beam's temp files stay with the run
mkdir -p "$TMPDIR"

dag_id="$("$py" -c 'from airflow_dags import cifar10_airflow_settings as s; print(s.AIRFLOW_DAG_ID)')"
log="$work/dags-test.log"
echo "airflow home: $AIRFLOW_HOME"
echo "outputs:      $CIFAR10_OUTPUT_ROOT"
echo "pipeline:     $CIFAR10_PIPELINE_ARGS ${CIFAR10_BEAM_ARGS:+-- $CIFAR10_BEAM_ARGS}"
mkdir -p "$AIRFLOW_HOME"
"$repo/.venv/bin/airflow" db migrate >"$work/db-migrate.log" 2>&1 \
  || { echo "airflow db migrate failed; see $work/db-migrate.log" >&2; exit 1; }

echo "airflow dags test $dag_id (full log: $log)"
start=$(date +%s)
set +e
"$repo/.venv/bin/airflow" dags test "$dag_id" 2>&1 | tee "$log" | awk '
  /Marking task as [A-Z_]+\./ {
    match($0, /task_id=[^,]+/); task = substr($0, RSTART + 8, RLENGTH - 8)
    match($0, /Marking task as [A-Z_]+/); state = substr($0, RSTART + 16, RLENGTH - 16)
    printf "  %-32s %s\n", task, state; fflush()
  }'
rc=${PIPESTATUS[0]}
set -e
echo "airflow dags test exited $rc after $(( $(date +%s) - start )) s"
if [ "$rc" -ne 0 ]; then  # the first failed task's exception, without the traceback
  echo "first error:"
  awk '/ERROR - Task failed with exception/ { tb = 1; next }
       tb && /^[^ \t[]/ && !/^Traceback/ { msg = 1 }
       msg && (/^\[/ || /^Traceback/ || ++n > 15) { exit }
       msg { print "  " $0 }' "$log"
fi

# The final word: task states from Airflow's metadata DB, and the pushed model.
"$py" - "$AIRFLOW_HOME/airflow.db" "$dag_id" "$rc" <<'EOF'
import logging
import sqlite3
import sys

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before pipeline.summary loads TensorFlow
# TFMA's reader logs a deprecation WARNING per file read; errors still show.
logging.getLogger("tensorflow").setLevel(logging.ERROR)

from airflow_dags import cifar10_airflow_settings as settings
from pipeline import configs, summary
from pipeline.components.baseline_resolver import RESOLVER_ID

db, dag_id, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
with sqlite3.connect(db) as conn:
    run = conn.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC "
                       "LIMIT 1", (dag_id,)).fetchone()
    states = conn.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND "
                          "run_id = ? ORDER BY end_date IS NULL, end_date",
                          (dag_id, run[0] if run else "")).fetchall()
print(f"\ndag run: {run[0] if run else '-'}  state: {run[1] if run else 'none'}")
for task, state in states:
    print(f"  {task:32s} {state or 'none'}")
config = settings.pipeline_config()
metadata_db = config.metadata_path
if metadata_db.exists():  # the same summary table as the Beam runner, from ML Metadata
    result = summary.read_run(metadata_db)
    print("\n" + summary.format_table(result))
    floor = ("the default for the class count (0.30 for CIFAR-10's ten)"
             if config.accuracy_lower_bound is None else f"{config.accuracy_lower_bound:.4f}")
    print(f"blessing bounds: test accuracy at least {floor}, at most "
          f"{config.accuracy_max_drop:.4f} below the baseline")
    if config.accuracy_lower_bound == 0:
        print("  (this smoke run's bound is 0 (--accuracy-lower-bound 0): any model that trains "
              "is blessed, which proves the DAG runs end to end, not that the model is good; "
              f"the pipeline's own bound is {configs.ACCURACY_LOWER_BOUND:.2f})")
    if result.components.get(RESOLVER_ID) == "CACHED":
        print(f"  ({RESOLVER_ID} CACHED: under Airflow, TFX's resolver driver records every "
              "lookup as CACHED; it only reads ML Metadata and is not a cache hit)")
serving = config.serving_model_dir
models = sorted(p.parent for p in serving.glob("*/saved_model.pb"))
print(f"models in {serving}: " + (", ".join(p.name for p in models) or "none"))
ok = rc == 0 and bool(states) and all(state == "success" for _, state in states)
print("OK: every task succeeded" if ok else "FAILED: not every task succeeded")
sys.exit(0 if ok else 1)
EOF
