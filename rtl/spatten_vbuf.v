// Value buffer of spatten_top: MAX_N V rows (D_MAX x 12 bits, rebuilt at MSB precision by the
// fetcher) of the current head with a valid bit per row. clr clears every valid bit (start of
// a head); a write sets the row's valid bit. WR_PORTS write ports (one per fetch lane; the
// lanes of one cycle name distinct rows). RD_PORTS combinational read ports (rd_idx lane r at
// [16r +: 16] -> rd_data lane r): one P.V beat of RD_PORTS rows per cycle.
`default_nettype none
module spatten_vbuf #(
    parameter integer D_MAX = 64,
    parameter integer MAX_N = 256,
    parameter integer RD_PORTS = 1,
    parameter integer WR_PORTS = 1  // rows written per cycle (one per fetch lane), 1..16
) (
    input  wire                 clk,
    input  wire                 rst_n,
    input  wire                 clr,
    input  wire [WR_PORTS-1:0]  wr_en,
    input  wire [WR_PORTS*16-1:0]       wr_idx,
    input  wire [WR_PORTS*D_MAX*12-1:0] wr_data,
    input  wire [RD_PORTS*16-1:0]       rd_idx,
    output wire [RD_PORTS*D_MAX*12-1:0] rd_data,
    output reg  [MAX_N-1:0]     valid
);
  localparam integer AW = $clog2(MAX_N);
  localparam integer KW = D_MAX * 12;
  reg [KW-1:0] mem [0:MAX_N-1];
  integer wp;
  always @(posedge clk) begin
    for (wp = 0; wp < WR_PORTS; wp = wp + 1)
      if (wr_en[wp]) mem[wr_idx[wp*16 +: AW]] <= wr_data[wp*KW +: KW];
    if (!rst_n || clr) valid <= {MAX_N{1'b0}};
    else
      for (wp = 0; wp < WR_PORTS; wp = wp + 1)
        if (wr_en[wp]) valid[wr_idx[wp*16 +: AW]] <= 1'b1;
  end
  genvar r;
  generate
    for (r = 0; r < RD_PORTS; r = r + 1) begin : g_rd
      assign rd_data[r*D_MAX*12 +: D_MAX*12] = mem[rd_idx[r*16 +: AW]];
    end
  endgenerate
  /* verilator lint_off UNUSEDSIGNAL */
  wire unused = &{1'b0, wr_idx, rd_idx};
  /* verilator lint_on UNUSEDSIGNAL */
endmodule
`default_nettype wire
