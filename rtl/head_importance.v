`default_nettype none
`include "spatten_check.vh"
`include "spatten_fixed.vh"
// Cascade head importance: H_MAX saturating accumulators of |E| indexed by head id, in ONE unit
// for every head and layer (docs/importance.md; formats docs/fixed_point.md §5: E 16-bit signed,
// scale {SHIFT, MULT} = CSR HEAD_SCALE of the head, 40-bit unsigned sums in 2^-HEAD_IMP_FRAC of
// the real |E|).
//
// One command stream `in_*`; a packet is one operation, chosen by in_op (constant over it).
//   OP_CLEAR (0) one beat: every accumulator reads 0 from now on (one cycle; reset = clear).
//   OP_ACC   (1) one E vector of one head, LANES values per beat (lane i = in_data[16i +: 16],
//                signed), in_keep marks the lanes that hold a value, in_last ends the vector.
//                The vector adds round_half_up(V * mult / 2^shift) to head in_head, V = sum |E|
//                of its kept lanes saturated at 2^HEAD_VEC_W - 1 (|-32768| = 32768), mult =
//                in_scale[MULT_W-1:0], shift = in_scale[MULT_W +: SHIFT_W]; the accumulator
//                saturates at 2^ACC_W - 1. in_head and in_scale are taken from the last beat
//                (every beat of a vector must carry the same); in_head >= H_MAX: the vector is
//                ignored. One beat per cycle.
//   OP_READ  (2) one beat: in_live (bit h = head h is live) selects the heads to stream out:
//                out_* carries the live heads in ascending id order as LANES (score, head id)
//                pairs per beat, packed densely (out_keep a prefix mask, out_last on the last
//                beat; unused lanes score 0, id 0); no live head gives one beat with
//                out_keep = 0. One live head per cycle (H_MAX is small), then the beat.
//   op 3         reserved: accepted and ignored.
// busy is high while a vector is half-sent, an accumulate or a read-out is in flight.
//
// Pipeline: every accepted ACC beat adds its sum |E| (adder over LANES lanes) to the vector's
// running sum; the edge accepting the vector's last beat registers the vector sum, head and
// scale; the next edge multiplies, rounds and adds the result to the head's accumulator (a
// register: a back-to-back update of the same head reads the value written at the edge before,
// no hazard). A read-out waits one cycle while such an update is pending; a clear at the same
// edge as an update wins (it comes later in order).
//
// Debug read (the CSR importance window, docs/csr.md): dbg_re for one cycle selects head
// dbg_head; dbg_score is its accumulator (0 when cleared) from the next cycle until the next
// dbg_re (live: an update of that head shows at once).
module head_importance #(
    parameter integer H_MAX = 16,  // heads, 2..256
    parameter integer LANES = 8,  // E values per beat and (score, id) pairs per read beat, 2..64
    parameter integer ACC_W = `SPATTEN_HEAD_IMP_W  // accumulator bits, 16+clog2(LANES)..63
                                                   // (40 = the format; smaller only in tests)
) (
    input  wire                                 clk,
    input  wire                                 rst_n,
    // commands
    input  wire                                 in_valid,
    output wire                                 in_ready,
    input  wire [                          1:0] in_op,
    input  wire [                 LANES*16-1:0] in_data,
    input  wire [                    LANES-1:0] in_keep,
    input  wire [             $clog2(H_MAX)-1:0] in_head,
    input  wire [`SPATTEN_HEAD_SCALE_SHIFT_W+`SPATTEN_HEAD_SCALE_MULT_W-1:0] in_scale,  // {shift, mult}
    input  wire [                    H_MAX-1:0] in_live,
    input  wire                                 in_last,
    // read-out: lane i score in [ACC_W*i +: ACC_W], head id in [clog2(H_MAX)*i +: clog2(H_MAX)]
    output wire                                 out_valid,
    input  wire                                 out_ready,
    output wire [              LANES*ACC_W-1:0] out_score,
    output wire [      LANES*$clog2(H_MAX)-1:0] out_head,
    output wire [                    LANES-1:0] out_keep,
    output wire                                 out_last,
    // status
    output wire                                 busy,
    // debug read port
    input  wire                                 dbg_re,
    input  wire [             $clog2(H_MAX)-1:0] dbg_head,
    output wire [                    ACC_W-1:0] dbg_score
);
  localparam integer EW = `SPATTEN_E_W;  // E, signed
  localparam integer SW = EW + $clog2(LANES);  // sum |E| of one beat (<= LANES * 2^15)
  localparam integer VW = `SPATTEN_HEAD_VEC_W;  // sum |E| of one vector, saturating
  localparam integer MW = `SPATTEN_HEAD_SCALE_MULT_W;  // scale multiplier, unsigned
  localparam integer FW = `SPATTEN_HEAD_SCALE_SHIFT_W;  // scale shift
  localparam integer PW = VW + MW;  // vector sum x multiplier, exact; also the rounded addend
  localparam integer UW = ((ACC_W > PW) ? ACC_W : PW) + 1;  // accumulator + addend, no wrap

  generate
    if (H_MAX < 2 || H_MAX > 256) begin : g_bad_h_max
      `SPATTEN_ELAB_FATAL(1, "head_importance: H_MAX must be in 2..256 (got %0d)", H_MAX);
    end
    if (LANES < 2 || LANES > 64) begin : g_bad_lanes
      `SPATTEN_ELAB_FATAL(1, "head_importance: LANES must be in 2..64 (got %0d)", LANES);
    end
    if (ACC_W < SW || ACC_W > 63) begin : g_bad_acc_w
      `SPATTEN_ELAB_FATAL(1, "head_importance: ACC_W must be in %0d..63 (got %0d)", SW, ACC_W);
    end
  endgenerate

  localparam integer HW = $clog2(H_MAX);  // head id bits
  localparam integer CNW = $clog2(LANES);  // lane index bits
  localparam [ACC_W-1:0] SAT = {ACC_W{1'b1}};
  localparam [1:0] OP_CLEAR = `SPATTEN_IMP_OP_CLEAR, OP_ACC = `SPATTEN_IMP_OP_ACC,
                   OP_READ = `SPATTEN_IMP_OP_READ;
  localparam integer LAST_I = LANES - 1;
  localparam [CNW-1:0] LAST_LANE = LAST_I[CNW-1:0];

  // ------------------------------------------------------------------ state ------------------
  reg  [ACC_W-1:0] acc_q       [0:H_MAX-1];  // accumulators (datapath: valid only where val_q)
  reg  [H_MAX-1:0] val_q;  // entry h written since the last clear (else it reads 0)
  reg  [   VW-1:0] vsum_q;  // sum |E| of the beats of the current vector accepted so far
  reg              mid_q;  // a vector is half-sent (beats accepted, not its last)
  reg              v1_q;  // an update is pending
  reg  [   VW-1:0] vec_q;  // ... of this vector sum |E|
  reg  [   MW-1:0] mult_q;  // ... times this multiplier
  reg  [   FW-1:0] shift_q;  // ... shifted right (rounding) by this
  reg  [   HW-1:0] head_q;  // ... to this head
  reg  [H_MAX-1:0] rd_done_q;  // read-out: live heads already taken
  reg  [  CNW-1:0] st_cnt_q;  // read-out: lanes filled in the beat being assembled
  reg  [LANES*ACC_W-1:0] st_score_q;
  reg  [LANES*HW-1:0] st_head_q;
  reg              out_valid_q;
  reg  [LANES*ACC_W-1:0] out_score_q;
  reg  [LANES*HW-1:0] out_head_q;
  reg  [LANES-1:0] out_keep_q;
  reg              out_last_q;

  wire is_clear = (in_op == OP_CLEAR);
  wire is_acc = (in_op == OP_ACC);
  wire is_read = (in_op == OP_READ);

  // ------------------------------------------------------------------ accumulate -------------
  reg [SW-1:0] beat_sum;
  reg [EW-1:0] e_abs;
  integer l;
  always @(*) begin
    beat_sum = {SW{1'b0}};
    for (l = 0; l < LANES; l = l + 1) begin
      // two's complement magnitude in EW bits unsigned: |-32768| = 32768 = 16'h8000
      e_abs = in_data[l*EW+EW-1] ? (~in_data[l*EW+:EW] + 1'b1) : in_data[l*EW+:EW];
      if (in_keep[l]) beat_sum = beat_sum + {{(SW - EW) {1'b0}}, e_abs};
    end
  end
  wire acc_beat = in_valid & is_acc;  // ACC beats are always accepted
  wire [VW:0] vec_sum = {1'b0, vsum_q} + {{(VW + 1 - SW) {1'b0}}, beat_sum};
  wire [VW-1:0] vec_total = vec_sum[VW] ? {VW{1'b1}} : vec_sum[VW-1:0];  // saturating
  wire acc_go = acc_beat & in_last & ({1'b0, in_head} < H_MAX[HW:0]);  // a vector ends
  // the scaled vector: round_half_up(vec * mult / 2^shift) = ((prod >> (shift-1)) + 1) >> 1
  // = (x >> 1) + x[0] with x = prod >> (shift-1) (shift > 0; shift 0: prod itself)
  wire [PW-1:0] prod = {{MW{1'b0}}, vec_q} * {{VW{1'b0}}, mult_q};
  wire [PW-1:0] prod_pre = prod >> (shift_q - 1'b1);  // only used when shift_q > 0
  wire [PW-1:0] prod_rnd = {1'b0, prod_pre[PW-1:1]} + {{(PW - 1) {1'b0}}, prod_pre[0]};
  wire [PW-1:0] addend = (shift_q == {FW{1'b0}}) ? prod : prod_rnd;
  wire [ACC_W-1:0] upd_old = val_q[head_q] ? acc_q[head_q] : {ACC_W{1'b0}};
  wire [UW-1:0] upd_sum = UW'(upd_old) + UW'(addend);
  wire [ACC_W-1:0] upd_new = (upd_sum > UW'(SAT)) ? SAT : upd_sum[ACC_W-1:0];

  // ------------------------------------------------------------------ read-out ---------------
  wire [H_MAX-1:0] rd_pend = in_live & ~rd_done_q;
  wire [H_MAX-1:0] rd_one = rd_pend & (~rd_pend + 1'b1);
  wire rd_elem = |rd_pend;
  wire rd_more = |(rd_pend & ~rd_one);
  reg [HW-1:0] rd_idx;
  always @(*) begin
    rd_idx = {HW{1'b0}};
    for (l = 0; l < H_MAX; l = l + 1) if (rd_one[l]) rd_idx = l[HW-1:0];
  end
  wire [ACC_W-1:0] rd_val = val_q[rd_idx] ? acc_q[rd_idx] : {ACC_W{1'b0}};
  wire rd_emit = ~rd_elem | ~rd_more | (st_cnt_q == LAST_LANE);  // this step sends a beat
  wire out_free = ~out_valid_q | out_ready;
  wire rd_go = in_valid & is_read & ~v1_q & (~rd_emit | out_free);

  // the beat being sent: staged lanes, this step's head in lane st_cnt_q, zeros above
  reg [LANES*ACC_W-1:0] beat_score;
  reg [LANES*HW-1:0] beat_head;
  reg [LANES-1:0] beat_keep;
  always @(*) begin
    for (l = 0; l < LANES; l = l + 1) begin
      if (l[CNW-1:0] < st_cnt_q) begin
        beat_score[l*ACC_W+:ACC_W] = st_score_q[l*ACC_W+:ACC_W];
        beat_head[l*HW+:HW] = st_head_q[l*HW+:HW];
        beat_keep[l] = 1'b1;
      end else if (l[CNW-1:0] == st_cnt_q && rd_elem) begin
        beat_score[l*ACC_W+:ACC_W] = rd_val;
        beat_head[l*HW+:HW] = rd_idx;
        beat_keep[l] = 1'b1;
      end else begin
        beat_score[l*ACC_W+:ACC_W] = {ACC_W{1'b0}};
        beat_head[l*HW+:HW] = {HW{1'b0}};
        beat_keep[l] = 1'b0;
      end
    end
  end

  assign in_ready = is_read ? (~v1_q & out_free & ~rd_more) : 1'b1;
  assign out_valid = out_valid_q;
  assign out_score = out_score_q;
  assign out_head = out_head_q;
  assign out_keep = out_keep_q;
  assign out_last = out_last_q;
  assign busy = v1_q | out_valid_q | (rd_done_q != {H_MAX{1'b0}}) | (st_cnt_q != {CNW{1'b0}})
                | mid_q;

  // ------------------------------------------------------------------ debug read -------------
  reg [HW-1:0] dbg_head_q;
  always @(posedge clk) if (dbg_re) dbg_head_q <= dbg_head;
  assign dbg_score = val_q[dbg_head_q] ? acc_q[dbg_head_q] : {ACC_W{1'b0}};

  // ------------------------------------------------------------------ control registers ------
  always @(posedge clk) begin
    if (!rst_n) begin
      val_q       <= {H_MAX{1'b0}};
      vsum_q      <= {VW{1'b0}};
      mid_q       <= 1'b0;
      v1_q        <= 1'b0;
      rd_done_q   <= {H_MAX{1'b0}};
      st_cnt_q    <= {CNW{1'b0}};
      out_valid_q <= 1'b0;
    end else begin
      v1_q <= acc_go;
      if (acc_beat) begin
        vsum_q <= in_last ? {VW{1'b0}} : vec_total;
        mid_q  <= ~in_last;
      end
      if (v1_q) val_q[head_q] <= 1'b1;
      if (in_valid & is_clear) val_q <= {H_MAX{1'b0}};  // after the update: the clear wins
      if (rd_go) begin
        rd_done_q <= rd_more ? (rd_done_q | rd_one) : {H_MAX{1'b0}};
        st_cnt_q  <= rd_emit ? {CNW{1'b0}} : st_cnt_q + 1'b1;
      end
      if (rd_go & rd_emit) out_valid_q <= 1'b1;
      else if (out_ready) out_valid_q <= 1'b0;
    end
  end

  // ------------------------------------------------------------------ datapath registers -----
  always @(posedge clk) begin
    if (acc_go) begin
      vec_q   <= vec_total;
      mult_q  <= in_scale[MW-1:0];
      shift_q <= in_scale[MW+:FW];
      head_q  <= in_head;
    end
    if (v1_q) acc_q[head_q] <= upd_new;
    if (rd_go & ~rd_emit) begin
      st_score_q[st_cnt_q*ACC_W+:ACC_W] <= rd_val;
      st_head_q[st_cnt_q*HW+:HW] <= rd_idx;
    end
    if (rd_go & rd_emit) begin
      out_score_q <= beat_score;
      out_head_q  <= beat_head;
      out_keep_q  <= beat_keep;
      out_last_q  <= ~rd_more;
    end
  end
endmodule
`default_nettype wire
