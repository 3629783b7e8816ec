`include "spatten_check.vh"
`default_nettype none
// Rotating compactor of the top-k engine (one quick-select partition side).
//
// The lanes with mask[i] = 1 are packed, in lane order, into consecutive output lanes starting
// at lane `rot` and wrapping around modulo P: the t-th selected input goes to lane
// (rot + t) mod P. out_we marks the written lanes, count is the number of selected inputs.
// With rot = (write pointer mod P) the output drives a P-bank memory whose bank b writes at
// row (pointer / P) + (b < rot): a compacted append of up to P elements per cycle.
// Purely combinational.
module topk_compact #(
    parameter integer P = 16,  // lanes, a power of two 4..32
    parameter integer W = 16   // bits per lane
) (
    input  wire [P-1:0]           mask,
    input  wire [P*W-1:0]         data,
    input  wire [$clog2(P)-1:0]   rot,
    output reg  [P*W-1:0]         out_data,
    output reg  [P-1:0]           out_we,
    output reg  [$clog2(P+1)-1:0] count
);
  localparam integer LP = $clog2(P);
  localparam integer CW = $clog2(P + 1);

  generate
    if (P < 4 || P > 32 || (P & (P - 1)) != 0) begin : g_bad_p
      `SPATTEN_ELAB_FATAL(1, "topk_compact: P must be a power of two 4..32 (got %0d)", P);
    end
    if (W < 1) begin : g_bad_w
      `SPATTEN_ELAB_FATAL(1, "topk_compact: W must be >= 1 (got %0d)", W);
    end
  endgenerate

  reg [P*LP-1:0] dst;  // destination lane of every input lane

  always @(*) begin : p_dst
    integer i;
    reg [CW-1:0] cnt;
    cnt = {CW{1'b0}};
    for (i = 0; i < P; i = i + 1) begin
      dst[i*LP +: LP] = rot + cnt[LP-1:0];
      cnt = cnt + {{(CW - 1){1'b0}}, mask[i]};
    end
    count = cnt;
  end

  always @(*) begin : p_gather
    integer i, o;
    out_data = {P * W{1'b0}};
    out_we   = {P{1'b0}};
    for (o = 0; o < P; o = o + 1) begin
      for (i = 0; i < P; i = i + 1) begin
        if (mask[i] && dst[i*LP +: LP] == o[LP-1:0]) begin
          out_data[o*W +: W] = data[i*W +: W];
          out_we[o] = 1'b1;
        end
      end
    end
  end
endmodule
`default_nettype wire
