`include "spatten_check.vh"
`default_nettype none
// Rank selector of the top-k engine: the t-th largest of the valid lanes of one row.
//
// For every valid lane i: gt_i = #{valid j : s_j > s_i}, ge_i = #{valid j : s_j >= s_i}
// (i included). Lane i holds the t-th largest iff gt_i < t <= ge_i; every such lane has the
// same score and the same gt_i, so the outputs are the OR of the hitting lanes. `hit` = some
// lane hits (1 <= t <= popcount(valid)); otherwise value = gt = 0.
// The engine uses it for the pivot (t = the row target of golden.topk.row_target over the
// sample row) and, when the candidate list fits in one row, for the threshold itself
// (t = the rank of the k-th element; `gt` = candidates above it). Purely combinational:
// P*(P-1) comparators.
module topk_rank_sel #(
    parameter integer P = 16,  // lanes, a power of two 4..32
    parameter integer W = 16   // bits per lane
) (
    input  wire [P*W-1:0]         row,
    input  wire [P-1:0]           valid,
    input  wire [$clog2(P+1)-1:0] t,      // 1 = largest
    output reg  [W-1:0]           value,
    output reg  [$clog2(P+1)-1:0] gt,
    output reg                    hit
);
  localparam integer CW = $clog2(P + 1);

  generate
    if (P < 4 || P > 32 || (P & (P - 1)) != 0) begin : g_bad_p
      `SPATTEN_ELAB_FATAL(1, "topk_rank_sel: P must be a power of two 4..32 (got %0d)", P);
    end
    if (W < 1) begin : g_bad_w
      `SPATTEN_ELAB_FATAL(1, "topk_rank_sel: W must be >= 1 (got %0d)", W);
    end
  endgenerate

  always @(*) begin : p_rank
    integer i, j;
    reg [CW-1:0] c_gt, c_ge;
    value = {W{1'b0}};
    gt    = {CW{1'b0}};
    hit   = 1'b0;
    for (i = 0; i < P; i = i + 1) begin
      c_gt = {CW{1'b0}};
      c_ge = {CW{1'b0}};
      for (j = 0; j < P; j = j + 1) begin
        c_gt = c_gt + {{(CW - 1){1'b0}}, valid[j] & (row[j*W +: W] > row[i*W +: W])};
        c_ge = c_ge + {{(CW - 1){1'b0}}, valid[j] & (row[j*W +: W] >= row[i*W +: W])};
      end
      if (valid[i] && c_gt < t && t <= c_ge) begin
        value = value | row[i*W +: W];
        gt    = gt | c_gt;
        hit   = 1'b1;
      end
    end
  end
endmodule
`default_nettype wire
