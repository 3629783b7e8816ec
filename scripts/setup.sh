#!/usr/bin/env bash
# One-time (idempotent) set-up: system tools via apt where missing, pinned Python deps in .venv.
# Re-running is quick: a stamp file records the hash of the requirement files.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv

need_apt=()
command -v iverilog >/dev/null 2>&1 || need_apt+=(iverilog)
command -v genhtml >/dev/null 2>&1 || need_apt+=(lcov)
command -v verilator_coverage >/dev/null 2>&1 || need_apt+=(verilator)
command -v yosys >/dev/null 2>&1 || need_apt+=(yosys)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing with apt: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${need_apt[*]}" >&2
    echo "setup: run as root:  apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
fi

stamp=$VENV/.spatten-setup
want=$(cat requirements.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
PY=${PYTHON:-python3}
"$PY" -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 required"'
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -r requirements.txt
"$VENV/bin/pip" install -q --no-deps -r requirements-nodeps.txt
# (the build backend warns about editable installs on stderr; the warning is not ours)
PYTHONWARNINGS=ignore "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
echo "setup: .venv ready"
