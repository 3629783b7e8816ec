`default_nettype none
`include "spatten_check.vh"
// Pipelined binary adder tree: the sum of N signed IN_W-bit inputs, exact.
//
// Level l (1..log2 N) adds pairs of level l-1 into N >> l registers of IN_W + l bits, so the
// output is IN_W + log2 N bits wide and arrives log2 N cycles after the inputs (N = 1: the
// input itself, combinationally). Every register advances only when `en` is high (the
// caller's pipeline stall); none is reset (datapath, see docs/conventions.md) — the caller
// tracks valid beside the tree with a delay line of the same length.
// Input i occupies in_data[i*IN_W +: IN_W]; the pairs are (0,1), (2,3), ...
module adder_tree #(
    parameter integer N    = 64,  // number of addends: a power of two, 1..4096
    parameter integer IN_W = 24   // signed width of each addend, >= 1
) (
    input  wire                          clk,
    input  wire                          en,
    input  wire [N*IN_W-1:0]             in_data,
    output wire [IN_W+$clog2(N)-1:0]     out_data
);
  localparam integer LEVELS = $clog2(N);

  generate
    if (N < 1 || N > 4096 || (N & (N - 1)) != 0) begin : g_bad_n
      `SPATTEN_ELAB_FATAL(1, "adder_tree: N must be a power of two in 1..4096 (got %0d)", N);
    end
    if (IN_W < 1) begin : g_bad_w
      `SPATTEN_ELAB_FATAL(1, "adder_tree: IN_W must be >= 1 (got %0d)", IN_W);
    end
  endgenerate

  genvar l, i;
  generate
    for (l = 0; l <= LEVELS; l = l + 1) begin : g_lvl
      localparam integer NW = IN_W + l;  // node width at this level
      localparam integer NN = N >> l;    // nodes at this level
      wire [NN*NW-1:0] sum;
      if (l == 0) begin : g_leaf
        assign sum = in_data;
      end else begin : g_add
        reg [NN*NW-1:0] sum_q;
        for (i = 0; i < NN; i = i + 1) begin : g_node
          // Both operands signed: each is sign-extended to the NW-bit sum (one growth bit).
          always @(posedge clk) begin
            if (en) begin
              sum_q[i*NW +: NW] <= $signed(g_lvl[l-1].sum[(2*i)*(NW-1) +: NW-1])
                                 + $signed(g_lvl[l-1].sum[(2*i+1)*(NW-1) +: NW-1]);
            end
          end
        end
        assign sum = sum_q;
      end
    end
  endgenerate

  assign out_data = g_lvl[LEVELS].sum;
endmodule
`default_nettype wire
