#!/usr/bin/env bash
# Create (or reuse) the project's virtualenv in .venv with the pinned set from
# constraints.txt. Idempotent: a stamp keyed on the lock and pyproject.toml skips the
# install when nothing changed. Usage: scripts/bootstrap.sh [extras, e.g. dev,airflow]
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-}"
VENV="${VENV:-.venv}"

say() { printf '[bootstrap] %s\n' "$*" >&2; }

find_python310() {
  local candidates=()
  [ -n "${PYTHON310:-}" ] && candidates+=("$PYTHON310")
  command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
  local root
  root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
  for p in "$root"/versions/3.10*/bin/python /usr/local/bin/python3.10 /usr/bin/python3.10; do
    [ -x "$p" ] && candidates+=("$p")
  done
  for p in "${candidates[@]}"; do
    if "$p" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

find_uv() {
  if command -v uv >/dev/null 2>&1; then command -v uv; return 0; fi
  [ -x "$HOME/.local/bin/uv" ] && { echo "$HOME/.local/bin/uv"; return 0; }
  say "uv not found; installing it with pip --user (from PyPI)"
  python3 -m pip install --user --quiet uv >&2
  [ -x "$HOME/.local/bin/uv" ] && { echo "$HOME/.local/bin/uv"; return 0; }
  return 1
}

PY="$(find_python310)" || {
  say "ERROR: TFX 1.16 needs Python 3.10 and none was found."
  say "Install one (e.g. 'pyenv install 3.10.13' or 'apt install python3.10'),"
  say "or point PYTHON310=/path/to/python3.10 at it, then re-run."
  exit 2
}
UV="$(find_uv)" || { say "ERROR: could not find or install uv (pip install uv)."; exit 2; }

lock_hash="$(cat constraints.txt pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)"
stamp="$VENV/.bootstrap-$lock_hash-${EXTRAS//,/_}"
if [ -f "$stamp" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $PY"
  "$UV" venv --seed --python "$PY" "$VENV" >&2
fi
spec="."
[ -n "$EXTRAS" ] && spec=".[$EXTRAS]"
say "installing $spec pinned by constraints.txt (first time: a few minutes)"
start=$(date +%s)
# --compile-bytecode: ship .pyc files. Where PYTHONDONTWRITEBYTECODE is set (as on these
# machines) Python would otherwise re-compile TF/TFX/Beam sources on every start (~20 s).
"$UV" pip install --compile-bytecode --python "$VENV/bin/python" -c constraints.txt -e "$spec" >&2
find "$VENV" -maxdepth 1 -name ".bootstrap-*" ! -name ".bootstrap-$lock_hash-*" -delete
touch "$stamp"
say "environment ready in $(( $(date +%s) - start )) s"
