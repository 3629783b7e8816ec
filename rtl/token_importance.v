`default_nettype none
`include "spatten_check.vh"
`include "spatten_fixed.vh"
// Cascade token importance: an on-chip array of MAX_N saturating accumulators indexed by the
// position in the current live-token list (docs/importance.md; formats docs/fixed_point.md:
// UQ16.16 sums of UQ0.16 probabilities, ACC_W = 32 bits, saturating).
//
// One command stream `in_*`; a packet is one operation, chosen by in_op (constant over the
// packet). Lane i of in_data is bits [16i +: 16].
//   OP_CLEAR   (0) one beat: every entry reads 0 from now on, live_count = 0 (one cycle).
//   OP_ACC     (1) one row of probabilities, LANES per beat: beat b lane l is position
//                  b*LANES + l, in_keep marks the lanes that hold a probability (a partial last
//                  beat), in_last ends the row. entry[p] = sat(entry[p] + prob). Positions at or
//                  beyond live_count start from 0 and extend live_count (new tokens). Rows are
//                  at most MAX_N long (further beats are dropped). One beat per cycle.
//   OP_READ    (2) one beat, in_n = n: out_* streams entries 0..n-1 (n clipped to MAX_N), LANES
//                  (score, position) pairs per beat, out_keep marks positions < n, out_last on
//                  the last beat; n = 0 gives one beat with out_keep = 0. Masked lanes carry
//                  score 0. One beat per cycle without backpressure.
//   OP_COMPACT (3) the kept positions, ascending, LANES per beat in the low bits of each
//                  16-bit lane, in_keep marks the lanes that hold one, in_last ends the list
//                  (a list of K positions; K = 0 is one beat with in_keep = 0): entry[j] =
//                  entry[keep[j]] for j < K, live_count = K. One source word per cycle: each
//                  cycle moves every position of the beat that lies in one memory word, so a
//                  beat takes as many cycles as it touches words (1..LANES; one position per
//                  cycle took K for the list). The last beat is held (in_ready low) until its
//                  last word is written, so the operation is complete when it is accepted.
// Entries at positions >= live_count always read as 0 (reset = clear), so OP_CLEAR and the tail
// left behind by a compaction cost nothing. busy is high while an operation is in flight.
//
// Memory: ROWS = MAX_N/LANES words of LANES accumulators, one synchronous read port (stage S0)
// and one write port (stage S1: read-modify-write of a whole word). A read issued at the same
// edge as a write to the same word would see the old word: a one-entry forwarding register
// (fwd_*) supplies the written word instead (back-to-back one-beat rows, an accumulate after a
// compaction, a read-out right after an accumulate).
//
// Debug read (the CSR importance window, docs/csr.md): dbg_re for one cycle reads entry
// dbg_pos through the same memory read port (a command's own read wins: only while the block
// is idle, which the CSR guarantees by refusing the read while the controller is busy);
// dbg_score holds the entry (0 at or beyond live_count) from the next cycle until the next
// memory read.
module token_importance #(
    parameter integer MAX_N = 1024,  // entries; a multiple of LANES, 2*LANES..65536
    parameter integer LANES = 8,  // entries per beat, a power of two 2..64
    parameter integer ACC_W = `SPATTEN_TOK_IMP_W  // accumulator bits, 16..48 (32 = the format;
                                                  // smaller only to reach saturation in tests)
) (
    input  wire                                 clk,
    input  wire                                 rst_n,
    // commands
    input  wire                                 in_valid,
    output wire                                 in_ready,
    input  wire [                          1:0] in_op,
    input  wire [                 LANES*16-1:0] in_data,
    input  wire [                    LANES-1:0] in_keep,
    input  wire [             $clog2(MAX_N):0] in_n,
    input  wire                                 in_last,
    // read-out: lane i score in [ACC_W*i +: ACC_W], position in [clog2(MAX_N)*i +: clog2(MAX_N)]
    output wire                                 out_valid,
    input  wire                                 out_ready,
    output wire [              LANES*ACC_W-1:0] out_score,
    output wire [LANES*$clog2(MAX_N)-1:0]       out_pos,
    output wire [                    LANES-1:0] out_keep,
    output wire                                 out_last,
    // status
    output wire [             $clog2(MAX_N):0] live_count,
    output wire                                 busy,
    // debug read port
    input  wire                                 dbg_re,
    input  wire [           $clog2(MAX_N)-1:0] dbg_pos,
    output wire [                    ACC_W-1:0] dbg_score
);
  generate
    if (LANES < 2 || LANES > 64 || (LANES & (LANES - 1)) != 0) begin : g_bad_lanes
      `SPATTEN_ELAB_FATAL(1, "token_importance: LANES must be a power of two in 2..64 (got %0d)",
                          LANES);
    end
    if (MAX_N < 2 * LANES || MAX_N > 65536 || (MAX_N % LANES) != 0) begin : g_bad_max_n
      `SPATTEN_ELAB_FATAL(1, "token_importance: MAX_N must be a multiple of LANES in 2*LANES..65536 (got %0d)",
                          MAX_N);
    end
    if (ACC_W < `SPATTEN_PROB_W || ACC_W > 48) begin : g_bad_acc_w
      `SPATTEN_ELAB_FATAL(1, "token_importance: ACC_W must be in %0d..48 (got %0d)",
                          `SPATTEN_PROB_W, ACC_W);
    end
  endgenerate

  localparam integer PW = `SPATTEN_PROB_W;  // probability UQ0.16
  localparam integer LW = 16;  // lane width of in_data
  localparam integer ROWS = MAX_N / LANES;  // memory words
  localparam integer AW = $clog2(ROWS);  // word address
  localparam integer LG = $clog2(LANES);  // lane index bits
  localparam integer PSW = $clog2(MAX_N);  // position bits (= AW + LG)
  localparam integer CW = PSW + 1;  // counts 0..MAX_N
  localparam integer BW = $clog2(ROWS + 1);  // beat counter 0..ROWS
  localparam integer WW = LANES * ACC_W;  // memory word
  localparam [ACC_W-1:0] SAT = {ACC_W{1'b1}};
  localparam [1:0] OP_CLEAR = `SPATTEN_IMP_OP_CLEAR, OP_ACC = `SPATTEN_IMP_OP_ACC,
                   OP_READ = `SPATTEN_IMP_OP_READ, OP_COMPACT = `SPATTEN_IMP_OP_COMPACT;
  localparam [CW-1:0] MAX_N_C = MAX_N[CW-1:0];
  localparam [BW-1:0] ROWS_C = ROWS[BW-1:0];
  localparam [1:0] OB_DEPTH = 2'd3;

  // ------------------------------------------------------------------ state ------------------
  reg  [   CW-1:0] live_q;  // live entries (positions >= live_q read as 0)
  reg  [   BW-1:0] acc_beat_q;  // beat index within the accumulate row
  reg  [   BW-1:0] rd_beat_q;  // beat index within the read-out
  // compaction: the lanes of the current beat already moved, the destination being packed
  reg  [LANES-1:0] cm_done_q;
  reg  [   BW-1:0] cm_dst_q;  // next destination word to write (j / LANES)
  reg  [     LG:0] cm_pkn_q;  // entries waiting in cm_pk_q for a full destination word
  reg  [   WW-1:0] cm_pk_q;  // ... lanes 0..cm_pkn_q-1

  // S1 (one cycle after the memory read was issued)
  reg              s1_valid_q;
  reg  [      1:0] s1_op_q;
  reg  [   AW-1:0] s1_row_q;  // word read (accumulate / read-out)
  reg  [LANES*PW-1:0] s1_prob_q;  // accumulate: probabilities
  reg  [LANES-1:0] s1_keep_q;  // accumulate: lanes to add; read-out: positions < n;
                               // compaction: lanes of the source word that are kept
  reg  [LANES-1:0] s1_live_q;  // lanes below live_count
  reg              s1_last_q;  // read-out: last beat

  reg  [   WW-1:0] mem_q         [0:ROWS-1];
  reg  [   WW-1:0] rdata_q;
  reg              fwd_hit_q;  // the word read at the last edge was written at that same edge
  reg  [   WW-1:0] fwd_data_q;  // ... with this value

  // read-out buffer (3 entries: full rate with a registered credit)
  reg  [   WW-1:0] ob_score_q    [0:2];
  reg  [   AW-1:0] ob_row_q      [0:2];
  reg  [LANES-1:0] ob_keep_q     [0:2];
  reg              ob_last_q     [0:2];
  reg  [      1:0] ob_wr_q;
  reg  [      1:0] ob_rd_q;
  reg  [      1:0] ob_cnt_q;

  // ------------------------------------------------------------------ S0: decode, issue ------
  wire is_clear = (in_op == OP_CLEAR);
  wire is_acc = (in_op == OP_ACC);
  wire is_read = (in_op == OP_READ);
  wire is_cmp = (in_op == OP_COMPACT);

  // accumulate: live mask, live extension
  wire acc_in_range = (acc_beat_q < ROWS_C);
  wire [AW-1:0] acc_row = acc_beat_q[AW-1:0];
  // read-out: n clipped, beats, keep
  wire [CW-1:0] rd_n = (in_n > MAX_N_C) ? MAX_N_C : in_n;
  wire [CW:0] rd_nbeats = ({1'b0, rd_n} + LANES[CW:0] - 1'b1) >> LG;
  wire rd_final = ({{(CW + 1 - BW) {1'b0}}, rd_beat_q} + 1'b1 >= rd_nbeats);
  wire [AW-1:0] rd_row = rd_beat_q[AW-1:0];
  wire [3:0] ob_used = {2'b00, ob_cnt_q} + {3'b000, s1_valid_q && s1_op_q == OP_READ};
  wire rd_credit = (ob_used < {2'b00, OB_DEPTH});

  // compaction: the word of the lowest position of the beat not moved yet, every position
  // of the beat in that word (cm_grp: beat lanes; cm_sel: their lanes in the source word)
  wire [LANES-1:0] cm_pend = in_keep & ~cm_done_q;
  reg [AW-1:0] cm_row;
  reg [LANES-1:0] cm_grp, cm_sel;
  integer l;
  always @(*) begin
    cm_row = {AW{1'b0}};
    for (l = LANES - 1; l >= 0; l = l - 1) if (cm_pend[l]) cm_row = in_data[l*LW+LG+:AW];
    cm_grp = {LANES{1'b0}};
    cm_sel = {LANES{1'b0}};
    for (l = 0; l < LANES; l = l + 1)
      if (cm_pend[l] && in_data[l*LW+LG+:AW] == cm_row) begin
        cm_grp[l] = 1'b1;
        cm_sel[in_data[l*LW+:LG]] = 1'b1;
      end
  end
  wire cm_more = |(cm_pend & ~cm_grp);  // the beat touches another word after this one
  wire pass_go = in_valid & is_cmp & (|cm_pend);

  // row address of the word read and the per-lane masks
  wire [AW-1:0] beat_row = is_acc ? acc_row : rd_row;
  wire [AW-1:0] s0_row = pass_go ? cm_row : beat_row;
  reg [LANES-1:0] lane_live, lane_below_n;
  reg [CW-1:0] acc_hi;  // 1 + highest kept position of the beat (0: none)
  always @(*) begin
    acc_hi = {CW{1'b0}};
    for (l = 0; l < LANES; l = l + 1) begin
      lane_live[l]    = ({{(CW - PSW) {1'b0}}, s0_row, l[LG-1:0]} < live_q);
      lane_below_n[l] = ({{(CW - PSW) {1'b0}}, beat_row, l[LG-1:0]} < rd_n);
      if (in_keep[l]) acc_hi = {{(CW - PSW) {1'b0}}, beat_row, l[LG-1:0]} + 1'b1;
    end
  end

  wire s1_cmp = s1_valid_q && s1_op_q == OP_COMPACT;
  // a beat is accepted with its last word issued; the list's last beat only in the cycle after
  // its last word (the remainder, if any, is written in that cycle): the next operation then
  // reads the compacted memory
  wire cm_tail = ~(|cm_pend) & ~s1_cmp;
  assign in_ready = is_clear | is_acc | (is_read & rd_credit & rd_final)
      | (is_cmp & (in_last ? cm_tail : ~cm_more));
  wire acc_go = in_valid & is_acc & acc_in_range;
  wire rd_go = in_valid & is_read & rd_credit;
  wire cm_end = in_valid & is_cmp & in_last & cm_tail;
  wire s0_go = acc_go | rd_go | pass_go;
  wire mem_re = s0_go;
  wire [AW-1:0] mem_raddr = s0_row;
  // debug read: the read port when no operation uses it
  wire dbg_go = dbg_re & ~mem_re;
  wire [AW-1:0] rd_addr = mem_re ? mem_raddr : dbg_pos[PSW-1:LG];
  reg dbg_live_q;  // the entry read is below live_count
  reg [LG-1:0] dbg_lane_q;
  assign dbg_score = dbg_live_q ? rdata_q[dbg_lane_q*ACC_W+:ACC_W] : {ACC_W{1'b0}};

  // ------------------------------------------------------------------ S1: modify, write ------
  wire [WW-1:0] cur = fwd_hit_q ? fwd_data_q : rdata_q;  // the word read, forwarded
  reg [WW-1:0] acc_word, rd_word, cm_word;
  reg [ACC_W:0] sum;
  reg [ACC_W-1:0] old_v, add_v;
  always @(*) begin
    for (l = 0; l < LANES; l = l + 1) begin
      old_v = s1_live_q[l] ? cur[l*ACC_W+:ACC_W] : {ACC_W{1'b0}};
      add_v = s1_keep_q[l] ? {{(ACC_W - PW) {1'b0}}, s1_prob_q[l*PW+:PW]} : {ACC_W{1'b0}};
      sum = {1'b0, old_v} + {1'b0, add_v};
      acc_word[l*ACC_W+:ACC_W] = sum[ACC_W] ? SAT : sum[ACC_W-1:0];
      rd_word[l*ACC_W+:ACC_W] = (s1_live_q[l] & s1_keep_q[l]) ? cur[l*ACC_W+:ACC_W] : {ACC_W{1'b0}};
    end
  end
  // compaction: the kept lanes of the source word (0 where not live) appended to the waiting
  // entries; a full destination word is written, the rest waits for the next source word
  // (compacted to the low lanes by prefix count, then shifted past the waiting entries)
  reg [WW-1:0] cm_comp, cm_pkm;
  reg [LG:0] cm_cnt;  // kept lanes of the source word
  reg [LG+1:0] cm_tot;  // entries after the append: cm_pkn_q + cm_cnt, < 2*LANES
  always @(*) begin
    cm_comp = {WW{1'b0}};
    cm_cnt  = {(LG + 1) {1'b0}};
    for (l = 0; l < LANES; l = l + 1)
      if (s1_keep_q[l]) begin
        cm_comp[cm_cnt[LG-1:0]*ACC_W+:ACC_W] = s1_live_q[l] ? cur[l*ACC_W+:ACC_W] : {ACC_W{1'b0}};
        cm_cnt = cm_cnt + 1'b1;
      end
    for (l = 0; l < LANES; l = l + 1)
      cm_pkm[l*ACC_W+:ACC_W] = (l < cm_pkn_q) ? cm_pk_q[l*ACC_W+:ACC_W] : {ACC_W{1'b0}};
    cm_tot = {1'b0, cm_pkn_q} + {1'b0, cm_cnt};
  end
  wire [2*WW-1:0] cm_join = {{WW{1'b0}}, cm_pkm} | ({{WW{1'b0}}, cm_comp} << (cm_pkn_q * ACC_W));
  wire cm_full = cm_tot >= LANES[LG+1:0];
  wire cm_flush = cm_end & (cm_pkn_q != {(LG + 1) {1'b0}});  // the remainder, partial word
  always @(*) cm_word = s1_cmp ? cm_join[0+:WW] : cm_pk_q;
  wire s1_acc = s1_valid_q && s1_op_q == OP_ACC;
  wire s1_rd = s1_valid_q && s1_op_q == OP_READ;
  wire s1_we = s1_acc | (s1_cmp & cm_full) | cm_flush;
  wire [AW-1:0] s1_waddr = s1_acc ? s1_row_q : cm_dst_q[AW-1:0];
  wire [WW-1:0] s1_wdata = s1_acc ? acc_word : cm_word;
  // K = the entries written or waiting once the pass is done
  wire [CW-1:0] cm_count = CW'({cm_dst_q, {LG{1'b0}}}) + CW'(cm_pkn_q);

  // ------------------------------------------------------------------ read-out buffer --------
  wire ob_push = s1_rd;
  wire ob_pop = out_valid & out_ready;
  assign out_valid = (ob_cnt_q != 2'd0);
  assign out_score = ob_score_q[ob_rd_q];
  assign out_keep = ob_keep_q[ob_rd_q];
  assign out_last = ob_last_q[ob_rd_q];
  genvar g;
  generate
    for (g = 0; g < LANES; g = g + 1) begin : g_pos
      localparam [LG-1:0] LANE = g;
      assign out_pos[g*PSW+:PSW] = {ob_row_q[ob_rd_q], LANE};
    end
  endgenerate

  assign live_count = live_q;
  assign busy = s1_valid_q | out_valid | (acc_beat_q != {BW{1'b0}}) | (rd_beat_q != {BW{1'b0}})
      | (cm_done_q != {LANES{1'b0}}) | (cm_dst_q != {BW{1'b0}}) | (cm_pkn_q != {(LG + 1) {1'b0}});

  // ------------------------------------------------------------------ control registers ------
  always @(posedge clk) begin
    if (!rst_n) begin
      live_q     <= {CW{1'b0}};
      acc_beat_q <= {BW{1'b0}};
      rd_beat_q  <= {BW{1'b0}};
      cm_done_q  <= {LANES{1'b0}};
      cm_dst_q   <= {BW{1'b0}};
      cm_pkn_q   <= {(LG + 1) {1'b0}};
      s1_valid_q <= 1'b0;
      fwd_hit_q  <= 1'b0;
      ob_wr_q    <= 2'd0;
      ob_rd_q    <= 2'd0;
      ob_cnt_q   <= 2'd0;
    end else begin
      s1_valid_q <= s0_go;
      fwd_hit_q  <= mem_re & s1_we & (s1_waddr == mem_raddr);
      if (in_valid & is_clear) begin
        live_q     <= {CW{1'b0}};
        acc_beat_q <= {BW{1'b0}};
      end
      if (in_valid & is_acc) begin
        if (in_last) acc_beat_q <= {BW{1'b0}};
        else if (acc_in_range) acc_beat_q <= acc_beat_q + 1'b1;
        if (acc_in_range && acc_hi > live_q) live_q <= acc_hi;
      end
      if (rd_go) rd_beat_q <= rd_final ? {BW{1'b0}} : rd_beat_q + 1'b1;
      if (in_valid & is_cmp) cm_done_q <= in_ready ? {LANES{1'b0}} : (cm_done_q | cm_grp);
      if (s1_cmp) begin
        cm_pkn_q <= cm_full ? (LG + 1)'(cm_tot - LANES[LG+1:0]) : cm_tot[LG:0];
        if (cm_full) cm_dst_q <= cm_dst_q + 1'b1;
      end
      if (cm_end) begin
        live_q      <= cm_count;
        cm_dst_q    <= {BW{1'b0}};
        cm_pkn_q    <= {(LG + 1) {1'b0}};
      end
      if (ob_push) ob_wr_q <= (ob_wr_q == 2'd2) ? 2'd0 : ob_wr_q + 2'd1;
      if (ob_pop) ob_rd_q <= (ob_rd_q == 2'd2) ? 2'd0 : ob_rd_q + 2'd1;
      ob_cnt_q <= ob_cnt_q + {1'b0, ob_push} - {1'b0, ob_pop};
    end
  end

  // ------------------------------------------------------------------ datapath registers -----
  always @(posedge clk) begin
    if (s0_go) begin
      s1_op_q    <= pass_go ? OP_COMPACT : in_op;
      s1_row_q   <= s0_row;
      s1_prob_q  <= in_data;
      s1_keep_q  <= pass_go ? cm_sel : (is_read ? lane_below_n : in_keep);
      s1_live_q  <= lane_live;
      s1_last_q  <= rd_final;
    end
    if (mem_re | dbg_go) rdata_q <= mem_q[rd_addr];
    if (dbg_go) begin
      dbg_live_q <= ({{(CW - PSW) {1'b0}}, dbg_pos} < live_q);
      dbg_lane_q <= dbg_pos[LG-1:0];
    end
    if (s1_we) mem_q[s1_waddr] <= s1_wdata;
    fwd_data_q <= s1_wdata;
    if (s1_cmp) cm_pk_q <= cm_full ? cm_join[WW+:WW] : cm_join[0+:WW];
    if (ob_push) begin
      ob_score_q[ob_wr_q] <= rd_word;
      ob_row_q[ob_wr_q]   <= s1_row_q;
      ob_keep_q[ob_wr_q]  <= s1_keep_q;
      ob_last_q[ob_wr_q]  <= s1_last_q;
    end
  end
endmodule
`default_nettype wire
