// Value buffer of spatten_top: REGIONS regions of MAX_N V rows (D_MAX x 12 bits, rebuilt at
// MSB precision by the fetcher) with a valid bit per row. A region holds one head's rows: the
// controller's list stage fills one (or two: two V jobs in flight) while its output stage reads
// another (a new head's item takes the next region, spatten_ctrl "back"). clr clears every
// valid bit of region clr_rg (start of a head); a write sets the row's valid bit in its own
// region; `valid` shows region vld_rg. WR_PORTS write ports (one per fetch lane), each with its
// region (the lanes of one cycle may carry rows of two fetch jobs, which go to two regions; the
// lanes of one cycle that write one region name distinct rows).
// RD_PORTS combinational read ports of region rd_rg (rd_idx lane r at [16r +: 16] -> rd_data
// lane r): one P.V beat of RD_PORTS rows per cycle; rd_valid lane r is that row's valid bit,
// so P.V can take rows as they land (a row's data and valid bit change on the same edge).
`default_nettype none
`include "spatten_check.vh"
module spatten_vbuf #(
    parameter integer D_MAX = 64,
    parameter integer MAX_N = 256,
    parameter integer RD_PORTS = 1,
    parameter integer WR_PORTS = 1,  // rows written per cycle (one per fetch lane), 1..16
    parameter integer REGIONS = 2,   // 1, 2 or 4
    parameter integer RGW = (REGIONS > 1) ? $clog2(REGIONS) : 1
) (
    input  wire                 clk,
    input  wire                 rst_n,
    input  wire                 clr,
    input  wire [RGW-1:0]       clr_rg,
    input  wire [WR_PORTS-1:0]  wr_en,
    input  wire [WR_PORTS*RGW-1:0] wr_rg,  // port p's region at [p*RGW +: RGW]
    input  wire [WR_PORTS*16-1:0]       wr_idx,
    input  wire [WR_PORTS*D_MAX*12-1:0] wr_data,
    input  wire [RGW-1:0]       rd_rg,
    input  wire [RD_PORTS*16-1:0]       rd_idx,
    output wire [RD_PORTS*D_MAX*12-1:0] rd_data,
    output wire [RD_PORTS-1:0]  rd_valid,  // port p's row is in region rd_rg (its valid bit)
    input  wire [RGW-1:0]       vld_rg,
    output wire [MAX_N-1:0]     valid
);
  generate
    if (REGIONS != 1 && REGIONS != 2 && REGIONS != 4) begin : g_bad_regions
      `SPATTEN_ELAB_FATAL(1, "spatten_vbuf: REGIONS must be 1, 2 or 4 (got %0d)", REGIONS);
    end
    if (RGW != ((REGIONS > 1) ? $clog2(REGIONS) : 1)) begin : g_bad_rgw
      `SPATTEN_ELAB_FATAL(1, "spatten_vbuf: RGW must be clog2(REGIONS) (got %0d)", RGW);
    end
    if (MAX_N < 2 || (MAX_N & (MAX_N - 1)) != 0) begin : g_bad_max_n
      `SPATTEN_ELAB_FATAL(1, "spatten_vbuf: MAX_N must be a power of two >= 2 (got %0d)", MAX_N);
    end
  endgenerate
  localparam integer AW = $clog2(MAX_N);
  localparam integer KW = D_MAX * 12;
  // a region's rows at {region, index} (REGIONS = 1: the region bit is ignored)
  localparam integer RB = (REGIONS > 1) ? RGW : 0;
  reg [KW-1:0]    mem [0:REGIONS*MAX_N-1];
  reg [MAX_N-1:0] vld [0:REGIONS-1];
  function automatic [AW+RB-1:0] addr(input [RGW-1:0] rg, input [AW-1:0] idx);
    addr = (AW+RB)'((REGIONS > 1 ? 32'(rg) : 32'd0) * MAX_N + 32'(idx));
  endfunction
  integer wp, rg;
  always @(posedge clk) begin
    for (wp = 0; wp < WR_PORTS; wp = wp + 1)
      if (wr_en[wp]) mem[addr(wr_rg[wp*RGW +: RGW], wr_idx[wp*16 +: AW])] <= wr_data[wp*KW +: KW];
    for (rg = 0; rg < REGIONS; rg = rg + 1) begin
      if (!rst_n || (clr && 32'(clr_rg) == rg)) vld[rg] <= {MAX_N{1'b0}};
      else
        for (wp = 0; wp < WR_PORTS; wp = wp + 1)
          if (wr_en[wp] && (REGIONS == 1 || 32'(wr_rg[wp*RGW +: RGW]) == rg))
            vld[rg][wr_idx[wp*16 +: AW]] <= 1'b1;
    end
  end
  assign valid = vld[REGIONS > 1 ? 32'(vld_rg) : 0];
  genvar r;
  generate
    for (r = 0; r < RD_PORTS; r = r + 1) begin : g_rd
      assign rd_data[r*D_MAX*12 +: D_MAX*12] = mem[addr(rd_rg, rd_idx[r*16 +: AW])];
      assign rd_valid[r] = vld[REGIONS > 1 ? 32'(rd_rg) : 0][rd_idx[r*16 +: AW]];
    end
  endgenerate
  /* verilator lint_off UNUSEDSIGNAL */
  wire unused = &{1'b0, wr_idx, rd_idx};
  /* verilator lint_on UNUSEDSIGNAL */
endmodule
`default_nettype wire
