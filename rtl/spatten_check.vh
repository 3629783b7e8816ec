// Elaboration-time parameter checks shared by every module.
//
// Use inside a labelled generate-if:  `SPATTEN_ELAB_FATAL(1, "mod: P must be ... (got %0d)", P);
// Both Yosys and Verilator run $fatal at elaboration. Icarus 11 has no elaboration-time system
// tasks, so there the check runs as an initial block and stops the simulation at time 0.
`ifndef SPATTEN_CHECK_VH
`define SPATTEN_CHECK_VH
`ifdef __ICARUS__
`define SPATTEN_ELAB_FATAL initial $fatal
`else
`define SPATTEN_ELAB_FATAL $fatal
`endif
`endif
