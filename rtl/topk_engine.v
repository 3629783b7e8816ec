`include "spatten_fixed.vh"
`include "spatten_check.vh"
`default_nettype none
// Top-k engine (SpAtten token / head / local-V pruning): quick-select + zero eliminator.
// Bit-exact with golden/topk.py: the k largest unsigned scores, ties at the boundary to the
// EARLIER arrival, output in arrival order. See docs/topk.md for the full description.
//
// Input packet (one job): beats of P lanes (score, index); lane j of beat b is element b*P + j.
//   in_keep must be all ones on every beat but the last; on the last beat it is a prefix
//   (lanes 0..m-1, m = 0..P), so n = P*(beats-1) + m. n = 0 is one beat with keep = 0.
//   in_k is sampled with the FIRST beat of the packet (ignored on the others).
//   Elements beyond MAX_N are dropped (n saturates at MAX_N).
// Output packet: min(k, n) (index, score) pairs, dense: every beat full except the last, which
//   holds the first m lanes (keep = m ones, unused lanes zero). k = 0 or n = 0 -> one beat,
//   keep = 0, last = 1. out_saturated = (k >= n) on every beat of the packet.
// Algorithm: the input is stored in arrival order in buffer A (ROWS rows of P lanes). Quick-
//   select passes compare P candidates per cycle with the pivot, append the greater ones at the
//   bottom and the smaller ones at the top of candidate buffer B or C (ping-pong) and count the
//   equal ones; the side holding the k-th element is the next pass's candidate list (always
//   read back in arrival order), until the k-th element equals the pivot or the list fits in
//   one row. The FIRST pass runs on the input beats as they arrive (the fill pass, into B):
//   its pivot is the (P/2)-th largest lane of the first beat (the k-th largest when the job is
//   one beat). Later pivots (golden pivot rule "row"): in the row holding candidate len/2, the
//   element of rank golden.topk.row_target(rank, len, P) (topk_rank_sel), aimed just past the
//   k-th element towards the shorter side; when the sample row is sorted (ascending or
//   descending), the list is taken to be sorted too and the pivot is the element at the k-th's
//   position in a sorted list, read in one more cycle (S_PROBE). A list of <= P candidates is
//   one row: its rank-th largest is the threshold T directly (no pass). The final pass reads A
//   again and selects score > T plus the first (k - #greater) scores == T (running prefix
//   count), which the zero eliminator packs into output beats. The pass sizes equal
//   golden.topk.quickselect_passes(scores, k, P, pivot_rule="row").pass_sizes.
// Latency (first input beat to last output beat, no stalls, 0 < k < n):
//   ceil(n/P) + 2 + sum_later_passes (ceil(n_pass/P) + 2) + probes + (r + 1) + 3 [+1 when the
//   last beat needs a flush], r = the row of the k-th selected element (the final pass stops
//   there).
// Overlap: the next job's input is accepted while the final pass reads A (into rows already
//   read), and the next job's quick-select runs while the previous output drains.
module topk_engine #(
    parameter integer P       = 16,    // lanes per beat: 4, 8, 16 or 32
    parameter integer MAX_N   = 1024,  // largest n; a multiple of P, >= 2*P
    parameter integer SCORE_W = 16,    // unsigned score bits, 1..64
    parameter integer INDEX_W = 16     // index bits (opaque payload), >= 1
) (
    input  wire                       clk,
    input  wire                       rst_n,
    input  wire                       in_valid,
    output wire                       in_ready,
    input  wire [P*SCORE_W-1:0]       in_score,
    input  wire [P*INDEX_W-1:0]       in_index,
    input  wire [P-1:0]               in_keep,
    input  wire [$clog2(MAX_N+1):0]   in_k,   // sampled with the first beat; may exceed n
    input  wire                       in_last,
    output wire                       out_valid,
    input  wire                       out_ready,
    output wire [P*INDEX_W-1:0]       out_index,
    output wire [P*SCORE_W-1:0]       out_score,
    output wire [P-1:0]               out_keep,
    output wire                       out_last,
    output wire                       out_saturated  // k >= n for this packet
);
  generate
    if (P < 4 || P > 32 || (P & (P - 1)) != 0) begin : g_bad_p
      `SPATTEN_ELAB_FATAL(1, "topk_engine: P must be 4, 8, 16 or 32 (got %0d)", P);
    end
    if (MAX_N < 2 * P || MAX_N % P != 0) begin : g_bad_max_n
      `SPATTEN_ELAB_FATAL(1, "topk_engine: MAX_N must be a multiple of P and >= 2*P (got %0d, P=%0d)", MAX_N, P);
    end
    if (SCORE_W < 1 || SCORE_W > 64) begin : g_bad_score_w
      `SPATTEN_ELAB_FATAL(1, "topk_engine: SCORE_W must be 1..64 (got %0d)", SCORE_W);
    end
    if (INDEX_W < 1) begin : g_bad_index_w
      `SPATTEN_ELAB_FATAL(1, "topk_engine: INDEX_W must be >= 1 (got %0d)", INDEX_W);
    end
  endgenerate

  localparam integer LP   = $clog2(P);
  localparam integer ROWS = MAX_N / P;
  localparam integer RW   = $clog2(ROWS);         // row address
  localparam integer NW   = $clog2(MAX_N + 1);    // element counts 0..MAX_N
  localparam integer KW   = NW + 1;               // in_k
  localparam integer CW   = $clog2(P + 1);        // per-row counts 0..P
  localparam integer FW   = $clog2(ROWS + 1);     // fill row counter 0..ROWS
  localparam integer SW   = SCORE_W;
  localparam integer IW   = INDEX_W;
  localparam integer DW   = IW + SW;
  localparam integer XW   = NW + LP + 3;          // row_target products
  localparam integer PROBE_MIN_P = `SPATTEN_TOPK_PROBE_MIN_P;  // golden.topk.PROBE_MIN_P
  localparam [RW-1:0] ROW_MAX = RW'(ROWS - 1);
  localparam [FW-1:0] ROWS_F  = FW'(ROWS);
  localparam [NW-1:0] MAX_N_C = NW'(MAX_N);

  localparam [2:0] S_IDLE = 3'd0, S_RUN = 3'd1, S_WAIT = 3'd2, S_DECIDE = 3'd3, S_FINAL = 3'd4,
                   S_EMPTY = 3'd5, S_PROBE = 3'd6;
  localparam [1:0] SRC_A = 2'd0, SRC_B = 2'd1, SRC_C = 2'd2;

  function automatic [CW-1:0] popcount(input [P-1:0] v);
    integer i;
    begin
      popcount = {CW{1'b0}};
      for (i = 0; i < P; i = i + 1) popcount = popcount + {{(CW - 1){1'b0}}, v[i]};
    end
  endfunction

  // lanes valid in the last row of a list of len >= 1 elements
  // lanes valid in the last row of a list of len >= 1 elements (len_lo = len mod P)
  function automatic [P-1:0] last_mask_of(input [LP-1:0] len_lo);
    integer l;
    begin
      for (l = 0; l < P; l = l + 1)
        last_mask_of[l] = (len_lo == {LP{1'b0}}) || (l[LP-1:0] < len_lo);
    end
  endfunction

  // lanes 0 .. cnt-1 (cnt = 0..P)
  function automatic [P-1:0] prefix_mask(input [CW-1:0] cnt);
    integer l;
    begin
      for (l = 0; l < P; l = l + 1) prefix_mask[l] = l < cnt;
    end
  endfunction

  // row of the last element of a list of len >= 1 elements
  /* verilator lint_off UNUSEDSIGNAL */  // the lane bits (and a top bit) of len - 1 are unused
  function automatic [RW-1:0] last_row_of(input [NW-1:0] len);
    reg [NW-1:0] m1;
    begin
      m1 = len - 1'b1;
      last_row_of = m1[LP +: RW];
    end
  endfunction
  /* verilator lint_on UNUSEDSIGNAL */

  // rank (1 = largest) to pick in the sample row of a list of len > P candidates whose k-th
  // element has rank `rank`: golden.topk.row_target (the pivot's expected rank lands one sample
  // step past the k-th element, towards the shorter side)
  function automatic [CW-1:0] row_target(input [NW-1:0] rank, input [NW-1:0] len);
    integer j;
    reg          up;
    reg [XW-1:0] lhs, rhs;
    begin
      up  = {rank, 1'b0} <= {1'b0, len};
      lhs = XW'(rank) * XW'(2 * (P + 1));
      row_target = {{(CW - 1){1'b0}}, 1'b1};
      for (j = 1; j < P; j = j + 1) begin
        rhs = (XW'(len) + 1'b1) * XW'(up ? (2 * j - 1) : (2 * j + 3));
        if (lhs >= rhs) row_target = row_target + 1'b1;
      end
    end
  endfunction

  // ------------------------------------------------------------------ fill (input) ----------
  reg [FW-1:0] fill_row_q;     // row the next beat writes
  reg          fill_first_q;   // the next beat is the first of a packet
  reg [KW-1:0] fill_k_q;       // k of the packet being received
  reg          job_ready_q;    // a complete packet waits in A for the select engine
  reg [NW-1:0] job_n_q;
  reg [KW-1:0] job_k_q;

  reg [2:0]    state_q;
  reg          a_busy_q;       // A holds the job of the select engine (until its final read)
  reg [RW-1:0] row_q;          // row of the current pass

  wire in_fire   = in_valid & in_ready;
  wire fill_room = fill_row_q != ROWS_F;
  wire [NW-1:0] fill_n = fill_room ? ((NW'(fill_row_q) << LP) + NW'(popcount(in_keep))) : MAX_N_C;
  reg          f1_valid_q;     // fill pass stage 1 holds a beat (declared with the fill pass)
  wire job_trivial = (job_n_q == {NW{1'b0}}) | (job_k_q == {KW{1'b0}}) | ({1'b0, job_n_q} <= job_k_q);
  // a job is taken once its fill pass has left stage 1 (its last row then is in stage 2, which
  // lands before S_DECIDE reads); trivial jobs ignore their fill pass
  wire job_take  = (state_q == S_IDLE) & job_ready_q & (job_trivial | ~f1_valid_q);

  // A row may be overwritten by the next job once the final pass has read it.
  assign in_ready = ~job_ready_q & (~a_busy_q | ((state_q == S_FINAL) & (fill_row_q < FW'(row_q))));

  always @(posedge clk) begin
    if (!rst_n) begin
      fill_row_q   <= {FW{1'b0}};
      fill_first_q <= 1'b1;
      job_ready_q  <= 1'b0;
    end else begin
      if (in_fire) begin
        fill_first_q <= in_last;
        fill_row_q   <= in_last ? {FW{1'b0}} : fill_row_q + FW'(fill_room);
      end
      if (in_fire && in_last) job_ready_q <= 1'b1;
      else if (job_take) job_ready_q <= 1'b0;
    end
  end

  always @(posedge clk) begin
    if (in_fire && fill_first_q) fill_k_q <= in_k;
    if (in_fire && in_last) begin
      job_n_q <= fill_n;
      job_k_q <= fill_first_q ? in_k : fill_k_q;
    end
  end

  // buffer A: the job in arrival order, one row per input beat
  reg [P*SW-1:0] a_score_q [0:ROWS-1];
  reg [P*IW-1:0] a_index_q [0:ROWS-1];
  always @(posedge clk) begin
    if (in_fire && fill_room) begin
      a_score_q[fill_row_q[RW-1:0]] <= in_score;
      a_index_q[fill_row_q[RW-1:0]] <= in_index;
    end
  end

  // ------------------------------------------------------------------ select engine ---------
  reg [NW-1:0] n_q;            // job size
  reg [NW-1:0] k_q;            // job k (0 < k < n in quick-select)
  reg [1:0]    src_q;          // candidate list of the pass: A, or a side of B / C
  reg          src_hi_q;       // the list is the top (smaller) side, stored top down
  reg          dst_q;          // pass writes B (0) or C (1)
  reg [NW-1:0] rank_q;         // rank of the k-th element within the candidates
  reg [SW-1:0] pivot_q;
  reg [RW-1:0] last_row_q;     // last row of the pass
  reg [P-1:0]  last_mask_q;    // valid lanes of that row
  reg [NW-1:0] g_cnt_q;        // greater / equal / smaller counts of the pass
  reg [NW-1:0] e_cnt_q;
  reg [NW-1:0] s_cnt_q;
  reg [SW-1:0] thr_q;          // final pass: threshold T (the k-th largest score)
  reg [NW-1:0] need_eq_q;      // number of scores == T to keep
  reg [NW-1:0] keff_q;         // min(k, n): elements to select
  reg [NW-1:0] eq_seen_q;      // scores == T seen in earlier rows
  reg [NW-1:0] sel_tot_q;      // selected in earlier rows
  reg          sat_q;

  wire job_empty = (job_n_q == {NW{1'b0}}) | (job_k_q == {KW{1'b0}});  // (job_trivial: or sat)
  wire job_sat   = {1'b0, job_n_q} <= job_k_q;

  // pass outcome
  wire [NW:0]   ge_cnt    = {1'b0, g_cnt_q} + {1'b0, e_cnt_q};
  wire          keep_gt   = rank_q <= g_cnt_q;
  wire          found     = ~keep_gt & ({1'b0, rank_q} <= ge_cnt);
  wire [NW-1:0] next_len  = keep_gt ? g_cnt_q : s_cnt_q;
  wire [NW-1:0] next_rank = keep_gt ? rank_q : rank_q - ge_cnt[NW-1:0];

  // list whose pivot (or direct threshold) is picked in S_DECIDE: the side kept by the pass
  // just finished
  wire [NW-1:0] sel_len  = next_len;
  wire [NW-1:0] sel_rank = next_rank;

  // read port (shared by the passes and the pivot fetch): logical row of a list
  // sample row = the row holding candidate len/2; len/2 < MAX_N/2 leaves the top bit 0
  /* verilator lint_off UNUSEDSIGNAL */
  wire [NW-1:0] piv_pos = sel_len >> 1;
  /* verilator lint_on UNUSEDSIGNAL */
  reg  [1:0]    rd_src;
  reg           rd_hi;
  reg  [RW-1:0] rd_lrow;
  always @(*) begin
    case (state_q)
      S_DECIDE: begin
        rd_src = dst_q ? SRC_C : SRC_B; rd_hi = ~keep_gt; rd_lrow = piv_pos[LP +: RW];
      end
      default: begin
        rd_src = src_q; rd_hi = src_hi_q; rd_lrow = row_q;
      end
    endcase
  end
  wire [RW-1:0] rd_prow = rd_hi ? (ROW_MAX - rd_lrow) : rd_lrow;

  wire [P*SW-1:0] a_rd_score = a_score_q[rd_prow];
  wire [P*IW-1:0] a_rd_index = a_index_q[rd_prow];
  wire [P*SW-1:0] b_rd, c_rd;
  wire [P*SW-1:0] raw_rd = (rd_src == SRC_A) ? a_rd_score : (rd_src == SRC_B) ? b_rd : c_rd;
  // the top side is stored top down: reverse the lanes to read it in arrival order
  reg  [P*SW-1:0] row_score;
  always @(*) begin : p_rev
    integer l;
    for (l = 0; l < P; l = l + 1)
      row_score[l*SW +: SW] = rd_hi ? raw_rd[(P-1-l)*SW +: SW] : raw_rd[l*SW +: SW];
  end

  // pivot / direct threshold: rank select over the row just read (the row holding element len/2
  // of the list; for len <= P that is the whole list, and the rank-th largest of it is T)
  wire          sel_direct = sel_len <= NW'(P);
  wire [CW-1:0] sel_t      = sel_direct ? sel_rank[CW-1:0] : row_target(sel_rank, sel_len);

  // sample row sorted in list order (ascending wins when both, i.e. all equal): the pivot is
  // then probed at the k-th element's position in a sorted list (len - rank, or rank - 1)
  reg smp_asc, smp_desc;
  always @(*) begin : p_mono
    integer l;
    smp_asc  = 1'b1;
    smp_desc = 1'b1;
    for (l = 0; l + 1 < P; l = l + 1) begin
      if (row_score[l*SW +: SW] > row_score[(l+1)*SW +: SW]) smp_asc = 1'b0;
      if (row_score[l*SW +: SW] < row_score[(l+1)*SW +: SW]) smp_desc = 1'b0;
    end
  end
  // (not at P = 4: a random row of 4 is sorted 1 time in 12, too often to tell)
  wire          probe     = (P >= PROBE_MIN_P) & ~sel_direct & (smp_asc | smp_desc);
  /* verilator lint_off UNUSEDSIGNAL */  // probe_pos < len <= MAX_N/2 (a kept side): top bit 0
  wire [NW-1:0] probe_pos = smp_asc ? sel_len - sel_rank : sel_rank - 1'b1;
  /* verilator lint_on UNUSEDSIGNAL */
  reg  [LP-1:0] probe_lane_q;

  // fill pass stage 1: the beat accepted last cycle (valid lanes, first / last of its packet)
  reg [P*SW-1:0] f1_score_q;
  reg [P-1:0]    f1_mask_q;
  reg            f1_first_q;
  reg            f1_last_q;
  reg [SW-1:0]   fpiv_q;       // pivot of the fill pass (from the packet's first beat)
  // first-beat pivot: the (P/2)-th largest lane, or the k-th largest when the job is one beat
  // (then it is T itself; k < n <= P unless the job is trivial and the pass is ignored)
  wire [CW-1:0]  f1_t = f1_last_q ? fill_k_q[CW-1:0] : CW'(P / 2);

  // the rank selector serves S_DECIDE (sample row / one-row list) and otherwise the first beat
  // of a fill pass (never both: input is accepted only in S_IDLE and S_FINAL)
  wire           rk_decide = state_q == S_DECIDE;
  wire [SW-1:0]  rk_value;
  wire [CW-1:0]  rk_gt;
  wire           rk_hit;
  topk_rank_sel #(.P(P), .W(SW)) u_rank (
    .row(rk_decide ? row_score : f1_score_q),
    .valid(rk_decide ? (sel_direct ? last_mask_of(sel_len[LP-1:0]) : {P{1'b1}}) : f1_mask_q),
    .t(rk_decide ? sel_t : f1_t), .value(rk_value), .gt(rk_gt), .hit(rk_hit));

  wire [SW-1:0] f1_piv = f1_first_q ? rk_value : fpiv_q;
  reg  [P-1:0]  f1_gt, f1_eq, f1_lt;
  always @(*) begin : p_fcmp
    integer l;
    for (l = 0; l < P; l = l + 1) begin
      f1_gt[l] = f1_mask_q[l] & (f1_score_q[l*SW +: SW] > f1_piv);
      f1_eq[l] = f1_mask_q[l] & (f1_score_q[l*SW +: SW] == f1_piv);
      f1_lt[l] = f1_mask_q[l] & (f1_score_q[l*SW +: SW] < f1_piv);
    end
  end

  wire [CW-1:0] in_cnt = popcount(in_keep);
  always @(posedge clk) begin
    if (!rst_n) begin
      f1_valid_q <= 1'b0;
    end else begin
      f1_valid_q <= in_fire & fill_room;  // beats past MAX_N are dropped
    end
    if (in_fire) begin
      f1_score_q <= in_score;
      f1_mask_q  <= in_last ? prefix_mask(in_cnt) : {P{1'b1}};
      f1_first_q <= fill_first_q;
      f1_last_q  <= in_last;
    end
    if (f1_valid_q && f1_first_q) fpiv_q <= rk_value;
  end

  // stage 0: compare a row with the pivot (quick-select) or the threshold (final pass)
  wire [P-1:0]  row_valid = (row_q == last_row_q) ? last_mask_q : {P{1'b1}};
  wire [SW-1:0] cmp_ref   = (state_q == S_FINAL) ? thr_q : pivot_q;
  reg  [P-1:0]  cmp_gt, cmp_eq, cmp_lt;
  always @(*) begin : p_cmp
    integer l;
    for (l = 0; l < P; l = l + 1) begin
      cmp_gt[l] = row_valid[l] & (row_score[l*SW +: SW] > cmp_ref);
      cmp_eq[l] = row_valid[l] & (row_score[l*SW +: SW] == cmp_ref);
      cmp_lt[l] = row_valid[l] & (row_score[l*SW +: SW] < cmp_ref);
    end
  end
  wire [CW-1:0] eq_cnt = popcount(cmp_eq);

  // final pass: > T, or == T among the first need_eq equal ones (prefix count over lanes/rows)
  reg [P-1:0] fin_sel;
  always @(*) begin : p_sel
    integer l;
    reg [NW-1:0] eq_run;
    eq_run = eq_seen_q;
    for (l = 0; l < P; l = l + 1) begin
      fin_sel[l] = cmp_gt[l] | (cmp_eq[l] & (eq_run < need_eq_q));
      eq_run = eq_run + {{(NW - 1){1'b0}}, cmp_eq[l]};
    end
  end
  wire [NW:0] sel_tot_next = {1'b0, sel_tot_q} + (NW+1)'(popcount(fin_sel));
  wire        fin_final    = (sel_tot_next == {1'b0, keff_q}) | (row_q == last_row_q);

  // zero eliminator (final pass stage 1 and the output register)
  wire          ze_row_valid = (state_q == S_FINAL) | (state_q == S_EMPTY);
  wire          ze_row_ready;
  wire          ze_fire = ze_row_valid & ze_row_ready;
  reg [P*DW-1:0] ze_row_data;
  always @(*) begin : p_zrow
    integer l;
    for (l = 0; l < P; l = l + 1)
      ze_row_data[l*DW +: DW] = {a_rd_index[l*IW +: IW], row_score[l*SW +: SW]};
  end
  wire [P*DW-1:0] ze_out_data;

  topk_zero_elim #(.P(P), .DW(DW)) u_zero_elim (
    .clk       (clk),
    .rst_n     (rst_n),
    .row_valid (ze_row_valid),
    .row_ready (ze_row_ready),
    .row_mask  ((state_q == S_FINAL) ? fin_sel : {P{1'b0}}),
    .row_data  (ze_row_data),
    .row_final ((state_q == S_EMPTY) | fin_final),
    .row_sat   (sat_q),
    .out_valid (out_valid),
    .out_ready (out_ready),
    .out_data  (ze_out_data),
    .out_keep  (out_keep),
    .out_last  (out_last),
    .out_sat   (out_saturated)
  );

  genvar gl;
  generate
    for (gl = 0; gl < P; gl = gl + 1) begin : g_out
      assign out_score[gl*SW +: SW] = ze_out_data[gl*DW +: SW];
      assign out_index[gl*IW +: IW] = ze_out_data[gl*DW + SW +: IW];
    end
  endgenerate

  // quick-select stage 1: append greater at the bottom, smaller at the top of B or C
  reg            qs1_valid_q;
  reg [P*SW-1:0] qs1_score_q;
  reg [P-1:0]    qs1_gt_q;
  reg [P-1:0]    qs1_lt_q;
  reg [CW-1:0]   qs1_eq_q;

  // fed by the pass reading a candidate list (S_RUN) or by the fill pass (never both)
  always @(posedge clk) begin
    qs1_score_q <= f1_valid_q ? f1_score_q : row_score;
    qs1_gt_q    <= f1_valid_q ? f1_gt : cmp_gt;
    qs1_lt_q    <= f1_valid_q ? f1_lt : cmp_lt;
    qs1_eq_q    <= f1_valid_q ? popcount(f1_eq) : eq_cnt;
  end

  wire [P*SW-1:0] gt_data, lt_data;
  wire [P-1:0]    gt_we, lt_we;
  wire [CW-1:0]   gt_n, lt_n;
  topk_compact #(.P(P), .W(SW)) u_cmp_gt (
    .mask(qs1_gt_q), .data(qs1_score_q), .rot(g_cnt_q[LP-1:0]),
    .out_data(gt_data), .out_we(gt_we), .count(gt_n));
  topk_compact #(.P(P), .W(SW)) u_cmp_lt (
    .mask(qs1_lt_q), .data(qs1_score_q), .rot(s_cnt_q[LP-1:0]),
    .out_data(lt_data), .out_we(lt_we), .count(lt_n));

  wire [RW-1:0] g_row = g_cnt_q[LP +: RW];
  wire [RW-1:0] s_row = s_cnt_q[LP +: RW];
  reg  [P*RW-1:0] lo_row, hi_row;
  reg  [P*SW-1:0] hi_data;
  reg  [P-1:0]    hi_we;
  always @(*) begin : p_wrow
    integer j;
    for (j = 0; j < P; j = j + 1) begin
      // bottom side, ascending: lane j wraps to the next row when j < pointer mod P
      lo_row[j*RW +: RW] = g_row + RW'(j[LP-1:0] < g_cnt_q[LP-1:0]);
      // top side, descending: logical lane P-1-j lives in physical lane j
      hi_row[j*RW +: RW] = ROW_MAX - (s_row + RW'((P - 1 - j) < s_cnt_q[LP-1:0]));
      hi_data[j*SW +: SW] = lt_data[(P-1-j)*SW +: SW];
      hi_we[j] = lt_we[P-1-j];
    end
  end

  wire wr_b = qs1_valid_q & ~dst_q;
  wire wr_c = qs1_valid_q & dst_q;
  topk_cand_buf #(.P(P), .ROWS(ROWS), .W(SW)) u_buf_b (
    .clk(clk),
    .lo_we(wr_b ? gt_we : {P{1'b0}}), .lo_row(lo_row), .lo_data(gt_data),
    .hi_we(wr_b ? hi_we : {P{1'b0}}), .hi_row(hi_row), .hi_data(hi_data),
    .rd_row(rd_prow), .rd_data(b_rd));
  topk_cand_buf #(.P(P), .ROWS(ROWS), .W(SW)) u_buf_c (
    .clk(clk),
    .lo_we(wr_c ? gt_we : {P{1'b0}}), .lo_row(lo_row), .lo_data(gt_data),
    .hi_we(wr_c ? hi_we : {P{1'b0}}), .hi_row(hi_row), .hi_data(hi_data),
    .rd_row(rd_prow), .rd_data(c_rd));

  // ------------------------------------------------------------------ control ---------------
  // the pass just finished leaves a list of <= P candidates: its T is picked directly
  wire decide_direct = ~found & sel_direct;

  reg [2:0] state_d;
  always @(*) begin
    state_d = state_q;
    case (state_q)
      S_IDLE:   if (job_take) state_d = job_empty ? S_EMPTY : job_sat ? S_FINAL : S_DECIDE;
      S_RUN:    if (row_q == last_row_q) state_d = S_WAIT;
      S_WAIT:   state_d = S_DECIDE;
      S_DECIDE: state_d = (found | decide_direct) ? S_FINAL : probe ? S_PROBE : S_RUN;
      S_PROBE:  state_d = S_RUN;
      S_FINAL:  if (ze_fire && fin_final) state_d = S_IDLE;
      S_EMPTY:  if (ze_fire) state_d = S_IDLE;
      default:  state_d = S_IDLE;
    endcase
  end

  always @(posedge clk) begin
    if (!rst_n) begin
      state_q     <= S_IDLE;
      a_busy_q    <= 1'b0;
      qs1_valid_q <= 1'b0;
      row_q       <= {RW{1'b0}};
      dst_q       <= 1'b0;
    end else begin
      state_q     <= state_d;
      qs1_valid_q <= (state_q == S_RUN) | f1_valid_q;
      if (in_fire && fill_first_q) begin  // a fill pass starts: the buffer pointers restart
        g_cnt_q <= {NW{1'b0}};
        e_cnt_q <= {NW{1'b0}};
        s_cnt_q <= {NW{1'b0}};
      end else if (qs1_valid_q) begin
        g_cnt_q <= g_cnt_q + NW'(gt_n);
        s_cnt_q <= s_cnt_q + NW'(lt_n);
        e_cnt_q <= e_cnt_q + NW'(qs1_eq_q);
      end
      case (state_q)
        S_IDLE: begin
          if (job_take) begin
            a_busy_q    <= 1'b1;
            n_q         <= job_n_q;
            k_q         <= job_k_q[NW-1:0];
            sat_q       <= job_sat;
            row_q       <= {RW{1'b0}};
            last_row_q  <= last_row_of(job_n_q);
            last_mask_q <= last_mask_of(job_n_q[LP-1:0]);
            // final pass of a saturated job: T = 0 and every element "== T" kept -> all
            thr_q       <= {SW{1'b0}};
            need_eq_q   <= job_n_q;
            keff_q      <= job_n_q;
            eq_seen_q   <= {NW{1'b0}};
            sel_tot_q   <= {NW{1'b0}};
            src_q       <= SRC_A;
            src_hi_q    <= 1'b0;
            // otherwise S_DECIDE judges the fill pass (its counts, B written, pivot fpiv_q)
            rank_q      <= job_k_q[NW-1:0];
            pivot_q     <= fpiv_q;
          end
        end
        S_RUN: row_q <= row_q + 1'b1;
        S_DECIDE: begin
          row_q   <= {RW{1'b0}};
          g_cnt_q <= {NW{1'b0}};
          e_cnt_q <= {NW{1'b0}};
          s_cnt_q <= {NW{1'b0}};
          if (found || decide_direct) begin
            // found: T = the pivot; direct: T = the rank-th largest of the one-row list
            thr_q       <= found ? pivot_q : rk_value;
            need_eq_q   <= found ? rank_q - g_cnt_q : next_rank - NW'(rk_gt);
            keff_q      <= k_q;
            src_q       <= SRC_A;
            src_hi_q    <= 1'b0;
            dst_q       <= 1'b0;  // the next job's fill pass writes B
            last_row_q  <= last_row_of(n_q);
            last_mask_q <= last_mask_of(n_q[LP-1:0]);
          end else begin
            src_q       <= dst_q ? SRC_C : SRC_B;
            src_hi_q    <= ~keep_gt;
            dst_q       <= ~dst_q;
            rank_q      <= next_rank;
            pivot_q     <= rk_value;
            last_row_q  <= last_row_of(next_len);
            last_mask_q <= last_mask_of(next_len[LP-1:0]);
            if (probe) begin  // S_PROBE reads the row of probe_pos (through row_q)
              row_q        <= probe_pos[LP +: RW];
              probe_lane_q <= probe_pos[LP-1:0];
            end
          end
        end
        S_PROBE: begin
          pivot_q <= row_score[probe_lane_q*SW +: SW];
          row_q   <= {RW{1'b0}};
        end
        S_FINAL: begin
          if (ze_fire) begin
            eq_seen_q <= eq_seen_q + NW'(eq_cnt);
            sel_tot_q <= sel_tot_next[NW-1:0];
            row_q     <= row_q + 1'b1;
            if (fin_final) a_busy_q <= 1'b0;
          end
        end
        S_EMPTY: if (ze_fire) a_busy_q <= 1'b0;
        default: ;
      endcase
    end
  end

`ifndef SYNTHESIS
  // Simulation checks. The rank select must find its element whenever its result is used (a
  // pivot for a pass, or T of a one-row list); a fill pass never meets a candidate pass; the
  // output stream holds valid and its payload until the handshake.
  reg              out_hold_q;
  reg [P*DW+P+1:0] out_prev_q;
  wire [P*DW+P+1:0] out_now = {ze_out_data, out_keep, out_last, out_saturated};
  initial out_hold_q = 1'b0;  // no check before the first reset (random initial state)
  reg rst_seen_q;
  initial rst_seen_q = 1'b0;
  always @(posedge clk) begin
    if (!rst_n) begin
      out_hold_q <= 1'b0;
      rst_seen_q <= 1'b1;
    end else if (rst_seen_q) begin
      if (f1_valid_q && f1_first_q && !rk_decide && !rk_hit
          && (!f1_last_q || (fill_k_q != {KW{1'b0}} && fill_k_q < KW'(popcount(f1_mask_q)))))
        $fatal(1, "topk_engine: no element of rank %0d in the first beat", f1_t);
      if (f1_valid_q && (state_q == S_RUN || rk_decide || state_q == S_PROBE))
        $fatal(1, "topk_engine: fill pass beat while a candidate pass runs");
      if (state_q == S_DECIDE && !found && !rk_hit)
        $fatal(1, "topk_engine: no element of rank %0d in the sample row (len=%0d)", sel_t, sel_len);
      if (out_hold_q && !(out_valid && out_now == out_prev_q))
        $fatal(1, "topk_engine: output beat dropped or changed before its handshake");
      out_hold_q <= out_valid & ~out_ready;
    end
    out_prev_q <= out_now;
  end
`endif
endmodule
`default_nettype wire
