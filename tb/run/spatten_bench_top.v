`default_nettype none
// Benchmark testbench top (docs/performance.md §5): spatten_top with every read port on the
// HDL memory model axi_rd_mem_model (fixed latency, one beat per port per cycle, loaded and
// read back through its backdoor by verif/hdl_mem.py), so no Python AXI model runs per read
// beat. The CSR port s_axil_*, the write port m_axiw_* and irq are spatten_top's own, for the
// cocotb agents (verif/axil.py); their declarations and pass-through connections are the
// generated lists of scripts/gen_axi_ports.py. Only the benchmark path uses it (verif/trace_run.py,
// mem="hdl"); the regression (tb/spatten_top) keeps the cocotbext-axi memories with random
// latency, backpressure and errors.
//
// Probe (docs/performance.md, "Q·K array busy"): qk_beats counts the cycles in which the Q·K
// array (u_top.u_qk) accepts a key beat, k_valid & k_ready inside spatten_top; free running
// from reset, the testbench takes its difference over a command.
module spatten_bench_top #(
    parameter integer LANES           = 8,
    parameter integer D_MAX           = 64,
    parameter integer MAX_N           = 256,
    parameter integer H_MAX           = 16,
    parameter integer CHANNELS        = 1,
    parameter integer FETCH_ROB       = 64,
    parameter integer LOG2_INTERLEAVE = 9,
    parameter integer MEM_LATENCY     = 20,       // AR handshake -> first R beat, cycles
    parameter integer MEM_BYTES       = 1 << 22
) (
    input  wire          clk,
    input  wire          rst_n,
    `include "spatten_axil_ports.vh"
    `include "spatten_axiw_ports.vh"
    output wire          irq,
    // memory backdoor (axi_rd_mem_model)
    input  wire          mem_load_req,
    output wire          mem_load_ack,
    input  wire          mem_dump_req,
    output wire          mem_dump_ack,
    input  wire [31:0]   mem_dump_lo,
    input  wire [31:0]   mem_dump_hi,
    // probe
    output reg  [31:0]   qk_beats
);
  localparam integer P = 16;  // named read ports of spatten_top (scripts/gen_axi_ports.py)
  wire [P*4-1:0]   ax_arid, ax_rid;
  wire [P*32-1:0]  ax_araddr;
  wire [P*8-1:0]   ax_arlen;
  wire [P*3-1:0]   ax_arsize;
  wire [P*2-1:0]   ax_arburst, ax_rresp;
  wire [P-1:0]     ax_arvalid, ax_arready, ax_rlast, ax_rvalid, ax_rready;
  wire [P*256-1:0] ax_rdata;

  spatten_top #(.LANES(LANES), .D_MAX(D_MAX), .MAX_N(MAX_N), .H_MAX(H_MAX),
                .CHANNELS(CHANNELS), .FETCH_ROB(FETCH_ROB),
                .LOG2_INTERLEAVE(LOG2_INTERLEAVE)) u_top (
      .clk(clk), .rst_n(rst_n),
`include "spatten_axil_conn.vh"
`include "spatten_axi_rd_conn.vh"
`include "spatten_axiw_conn.vh"
      .irq(irq));

  axi_rd_mem_model #(.CHANNELS(CHANNELS), .ID_W(4), .ADDR_W(32), .LATENCY(MEM_LATENCY),
                     .MEM_BYTES(MEM_BYTES)) u_mem (
      .clk(clk), .rst_n(rst_n),
      .arid(ax_arid[CHANNELS*4-1:0]), .araddr(ax_araddr[CHANNELS*32-1:0]),
      .arlen(ax_arlen[CHANNELS*8-1:0]), .arsize(ax_arsize[CHANNELS*3-1:0]),
      .arburst(ax_arburst[CHANNELS*2-1:0]), .arvalid(ax_arvalid[CHANNELS-1:0]),
      .arready(ax_arready[CHANNELS-1:0]), .rid(ax_rid[CHANNELS*4-1:0]),
      .rdata(ax_rdata[CHANNELS*256-1:0]), .rresp(ax_rresp[CHANNELS*2-1:0]),
      .rlast(ax_rlast[CHANNELS-1:0]), .rvalid(ax_rvalid[CHANNELS-1:0]),
      .rready(ax_rready[CHANNELS-1:0]),
      .load_req(mem_load_req), .load_ack(mem_load_ack),
      .dump_req(mem_dump_req), .dump_ack(mem_dump_ack),
      .dump_lo(mem_dump_lo), .dump_hi(mem_dump_hi));

  always @(posedge clk) begin
    if (!rst_n) qk_beats <= 32'd0;
    else if (u_top.k_valid & u_top.k_ready) qk_beats <= qk_beats + 32'd1;
  end

  // ports at or above CHANNELS: spatten_top ties their outputs off and ignores their inputs
  generate
    if (CHANNELS < P) begin : g_unused
      assign ax_arready[P-1:CHANNELS] = '0;
      assign ax_rid[P*4-1:CHANNELS*4] = '0;
      assign ax_rdata[P*256-1:CHANNELS*256] = '0;
      assign ax_rresp[P*2-1:CHANNELS*2] = '0;
      assign ax_rlast[P-1:CHANNELS] = '0;
      assign ax_rvalid[P-1:CHANNELS] = '0;
      /* verilator lint_off UNUSEDSIGNAL */
      wire unused = &{1'b0, ax_arid[P*4-1:CHANNELS*4], ax_araddr[P*32-1:CHANNELS*32],
                      ax_arlen[P*8-1:CHANNELS*8], ax_arsize[P*3-1:CHANNELS*3],
                      ax_arburst[P*2-1:CHANNELS*2], ax_arvalid[P-1:CHANNELS],
                      ax_rready[P-1:CHANNELS]};
      /* verilator lint_on UNUSEDSIGNAL */
    end
  endgenerate
endmodule
`default_nettype wire
