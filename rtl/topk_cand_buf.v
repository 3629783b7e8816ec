`include "spatten_check.vh"
`default_nettype none
// Candidate buffer of the top-k engine: P banks (one per lane) of ROWS words.
//
// Two write ports per bank, each with its own row per bank, so that one cycle can append a
// compacted group at any lane offset (crossing a row boundary) on the "low" side and another on
// the "high" side of the buffer. The two sides never write the same word (the engine keeps the
// greater partition at the bottom and the smaller one at the top; together they hold fewer
// than ROWS*P entries). One combinational read port returns a whole row of all banks.
module topk_cand_buf #(
    parameter integer P    = 16,  // banks (lanes)
    parameter integer ROWS = 64,  // words per bank, >= 2
    parameter integer W    = 16   // bits per word
) (
    input  wire                          clk,
    input  wire [P-1:0]                  lo_we,
    input  wire [P*$clog2(ROWS)-1:0]     lo_row,
    input  wire [P*W-1:0]                lo_data,
    input  wire [P-1:0]                  hi_we,
    input  wire [P*$clog2(ROWS)-1:0]     hi_row,
    input  wire [P*W-1:0]                hi_data,
    input  wire [$clog2(ROWS)-1:0]       rd_row,
    output wire [P*W-1:0]                rd_data
);
  localparam integer RW = $clog2(ROWS);

  generate
    if (P < 1) begin : g_bad_p
      `SPATTEN_ELAB_FATAL(1, "topk_cand_buf: P must be >= 1 (got %0d)", P);
    end
    if (ROWS < 2) begin : g_bad_rows
      `SPATTEN_ELAB_FATAL(1, "topk_cand_buf: ROWS must be >= 2 (got %0d)", ROWS);
    end
    if (W < 1) begin : g_bad_w
      `SPATTEN_ELAB_FATAL(1, "topk_cand_buf: W must be >= 1 (got %0d)", W);
    end
  endgenerate

  genvar j;
  generate
    for (j = 0; j < P; j = j + 1) begin : g_bank
      reg [W-1:0] mem_q [0:ROWS-1];
      always @(posedge clk) begin
        if (lo_we[j]) mem_q[lo_row[j*RW +: RW]] <= lo_data[j*W +: W];
        if (hi_we[j]) mem_q[hi_row[j*RW +: RW]] <= hi_data[j*W +: W];
      end
      assign rd_data[j*W +: W] = mem_q[rd_row];
    end
  endgenerate
endmodule
`default_nettype wire
