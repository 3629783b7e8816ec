`default_nettype none
`include "spatten_check.vh"
`include "spatten_fixed.vh"
// Requantization decision (golden.blocks.need_requant): one beat per attention row carrying
// the row's maximum probability (UQ0.16, softmax out_maxp) and the threshold to use (UQ0.16,
// the requant-threshold CSR sampled with the beat); out_requant = maxp < threshold (strict):
// the row is not confident enough and must be recomputed with the key LSBs. An optional
// TAG_W-bit tag (e.g. the row's query/head index) travels with the decision.
//
// One register stage, full throughput: in_ready = ~out_valid | out_ready (ready may depend
// combinationally on out_ready; valid never depends on ready). Latency one cycle.
module requant_decision #(
    parameter integer TAG_W = 1  // width of the pass-through tag, >= 1
) (
    input  wire                       clk,
    input  wire                       rst_n,
    input  wire                       in_valid,
    output wire                       in_ready,
    input  wire [`SPATTEN_PROB_W-1:0] in_maxp,       // row max probability, UQ0.16
    input  wire [`SPATTEN_PROB_W-1:0] in_threshold,  // requant threshold CSR, UQ0.16
    input  wire [TAG_W-1:0]           in_tag,
    output wire                       out_valid,
    input  wire                       out_ready,
    output wire                       out_requant,   // 1: re-fetch key LSBs for this row
    output wire [`SPATTEN_PROB_W-1:0] out_maxp,
    output wire [TAG_W-1:0]           out_tag
);
  generate
    if (TAG_W < 1) begin : g_bad_tag
      `SPATTEN_ELAB_FATAL(1, "requant_decision: TAG_W must be >= 1 (got %0d)", TAG_W);
    end
  endgenerate

  localparam integer PW = `SPATTEN_PROB_W;

  reg          out_valid_q;
  reg          out_requant_q;
  reg [PW-1:0] out_maxp_q;
  reg [TAG_W-1:0] out_tag_q;

  assign in_ready    = ~out_valid_q | out_ready;
  assign out_valid   = out_valid_q;
  assign out_requant = out_requant_q;
  assign out_maxp    = out_maxp_q;
  assign out_tag     = out_tag_q;

  wire in_fire = in_valid & in_ready;

  always @(posedge clk) begin
    if (!rst_n) out_valid_q <= 1'b0;
    else if (in_ready) out_valid_q <= in_valid;
  end

  always @(posedge clk) begin
    if (in_fire) begin
      out_requant_q <= (in_maxp < in_threshold);
      out_maxp_q    <= in_maxp;
      out_tag_q     <= in_tag;
    end
  end
endmodule
`default_nettype wire
