// SpAtten accelerator top level (docs/spatten_top.md, docs/architecture.md).
// CSRs on AXI4-Lite s_axil_*; memory reads on m_axi0_* .. m_axi{CHANNELS-1}_* (one kv_fetcher
// per port, rows interleaved over the ports by address, docs/memory.md §2b; ports at or above
// CHANNELS are tied off), E / KEEP writes on m_axiw_*; irq = IRQ_EN & (DONE|ERROR).
`default_nettype none
`include "spatten_check.vh"
`include "spatten_fixed.vh"
module spatten_top #(
    parameter integer LANES    = 8,    // keys / probabilities / V rows per beat: 4, 8, 16, 32
    parameter integer D_MAX    = 64,   // largest head dimension: 16, 32, 64 (>= LANES)
    parameter integer MAX_N    = 256,  // largest N: power of two, >= 2*LANES, <= 4096
    parameter integer H_MAX    = 16,   // heads: 2..32
    parameter integer CHANNELS = 1,    // memory read ports: power of two 1..16
    parameter integer FETCH_ROB = 64,  // reorder buffer beats per read port: >= its latency + 24
    parameter integer LOG2_INTERLEAVE = 9, // channel granule 2^n bytes, 6..9
    // lanes of the two local-V top-k engines (the paper's P = 16): a power of two, a multiple
    // of LANES, <= 32 and <= MAX_N / 2; the row stage's LANES-wide beats are packed into
    // TOPK_P-wide ones (stream_upsize) in front of them
    parameter integer TOPK_P = 16
) (
    input  wire          clk,
    input  wire          rst_n,
    `include "spatten_axil_ports.vh"
    `include "spatten_axi_rd_ports.vh"
    `include "spatten_axiw_ports.vh"
    output wire          irq
);
  localparam integer NW     = $clog2(MAX_N) + 1;
  localparam integer DW     = $clog2(D_MAX) + 1;
  localparam integer HW     = $clog2(H_MAX) + 1;
  localparam integer HIDX_W = (H_MAX > 1) ? $clog2(H_MAX) : 1;
  localparam integer KW     = D_MAX * 12;
  localparam integer PW     = LANES * 16;
  localparam integer HT_N   = (2 * LANES > ((H_MAX + LANES - 1) / LANES) * LANES) ? 2 * LANES
                              : ((H_MAX + LANES - 1) / LANES) * LANES;
  localparam integer MACS_ADD_W = 24;
  localparam integer CNT_W  = 32;
  // FETCH_ROB: beats in flight per port are capped by the port's reorder buffer, so it must
  // cover the port's read latency plus a burst (32 beats held a single port at ~0.8 beats per
  // cycle at 20 cycles of latency, docs/performance.md).

  generate
    if (!(LANES == 4 || LANES == 8 || LANES == 16 || LANES == 32) || LANES > D_MAX
        || !(D_MAX == 16 || D_MAX == 32 || D_MAX == 64) || MAX_N < 2 * LANES
        || (MAX_N & (MAX_N - 1)) != 0 || MAX_N > 4096 || H_MAX < 2 || H_MAX > 32
        ) begin : g_bad
      `SPATTEN_ELAB_FATAL(1, "spatten_top: bad parameters");
    end
    if (CHANNELS < 1 || CHANNELS > 16 || (CHANNELS & (CHANNELS - 1)) != 0) begin : g_bad_ch
      `SPATTEN_ELAB_FATAL(1, "spatten_top: CHANNELS must be a power of two 1..16 (got %0d)", CHANNELS);
    end
    if (FETCH_ROB < 8 || FETCH_ROB > 1024 || (FETCH_ROB & (FETCH_ROB - 1)) != 0) begin : g_bad_rob
      `SPATTEN_ELAB_FATAL(1, "spatten_top: FETCH_ROB must be a power of two 8..1024 (got %0d)", FETCH_ROB);
    end
    if (TOPK_P < LANES || TOPK_P > 32 || (TOPK_P & (TOPK_P - 1)) != 0 || 2 * TOPK_P > MAX_N)
      begin : g_bad_topk_p
      `SPATTEN_ELAB_FATAL(1, "spatten_top: TOPK_P must be a power of two, LANES..32 and <= MAX_N/2 (got %0d)", TOPK_P);
    end
  endgenerate
  localparam integer TPW = TOPK_P * 16;

  // ---------------------------------------------------------------- CSR
  wire             cmd_start, cmd_clear, cmd_abort, cfg_mode, cfg_prune;
  wire [NW-1:0]    cfg_n, cfg_token_keep, cfg_value_keep;
  wire [DW-1:0]    cfg_d;
  wire [HW-1:0]    cfg_heads, cfg_head_keep;
  wire [3:0]       cfg_msb, cfg_lsb;
  wire [15:0]      cfg_thr;
  wire [31:0]      cfg_q_base, cfg_kmsb_base, cfg_klsb_base, cfg_v_base, cfg_e_base,
                   cfg_keep_base, cfg_stride;
  wire [HIDX_W-1:0] scale_head;
  wire [15:0]      scale_mult;
  wire [5:0]       scale_shift;
  wire [HIDX_W-1:0] hi_head;  // head of the head-importance vector (ctrl) -> HEAD_SCALE port
  wire [`SPATTEN_HEAD_SCALE_SHIFT_W+`SPATTEN_HEAD_SCALE_MULT_W-1:0] hi_scale;
  wire             busy, done_pulse, error_pulse, cnt_requant_inc;
  wire [3:0]       error_code;
  wire [H_MAX-1:0] live_heads;
  wire [NW-1:0]    kept_tokens;
  wire [MACS_ADD_W-1:0] cnt_macs_add;
  wire [5*16-1:0]  cnt_bytes_add;
  wire             cnt_busy_inc, cnt_stall_inc;
  // importance window (CSR IMP_ADDR / IMP_DATA): debug reads of both importance blocks
  wire             imp_tok_rd, imp_head_rd;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [15:0]      imp_index;  // the blocks take the low bits (the CSR range-checks INDEX)
  /* verilator lint_on UNUSEDSIGNAL */
  wire [31:0]      imp_tok_score;
  wire [39:0]      imp_head_score;

  spatten_csr #(.ADDR_W(12), .LANES(LANES), .D_MAX(D_MAX), .MAX_N(MAX_N), .H_MAX(H_MAX),
                .MACS_ADD_W(MACS_ADD_W), .BYTES_ADD_W(16)) u_csr (
      .clk(clk), .rst_n(rst_n),
`include "spatten_axil_conn.vh"
      .cmd_start(cmd_start), .cmd_clear(cmd_clear), .cmd_abort(cmd_abort),
      .cfg_mode(cfg_mode), .cfg_n(cfg_n), .cfg_d(cfg_d), .cfg_heads(cfg_heads),
      .cfg_prune_en(cfg_prune), .cfg_token_keep(cfg_token_keep), .cfg_head_keep(cfg_head_keep),
      .cfg_value_keep(cfg_value_keep), .cfg_msb_bits(cfg_msb), .cfg_lsb_bits(cfg_lsb),
      .cfg_requant_thr(cfg_thr), .cfg_q_base(cfg_q_base), .cfg_k_msb_base(cfg_kmsb_base),
      .cfg_k_lsb_base(cfg_klsb_base), .cfg_v_msb_base(cfg_v_base), .cfg_e_base(cfg_e_base),
      .cfg_keep_base(cfg_keep_base), .cfg_head_stride(cfg_stride),
      .scale_head(scale_head), .scale_mult(scale_mult), .scale_shift(scale_shift), .irq(irq),
      .hscale_head(hi_head), .hscale(hi_scale),
      .busy(busy), .done_pulse(done_pulse), .error_pulse(error_pulse), .error_code(error_code),
      .live_heads(live_heads), .kept_tokens(kept_tokens),
      .cnt_busy_inc(cnt_busy_inc), .cnt_stall_inc(cnt_stall_inc),
      .cnt_requant_inc(cnt_requant_inc), .cnt_macs_add(cnt_macs_add),
      .cnt_bytes_add(cnt_bytes_add),
      .imp_tok_rd(imp_tok_rd), .imp_head_rd(imp_head_rd), .imp_index(imp_index),
      .imp_tok_score(imp_tok_score), .imp_head_score(imp_head_score));

  // ---------------------------------------------------------------- fetch arrays (K/Q and V)
  // Two kv_fetch_arrays, each with a kv_fetcher per port: u_fetch runs the front's range jobs
  // (Q rows, K MSB / LSB planes), u_vfetch the back's V list jobs; spatten_axi_rd_mux puts both
  // on every port (ARID top bit = the array), so a V fetch overlaps the next head's K stream.
  localparam integer FID_W = 3;  // ARID bits per array (8 bursts in flight per port each)
  wire        f_job_valid, f_job_ready, v_job_valid, v_job_ready;
  wire        v_in_valid, v_in_ready, v_in_last;
  wire [31:0] f_job_base, v_job_base;
  wire [31:0] f_job_stride;
  wire [15:0] f_job_first, f_job_lastrow, v_job_stride, v_job_lastrow;
  localparam integer QB_W = (H_MAX > 16) ? 16 : H_MAX;  // Q batch list: head indexes per beat
  wire [QB_W*16-1:0] fq_in_idx;
  wire [QB_W-1:0]    fq_in_vld;
  wire        v_job_range;
  wire [3:0]  v_job_bits;
  wire [2:0]  v_job_class;
  wire        f_job_range, fq_in_valid, fq_in_ready, fq_in_last;
  wire [LANES*16-1:0] v_in_idx;
  wire [LANES-1:0]    v_in_vld;
  wire [3:0]  f_job_bits;
  wire [2:0]  f_job_class;
  wire        fa_busy, fa_err, f_done, fv_busy, fv_err, v_done;
  wire        f_busy = fa_busy | fv_busy;
  wire        f_err  = fa_err | fv_err;
  wire [CHANNELS-1:0]     f_out_valid, v_out_valid;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [CHANNELS-1:0]     v_out_tag, f_out_tag;   // a row's job parity (two in flight)
  wire [CHANNELS-1:0]     f_out_err, v_out_err;   // the sticky f_err decides the command's outcome
  wire [1:0]  fa_err_resp, fv_err_resp;
  wire [3:0]  fa_err_channel, fv_err_channel;
  wire [2:0]  fa_err_class, fv_err_class;
  /* verilator lint_on UNUSEDSIGNAL */
  wire [CHANNELS*16-1:0]  f_out_idx, v_out_idx;
  wire [CHANNELS*KW-1:0]  f_out_data, v_out_data;
  wire        err_clear;
  wire [8*CNT_W-1:0] fa_cnt, fv_cnt;
  wire [CNT_W-1:0]   fa_stall, fv_stall;
  // the ports (spatten_axi_rd_map.vh) and the two arrays' sides of the mux
  wire [CHANNELS*4-1:0]   ax_arid, ax_rid;
  wire [CHANNELS*32-1:0]  ax_araddr;
  wire [CHANNELS*8-1:0]   ax_arlen;
  wire [CHANNELS*3-1:0]   ax_arsize;
  wire [CHANNELS*2-1:0]   ax_arburst, ax_rresp;
  wire [CHANNELS-1:0]     ax_arvalid, ax_arready, ax_rlast, ax_rvalid, ax_rready;
  wire [CHANNELS*256-1:0] ax_rdata;
  wire [CHANNELS*FID_W-1:0] fa_arid, fa_rid, fv_arid, fv_rid;
  wire [CHANNELS*32-1:0]  fa_araddr, fv_araddr;
  wire [CHANNELS*8-1:0]   fa_arlen, fv_arlen;
  wire [CHANNELS*3-1:0]   fa_arsize, fv_arsize;
  wire [CHANNELS*2-1:0]   fa_arburst, fv_arburst;
  wire [CHANNELS-1:0]     fa_arvalid, fa_arready, fa_rvalid, fa_rready;
  wire [CHANNELS-1:0]     fv_arvalid, fv_arready, fv_rvalid, fv_rready;

  kv_fetch_array #(.CHANNELS(CHANNELS), .ADDR_W(32), .ID_W(FID_W), .OUTSTANDING(8), .MAX_BURST(16),
                   .LOG2_INTERLEAVE(LOG2_INTERLEAVE), .ROB_BEATS(FETCH_ROB), .IDX_W(16),
                   .STRIDE_W(32), .D_MAX(D_MAX), .CNT_W(CNT_W), .LIST_W(QB_W)) u_fetch (
      .clk(clk), .rst_n(rst_n),
      .job_valid(f_job_valid), .job_ready(f_job_ready), .job_base(f_job_base),
      .job_stride(f_job_stride), .job_d(7'(cfg_d)), .job_bits(f_job_bits),
      .job_class(f_job_class), .job_range(f_job_range), .job_first(f_job_first),
      .job_lastrow(f_job_lastrow),
      .in_valid(fq_in_valid), .in_ready(fq_in_ready), .in_idx(fq_in_idx), .in_vld(fq_in_vld),
      .in_empty(1'b0), .in_last(fq_in_last),
      .out_valid(f_out_valid), .out_ready(1'b1), .out_data(f_out_data),
      .out_idx(f_out_idx), .out_err(f_out_err), .out_tag(f_out_tag), .done(f_done),
      .m_axi_arid(fa_arid), .m_axi_araddr(fa_araddr), .m_axi_arlen(fa_arlen),
      .m_axi_arsize(fa_arsize), .m_axi_arburst(fa_arburst), .m_axi_arvalid(fa_arvalid),
      .m_axi_arready(fa_arready), .m_axi_rid(fa_rid), .m_axi_rdata(ax_rdata),
      .m_axi_rresp(ax_rresp), .m_axi_rlast(ax_rlast), .m_axi_rvalid(fa_rvalid),
      .m_axi_rready(fa_rready),
      .busy(fa_busy), .err_valid(fa_err), .err_resp(fa_err_resp), .err_channel(fa_err_channel),
      .err_class(fa_err_class), .err_clear(err_clear), .cnt_rd_bytes(fa_cnt), .cnt_stall(fa_stall));

  kv_fetch_array #(.CHANNELS(CHANNELS), .ADDR_W(32), .ID_W(FID_W), .OUTSTANDING(8), .MAX_BURST(16),
                   .LOG2_INTERLEAVE(LOG2_INTERLEAVE), .ROB_BEATS(FETCH_ROB), .IDX_W(16),
                   .STRIDE_W(16), .D_MAX(D_MAX), .CNT_W(CNT_W), .LIST_W(LANES)) u_vfetch (
      .clk(clk), .rst_n(rst_n),
      .job_valid(v_job_valid), .job_ready(v_job_ready), .job_base(v_job_base),
      .job_stride(v_job_stride), .job_d(7'(cfg_d)), .job_bits(v_job_bits),
      .job_class(v_job_class), .job_range(v_job_range), .job_first(16'd0),
      .job_lastrow(v_job_lastrow),
      .in_valid(v_in_valid), .in_ready(v_in_ready), .in_idx(v_in_idx), .in_vld(v_in_vld),
      .in_empty(1'b0), .in_last(v_in_last),
      .out_valid(v_out_valid), .out_ready(1'b1), .out_data(v_out_data),
      .out_idx(v_out_idx), .out_err(v_out_err), .out_tag(v_out_tag), .done(v_done),
      .m_axi_arid(fv_arid), .m_axi_araddr(fv_araddr), .m_axi_arlen(fv_arlen),
      .m_axi_arsize(fv_arsize), .m_axi_arburst(fv_arburst), .m_axi_arvalid(fv_arvalid),
      .m_axi_arready(fv_arready), .m_axi_rid(fv_rid), .m_axi_rdata(ax_rdata),
      .m_axi_rresp(ax_rresp), .m_axi_rlast(ax_rlast), .m_axi_rvalid(fv_rvalid),
      .m_axi_rready(fv_rready),
      .busy(fv_busy), .err_valid(fv_err), .err_resp(fv_err_resp), .err_channel(fv_err_channel),
      .err_class(fv_err_class), .err_clear(err_clear), .cnt_rd_bytes(fv_cnt), .cnt_stall(fv_stall));

  spatten_axi_rd_mux #(.CHANNELS(CHANNELS), .ID_W(FID_W), .ADDR_W(32)) u_rd_mux (
      .clk(clk), .rst_n(rst_n),
      .a_arid(fa_arid), .a_araddr(fa_araddr), .a_arlen(fa_arlen), .a_arsize(fa_arsize),
      .a_arburst(fa_arburst), .a_arvalid(fa_arvalid), .a_arready(fa_arready),
      .a_rid(fa_rid), .a_rvalid(fa_rvalid), .a_rready(fa_rready),
      .b_arid(fv_arid), .b_araddr(fv_araddr), .b_arlen(fv_arlen), .b_arsize(fv_arsize),
      .b_arburst(fv_arburst), .b_arvalid(fv_arvalid), .b_arready(fv_arready),
      .b_rid(fv_rid), .b_rvalid(fv_rvalid), .b_rready(fv_rready),
      .m_arid(ax_arid), .m_araddr(ax_araddr), .m_arlen(ax_arlen), .m_arsize(ax_arsize),
      .m_arburst(ax_arburst), .m_arvalid(ax_arvalid), .m_arready(ax_arready),
      .m_rid(ax_rid), .m_rvalid(ax_rvalid), .m_rready(ax_rready));

`include "spatten_axi_rd_map.vh"

  // ---------------------------------------------------------------- key / value / query buffers
  // query slots: items between the Q fetch and the row decision; >= H_MAX (generation: one
  // per head, fetched in one job)
  localparam integer QS = (H_MAX <= 4) ? 4 : (H_MAX <= 8) ? 8 : (H_MAX <= 16) ? 16 : 32;
  localparam integer QSW = $clog2(QS);
  wire kb_wr_merge, kb_rd_start, vb_clr, kb_clr;
  wire [1:0] vb_clr_rg, vb_rd_rg, vb_vld_rg;    // value-buffer regions (four)
  wire [CHANNELS*2-1:0] vb_wr_rg;               // ... per fetch lane
  // key-buffer regions: heads whose K plane is held at once (with K planes on either fetch
  // array and generation re-passes inserted, 4 regions take the pruned GPT-2 trace from
  // 94,492 to 84,618 cycles; docs/performance.md)
  localparam integer KREG = 4;
  wire [$clog2(KREG)-1:0] kb_clr_rg, kb_rd_rg;
  wire [CHANNELS*$clog2(KREG)-1:0] kb_wr_rg;       // per K/Q-array lane
  wire kb_rd_busy;
  wire [CHANNELS-1:0] q_load;
  wire [CHANNELS*QSW-1:0] q_load_slot;
  wire [QSW-1:0] q_rd_slot;
  wire [CHANNELS-1:0] kb_wr_en, kb2_wr_en, vb_wr_en;
  wire [$clog2(KREG)-1:0] kb2_wr_rg;
  wire kb2_wr_merge;
  wire k_valid, k_ready, k_last;
  wire [LANES*KW-1:0] k_data;
  wire [LANES-1:0] k_keep;
  wire [MAX_N-1:0] vb_valid;
  wire [LANES*16-1:0] vb_rd_idx;
  wire [LANES*KW-1:0] vb_rd_data;
  wire [LANES-1:0]    vb_rd_valid;

  // write ports: the K/Q array's lanes, then the V array's (a K plane may stream on either)
  spatten_kbuf #(.LANES(LANES), .D_MAX(D_MAX), .MAX_N(MAX_N), .WR_PORTS(2 * CHANNELS),
                 .REGIONS(KREG)) u_kbuf (
      .clk(clk), .rst_n(rst_n), .clr(kb_clr), .clr_rg(kb_clr_rg), .wr_en({kb2_wr_en, kb_wr_en}),
      .wr_rg({{CHANNELS{kb2_wr_rg}}, kb_wr_rg}), .wr_idx({v_out_idx, f_out_idx}),
      .wr_data({v_out_data, f_out_data}), .wr_merge({{CHANNELS{kb2_wr_merge}}, {CHANNELS{kb_wr_merge}}}), .msb_bits(cfg_msb), .lsb_bits(cfg_lsb),
      .rd_start(kb_rd_start), .rd_n(16'(cfg_n)), .rd_rg(kb_rd_rg), .rd_busy(kb_rd_busy),
      .k_valid(k_valid), .k_ready(k_ready), .k_data(k_data), .k_keep(k_keep), .k_last(k_last));

  spatten_vbuf #(.D_MAX(D_MAX), .MAX_N(MAX_N), .RD_PORTS(LANES), .WR_PORTS(CHANNELS),
                 .REGIONS(4)) u_vbuf (
      .clk(clk), .rst_n(rst_n), .clr(vb_clr), .clr_rg(vb_clr_rg), .wr_en(vb_wr_en),
      .wr_rg(vb_wr_rg), .wr_idx(v_out_idx), .wr_data(v_out_data), .rd_rg(vb_rd_rg),
      .rd_idx(vb_rd_idx), .rd_data(vb_rd_data), .rd_valid(vb_rd_valid), .vld_rg(vb_vld_rg),
      .valid(vb_valid));

  // a query row waits in its query slot until the item's Q.K pass takes it (and again for a
  // re-pass); the rows of one cycle (lanes) name distinct slots
  reg [KW-1:0] qslot [0:QS-1];
  integer qc;
  always @(posedge clk) begin
    for (qc = 0; qc < CHANNELS; qc = qc + 1)
      if (q_load[qc]) qslot[q_load_slot[qc*QSW +: QSW]] <= f_out_data[qc*KW +: KW];
  end
  wire [KW-1:0] qreg = qslot[q_rd_slot];

  // ---------------------------------------------------------------- Q.K -> softmax -> row buffer
  wire qk_q_valid, qk_q_ready;
  wire [3:0] qk_q_known;
  wire s_valid, s_ready, s_last;
  wire [LANES*20-1:0] s_data;
  wire [LANES-1:0] s_keep;
  qk_array #(.LANES(LANES), .D(D_MAX), .QW(D_MAX)) u_qk (
      .clk(clk), .rst_n(rst_n),
      .q_valid(qk_q_valid), .q_ready(qk_q_ready), .q_data(qreg), .q_mult(scale_mult),
      .q_shift(scale_shift), .q_known(qk_q_known), .q_last(1'b1),
      .k_valid(k_valid), .k_ready(k_ready), .k_data(k_data), .k_keep(k_keep), .k_last(k_last),
      .s_valid(s_valid), .s_ready(s_ready), .s_data(s_data), .s_keep(s_keep), .s_last(s_last));

  wire sm_valid, sm_ready, sm_last;
  wire [PW-1:0] sm_data;
  wire [LANES-1:0] sm_keep;
  wire [15:0] sm_maxp;
  softmax #(.LANES(LANES), .MAX_N(MAX_N), .NBUF(3), .RECIP_STEPS(4)) u_softmax (
      .clk(clk), .rst_n(rst_n),
      .in_valid(s_valid), .in_ready(s_ready), .in_data(s_data), .in_keep(s_keep),
      .in_last(s_last),
      .out_valid(sm_valid), .out_ready(sm_ready), .out_data(sm_data), .out_keep(sm_keep),
      .out_last(sm_last), .out_maxp(sm_maxp));

  // probability row buffer: a whole row waits here for its requant decision
  localparam integer RBW = PW + LANES + 16;
  wire rb_valid, rb_ready, rb_last;
  wire [RBW-1:0] rb_data;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [$clog2(MAX_N / LANES + 3)-1:0] rb_count;
  wire rb_full, rb_empty;
  /* verilator lint_on UNUSEDSIGNAL */
  stream_fifo #(.WIDTH(RBW), .DEPTH(MAX_N / LANES + 2)) u_rowbuf (
      .clk(clk), .rst_n(rst_n),
      .in_valid(sm_valid), .in_ready(sm_ready), .in_data({sm_maxp, sm_keep, sm_data}),
      .in_last(sm_last),
      .out_valid(rb_valid), .out_ready(rb_ready), .out_data(rb_data), .out_last(rb_last),
      .count(rb_count), .full(rb_full), .empty(rb_empty));
  wire [PW-1:0]    rb_prob = rb_data[PW-1:0];
  wire [LANES-1:0] rb_keep = rb_data[PW +: LANES];
  wire [15:0]      rb_maxp = rb_data[PW + LANES +: 16];

  wire rq_in_valid, rq_in_ready, rq_out_valid, rq_out_ready, rq_out_requant;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [15:0] rq_out_maxp;
  wire [0:0]  rq_out_tag;
  /* verilator lint_on UNUSEDSIGNAL */
  requant_decision #(.TAG_W(1)) u_rq (
      .clk(clk), .rst_n(rst_n),
      .in_valid(rq_in_valid), .in_ready(rq_in_ready), .in_maxp(rb_maxp), .in_threshold(cfg_thr),
      .in_tag(1'b0),
      .out_valid(rq_out_valid), .out_ready(rq_out_ready), .out_requant(rq_out_requant),
      .out_maxp(rq_out_maxp), .out_tag(rq_out_tag));

  // ---------------------------------------------------------------- local-V top-k
  wire tv_in_valid, tv_in_ready, tv_out_valid, tv_out_ready, tv_out_last;
  wire [PW-1:0] tv_in_index;
  wire [TPW-1:0] tv_out_index, tv_out_score;
  wire [TOPK_P-1:0] tv_out_keep;
  /* verilator lint_off UNUSEDSIGNAL */
  wire tv_sat, tt_sat, th_sat;
  /* verilator lint_on UNUSEDSIGNAL */
  // Two local-V engines take the passed rows in turn (tv_in_sel / tv_out_sel: the row
  // stage's and the back's item parity), so one row's selection and output overlap the next
  // row's input. Each has its own upsizer, so a row's last packed beat still reaches its own
  // engine after tv_in_sel has moved on to the next row.
  wire tv_in_sel, tv_out_sel;
  wire [1:0] tvx_in_ready, tvx_out_valid, tvx_out_last, tvx_sat;
  wire [2*TPW-1:0] tvx_out_index, tvx_out_score;
  wire [2*TOPK_P-1:0] tvx_out_keep;
  genvar gv, gu;
  generate
    for (gv = 0; gv < 2; gv = gv + 1) begin : g_topk_v
      wire              up_valid, up_ready, up_last;
      wire [2*TPW-1:0]  up_data;   // per row beat j: {index lanes, score lanes}
      wire [TOPK_P-1:0] up_keep;
      wire [TPW-1:0]    up_score, up_index;
      stream_upsize #(.W(2 * PW), .K(LANES), .R(TOPK_P / LANES)) u_up (
          .clk(clk), .rst_n(rst_n),
          .in_valid(tv_in_valid & (tv_in_sel == gv[0])), .in_ready(tvx_in_ready[gv]),
          .in_data({tv_in_index, rb_prob}), .in_keep(rb_keep), .in_last(rb_last),
          .out_valid(up_valid), .out_ready(up_ready), .out_data(up_data), .out_keep(up_keep),
          .out_last(up_last));
      for (gu = 0; gu < TOPK_P / LANES; gu = gu + 1) begin : g_lane
        assign up_score[gu*PW +: PW] = up_data[gu*2*PW +: PW];
        assign up_index[gu*PW +: PW] = up_data[gu*2*PW + PW +: PW];
      end
      topk_engine #(.P(TOPK_P), .MAX_N(MAX_N), .SCORE_W(16), .INDEX_W(16)) u_topk_v (
          .clk(clk), .rst_n(rst_n),
          .in_valid(up_valid), .in_ready(up_ready),
          .in_score(up_score), .in_index(up_index),
          .in_keep(up_keep), .in_k(($clog2(MAX_N+1)+1)'(cfg_value_keep)), .in_last(up_last),
          .out_valid(tvx_out_valid[gv]), .out_ready(tv_out_ready & (tv_out_sel == gv[0])),
          .out_index(tvx_out_index[gv*TPW +: TPW]), .out_score(tvx_out_score[gv*TPW +: TPW]),
          .out_keep(tvx_out_keep[gv*TOPK_P +: TOPK_P]), .out_last(tvx_out_last[gv]),
          .out_saturated(tvx_sat[gv]));
    end
  endgenerate
  assign tv_in_ready  = tvx_in_ready[tv_in_sel];
  assign tv_out_valid = tvx_out_valid[tv_out_sel];
  assign tv_out_last  = tvx_out_last[tv_out_sel];
  assign tv_out_index = tvx_out_index[tv_out_sel*TPW +: TPW];
  assign tv_out_score = tvx_out_score[tv_out_sel*TPW +: TPW];
  assign tv_out_keep  = tvx_out_keep[tv_out_sel*TOPK_P +: TOPK_P];
  assign tv_sat = |tvx_sat;

  // ---------------------------------------------------------------- P.V
  wire pv_valid, pv_ready, pv_last, e_valid, e_ready;
  /* verilator lint_off UNUSEDSIGNAL */
  wire e_last;
  /* verilator lint_on UNUSEDSIGNAL */
  wire [PW-1:0] pv_prob;
  wire [LANES*KW-1:0] pv_v;
  wire [LANES-1:0] pv_keep;
  wire [D_MAX*16-1:0] e_data;
  pv_array #(.LANES(LANES), .D(D_MAX)) u_pv (
      .clk(clk), .rst_n(rst_n),
      .in_valid(pv_valid), .in_ready(pv_ready), .in_prob(pv_prob), .in_v(pv_v),
      .in_keep(pv_keep), .in_last(pv_last),
      .e_valid(e_valid), .e_ready(e_ready), .e_data(e_data), .e_last(e_last));

  // ---------------------------------------------------------------- writer
  wire w_job_valid, w_job_ready, w_job_raw, w_in_valid, w_in_ready, w_in_last, w_busy, w_err;
  wire [31:0] w_job_base;
  wire [15:0] w_job_stride, w_in_idx;
  wire [2:0]  w_job_class;
  wire [D_MAX*16-1:0] w_in_data;
  /* verilator lint_off UNUSEDSIGNAL */
  wire w_done, w_done_err;
  wire [1:0] w_err_resp;
  wire [2:0] w_err_class;
  wire [CNT_W-1:0] w_stall;
  /* verilator lint_on UNUSEDSIGNAL */
  wire [8*CNT_W-1:0] w_cnt;
  e_writer #(.ADDR_W(32), .ID_W(2), .OUTSTANDING(4), .IDX_W(16), .STRIDE_W(16), .D_MAX(D_MAX),
             .CNT_W(CNT_W)) u_writer (
      .clk(clk), .rst_n(rst_n),
      .job_valid(w_job_valid), .job_ready(w_job_ready), .job_base(w_job_base),
      .job_stride(w_job_stride), .job_d(7'(cfg_d)), .job_raw(w_job_raw), .job_class(w_job_class),
      .in_valid(w_in_valid), .in_ready(w_in_ready), .in_data(w_in_data), .in_idx(w_in_idx),
      .in_last(w_in_last),
`include "spatten_axiw_map.vh"
      .busy(w_busy), .done(w_done), .done_err(w_done_err), .err_valid(w_err),
      .err_resp(w_err_resp), .err_class(w_err_class), .err_clear(err_clear),
      .cnt_wr_bytes(w_cnt), .cnt_stall(w_stall));

  // ---------------------------------------------------------------- importance + selection
  wire ti_valid, ti_ready, ti_last, ti_out_valid, ti_out_ready, ti_out_last;
  wire [1:0] ti_op;
  wire [PW-1:0] ti_data;
  wire [LANES-1:0] ti_keep, ti_out_keep;
  wire [LANES*32-1:0] ti_out_score;
  wire [LANES*$clog2(MAX_N)-1:0] ti_out_pos;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [NW-1:0] ti_live_count;
  wire ti_busy, hi_busy;
  /* verilator lint_on UNUSEDSIGNAL */
  token_importance #(.MAX_N(MAX_N), .LANES(LANES), .ACC_W(32)) u_tok (
      .clk(clk), .rst_n(rst_n),
      .in_valid(ti_valid), .in_ready(ti_ready), .in_op(ti_op), .in_data(ti_data),
      .in_keep(ti_keep), .in_n(cfg_n), .in_last(ti_last),
      .out_valid(ti_out_valid), .out_ready(ti_out_ready), .out_score(ti_out_score),
      .out_pos(ti_out_pos), .out_keep(ti_out_keep), .out_last(ti_out_last),
      .live_count(ti_live_count), .busy(ti_busy),
      .dbg_re(imp_tok_rd), .dbg_pos(imp_index[$clog2(MAX_N)-1:0]), .dbg_score(imp_tok_score));

  wire [PW-1:0] ti_out_index;
  genvar gl;
  generate
    for (gl = 0; gl < LANES; gl = gl + 1) begin : g_pos
      assign ti_out_index[gl*16 +: 16] = 16'(ti_out_pos[gl*$clog2(MAX_N) +: $clog2(MAX_N)]);
    end
  endgenerate
  wire tt_out_valid, tt_out_ready, tt_out_last;
  wire [PW-1:0] tt_out_index;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [LANES*32-1:0] tt_out_score;
  /* verilator lint_on UNUSEDSIGNAL */
  wire [LANES-1:0] tt_out_keep;
  topk_engine #(.P(LANES), .MAX_N(MAX_N), .SCORE_W(32), .INDEX_W(16)) u_topk_tok (
      .clk(clk), .rst_n(rst_n),
      .in_valid(ti_out_valid), .in_ready(ti_out_ready), .in_score(ti_out_score),
      .in_index(ti_out_index), .in_keep(ti_out_keep),
      .in_k(($clog2(MAX_N+1)+1)'(cfg_token_keep)), .in_last(ti_out_last),
      .out_valid(tt_out_valid), .out_ready(tt_out_ready), .out_index(tt_out_index),
      .out_score(tt_out_score), .out_keep(tt_out_keep), .out_last(tt_out_last),
      .out_saturated(tt_sat));

  wire hi_valid, hi_ready, hi_last, hi_out_valid, hi_out_ready, hi_out_last;
  wire [1:0] hi_op;
  wire [PW-1:0] hi_data;
  wire [H_MAX-1:0] hi_live;
  wire [LANES*40-1:0] hi_out_score;
  wire [LANES*HIDX_W-1:0] hi_out_head;
  wire [LANES-1:0] hi_out_keep;
  head_importance #(.H_MAX(H_MAX), .LANES(LANES), .ACC_W(40)) u_head (
      .clk(clk), .rst_n(rst_n),
      .in_valid(hi_valid), .in_ready(hi_ready), .in_op(hi_op), .in_data(hi_data),
      .in_keep({LANES{1'b1}}), .in_head(hi_head), .in_scale(hi_scale), .in_live(hi_live),
      .in_last(hi_last),
      .out_valid(hi_out_valid), .out_ready(hi_out_ready), .out_score(hi_out_score),
      .out_head(hi_out_head), .out_keep(hi_out_keep), .out_last(hi_out_last), .busy(hi_busy),
      .dbg_re(imp_head_rd), .dbg_head(imp_index[HIDX_W-1:0]), .dbg_score(imp_head_score));

  wire th_out_valid, th_out_ready, th_out_last;
  wire [LANES*HIDX_W-1:0] th_out_index;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [LANES*40-1:0] th_out_score;
  /* verilator lint_on UNUSEDSIGNAL */
  wire [LANES-1:0] th_out_keep;
  topk_engine #(.P(LANES), .MAX_N(HT_N), .SCORE_W(40), .INDEX_W(HIDX_W)) u_topk_head (
      .clk(clk), .rst_n(rst_n),
      .in_valid(hi_out_valid), .in_ready(hi_out_ready), .in_score(hi_out_score),
      .in_index(hi_out_head), .in_keep(hi_out_keep),
      .in_k(($clog2(HT_N+1)+1)'(cfg_head_keep)), .in_last(hi_out_last),
      .out_valid(th_out_valid), .out_ready(th_out_ready), .out_index(th_out_index),
      .out_score(th_out_score), .out_keep(th_out_keep), .out_last(th_out_last),
      .out_saturated(th_sat));

  // ---------------------------------------------------------------- controller
  spatten_ctrl #(.LANES(LANES), .D_MAX(D_MAX), .MAX_N(MAX_N), .H_MAX(H_MAX),
                 .MACS_ADD_W(MACS_ADD_W), .CHANNELS(CHANNELS), .QS(QS),
                 .KREG(KREG), .TOPK_P(TOPK_P), .QB_W(QB_W)) u_ctrl (
      .clk(clk), .rst_n(rst_n),
      .cmd_start(cmd_start), .cmd_clear(cmd_clear), .cmd_abort(cmd_abort),
      .cfg_mode(cfg_mode), .cfg_n(cfg_n), .cfg_d(cfg_d), .cfg_heads(cfg_heads),
      .cfg_prune(cfg_prune), .cfg_value_keep(cfg_value_keep), .cfg_msb(cfg_msb),
      .cfg_lsb(cfg_lsb), .cfg_q_base(cfg_q_base), .cfg_kmsb_base(cfg_kmsb_base),
      .cfg_klsb_base(cfg_klsb_base), .cfg_v_base(cfg_v_base), .cfg_e_base(cfg_e_base),
      .cfg_keep_base(cfg_keep_base), .cfg_stride(cfg_stride), .cfg_token_keep(cfg_token_keep),
      .scale_head(scale_head), .busy(busy), .done_pulse(done_pulse), .error_pulse(error_pulse),
      .error_code(error_code), .live_heads(live_heads), .kept_tokens(kept_tokens),
      .cnt_requant_inc(cnt_requant_inc), .cnt_macs_add(cnt_macs_add),
      .f_job_valid(f_job_valid), .f_job_ready(f_job_ready), .f_job_base(f_job_base),
      .f_job_stride(f_job_stride), .f_job_bits(f_job_bits), .f_job_class(f_job_class),
      .f_job_range(f_job_range), .f_job_first(f_job_first), .f_job_lastrow(f_job_lastrow),
      .fq_in_valid(fq_in_valid), .fq_in_ready(fq_in_ready), .fq_in_idx(fq_in_idx), .fq_in_vld(fq_in_vld),
      .fq_in_last(fq_in_last), .f_out_idx(f_out_idx),
      .f_out_valid(f_out_valid), .f_done(f_done),
      .v_job_valid(v_job_valid), .v_job_ready(v_job_ready), .v_job_base(v_job_base),
      .v_job_stride(v_job_stride), .v_job_range(v_job_range), .v_job_lastrow(v_job_lastrow),
      .v_job_bits(v_job_bits), .v_job_class(v_job_class),
      .v_in_valid(v_in_valid), .v_in_ready(v_in_ready), .v_in_idx(v_in_idx), .v_in_vld(v_in_vld),
      .v_in_last(v_in_last), .v_out_valid(v_out_valid), .v_out_tag(v_out_tag), .v_done(v_done), .f_out_tag(f_out_tag),
      .f_err(f_err), .f_busy(f_busy),
      .err_clear(err_clear),
      .kb_wr_en(kb_wr_en), .kb_wr_merge(kb_wr_merge), .kb_rd_start(kb_rd_start),
      .kb_rd_rg(kb_rd_rg), .kb_rd_busy(kb_rd_busy), .kb_wr_rg(kb_wr_rg),
      .kb2_wr_en(kb2_wr_en), .kb2_wr_rg(kb2_wr_rg), .kb2_wr_merge(kb2_wr_merge),
      .vb_clr(vb_clr), .vb_clr_rg(vb_clr_rg), .vb_wr_rg(vb_wr_rg), .vb_vld_rg(vb_vld_rg), .vb_rd_rg(vb_rd_rg),
      .kb_clr(kb_clr), .kb_clr_rg(kb_clr_rg), .vb_wr_en(vb_wr_en),
      .vb_valid(vb_valid), .vb_rd_idx(vb_rd_idx),
      .vb_rd_data(vb_rd_data), .vb_rd_valid(vb_rd_valid), .q_load(q_load), .q_load_slot(q_load_slot), .q_rd_slot(q_rd_slot),
      .qk_q_valid(qk_q_valid), .qk_q_ready(qk_q_ready), .qk_q_known(qk_q_known),
      .rb_valid(rb_valid), .rb_ready(rb_ready), .rb_prob(rb_prob), .rb_keep(rb_keep),
      .rb_last(rb_last),
      .rq_in_valid(rq_in_valid), .rq_in_ready(rq_in_ready), .rq_out_valid(rq_out_valid),
      .rq_out_ready(rq_out_ready), .rq_out_requant(rq_out_requant),
      .tv_in_valid(tv_in_valid), .tv_in_ready(tv_in_ready), .tv_in_index(tv_in_index),
      .tv_in_sel(tv_in_sel), .tv_out_sel(tv_out_sel),
      .tv_out_valid(tv_out_valid), .tv_out_ready(tv_out_ready), .tv_out_index(tv_out_index),
      .tv_out_score(tv_out_score), .tv_out_keep(tv_out_keep), .tv_out_last(tv_out_last),
      .pv_valid(pv_valid), .pv_ready(pv_ready), .pv_prob(pv_prob), .pv_v(pv_v),
      .pv_keep(pv_keep), .pv_last(pv_last), .e_valid(e_valid), .e_ready(e_ready),
      .e_data(e_data),
      .w_job_valid(w_job_valid), .w_job_ready(w_job_ready), .w_job_base(w_job_base),
      .w_job_stride(w_job_stride), .w_job_raw(w_job_raw), .w_job_class(w_job_class),
      .w_in_valid(w_in_valid), .w_in_ready(w_in_ready), .w_in_data(w_in_data),
      .w_in_idx(w_in_idx), .w_in_last(w_in_last), .w_busy(w_busy), .w_err(w_err),
      .ti_valid(ti_valid), .ti_ready(ti_ready), .ti_op(ti_op), .ti_data(ti_data),
      .ti_keep(ti_keep), .ti_last(ti_last),
      .tt_out_valid(tt_out_valid), .tt_out_ready(tt_out_ready), .tt_out_index(tt_out_index),
      .tt_out_keep(tt_out_keep), .tt_out_last(tt_out_last),
      .hi_valid(hi_valid), .hi_ready(hi_ready), .hi_op(hi_op), .hi_data(hi_data),
      .hi_last(hi_last), .hi_live(hi_live), .hi_head(hi_head),
      .th_out_valid(th_out_valid), .th_out_ready(th_out_ready), .th_out_index(th_out_index),
      .th_out_keep(th_out_keep), .th_out_last(th_out_last));

  // ---------------------------------------------------------------- counters (CSR increments)
  // byte counters: per-cycle deltas of the fetcher's / writer's free-running class counters
  // (the two fetch arrays' counters added: Q and K come from u_fetch, V from u_vfetch)
  reg [CNT_W-1:0] prev_q [0:4];
  reg [CNT_W-1:0] prev_fa_stall, prev_fv_stall;
  wire [CNT_W-1:0] cur [0:4];
  assign cur[0] = fa_cnt[`SPATTEN_CLASS_Q*CNT_W +: CNT_W] + fv_cnt[`SPATTEN_CLASS_Q*CNT_W +: CNT_W];
  assign cur[1] = fa_cnt[`SPATTEN_CLASS_K_MSB*CNT_W +: CNT_W] + fv_cnt[`SPATTEN_CLASS_K_MSB*CNT_W +: CNT_W];
  assign cur[2] = fa_cnt[`SPATTEN_CLASS_K_LSB*CNT_W +: CNT_W] + fv_cnt[`SPATTEN_CLASS_K_LSB*CNT_W +: CNT_W];
  assign cur[3] = fa_cnt[`SPATTEN_CLASS_V_MSB*CNT_W +: CNT_W] + fv_cnt[`SPATTEN_CLASS_V_MSB*CNT_W +: CNT_W];
  assign cur[4] = w_cnt[`SPATTEN_CLASS_E*CNT_W +: CNT_W];
  integer ci;
  always @(posedge clk) begin
    for (ci = 0; ci < 5; ci = ci + 1) prev_q[ci] <= cur[ci];
    prev_fa_stall <= fa_stall;
    prev_fv_stall <= fv_stall;
  end
  genvar gc;
  generate
    for (gc = 0; gc < 5; gc = gc + 1) begin : g_bytes
      /* verilator lint_off UNUSEDSIGNAL */
      wire [CNT_W-1:0] delta = cur[gc] - prev_q[gc];
      /* verilator lint_on UNUSEDSIGNAL */
      assign cnt_bytes_add[gc*16 +: 16] = rst_n ? delta[15:0] : 16'd0;
    end
  endgenerate
  // a cycle either fetch array waited on memory (counted once when both did)
  assign cnt_stall_inc = rst_n & ((fa_stall != prev_fa_stall) | (fv_stall != prev_fv_stall));
  assign cnt_busy_inc  = (k_valid & k_ready) | (pv_valid & pv_ready);

  /* verilator lint_off UNUSEDSIGNAL */
  wire unused = &{1'b0, fa_cnt, fv_cnt, w_cnt, fa_stall, fv_stall};
  /* verilator lint_on UNUSEDSIGNAL */
endmodule
`default_nettype wire
