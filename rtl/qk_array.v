`default_nettype none
`include "spatten_check.vh"
`include "spatten_fixed.vh"
// Q·K module: LANES keys x D dimensions per cycle against one held query -> LANES Q11.8
// log2-domain scores per cycle (golden/blocks.py qk_dot + qk_score; docs/compute_core.md).
//
// Row protocol. A row is one query (query stream, D/QW beats, q_last on the final beat, whose
// sideband fields q_mult / q_shift / q_known are the row's context) followed by its keys (key
// stream, LANES keys per beat, k_keep marks the real keys of the beat, k_last ends the row).
// The score stream carries one beat per key beat: LANES scores, the same keep mask (scores of
// unkept lanes are 0) and last. The query is double-buffered: the next row's query loads while
// the current row's keys stream, so rows follow each other at one key beat per cycle. Every
// row needs its own query beat(s) (a requantization re-pass sends the query again).
//
// Key precision. k_data carries each key as a 12-bit two's-complement value whose top
// q_known bits are meaningful (the fetcher's bit-width converter aligns the MSB plane, and the
// LSB plane when it was fetched, at the top; the rest is don't-care). The rebuild happens
// here: the unknown low bits become 10..0 exactly as golden fixed.reconstruct(x, q_known).
// q_known 1..11 = MSB-only keys with that many bits; 0 or >= 12 = full precision.
//
// Pipeline (all stages advance together; a stage holding a beat that cannot leave stalls it):
//   accept : products q[d] * rebuild(k[l][d]) into registers (k_data feeds the multipliers
//            directly, drive it from a register)                                   1 cycle
//   tree   : LANES pipelined adder trees of D products                        log2(D) cycles
//   scale  : acc * score_mult                                                      1 cycle
//   round  : sat20(round_half_up(. >> score_shift)), unkept lanes zeroed           1 cycle
//   out    : output register with a skid slot                                     1 cycle
// Latency from key-beat acceptance to the score beat on s_*: log2(D) + 4 cycles.
// k_ready and q_ready are functions of registers only.
module qk_array #(
    parameter integer LANES = 8,   // keys per beat: a power of two, 1..64
    parameter integer D     = 64,  // head dimension: a power of two, 1..`SPATTEN_D_MAX
    parameter integer QW    = D    // query values per query beat: a power of two dividing D
) (
    input  wire                                     clk,
    input  wire                                     rst_n,
    // query stream: value j of beat b is query[b*QW + j], at q_data[j*12 +: 12]
    input  wire                                     q_valid,
    output wire                                     q_ready,
    input  wire [QW*`SPATTEN_DATA_W-1:0]            q_data,
    input  wire [`SPATTEN_SCORE_MULT_W-1:0]         q_mult,   // score_mult (sampled with q_last)
    input  wire [`SPATTEN_SCORE_SHIFT_W-1:0]        q_shift,  // score_shift (sampled with q_last)
    input  wire [3:0]                               q_known,  // known key bits (sampled with q_last)
    input  wire                                     q_last,
    // key stream: key l of the beat, dimension d at k_data[(l*D + d)*12 +: 12]
    input  wire                                     k_valid,
    output wire                                     k_ready,
    input  wire [LANES*D*`SPATTEN_DATA_W-1:0]       k_data,
    input  wire [LANES-1:0]                         k_keep,
    input  wire                                     k_last,
    // score stream: score of lane l at s_data[l*20 +: 20] (Q11.8, signed)
    output wire                                     s_valid,
    input  wire                                     s_ready,
    output wire [LANES*`SPATTEN_SCORE_W-1:0]        s_data,
    output wire [LANES-1:0]                         s_keep,
    output wire                                     s_last
);
  localparam integer DW      = `SPATTEN_DATA_W;
  localparam integer PW      = `SPATTEN_QK_PROD_W;           // product width
  localparam integer LOG2D   = $clog2(D);
  localparam integer AW      = PW + LOG2D;                    // exact dot product width
  localparam integer MW      = `SPATTEN_SCORE_MULT_W;
  localparam integer SHW     = `SPATTEN_SCORE_SHIFT_W;
  localparam integer SW      = `SPATTEN_SCORE_W;
  localparam integer XW      = AW + MW + 1;                   // acc * mult, signed, exact
  localparam integer QBEATS  = D / QW;
  localparam integer CTX_W   = MW + SHW + LANES + 1;          // mult, shift, keep, last

  generate
    if (LANES < 1 || LANES > 64 || (LANES & (LANES - 1)) != 0) begin : g_bad_lanes
      `SPATTEN_ELAB_FATAL(1, "qk_array: LANES must be a power of two in 1..64 (got %0d)", LANES);
    end
    if (D < 1 || D > `SPATTEN_D_MAX || (D & (D - 1)) != 0) begin : g_bad_d
      `SPATTEN_ELAB_FATAL(1, "qk_array: D must be a power of two in 1..%0d (got %0d)", `SPATTEN_D_MAX, D);
    end
    if (QW < 1 || QW > D || (QW & (QW - 1)) != 0) begin : g_bad_qw
      `SPATTEN_ELAB_FATAL(1, "qk_array: QW must be a power of two in 1..D (got %0d, D %0d)", QW, D);
    end
  endgenerate

  // ------------------------------------------------------------------ query double buffer
  reg                     pend_valid_q;  // a complete query waits in the pending slot
  reg [D*DW-1:0]          pend_q;        // assembled query (beats shift in from the top)
  reg [MW-1:0]            pend_mult_q;
  reg [SHW-1:0]           pend_shift_q;
  reg [3:0]               pend_known_q;
  reg                     act_valid_q;   // the active query serves the row in progress
  reg [D*DW-1:0]          act_q;
  reg [MW-1:0]            act_mult_q;
  reg [SHW-1:0]           act_shift_q;
  reg [DW-1:0]            act_mask_q;    // known key bits
  reg [DW-1:0]            act_fill_q;    // 10..0 fill of the unknown bits

  wire adv;                              // the whole pipeline advances this cycle
  assign q_ready = ~pend_valid_q;
  assign k_ready = act_valid_q & adv;
  wire q_fire   = q_valid & q_ready;
  wire k_fire   = k_valid & k_ready;
  wire row_end  = k_fire & k_last;
  wire swap     = pend_valid_q & (~act_valid_q | row_end);

  // Rebuild masks of the pending query's precision: drop = 12 - known low bits unknown.
  wire [3:0]    pend_drop = (pend_known_q == 4'd0 || pend_known_q >= 4'd12)
                            ? 4'd0 : 4'd12 - pend_known_q;
  wire [DW-1:0] pend_mask = {DW{1'b1}} << pend_drop;
  wire [DW-1:0] pend_fill = (pend_mask >> 1) & ~pend_mask;

  always @(posedge clk) begin
    if (!rst_n) begin
      pend_valid_q <= 1'b0;
      act_valid_q  <= 1'b0;
    end else begin
      if (swap) begin
        act_valid_q  <= 1'b1;
        pend_valid_q <= 1'b0;
      end else begin
        if (row_end) act_valid_q <= 1'b0;
        if (q_fire && q_last) pend_valid_q <= 1'b1;
      end
    end
  end

  generate
    if (QBEATS == 1) begin : g_q1
      always @(posedge clk) if (q_fire) pend_q <= q_data;
    end else begin : g_qn
      always @(posedge clk) if (q_fire) pend_q <= {q_data, pend_q[D*DW-1:QW*DW]};
    end
  endgenerate

  always @(posedge clk) begin
    if (q_fire && q_last) begin
      pend_mult_q  <= q_mult;
      pend_shift_q <= q_shift;
      pend_known_q <= q_known;
    end
    if (swap) begin
      act_q       <= pend_q;
      act_mult_q  <= pend_mult_q;
      act_shift_q <= pend_shift_q;
      act_mask_q  <= pend_mask;
      act_fill_q  <= pend_fill;
    end
  end

  // ------------------------------------------------------------------ stage 1: products
  reg                 v1_q;
  reg [CTX_W-1:0]     ctx1_q;
  reg [LANES*D*PW-1:0] prod_q;

  genvar l, d, s;
  generate
    for (l = 0; l < LANES; l = l + 1) begin : g_lane
      for (d = 0; d < D; d = d + 1) begin : g_dim
        wire [DW-1:0]        key = (k_data[(l*D + d)*DW +: DW] & act_mask_q) | act_fill_q;
        wire [DW-1:0]        qv  = act_q[d*DW +: DW];
        // sign-extended operands: the PW-bit product is exact
        wire signed [PW-1:0] qx  = $signed({{(PW-DW){qv[DW-1]}}, qv});
        wire signed [PW-1:0] kx  = $signed({{(PW-DW){key[DW-1]}}, key});
        always @(posedge clk) begin
          if (adv) prod_q[(l*D + d)*PW +: PW] <= qx * kx;
        end
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (!rst_n) v1_q <= 1'b0;
    else if (adv) v1_q <= k_fire;
  end
  always @(posedge clk) if (adv) ctx1_q <= {act_mult_q, act_shift_q, k_keep, k_last};

  // ------------------------------------------------------------------ adder trees
  wire [LANES*AW-1:0] acc;
  generate
    for (l = 0; l < LANES; l = l + 1) begin : g_tree
      adder_tree #(.N(D), .IN_W(PW)) u_tree (
          .clk     (clk),
          .en      (adv),
          .in_data (prod_q[l*D*PW +: D*PW]),
          .out_data(acc[l*AW +: AW])
      );
    end
  endgenerate

  // valid and context travel beside the trees (LOG2D stages)
  wire             vt;
  wire [CTX_W-1:0] ctxt;
  generate
    if (LOG2D == 0) begin : g_nodelay
      assign vt   = v1_q;
      assign ctxt = ctx1_q;
    end else begin : g_delay
      reg [LOG2D-1:0]       dv_q;
      reg [LOG2D*CTX_W-1:0] dctx_q;
      for (s = 0; s < LOG2D; s = s + 1) begin : g_stage
        always @(posedge clk) begin
          if (!rst_n) dv_q[s] <= 1'b0;
          else if (adv) dv_q[s] <= (s == 0) ? v1_q : dv_q[(s == 0) ? 0 : s-1];
        end
        always @(posedge clk) begin
          if (adv) dctx_q[s*CTX_W +: CTX_W] <= (s == 0) ? ctx1_q
                                             : dctx_q[((s == 0) ? 0 : s-1)*CTX_W +: CTX_W];
        end
      end
      assign vt   = dv_q[LOG2D-1];
      assign ctxt = dctx_q[(LOG2D-1)*CTX_W +: CTX_W];
    end
  endgenerate

  // ------------------------------------------------------------------ scale: acc * mult
  wire [MW-1:0]    ctxt_mult  = ctxt[CTX_W-1 -: MW];
  reg              va_q;
  reg [SHW-1:0]    shift_a_q;
  reg [LANES-1:0]  keep_a_q;
  reg              last_a_q;
  reg [LANES*XW-1:0] x_q;

  generate
    for (l = 0; l < LANES; l = l + 1) begin : g_scale
      wire [AW-1:0]        a  = acc[l*AW +: AW];
      wire signed [XW-1:0] ax = $signed({{(XW-AW){a[AW-1]}}, a});
      wire signed [XW-1:0] mx = $signed({{(XW-MW){1'b0}}, ctxt_mult});
      always @(posedge clk) begin
        if (adv) x_q[l*XW +: XW] <= ax * mx;
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (!rst_n) va_q <= 1'b0;
    else if (adv) va_q <= vt;
  end
  always @(posedge clk) begin
    if (adv) {shift_a_q, keep_a_q, last_a_q} <= ctxt[CTX_W-MW-1:0];
  end

  // ------------------------------------------------------------------ round + saturate
  // round_half_up(x / 2^s) = ((x >>> (s-1)) + 1) >>> 1 for s >= 1: one barrel shifter, and
  // shifts >= XW correctly give 0 (sign bits + 1, halved).
  localparam signed [XW-1:0] SMAX = XW'((1 << (SW - 1)) - 1);
  localparam signed [XW-1:0] SMIN = -XW'(1 << (SW - 1));
  wire [SHW-1:0] shm1 = shift_a_q - 1'b1;

  reg              vb_q;
  reg [LANES-1:0]  keep_b_q;
  reg              last_b_q;
  reg [LANES*SW-1:0] score_q;

  generate
    for (l = 0; l < LANES; l = l + 1) begin : g_round
      wire signed [XW-1:0] x     = $signed(x_q[l*XW +: XW]);
      wire signed [XW-1:0] t     = x >>> shm1;
      wire signed [XW-1:0] t1    = t + XW'(1);
      wire signed [XW-1:0] r     = (shift_a_q == {SHW{1'b0}}) ? x : (t1 >>> 1);
      wire        [SW-1:0] sat   = (r > SMAX) ? SMAX[SW-1:0]
                                 : (r < SMIN) ? SMIN[SW-1:0] : r[SW-1:0];
      always @(posedge clk) begin
        if (adv) score_q[l*SW +: SW] <= keep_a_q[l] ? sat : {SW{1'b0}};
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (!rst_n) vb_q <= 1'b0;
    else if (adv) vb_q <= va_q;
  end
  always @(posedge clk) begin
    if (adv) begin
      keep_b_q <= keep_a_q;
      last_b_q <= last_a_q;
    end
  end

  // ------------------------------------------------------------------ output skid
  // stream_skid's ready is a flop, so adv (and k_ready) never depend combinationally on s_ready.
  localparam integer OW = LANES*SW + LANES + 1;
  wire skid_ready;
  assign adv = ~vb_q | skid_ready;

  stream_skid #(
      .WIDTH(OW - 1)
  ) u_out_skid (
      .clk      (clk),
      .rst_n    (rst_n),
      .in_valid (vb_q),
      .in_ready (skid_ready),
      .in_data  ({keep_b_q, score_q}),
      .in_last  (last_b_q),
      .out_valid(s_valid),
      .out_ready(s_ready),
      .out_data ({s_keep, s_data}),
      .out_last (s_last)
  );
endmodule
`default_nettype wire
