`default_nettype none
`include "spatten_check.vh"
`include "spatten_fixed.vh"
// Row softmax of Q11.8 log2-domain scores, bit-exact with golden.blocks.softmax
// (formats: docs/fixed_point.md; design notes and figures: docs/softmax.md).
//
// Input: one row of scores, LANES per beat; in_keep marks the lanes that hold a score (a
// partial last beat; masked lanes are ignored everywhere), in_last ends the row. A row holds
// 1..MAX_N kept scores in at most ceil(MAX_N/LANES) beats (a longer row is cut there).
// Output: the same beats (same keep/last) carrying UQ0.16 probabilities (0 in masked lanes),
// plus out_maxp = the row's maximum probability, constant on every beat of the row.
//
// Three passes per row over a ring of NBUF row buffers, each on a different row: (1) ingest,
// one beat per cycle: write the beat to the buffer, running max; (2) sum, TWO beats per cycle:
// read back, t = min(max - s, T_MAX), e = exp2(-t) by the two 16-entry LUTs + one rounding
// shift, sum; then one reciprocal r = floor(2^46 / sum) per row on a sequential divider
// (RECIP_STEPS quotient bits per cycle); (3) normalise, one beat per cycle: read back again,
// recompute e, p = min(round(e*r / 2^30), 65535) and stream it out (stalls only on out_ready).
// The sum pass is the only one that nothing downstream paces, so it is the one made wide: a
// row's last probability leaves ~T/2 cycles sooner (T = beats in the row), which is the tail
// of every command in spatten_top. The sum is exact, so its order does not matter. The buffer
// is two banks (even / odd beats) so the sum pass reads a pair per cycle while each of the
// other passes touches one bank per cycle.
module softmax #(
    parameter integer LANES       = 8,     // scores per beat in and probabilities per beat out, 1..64
    parameter integer MAX_N       = 1024,  // longest row (kept scores), 1..`SPATTEN_MAX_N
    parameter integer NBUF        = 3,     // row buffers in the ring (rows in flight), 2..8
    parameter integer RECIP_STEPS = 4      // divider quotient bits per cycle, 1..`SPATTEN_RECIP_W
) (
    input  wire                              clk,
    input  wire                              rst_n,
    // scores: lane i in bits [20i +: 20], signed Q11.8
    input  wire                              in_valid,
    output wire                              in_ready,
    input  wire [LANES*`SPATTEN_SCORE_W-1:0] in_data,
    input  wire [LANES-1:0]                  in_keep,
    input  wire                              in_last,
    // probabilities: lane i in bits [16i +: 16], UQ0.16
    output wire                              out_valid,
    input  wire                              out_ready,
    output wire [LANES*`SPATTEN_PROB_W-1:0]  out_data,
    output wire [LANES-1:0]                  out_keep,
    output wire                              out_last,
    output wire [`SPATTEN_PROB_W-1:0]        out_maxp
);
  generate
    if (LANES < 1 || LANES > 64) begin : g_bad_lanes
      `SPATTEN_ELAB_FATAL(1, "softmax: LANES must be in 1..64 (got %0d)", LANES);
    end
    if (MAX_N < 1 || MAX_N > `SPATTEN_MAX_N) begin : g_bad_max_n
      `SPATTEN_ELAB_FATAL(1, "softmax: MAX_N must be in 1..%0d (got %0d)", `SPATTEN_MAX_N, MAX_N);
    end
    if (NBUF < 2 || NBUF > 8) begin : g_bad_nbuf
      `SPATTEN_ELAB_FATAL(1, "softmax: NBUF must be in 2..8 (got %0d)", NBUF);
    end
    if (RECIP_STEPS < 1 || RECIP_STEPS > `SPATTEN_RECIP_W) begin : g_bad_steps
      `SPATTEN_ELAB_FATAL(1, "softmax: RECIP_STEPS must be in 1..%0d (got %0d)", `SPATTEN_RECIP_W,
                          RECIP_STEPS);
    end
  endgenerate

  // ------------------------------------------------------------------ formats ----------------
  localparam integer SW = `SPATTEN_SCORE_W;  // score Q11.8
  localparam integer FRAC = `SPATTEN_SCORE_FRAC;
  localparam integer TW = `SPATTEN_T_W;  // t = max - s, UQ5.8 saturated
  localparam integer KW = TW - FRAC;  // integer bits of t
  localparam integer AW = `SPATTEN_LUT_ADDR_W;  // LUT address (nibble of frac(t))
  localparam integer LW = `SPATTEN_LUT_W;  // LUT entry UQ1.15
  localparam integer XW = 2 * LW;  // LUT product UQ2.30 (<= 2^30)
  localparam integer EW = `SPATTEN_EXP_W;  // e UQ1.24
  localparam integer ESH0 = 2 * `SPATTEN_LUT_FRAC - `SPATTEN_EXP_FRAC;  // e = round(x >> (ESH0 + int t))
  localparam integer ESHMAX = ESH0 + (1 << KW) - 1;
  localparam integer SHW = $clog2(ESHMAX + 1);
  localparam integer RNDW = ((XW > ESHMAX) ? XW : ESHMAX) + 1;  // x + half, no overflow
  localparam integer RW = `SPATTEN_RECIP_W;  // r = floor(2^RECIP_R / sum)
  localparam integer PW = `SPATTEN_PROB_W;  // probability UQ0.16
  localparam integer PSH = `SPATTEN_PROB_SHIFT;  // p = round(e * r >> 30)
  localparam integer PRW = EW + RW;  // e * r
  localparam integer MSH = PSH - `SPATTEN_EXP_FRAC;  // max prob = round(2^24 * r >> 30) = round(r >> 6)
  localparam [TW-1:0] T_MAX = {TW{1'b1}};
  localparam [PW-1:0] P_MAX = {PW{1'b1}};
  localparam signed [SW-1:0] S_MIN = {1'b1, {(SW - 1) {1'b0}}};
  localparam [(LW<<AW)-1:0] LUT_HI = `SPATTEN_EXP_LUT_HI;  // 2^(-i/16), entry i at [16i +: 16]
  localparam [(LW<<AW)-1:0] LUT_LO = `SPATTEN_EXP_LUT_LO;  // 2^(-j/256)

  // ------------------------------------------------------------------ sizes ------------------
  localparam integer MAX_BEATS = (LANES > 0 && MAX_N > 0) ? (MAX_N + LANES - 1) / LANES : 1;
  localparam integer BA_W = (MAX_BEATS > 1) ? $clog2(MAX_BEATS) : 1;
  localparam integer SUM_W = EW + $clog2(MAX_BEATS * LANES);  // exact sum of the row's e
  localparam integer BUF_W = (NBUF > 1) ? $clog2(NBUF) : 1;
  localparam integer CNT_W = $clog2(NBUF + 1);
  localparam integer PAIRS = (MAX_BEATS + 1) / 2;  // beat pairs per row buffer (one per bank)
  localparam integer DEPTH = NBUF * PAIRS;  // words per bank
  localparam integer ADDR_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;
  localparam integer SL = 2 * LANES;  // sum-pass lanes: an even and an odd beat
  localparam integer MW = LANES * (SW + 1);  // buffer word {keep, scores}
  localparam integer DIV_CYC = (RECIP_STEPS > 0) ? (RW + RECIP_STEPS - 1) / RECIP_STEPS : 1;
  localparam integer QB = DIV_CYC * RECIP_STEPS;  // quotient bits computed (>= RW)
  localparam integer DCW = (DIV_CYC > 1) ? $clog2(DIV_CYC) : 1;
  localparam integer TREE = 1 << $clog2(LANES);  // leaves of the beat-max tree
  localparam [BA_W-1:0] LAST_BEAT = BA_W'(MAX_BEATS - 1);
  localparam [BUF_W-1:0] LAST_BUF = BUF_W'(NBUF - 1);
  localparam [CNT_W-1:0] NBUF_CNT = CNT_W'(NBUF);
  localparam [DCW-1:0] DIV_LAST = DCW'(DIV_CYC - 1);

  // bank word of beat pair `pair` (beats 2*pair, 2*pair + 1) of buffer b
  function automatic [ADDR_W-1:0] addr(input [BUF_W-1:0] b, input [BA_W-1:0] pair);
    addr = ADDR_W'(b) * ADDR_W'(PAIRS) + ADDR_W'(pair);
  endfunction

  function automatic [BUF_W-1:0] next_buf(input [BUF_W-1:0] b);
    next_buf = (b == LAST_BUF) ? {BUF_W{1'b0}} : b + 1'b1;
  endfunction

  // t = min(max - s, T_MAX); max >= s for every kept lane, masked lanes give don't-care
  function automatic [TW-1:0] t_of(input [SW-1:0] mx, input [SW-1:0] s);
    reg [SW:0] d;
    begin
      d = {mx[SW-1], mx} - {s[SW-1], s};
      t_of = (d > (SW + 1)'(T_MAX)) ? T_MAX : d[TW-1:0];
    end
  endfunction

  // LUT_HI[t[7:4]] * LUT_LO[t[3:0]]
  function automatic [XW-1:0] lut_prod(input [FRAC-1:0] tf);
    reg [LW-1:0] hi, lo;
    begin
      hi = LUT_HI[LW*tf[FRAC-1:AW]+:LW];
      lo = LUT_LO[LW*tf[AW-1:0]+:LW];
      lut_prod = hi * lo;
    end
  endfunction

  // e = round_half_up(x >> (ESH0 + k)), k = int(t); the result is <= 2^EXP_FRAC
  function automatic [EW-1:0] exp_round(input [XW-1:0] x, input [KW-1:0] k);
    reg [SHW-1:0] sh;
    /* verilator lint_off UNUSEDSIGNAL */  // v's top bits are always 0 (x <= 2^30, shift >= 6)
    reg [RNDW-1:0] v;
    /* verilator lint_on UNUSEDSIGNAL */
    begin
      sh = SHW'(ESH0) + SHW'(k);
      v = (RNDW'(x) + (RNDW'(1) << (sh - 1'b1))) >> sh;
      exp_round = v[EW-1:0];
    end
  endfunction

  // ================================================================== row buffer ==============
  reg [MW-1:0] mem_e_q[0:DEPTH-1];  // even beats
  reg [MW-1:0] mem_o_q[0:DEPTH-1];  // odd beats
  reg [SW-1:0] max_q[0:NBUF-1];  // row max (signed)
  reg [BA_W-1:0] nbm1_q[0:NBUF-1];  // beats in the row - 1
  reg [SUM_W-1:0] sum_q[0:NBUF-1];  // sum of e
  reg [RW-1:0] r_q[0:NBUF-1];  // reciprocal

  // Ring bookkeeping (all rows move through the buffers in order):
  reg [CNT_W-1:0] used_q;  // rows written and not yet read out by the normaliser
  reg [CNT_W-1:0] pend_sum_q;  // rows written, sum pass not started
  reg [CNT_W-1:0] pend_div_q;  // rows summed, reciprocal not started
  reg [CNT_W-1:0] pend_nrm_q;  // rows with r, normalise pass not started

  // ================================================================== pass 1: ingest ==========
  reg [BUF_W-1:0] w_buf_q;
  reg [BA_W-1:0] w_beat_q;
  reg [SW-1:0] w_max_q;

  assign in_ready = (used_q != NBUF_CNT);
  wire in_fire = in_valid & in_ready;
  wire w_end = in_last | (w_beat_q == LAST_BEAT);

  // masked max of the beat, as a binary tree (node i has children 2i+1, 2i+2)
  wire [TREE-1:0] keep_pad = TREE'(in_keep);
  wire [TREE*SW-1:0] data_pad = (TREE * SW)'(in_data);
  reg [SW-1:0] mx_node[0:2*TREE-2];
  integer mi;
  always @* begin
    for (mi = 0; mi < TREE; mi = mi + 1)
      mx_node[TREE-1+mi] = keep_pad[mi] ? data_pad[SW*mi+:SW] : S_MIN;
    for (mi = TREE - 2; mi >= 0; mi = mi - 1)
      mx_node[mi] = ($signed(mx_node[2*mi+1]) > $signed(mx_node[2*mi+2])) ? mx_node[2*mi+1]
                                                                        : mx_node[2*mi+2];
  end
  wire [SW-1:0] beat_max = mx_node[0];
  wire [SW-1:0] w_max_next = (w_beat_q == {BA_W{1'b0}} || $signed(beat_max) > $signed(w_max_q))
                             ? beat_max : w_max_q;

  always @(posedge clk) begin
    if (!rst_n) begin
      w_buf_q  <= {BUF_W{1'b0}};
      w_beat_q <= {BA_W{1'b0}};
    end else if (in_fire) begin
      w_beat_q <= w_end ? {BA_W{1'b0}} : w_beat_q + 1'b1;
      if (w_end) w_buf_q <= next_buf(w_buf_q);
    end
  end

  always @(posedge clk) begin
    if (in_fire) begin
      if (w_beat_q[0]) mem_o_q[addr(w_buf_q, w_beat_q >> 1)] <= {in_keep, in_data};
      else mem_e_q[addr(w_buf_q, w_beat_q >> 1)] <= {in_keep, in_data};
      w_max_q <= w_max_next;
      if (w_end) begin
        max_q[w_buf_q]  <= w_max_next;
        nbm1_q[w_buf_q] <= w_beat_q;
      end
    end
  end
  wire w_row_done = in_fire & w_end;

  // ================================================================== pass 2: sum =============
  // issue -> A (buffer read) -> B (t) -> C (LUT product) -> D (e) -> E (beat sum) -> sum_q;
  // one beat pair per cycle (s_beat counts pairs); the odd beat of a row's last pair is masked
  // when the row has an odd number of beats (its bank word is another row's, or never written)
  reg s_active_q;
  reg [BA_W-1:0] s_beat_q;
  reg [BUF_W-1:0] s_buf_q;
  wire s_issue = s_active_q | (pend_sum_q != {CNT_W{1'b0}});
  wire s_row_start = s_issue & ~s_active_q;
  wire [BA_W-1:0] s_beat = s_active_q ? s_beat_q : {BA_W{1'b0}};
  wire [BA_W-1:0] s_nbm1 = nbm1_q[s_buf_q];
  wire s_row_last = (s_beat == (s_nbm1 >> 1));
  wire s_odd_ok = ~s_row_last | s_nbm1[0];

  always @(posedge clk) begin
    if (!rst_n) begin
      s_active_q <= 1'b0;
      s_beat_q   <= {BA_W{1'b0}};
      s_buf_q    <= {BUF_W{1'b0}};
    end else if (s_issue) begin
      s_active_q <= ~s_row_last;
      s_beat_q   <= s_beat + 1'b1;
      if (s_row_last) s_buf_q <= next_buf(s_buf_q);
    end
  end

  reg [4:0] s_v_q;  // valid of stages A..E
  reg [4:0] s_first_q, s_last_q;  // first/last beat of a row, stages A..E
  reg [BUF_W-1:0] sa_buf_q, sb_buf_q, sc_buf_q, sd_buf_q, se_buf_q;
  reg [MW-1:0] sa_rd_e_q, sa_rd_o_q;
  reg sa_odd_ok_q;
  reg [SL*TW-1:0] sb_t_q;
  reg [SL-1:0] sb_keep_q, sc_keep_q;
  reg [SL*XW-1:0] sc_x_q;
  reg [SL*KW-1:0] sc_k_q;
  reg [SL*EW-1:0] sd_e_q;
  // the pair as 2*LANES lanes: even beat in lanes 0..LANES-1, odd beat above
  wire [SL*SW-1:0] sa_score = {sa_rd_o_q[0+:LANES*SW], sa_rd_e_q[0+:LANES*SW]};
  reg [SUM_W-1:0] se_sum_q, s_acc_q;

  always @(posedge clk) begin
    if (!rst_n) begin
      s_v_q <= 5'd0;
    end else begin
      s_v_q <= {s_v_q[3:0], s_issue};
    end
  end

  always @(posedge clk) begin
    s_first_q <= {s_first_q[3:0], s_row_start};
    s_last_q  <= {s_last_q[3:0], s_row_last};
    sa_buf_q  <= s_buf_q;
    sb_buf_q  <= sa_buf_q;
    sc_buf_q  <= sb_buf_q;
    sd_buf_q  <= sc_buf_q;
    se_buf_q  <= sd_buf_q;
    if (s_issue) begin
      sa_rd_e_q   <= mem_e_q[addr(s_buf_q, s_beat)];
      sa_rd_o_q   <= mem_o_q[addr(s_buf_q, s_beat)];
      sa_odd_ok_q <= s_odd_ok;
    end
    sb_keep_q <= {sa_rd_o_q[MW-1-:LANES] & {LANES{sa_odd_ok_q}}, sa_rd_e_q[MW-1-:LANES]};
    sc_keep_q <= sb_keep_q;
  end

  genvar gi;
  generate
    for (gi = 0; gi < SL; gi = gi + 1) begin : g_s_lane
      always @(posedge clk) begin
        sb_t_q[TW*gi+:TW] <= t_of(max_q[sa_buf_q], sa_score[SW*gi+:SW]);
        sc_x_q[XW*gi+:XW] <= lut_prod(sb_t_q[TW*gi+:FRAC]);
        sc_k_q[KW*gi+:KW] <= sb_t_q[TW*gi+FRAC+:KW];
        sd_e_q[EW*gi+:EW] <= sc_keep_q[gi] ? exp_round(sc_x_q[XW*gi+:XW], sc_k_q[KW*gi+:KW])
                                           : {EW{1'b0}};
      end
    end
  endgenerate

  reg [SUM_W-1:0] sd_beat_sum;
  integer li;
  always @* begin
    sd_beat_sum = {SUM_W{1'b0}};
    for (li = 0; li < SL; li = li + 1) sd_beat_sum = sd_beat_sum + SUM_W'(sd_e_q[EW*li+:EW]);
  end

  wire [SUM_W-1:0] s_acc_next = s_first_q[4] ? se_sum_q : s_acc_q + se_sum_q;
  wire s_row_summed = s_v_q[4] & s_last_q[4];

  always @(posedge clk) begin
    se_sum_q <= sd_beat_sum;
    if (s_v_q[4]) s_acc_q <= s_acc_next;
    if (s_row_summed) sum_q[se_buf_q] <= s_acc_next;
  end

  // ================================================================== reciprocal ==============
  // Restoring division r = floor(2^RECIP_R / sum), RECIP_STEPS quotient bits per cycle. The
  // partial remainder starts at 2^(RECIP_R - QB) < 2^EXP_FRAC <= sum, so QB bits hold r.
  reg div_busy_q;
  reg [DCW-1:0] div_cnt_q;
  reg [BUF_W-1:0] div_buf_q;
  reg [SUM_W-1:0] div_den_q;
  reg [SUM_W:0] div_rem_q;
  reg [QB-1:0] div_quo_q;
  wire div_start = ~div_busy_q & (pend_div_q != {CNT_W{1'b0}});
  wire div_done = div_busy_q & (div_cnt_q == DIV_LAST);

  reg [SUM_W:0] div_rem_d;
  reg [QB-1:0] div_quo_d;
  integer si;
  always @* begin
    div_rem_d = div_rem_q;
    div_quo_d = div_quo_q;
    for (si = 0; si < RECIP_STEPS; si = si + 1) begin
      div_rem_d = div_rem_d << 1;
      if (div_rem_d >= {1'b0, div_den_q}) begin
        div_rem_d = div_rem_d - {1'b0, div_den_q};
        div_quo_d = {div_quo_d[QB-2:0], 1'b1};
      end else begin
        div_quo_d = {div_quo_d[QB-2:0], 1'b0};
      end
    end
  end

  always @(posedge clk) begin
    if (!rst_n) begin
      div_busy_q <= 1'b0;
      div_cnt_q  <= {DCW{1'b0}};
      div_buf_q  <= {BUF_W{1'b0}};
    end else if (div_start) begin
      div_busy_q <= 1'b1;
      div_cnt_q  <= {DCW{1'b0}};
    end else if (div_busy_q) begin
      div_cnt_q <= div_cnt_q + 1'b1;
      if (div_done) begin
        div_busy_q <= 1'b0;
        div_buf_q  <= next_buf(div_buf_q);
      end
    end
  end

  always @(posedge clk) begin
    if (div_start) begin
      div_den_q <= sum_q[div_buf_q];
      div_rem_q <= (SUM_W + 1)'(1) << (`SPATTEN_RECIP_R - QB);
      div_quo_q <= {QB{1'b0}};
    end else if (div_busy_q) begin
      div_rem_q <= div_rem_d;
      div_quo_q <= div_quo_d;
    end
    if (div_done) r_q[div_buf_q] <= div_quo_d[RW-1:0];
  end

  // ================================================================== pass 3: normalise =======
  // issue -> A (buffer read) -> B (t) -> C (LUT product) -> D (e) -> E (e*r) -> out register;
  // the whole pipeline advances together when the output register can take a beat.
  reg out_valid_q;
  wire n_en = ~out_valid_q | out_ready;
  reg n_active_q;
  reg [BA_W-1:0] n_beat_q;
  reg [BUF_W-1:0] n_buf_q;
  wire n_issue = n_en & (n_active_q | (pend_nrm_q != {CNT_W{1'b0}}));
  wire n_row_start = n_issue & ~n_active_q;
  wire [BA_W-1:0] n_beat = n_active_q ? n_beat_q : {BA_W{1'b0}};
  wire n_row_last = (n_beat == nbm1_q[n_buf_q]);
  wire n_row_freed = n_issue & n_row_last;

  always @(posedge clk) begin
    if (!rst_n) begin
      n_active_q <= 1'b0;
      n_beat_q   <= {BA_W{1'b0}};
      n_buf_q    <= {BUF_W{1'b0}};
    end else if (n_issue) begin
      n_active_q <= ~n_row_last;
      n_beat_q   <= n_beat + 1'b1;
      if (n_row_last) n_buf_q <= next_buf(n_buf_q);
    end
  end

  reg [3:0] n_v_q;  // valid of stages A..D
  reg [3:0] n_last_q;
  reg ne_v_q, ne_last_q;
  reg [MW-1:0] na_rd_q;
  reg [SW-1:0] na_max_q;
  reg [RW-1:0] na_r_q, nb_r_q, nc_r_q, nd_r_q, ne_r_q;
  reg [LANES*TW-1:0] nb_t_q;
  reg [LANES-1:0] nb_keep_q, nc_keep_q, nd_keep_q, ne_keep_q;
  reg [LANES*XW-1:0] nc_x_q;
  reg [LANES*KW-1:0] nc_k_q;
  reg [LANES*EW-1:0] nd_e_q;
  reg [LANES*PRW-1:0] ne_pr_q;
  reg [LANES*PW-1:0] out_data_q;
  reg [LANES-1:0] out_keep_q;
  reg out_last_q;
  reg [PW-1:0] out_maxp_q;

  always @(posedge clk) begin
    if (!rst_n) begin
      n_v_q       <= 4'd0;
      ne_v_q      <= 1'b0;
      out_valid_q <= 1'b0;
    end else if (n_en) begin
      n_v_q       <= {n_v_q[2:0], n_issue};
      ne_v_q      <= n_v_q[3];
      out_valid_q <= ne_v_q;
    end
  end

  wire [RW:0] n_maxp_wide = ({1'b0, ne_r_q} + (RW + 1)'(1 << (MSH - 1))) >> MSH;

  always @(posedge clk) begin
    if (n_en) begin
      n_last_q <= {n_last_q[2:0], n_row_last};
      ne_last_q <= n_last_q[3];
      out_last_q <= ne_last_q;
      if (n_issue) begin
        na_rd_q  <= n_beat[0] ? mem_o_q[addr(n_buf_q, n_beat >> 1)]
                              : mem_e_q[addr(n_buf_q, n_beat >> 1)];
        na_max_q <= max_q[n_buf_q];
        na_r_q   <= r_q[n_buf_q];
      end
      nb_r_q <= na_r_q;
      nc_r_q <= nb_r_q;
      nd_r_q <= nc_r_q;
      ne_r_q <= nd_r_q;
      nb_keep_q <= na_rd_q[MW-1-:LANES];
      nc_keep_q <= nb_keep_q;
      nd_keep_q <= nc_keep_q;
      ne_keep_q <= nd_keep_q;
      out_keep_q <= ne_keep_q;
      out_maxp_q <= (n_maxp_wide > (RW + 1)'(P_MAX)) ? P_MAX : n_maxp_wide[PW-1:0];
    end
  end

  generate
    for (gi = 0; gi < LANES; gi = gi + 1) begin : g_n_lane
      wire [PRW-1:0] p_wide = (ne_pr_q[PRW*gi+:PRW] + (PRW'(1) << (PSH - 1))) >> PSH;
      always @(posedge clk) begin
        if (n_en) begin
          nb_t_q[TW*gi+:TW] <= t_of(na_max_q, na_rd_q[SW*gi+:SW]);
          nc_x_q[XW*gi+:XW] <= lut_prod(nb_t_q[TW*gi+:FRAC]);
          nc_k_q[KW*gi+:KW] <= nb_t_q[TW*gi+FRAC+:KW];
          nd_e_q[EW*gi+:EW] <= nc_keep_q[gi] ? exp_round(nc_x_q[XW*gi+:XW], nc_k_q[KW*gi+:KW])
                                             : {EW{1'b0}};
          ne_pr_q[PRW*gi+:PRW] <= PRW'(nd_e_q[EW*gi+:EW]) * PRW'(nd_r_q);
          out_data_q[PW*gi+:PW] <= (p_wide > PRW'(P_MAX)) ? P_MAX : p_wide[PW-1:0];
        end
      end
    end
  endgenerate

  assign out_valid = out_valid_q;
  assign out_data  = out_data_q;
  assign out_keep  = out_keep_q;
  assign out_last  = out_last_q;
  assign out_maxp  = out_maxp_q;

  // ================================================================== ring counters ===========
  always @(posedge clk) begin
    if (!rst_n) begin
      used_q     <= {CNT_W{1'b0}};
      pend_sum_q <= {CNT_W{1'b0}};
      pend_div_q <= {CNT_W{1'b0}};
      pend_nrm_q <= {CNT_W{1'b0}};
    end else begin
      used_q     <= used_q + CNT_W'(w_row_done) - CNT_W'(n_row_freed);
      pend_sum_q <= pend_sum_q + CNT_W'(w_row_done) - CNT_W'(s_row_start);
      pend_div_q <= pend_div_q + CNT_W'(s_row_summed) - CNT_W'(div_start);
      pend_nrm_q <= pend_nrm_q + CNT_W'(div_done) - CNT_W'(n_row_start);
    end
  end
endmodule
`default_nettype wire
