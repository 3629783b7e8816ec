`include "spatten_check.vh"
`default_nettype none
// SpAtten-LLM KV-cache policy (issue 14, deliverable 2; docs/kv_policy.md): when a layer's
// live-token list exceeds its budget, keep the `start` sinks, the `recent` newest and the top
// (budget - #fixed) of the rest by importance (or by position: the sinks_recent policy), the
// selection made by topk_engine. Bit-exact with golden.kvfixed.policy_keep (and
// policy_refused for the error flag). STANDALONE: not yet wired into spatten_top; the CSRs
// that will hold budget / start / recent / policy are the config fields below, sampled per job.
//
// Input packet (one job = the layer's live list after the newest token n was appended):
//   P lanes per beat, lane j of beat b is entry b*P + j: in_pos (16-bit position), in_imp
//   (32-bit unsigned importance). in_keep all ones on every beat but the last, a prefix on the
//   last (n_live = P*(beats-1) + popcount); n_live = 0 is one beat with keep = 0 (topk_engine's
//   input contract). Entries ascending by position (the policy needs no check of it: it
//   computes golden's predicate for whatever arrives). The configuration (in_n = newest
//   position, in_budget (0 = unlimited), in_start, in_recent, in_by_imp) is sampled with the
//   FIRST beat and ignored on the others.
// Output packet (one per job, in order): the kept (position, importance) entries, ascending,
//   P per beat, dense (keep all ones except a prefix on the last beat; nothing kept -> one beat
//   keep = 0), out_last on the last beat. On every beat of the packet: out_evicted (entries
//   dropped), out_cfg_err (setting refused), out_overflow (more than MAX_N entries arrived).
//
// How (why the engine's own output is the kept list): each entry gets a widened score,
// SW = max(IMP_W, POS_W) + 1 bits: a fixed entry (pos < start, or pos > n - recent, computed
//   as pos + recent > n so nothing underflows) scores all ones, any other {0, imp} (or
//   {0, pos} for sinks_recent), and the engine selects k = budget of them. Every fixed score is
//   above every other one, so the engine keeps all fixed entries (#fixed <= start + recent <=
//   budget, see the refusal below) and fills the budget - #fixed other slots with the largest
//   rest scores, boundary ties to the earlier arrival = the earlier position, exactly
//   golden.topk.topk(score[rest], budget - #fixed). Its output is in arrival order, which is
//   ascending position: the merge of fixed and chosen needs no sorter. The (position,
//   importance) pair rides through the engine as its index payload (INDEX_W = POS_W + IMP_W).
// Within the budget: k = budget >= n_live, or k = all ones when budget = 0 (unlimited), a
//   refused setting or budget > MAX_N: the engine is saturated (k >= n) and streams every entry
//   through without a quick-select pass.
// Refused setting (budget != 0 and start + recent > budget, golden.kvfixed.policy_refused):
//   only then could the fixed entries outnumber the budget (k < 0 for the rest); it is known
//   from the configuration alone (the engine needs k with the first beat, #fixed is known only
//   after the last), so the job keeps every entry and out_cfg_err = 1: a bad CSR value never
//   evicts a token (an evicted token never returns).
// More than MAX_N entries: the engine stores the first MAX_N (later beats are dropped, no
//   stall, no hang); the policy runs on those, out_evicted counts among them, out_overflow = 1.
//   The accelerator never sends that many (a layer holds at most MAX_N live tokens).
// Per-job info (entries received, k, flags) waits in a 4-entry stream_fifo from the input's
//   last beat to the output's last beat; the engine holds at most three jobs between those two
//   points (one outputting, one in its select engine, one complete in buffer A), so the FIFO
//   throttles nothing. out_evicted = 0 when the engine saturates, else n_live - k.
// Throughput / latency: those of topk_engine at SCORE_W = SW (docs/topk.md §3); this block
//   adds no cycle (the score map is combinational in front of the engine's input registers).
module kv_policy #(
    parameter integer P     = 16,    // lanes per beat: 4, 8, 16 or 32 (the engine's P)
    parameter integer MAX_N = 1024,  // largest live list; a multiple of P, >= 2*P, <= 2^POS_W
    parameter integer POS_W = 16,    // position bits, 2..32 (golden.kvfixed.POS_BITS = 16)
    parameter integer IMP_W = 32     // importance bits, 1..63 (golden.fixed.TOK_IMP_W = 32)
) (
    input  wire                       clk,
    input  wire                       rst_n,
    // live list in
    input  wire                       in_valid,
    output wire                       in_ready,
    input  wire [P*POS_W-1:0]         in_pos,
    input  wire [P*IMP_W-1:0]         in_imp,
    input  wire [P-1:0]               in_keep,
    input  wire                       in_last,
    // configuration, sampled with the first beat of a job (the future policy CSRs)
    input  wire [POS_W-1:0]           in_n,       // position of the newest token
    input  wire [POS_W-1:0]           in_budget,  // tokens kept at most; 0 = unlimited
    input  wire [POS_W-1:0]           in_start,   // sinks: positions < start are kept
    input  wire [POS_W-1:0]           in_recent,  // positions > n - recent are kept
    input  wire                       in_by_imp,  // 1: spatten (importance), 0: sinks_recent
    // kept list out
    output wire                       out_valid,
    input  wire                       out_ready,
    output wire [P*POS_W-1:0]         out_pos,
    output wire [P*IMP_W-1:0]         out_imp,
    output wire [P-1:0]               out_keep,
    output wire                       out_last,
    output wire [$clog2(MAX_N+1)-1:0] out_evicted,   // entries dropped by this job
    output wire                       out_cfg_err,   // setting refused: every entry kept
    output wire                       out_overflow   // more than MAX_N entries arrived
);
  localparam integer SW = ((IMP_W > POS_W) ? IMP_W : POS_W) + 1;  // widened score
  localparam integer IW = POS_W + IMP_W;                         // engine payload {imp, pos}
  localparam integer NW = $clog2(MAX_N + 1);                     // counts 0..MAX_N
  localparam integer KW = NW + 1;                                // engine in_k
  localparam integer CW = $clog2(P + 1);
  localparam integer QW = 2 * NW + 2;                            // info FIFO entry
  // the engine is elaborated only with legal parameters, so a bad value stops at the check of
  // this block (named after it) and not at an error inside the engine
  localparam PARAMS_OK = (P >= 4) && (P <= 32) && ((P & (P - 1)) == 0) && (MAX_N >= 2 * P)
      && (MAX_N % P == 0) && (POS_W >= 2) && (POS_W <= 32) && (64'(MAX_N) <= (64'd1 << POS_W))
      && (IMP_W >= 1) && (IMP_W <= 63);

  generate
    if (P < 4 || P > 32 || (P & (P - 1)) != 0) begin : g_bad_p
      `SPATTEN_ELAB_FATAL(1, "kv_policy: P must be 4, 8, 16 or 32 (got %0d)", P);
    end
    if (MAX_N < 2 * P || MAX_N % P != 0) begin : g_bad_max_n
      `SPATTEN_ELAB_FATAL(1, "kv_policy: MAX_N must be a multiple of P and >= 2*P (got %0d, P=%0d)", MAX_N, P);
    end
    if (POS_W < 2 || POS_W > 32 || 64'(MAX_N) > (64'd1 << POS_W)) begin : g_bad_pos_w
      `SPATTEN_ELAB_FATAL(1, "kv_policy: POS_W must be 2..32 with MAX_N <= 2^POS_W (got %0d, MAX_N=%0d)", POS_W, MAX_N);
    end
    if (IMP_W < 1 || IMP_W > 63) begin : g_bad_imp_w
      `SPATTEN_ELAB_FATAL(1, "kv_policy: IMP_W must be 1..63 (got %0d)", IMP_W);
    end
  endgenerate

  localparam [KW-1:0]    K_ALL   = {KW{1'b1}};  // > MAX_N: the engine keeps everything
  localparam [POS_W:0]   MAX_N_P = (POS_W+1)'(MAX_N);
  localparam [NW+1:0]    OVF_C   = (NW+2)'(MAX_N + 1);  // received count saturates here
  localparam [NW+1:0]    MAX_N_C = (NW+2)'(MAX_N);

  function automatic [CW-1:0] popcount(input [P-1:0] v);
    integer i;
    begin
      popcount = {CW{1'b0}};
      for (i = 0; i < P; i = i + 1) popcount = popcount + {{(CW - 1){1'b0}}, v[i]};
    end
  endfunction

  // ------------------------------------------------------------------ configuration ---------
  reg              first_q;   // the next input beat is the first of a job
  reg [POS_W-1:0]  n_q;       // configuration of the job being received
  reg [POS_W-1:0]  start_q;
  reg [POS_W-1:0]  recent_q;
  reg              by_imp_q;
  reg [KW-1:0]     k_q;
  reg              err_q;
  reg [NW+1:0]     cnt_q;     // entries received so far (saturates at MAX_N + 1)

  wire [POS_W-1:0] c_n      = first_q ? in_n : n_q;
  wire [POS_W-1:0] c_start  = first_q ? in_start : start_q;
  wire [POS_W-1:0] c_recent = first_q ? in_recent : recent_q;
  wire             c_by_imp = first_q ? in_by_imp : by_imp_q;
  // golden.kvfixed.policy_refused: start + recent > budget (budget > 0)
  wire             in_err   = (in_budget != {POS_W{1'b0}})
                              & (({1'b0, in_start} + {1'b0, in_recent}) > {1'b0, in_budget});
  wire             in_unlim = (in_budget == {POS_W{1'b0}}) | in_err | ({1'b0, in_budget} > MAX_N_P);
  wire [KW-1:0]    in_kval  = in_unlim ? K_ALL : KW'(in_budget);  // budget <= MAX_N fits
  wire [KW-1:0]    c_k      = first_q ? in_kval : k_q;
  wire             c_err    = first_q ? in_err : err_q;

  // ------------------------------------------------------------------ score map -------------
  reg [P*SW-1:0] eng_score;
  reg [P*IW-1:0] eng_index;
  always @(*) begin : p_score
    integer l;
    reg [POS_W-1:0] pos;
    reg [IMP_W-1:0] imp;
    reg             fixed;
    for (l = 0; l < P; l = l + 1) begin
      pos   = in_pos[l*POS_W +: POS_W];
      imp   = in_imp[l*IMP_W +: IMP_W];
      // sinks, or recent: pos > n - recent without the subtraction (n - recent may be < 0)
      fixed = (pos < c_start) | (({1'b0, pos} + {1'b0, c_recent}) > {1'b0, c_n});
      eng_score[l*SW +: SW] = fixed ? {SW{1'b1}}
                            : {1'b0, c_by_imp ? (SW-1)'(imp) : (SW-1)'(pos)};
      eng_index[l*IW +: IW] = {imp, pos};
    end
  end

  // ------------------------------------------------------------------ per-job info ----------
  wire          info_in_ready, info_valid, info_last_unused;
  wire [QW-1:0] info_q;
  wire          eng_in_ready;
  assign in_ready = eng_in_ready & info_in_ready;
  wire          in_fire = in_valid & in_ready;

  wire [NW+1:0] cnt_base = first_q ? {(NW+2){1'b0}} : cnt_q;
  wire [NW+1:0] cnt_add  = in_last ? (NW+2)'(popcount(in_keep)) : (NW+2)'(P);
  wire [NW+1:0] cnt_sum  = cnt_base + cnt_add;  // < 2 * (MAX_N + 1) + P: no wrap
  wire [NW+1:0] cnt_sat  = (cnt_sum > OVF_C) ? OVF_C : cnt_sum;
  wire          job_ovf  = cnt_sat > MAX_N_C;
  wire [NW-1:0] job_n    = job_ovf ? NW'(MAX_N) : cnt_sat[NW-1:0];

  always @(posedge clk) begin
    if (!rst_n) begin
      first_q <= 1'b1;
    end else if (in_fire) begin
      first_q <= in_last;
    end
  end

  always @(posedge clk) begin
    if (in_fire) begin
      cnt_q <= cnt_sat;
      if (first_q) begin
        n_q      <= in_n;
        start_q  <= in_start;
        recent_q <= in_recent;
        by_imp_q <= in_by_imp;
        k_q      <= in_kval;
        err_q    <= in_err;
      end
    end
  end

  // ------------------------------------------------------------------ engine ----------------
  wire            eng_out_valid, eng_out_last, eng_out_sat;
  wire [P*IW-1:0] eng_out_index;
  wire [P-1:0]    eng_out_keep;
  wire            out_fire = out_valid & out_ready;

  generate
    if (PARAMS_OK) begin : g_engine
      wire [P*SW-1:0] eng_out_score_unused;  // the payload carries imp and pos
      topk_engine #(.P(P), .MAX_N(MAX_N), .SCORE_W(SW), .INDEX_W(IW)) u_topk (
        .clk           (clk),
        .rst_n         (rst_n),
        .in_valid      (in_valid & info_in_ready),
        .in_ready      (eng_in_ready),
        .in_score      (eng_score),
        .in_index      (eng_index),
        .in_keep       (in_keep),
        .in_k          (c_k),
        .in_last       (in_last),
        .out_valid     (eng_out_valid),
        .out_ready     (out_ready & info_valid),
        .out_index     (eng_out_index),
        .out_score     (eng_out_score_unused),
        .out_keep      (eng_out_keep),
        .out_last      (eng_out_last),
        .out_saturated (eng_out_sat)
      );
    end else begin : g_no_engine  // never simulated: the checks above stop elaboration
      assign eng_in_ready  = 1'b0;
      assign eng_out_valid = 1'b0;
      assign eng_out_index = {(P*IW){1'b0}};
      assign eng_out_keep  = {P{1'b0}};
      assign eng_out_last  = 1'b0;
      assign eng_out_sat   = 1'b0;
    end
  endgenerate

  // (its count / full / empty are not needed: in_ready says full)
  /* verilator lint_off PINCONNECTEMPTY */
  stream_fifo #(.WIDTH(QW), .DEPTH(4)) u_info (
    .clk       (clk),
    .rst_n     (rst_n),
    .in_valid  (in_fire & in_last),
    .in_ready  (info_in_ready),
    .in_data   ({job_n, c_k[NW-1:0], c_err, job_ovf}),
    .in_last   (1'b1),
    .out_valid (info_valid),
    .out_ready (out_fire & out_last),
    .out_data  (info_q),
    .out_last  (info_last_unused),
    .count     (),
    .full      (),
    .empty     ()
  );
  /* verilator lint_on PINCONNECTEMPTY */

  wire [NW-1:0] info_n   = info_q[QW-1 -: NW];
  // k's low NW bits: used only when the engine did not saturate, then k < n_live <= MAX_N
  // and the kept count is k itself
  wire [NW-1:0] info_k_n = info_q[2 +: NW];

  // the engine's output registers and the FIFO head: both registers, stable while stalled
  assign out_valid    = eng_out_valid & info_valid;
  assign out_keep     = eng_out_keep;
  assign out_last     = eng_out_last;
  assign out_evicted  = eng_out_sat ? {NW{1'b0}} : info_n - info_k_n;
  assign out_cfg_err  = info_q[1];
  assign out_overflow = info_q[0];
  genvar gl;
  generate
    for (gl = 0; gl < P; gl = gl + 1) begin : g_out
      assign out_pos[gl*POS_W +: POS_W] = eng_out_index[gl*IW +: POS_W];
      assign out_imp[gl*IMP_W +: IMP_W] = eng_out_index[gl*IW + POS_W +: IMP_W];
    end
  endgenerate

`ifndef SYNTHESIS
  // Simulation checks: every engine result has its job info (pushed with the input's last
  // beat, before the engine can answer); the input is held until accepted (the upstream's
  // obligation); the output beat is held unchanged until accepted (ours).
  localparam integer IN_BITS  = P*(POS_W+IMP_W+1) + 4*POS_W + 2;
  localparam integer OUT_BITS = P*(POS_W+IMP_W+1) + NW + 3;
  reg                rst_seen_q, in_hold_q, out_hold_q;
  reg [IN_BITS-1:0]  in_prev_q;
  reg [OUT_BITS-1:0] out_prev_q;
  wire [IN_BITS-1:0]  in_now  = {in_pos, in_imp, in_keep, in_last, in_n, in_budget, in_start,
                                 in_recent, in_by_imp};
  wire [OUT_BITS-1:0] out_now = {out_pos, out_imp, out_keep, out_last, out_evicted,
                                 out_cfg_err, out_overflow};
  initial rst_seen_q = 1'b0;  // no check before the first reset (random initial state)
  always @(posedge clk) begin
    if (!rst_n) begin
      rst_seen_q <= 1'b1;
      in_hold_q  <= 1'b0;
      out_hold_q <= 1'b0;
    end else if (rst_seen_q) begin
      if (eng_out_valid && !info_valid)
        $fatal(1, "kv_policy: engine result without its job info");
      if (in_hold_q && !(in_valid && in_now == in_prev_q))
        $fatal(1, "kv_policy: input beat dropped or changed before its handshake");
      if (out_hold_q && !(out_valid && out_now == out_prev_q))
        $fatal(1, "kv_policy: output beat dropped or changed before its handshake");
      in_hold_q  <= in_valid & ~in_ready;
      out_hold_q <= out_valid & ~out_ready;
    end
    in_prev_q  <= in_now;
    out_prev_q <= out_now;
  end
`endif
endmodule
`default_nettype wire
