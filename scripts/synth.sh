#!/usr/bin/env bash
# make synth [MODULES="a b"]: Yosys generic synthesis of every RTL module (or the listed ones)
# at its default parameters (or at SYNTH_PARAMS_<module>="-set NAME VALUE ..."); submodules are
# loaded from rtl/ by name. Cell counts in build/synth/<module>.txt and a summary table.
# Memories are mapped to flip-flops (no SRAM macros in a generic flow): big buffers dominate.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/synth
printf "%-24s %10s\n" module cells
files=${MODULES:+$(printf "rtl/%s.v " $MODULES)}
for f in ${files:-rtl/*.v}; do
  top=$(basename "$f" .v)
  var="SYNTH_PARAMS_${top}"; chp=${!var:-}
  log=build/synth/$top.txt
  if ! yosys -q -l "$log" -p "verilog_defaults -add -sv -Irtl; read_verilog $f; ${chp:+chparam $chp $top;} hierarchy -libdir rtl -top $top; synth -top $top; stat" >/dev/null 2>&1; then
    echo "synth: yosys FAILED on $f (see $log)"; exit 1
  fi
  cells=$(grep -E "^\s+Number of cells:" "$log" | tail -1 | awk '{print $4}')
  printf "%-24s %10s\n" "$top" "$cells"
done
