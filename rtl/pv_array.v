`default_nettype none
`include "spatten_check.vh"
`include "spatten_fixed.vh"
// P·V module: sparse probabilities x fetched V rows, accumulated into the head output E of one
// query (golden/blocks.py pv; docs/compute_core.md).
//
// Input stream: one beat = LANES kept (probability, V row) pairs: in_prob lane l is a UQ0.16
// probability, in_v lane l the V row (D 12-bit signed values) of the same token, in_keep marks
// the real pairs (an unkept lane contributes 0 whatever its data), in_last ends the query.
// Output stream: one beat per query with all D values of E (16-bit signed, V's scale / 16),
// E[d] = sat16(round_half_up(sum p * v[d] / 2^12)); e_last is always 1 (one-beat packets).
// A query may hold up to `SPATTEN_MAX_N (4096) kept pairs: the 40-bit accumulator is exact.
//
// Pipeline (all stages advance together; only a finished E that cannot leave stalls it, so
// non-final beats flow on under output backpressure until a final beat reaches the E stage):
//   accept : products p[l] * v[l][d] into registers (in_* feed the multipliers directly)  1
//   tree   : D pipelined adder trees over the LANES products of one dimension     log2(LANES)
//   acc    : acc[d] = (first beat ? 0 : acc[d]) + tree[d]                                     1
//   E      : sat16(round_half_up(acc >> 12)) on the query's final beat                       1
//   out    : output register with a skid slot                                                1
// Initiation interval 1 (one beat per cycle, also across query boundaries); latency from the
// final beat's acceptance to E on e_*: log2(LANES) + 4 cycles. in_ready depends on registers only.
module pv_array #(
    parameter integer LANES = 8,  // (probability, V row) pairs per beat: a power of two, 1..64
    parameter integer D     = 64  // head dimension: a power of two, 1..`SPATTEN_D_MAX
) (
    input  wire                                 clk,
    input  wire                                 rst_n,
    // input stream: probability of lane l at in_prob[l*16 +: 16], V value d of lane l at
    // in_v[(l*D + d)*12 +: 12]
    input  wire                                 in_valid,
    output wire                                 in_ready,
    input  wire [LANES*`SPATTEN_PROB_W-1:0]     in_prob,
    input  wire [LANES*D*`SPATTEN_DATA_W-1:0]   in_v,
    input  wire [LANES-1:0]                     in_keep,
    input  wire                                 in_last,
    // output stream: E value d at e_data[d*16 +: 16]
    output wire                                 e_valid,
    input  wire                                 e_ready,
    output wire [D*`SPATTEN_E_W-1:0]            e_data,
    output wire                                 e_last
);
  localparam integer DW    = `SPATTEN_DATA_W;
  localparam integer PBW   = `SPATTEN_PROB_W;
  localparam integer PW    = `SPATTEN_PV_PROD_W;       // product width (exact)
  localparam integer LOGL  = $clog2(LANES);
  localparam integer TW    = PW + LOGL;                // tree output width (exact)
  localparam integer AW    = `SPATTEN_PV_ACC_W;        // accumulator width
  localparam integer EW    = `SPATTEN_E_W;
  localparam integer SH    = `SPATTEN_PV_SHIFT;

  generate
    if (LANES < 1 || LANES > 64 || (LANES & (LANES - 1)) != 0) begin : g_bad_lanes
      `SPATTEN_ELAB_FATAL(1, "pv_array: LANES must be a power of two in 1..64 (got %0d)", LANES);
    end
    if (D < 1 || D > `SPATTEN_D_MAX || (D & (D - 1)) != 0) begin : g_bad_d
      `SPATTEN_ELAB_FATAL(1, "pv_array: D must be a power of two in 1..%0d (got %0d)", `SPATTEN_D_MAX, D);
    end
    if (TW > AW) begin : g_bad_acc
      `SPATTEN_ELAB_FATAL(1, "pv_array: tree width %0d exceeds the accumulator width %0d", TW, AW);
    end
  endgenerate

  wire adv;  // the whole pipeline advances this cycle
  assign in_ready = adv;
  wire in_fire = in_valid & in_ready;

  // ------------------------------------------------------------------ stage 1: products
  reg                    v1_q;
  reg                    last1_q;
  reg [D*LANES*PW-1:0]   prod_q;  // dimension-major: product (d, l) at (d*LANES + l)*PW

  genvar l, d, s;
  generate
    for (l = 0; l < LANES; l = l + 1) begin : g_lane
      // An unkept lane multiplies by zero.
      wire [PBW:0] p = {1'b0, in_keep[l] ? in_prob[l*PBW +: PBW] : {PBW{1'b0}}};
      wire signed [PW-1:0] px = $signed({{(PW-PBW-1){1'b0}}, p});
      for (d = 0; d < D; d = d + 1) begin : g_dim
        wire [DW-1:0]        v  = in_v[(l*D + d)*DW +: DW];
        wire signed [PW-1:0] vx = $signed({{(PW-DW){v[DW-1]}}, v});  // sign-extended: exact
        always @(posedge clk) begin
          if (adv) prod_q[(d*LANES + l)*PW +: PW] <= px * vx;
        end
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (!rst_n) v1_q <= 1'b0;
    else if (adv) v1_q <= in_fire;
  end
  always @(posedge clk) if (adv) last1_q <= in_last;

  // ------------------------------------------------------------------ adder trees over lanes
  wire [D*TW-1:0] tsum;
  generate
    for (d = 0; d < D; d = d + 1) begin : g_tree
      adder_tree #(.N(LANES), .IN_W(PW)) u_tree (
          .clk     (clk),
          .en      (adv),
          .in_data (prod_q[d*LANES*PW +: LANES*PW]),
          .out_data(tsum[d*TW +: TW])
      );
    end
  endgenerate

  wire vt;
  wire lastt;
  generate
    if (LOGL == 0) begin : g_nodelay
      assign vt    = v1_q;
      assign lastt = last1_q;
    end else begin : g_delay
      reg [LOGL-1:0] dv_q;
      reg [LOGL-1:0] dlast_q;
      for (s = 0; s < LOGL; s = s + 1) begin : g_stage
        always @(posedge clk) begin
          if (!rst_n) dv_q[s] <= 1'b0;
          else if (adv) dv_q[s] <= (s == 0) ? v1_q : dv_q[(s == 0) ? 0 : s-1];
        end
        always @(posedge clk) begin
          if (adv) dlast_q[s] <= (s == 0) ? last1_q : dlast_q[(s == 0) ? 0 : s-1];
        end
      end
      assign vt    = dv_q[LOGL-1];
      assign lastt = dlast_q[LOGL-1];
    end
  endgenerate

  // ------------------------------------------------------------------ accumulate
  reg              first_q;  // the next beat to arrive starts a query
  reg              done_q;   // acc_q holds a finished query
  reg [D*AW-1:0]   acc_q;

  always @(posedge clk) begin
    if (!rst_n) begin
      first_q <= 1'b1;
      done_q  <= 1'b0;
    end else if (adv) begin
      done_q <= vt & lastt;
      if (vt) first_q <= lastt;
    end
  end

  generate
    for (d = 0; d < D; d = d + 1) begin : g_acc
      wire [AW-1:0] base = first_q ? {AW{1'b0}} : acc_q[d*AW +: AW];
      always @(posedge clk) begin
        if (adv && vt) acc_q[d*AW +: AW] <= base + {{(AW-TW){tsum[d*TW+TW-1]}}, tsum[d*TW +: TW]};
      end
    end
  endgenerate

  // ------------------------------------------------------------------ E: round + saturate
  localparam signed [AW:0] EMAX = (AW+1)'((1 << (EW - 1)) - 1);
  localparam signed [AW:0] EMIN = -(AW+1)'(1 << (EW - 1));
  localparam signed [AW:0] HALF = (AW+1)'(1 << (SH - 1));

  reg             ve_q;
  reg [D*EW-1:0]  e_q;

  generate
    for (d = 0; d < D; d = d + 1) begin : g_e
      wire signed [AW:0] a = $signed({acc_q[d*AW+AW-1], acc_q[d*AW +: AW]}) + HALF;
      wire signed [AW:0] r = a >>> SH;
      wire       [EW-1:0] sat = (r > EMAX) ? EMAX[EW-1:0] : (r < EMIN) ? EMIN[EW-1:0] : r[EW-1:0];
      always @(posedge clk) begin
        if (adv && done_q) e_q[d*EW +: EW] <= sat;
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (!rst_n) ve_q <= 1'b0;
    else if (adv) ve_q <= done_q;
  end

  // ------------------------------------------------------------------ output skid
  // stream_skid's ready is a flop, so adv (and in_ready) never depend combinationally on e_ready.
  wire skid_ready;
  wire skid_last_unused;
  assign adv = ~ve_q | skid_ready;

  stream_skid #(
      .WIDTH(D*EW)
  ) u_out_skid (
      .clk      (clk),
      .rst_n    (rst_n),
      .in_valid (ve_q),
      .in_ready (skid_ready),
      .in_data  (e_q),
      .in_last  (1'b1),
      .out_valid(e_valid),
      .out_ready(e_ready),
      .out_data (e_data),
      .out_last (skid_last_unused)
  );
  assign e_last  = 1'b1;
endmodule
`default_nettype wire
