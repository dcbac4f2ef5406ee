#!/usr/bin/env bash
# Set up Weightshift (first time: a virtual environment in .venv) and run it.
#   bash run.sh              open the browser UI on the baseline (prints its URL; Ctrl-C stops it)
#   bash run.sh test         run the fast test suite (`bash run.sh test -m "slow or browser"` runs the rest)
#   bash run.sh ARGS...      run `weightshift ARGS...` (e.g. bash run.sh run policy_price_war)
set -euo pipefail
cd "$(dirname "$0")"

need_major=3
need_minor=12

ok_python() {  # prints the interpreter's path if it is Python >= 3.12
  local py=$1
  command -v "$py" >/dev/null 2>&1 || [ -x "$py" ] || return 1
  "$py" -c "import sys; sys.exit(0 if sys.version_info >= ($need_major, $need_minor) else 1)" 2>/dev/null || return 1
  command -v "$py" 2>/dev/null || echo "$py"
}

find_python() {
  local c
  for c in "${WEIGHTSHIFT_PYTHON:-}" python3.13 python3.12 python3 python; do
    [ -n "$c" ] && ok_python "$c" && return 0
  done
  local root
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for c in "$root"/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
    [ -e "$c" ] && ok_python "$c" && return 0
  done
  return 1
}

setup() {
  local stamp=.venv/.weightshift-installed
  if [ ! -x .venv/bin/python ]; then
    local py
    if ! py=$(find_python); then
      echo "weightshift: needs Python >= 3.12 (Mesa 3.5 requires it) and none was found." >&2
      echo "  Install one, e.g. 'apt-get install python3.12 python3.12-venv', or 'pyenv install 3.12'," >&2
      echo "  or point WEIGHTSHIFT_PYTHON at an interpreter, then run this again." >&2
      exit 2
    fi
    echo "Setting up .venv with $py ($("$py" --version 2>&1))" >&2
    "$py" -m venv .venv
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    # pip's and the build backend's chatter goes to a log, shown only if the install fails
    local log=.venv/setup.log
    echo "Installing Weightshift and its dependencies into .venv (first time: 1-3 minutes; log: $log)" >&2
    if ! { .venv/bin/python -m pip install --quiet --upgrade pip && .venv/bin/python -m pip install --quiet -e ".[test]"; } >"$log" 2>&1; then
      cat "$log" >&2
      echo "weightshift: setup failed (the log above is in $log); fix the cause and run this again." >&2
      exit 2
    fi
    touch "$stamp"
  fi
}

setup
case "${1:-}" in
  "")
    # The main job: the browser UI (docs/ui.md) on the calibrated baseline; it prints its URL.
    # The baseline report stays one command away: bash run.sh run baseline --out results/baseline
    exec .venv/bin/weightshift ui ;;
  test)
    shift
    .venv/bin/ruff check sim calibration tests
    .venv/bin/ruff format --check sim calibration tests
    # pytest's exit code 5 means "no test selected" (e.g. -m slow on a branch without slow tests): not a failure
    rc=0
    .venv/bin/python -m pytest "$@" || rc=$?
    [ "$rc" -eq 5 ] && { echo "(no tests selected)" >&2; rc=0; }
    exit "$rc" ;;
  *)
    exec .venv/bin/weightshift "$@" ;;
esac
