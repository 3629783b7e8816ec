// Controller of spatten_top: sequences one layer command (docs/spatten_top.md).
// Per live head: K MSB fetch into the key buffer; per query: Q fetch, Q.K + softmax into the
// row buffer, requant decision at the row head (drop the row, fetch the K LSB plane once per
// head, redo), accepted row -> token importance ACC + local-V top-k, kept list, V fetch of the
// rows not buffered, P.V, E write + head importance. At the end (PRUNE_EN) token top-k ->
// importance COMPACT + KEEP list write, head top-k -> LIVE_HEADS.
// The START check lives in spatten_csr; this block sees only accepted commands (cmd_start).
`default_nettype none
`include "spatten_fixed.vh"
module spatten_ctrl #(
    parameter integer LANES  = 8,
    parameter integer D_MAX  = 64,
    parameter integer MAX_N  = 256,
    parameter integer H_MAX  = 16,
    parameter integer NW     = $clog2(MAX_N) + 1,
    parameter integer DW     = $clog2(D_MAX) + 1,
    parameter integer HW     = $clog2(H_MAX) + 1,
    parameter integer HIDX_W = (H_MAX > 1) ? $clog2(H_MAX) : 1,
    parameter integer MACS_ADD_W = 20,
    parameter integer CHANNELS = 1     // fetch lanes (kv_fetch_array output lanes)
) (
    input  wire                       clk,
    input  wire                       rst_n,
    // ---------------------------------------------------------------- CSR
    input  wire                       cmd_start,
    input  wire                       cmd_clear,
    input  wire                       cmd_abort,
    input  wire                       cfg_mode,
    input  wire [NW-1:0]              cfg_n,
    input  wire [DW-1:0]              cfg_d,
    input  wire [HW-1:0]              cfg_heads,
    input  wire                       cfg_prune,
    input  wire [NW-1:0]              cfg_value_keep,
    input  wire [3:0]                 cfg_msb,
    input  wire [3:0]                 cfg_lsb,
    input  wire [31:0]                cfg_q_base,
    input  wire [31:0]                cfg_kmsb_base,
    input  wire [31:0]                cfg_klsb_base,
    input  wire [31:0]                cfg_v_base,
    input  wire [31:0]                cfg_e_base,
    input  wire [31:0]                cfg_keep_base,
    input  wire [31:0]                cfg_stride,
    input  wire [NW-1:0]              cfg_token_keep,
    output wire [HIDX_W-1:0]          scale_head,
    output wire                       busy,
    output reg                        done_pulse,
    output reg                        error_pulse,
    output reg  [3:0]                 error_code,   // with error_pulse: E_AXI_READ/WRITE, E_ABORTED
    output reg  [H_MAX-1:0]           live_heads,
    output reg  [NW-1:0]              kept_tokens,
    output reg                        cnt_requant_inc,
    output reg  [MACS_ADD_W-1:0]      cnt_macs_add,
    // ---------------------------------------------------------------- fetcher
    output reg                        f_job_valid,
    input  wire                       f_job_ready,
    output reg  [31:0]                f_job_base,
    output reg  [15:0]                f_job_stride,
    output reg  [3:0]                 f_job_bits,
    output reg  [2:0]                 f_job_class,
    output wire                       f_job_range,  // rows f_job_first..f_job_lastrow (K, Q)
    output wire [15:0]                f_job_first,
    output wire [15:0]                f_job_lastrow,
    output reg                        f_in_valid,   // list jobs (V): the kept rows not buffered,
    input  wire                       f_in_ready,   // LANES kept-list entries per beat
    output reg  [LANES*16-1:0]        f_in_idx,
    output reg  [LANES-1:0]           f_in_vld,     // the entries whose row is missing
    output reg                        f_in_last,
    input  wire [CHANNELS-1:0]        f_out_valid,  // a row on fetch lane c
    output wire                       f_out_ready,
    input  wire                       f_done,       // every row of the job delivered
    input  wire                       f_err,
    input  wire                       f_busy,
    output reg                        err_clear,
    // ---------------------------------------------------------------- buffers
    output wire [CHANNELS-1:0]        kb_wr_en,
    output wire                       kb_wr_merge,
    output reg                        kb_rd_start,
    output wire                       vb_clr,
    output reg                        kb_clr,       // the key buffer's valid bits: a new K plane
    output wire [CHANNELS-1:0]        vb_wr_en,
    input  wire [MAX_N-1:0]           vb_valid,
    output reg  [LANES*16-1:0]        vb_rd_idx,
    input  wire [LANES*D_MAX*12-1:0]  vb_rd_data,
    output wire                       q_load,
    // ---------------------------------------------------------------- Q.K query
    output wire                       qk_q_valid,
    input  wire                       qk_q_ready,
    output wire [3:0]                 qk_q_known,
    // ---------------------------------------------------------------- row buffer / requant
    input  wire                       rb_valid,
    output reg                        rb_ready,
    input  wire [LANES*16-1:0]        rb_prob,
    input  wire [LANES-1:0]           rb_keep,
    input  wire                       rb_last,
    output wire                       rq_in_valid,
    input  wire                       rq_in_ready,
    input  wire                       rq_out_valid,
    output wire                       rq_out_ready,
    input  wire                       rq_out_requant,
    // ---------------------------------------------------------------- local-V top-k
    output reg                        tv_in_valid,
    input  wire                       tv_in_ready,
    output wire [LANES*16-1:0]        tv_in_index,
    input  wire                       tv_out_valid,
    output wire                       tv_out_ready,
    input  wire [LANES*16-1:0]        tv_out_index,
    input  wire [LANES*16-1:0]        tv_out_score,
    input  wire [LANES-1:0]           tv_out_keep,
    input  wire                       tv_out_last,
    // ---------------------------------------------------------------- P.V
    output reg                        pv_valid,
    input  wire                       pv_ready,
    output reg  [LANES*16-1:0]        pv_prob,
    output reg  [LANES*D_MAX*12-1:0]  pv_v,
    output reg  [LANES-1:0]           pv_keep,
    output reg                        pv_last,
    input  wire                       e_valid,
    output wire                       e_ready,
    input  wire [D_MAX*16-1:0]        e_data,
    // ---------------------------------------------------------------- writer
    output reg                        w_job_valid,
    input  wire                       w_job_ready,
    output reg  [31:0]                w_job_base,
    output reg  [15:0]                w_job_stride,
    output reg                        w_job_raw,
    output reg  [2:0]                 w_job_class,
    output reg                        w_in_valid,
    input  wire                       w_in_ready,
    output reg  [D_MAX*16-1:0]        w_in_data,
    output reg  [15:0]                w_in_idx,
    output reg                        w_in_last,
    input  wire                       w_busy,
    input  wire                       w_err,
    // ---------------------------------------------------------------- token importance
    output reg                        ti_valid,
    input  wire                       ti_ready,
    output reg  [1:0]                 ti_op,
    output reg  [LANES*16-1:0]        ti_data,
    output reg  [LANES-1:0]           ti_keep,
    output reg                        ti_last,
    input  wire                       tt_out_valid,   // token top-k output
    output wire                       tt_out_ready,
    input  wire [LANES*16-1:0]        tt_out_index,
    input  wire [LANES-1:0]           tt_out_keep,
    input  wire                       tt_out_last,
    // ---------------------------------------------------------------- head importance
    output reg                        hi_valid,
    input  wire                       hi_ready,
    output reg  [1:0]                 hi_op,
    output reg  [LANES*16-1:0]        hi_data,
    output reg                        hi_last,
    output reg  [H_MAX-1:0]           hi_live,
    output wire [HIDX_W-1:0]          hi_head,
    input  wire                       th_out_valid,   // head top-k output
    output wire                       th_out_ready,
    input  wire [LANES*HIDX_W-1:0]    th_out_index,
    input  wire [LANES-1:0]           th_out_keep,
    input  wire                       th_out_last
);
  localparam integer AW = $clog2(MAX_N);
  localparam integer EB = D_MAX / LANES;  // head-importance beats per E row (LANES <= D_MAX)

  // 3 and 4 were the K MSB job states: the K fetch now streams under S_QK / S_ROW
  localparam [4:0] S_IDLE = 5'd0, S_CLR = 5'd1, S_HEAD = 5'd2,
                   S_QJOB = 5'd5, S_QWAIT = 5'd6, S_QK = 5'd7, S_ROW = 5'd8, S_LJOB = 5'd9,
                   S_LWAIT = 5'd10, S_KLIST = 5'd11, S_VJOB = 5'd12, S_VWAIT = 5'd13,
                   S_PV = 5'd14, S_EWAIT = 5'd15, S_EOUT = 5'd16, S_QEND = 5'd17,
                   S_TREAD = 5'd18, S_TSEL = 5'd19, S_KWRITE = 5'd20, S_HREAD = 5'd21,
                   S_HSEL = 5'd22, S_FIN = 5'd23, S_FINERR = 5'd24;
  reg [4:0] st;

  // ERROR_CODE values this block reports (golden.accel.ErrorCode; the START codes 1-6 and 9
  // are spatten_csr's). An AXI error outranks ABORT: it says the memory image is bad, which
  // the host must know even if it had asked to stop.
  localparam [3:0] E_AXI_READ = `SPATTEN_ERR_AXI_READ, E_AXI_WRITE = `SPATTEN_ERR_AXI_WRITE,
                   E_ABORTED = `SPATTEN_ERR_ABORTED;  // golden/codes.py via spatten_fixed.vh

  // Read planes are packed rows of ceil(d * b / 8) bytes (golden blocks.row_bytes); E rows
  // are whole beats (blocks.row_stride).
  function automatic [15:0] row_bytes(input [6:0] d, input [4:0] b);
    row_bytes = 16'(((16'(d) * 16'(b)) + 16'd7) >> 3);
  endfunction
  function automatic [15:0] row_stride(input [6:0] d, input [4:0] b);
    row_stride = 16'((((16'(d) * 16'(b)) + 16'd255) >> 8) << 5);
  endfunction

  wire [6:0]  d7   = 7'(cfg_d);

  // Every fetch job is issued here: the job fields, the row kind (where its rows go) and the
  // index generator (rows first..last of a range job; a list job walks the kept list from 0).
  task automatic issue_job(input [31:0] base, input [3:0] bits, input [2:0] cls,
                           input [1:0] kind, input list, input [15:0] first, input [15:0] last);
    begin
      f_job_valid  <= 1'b1;
      f_job_base   <= base;
      f_job_stride <= row_bytes(d7, 5'(bits));
      f_job_bits   <= bits;
      f_job_class  <= cls;
      fjob         <= kind;
      g_list       <= list;
      g_i          <= first;
      g_end        <= last;
    end
  endtask
  wire [15:0] n16  = 16'(cfg_n);
  wire [15:0] nq   = cfg_mode ? 16'd1 : n16;  // queries
  wire [H_MAX-1:0] heads_mask = (cfg_heads >= HW'(H_MAX)) ? {H_MAX{1'b1}}
                                : H_MAX'(({{H_MAX{1'b0}}, 1'b1} << cfg_heads) - 1'b1);

  // ---------------------------------------------------------------- command state
  reg [H_MAX-1:0] live_cmd;
  reg [HIDX_W:0]  h;
  reg [31:0]      off;       // h * HEAD_STRIDE
  reg [15:0]      qi;        // query
  reg             repass, lsb_loaded, abort_q, start_after_clr;
  // The head's K MSB fetch is issued right after its Q row and runs under Q.K: the key buffer's
  // valid bits let Q.K follow the arriving keys (S_QWAIT, the head's first query, is always
  // followed by its K job);
  // kf_busy: it runs (its done pulse not yet seen); drop_err: the row is dropped because the
  // fetch failed or ABORT came, then the command fails (nothing accumulated yet).
  reg             kf_busy, drop_err;
  // Prefetch of the next item: once the current item's V rows are in (the fetch array is
  // idle until the next item), the next query's Q row (summarization) or the next live head's
  // Q row and then its K plane are fetched while P.V and the E write of this item run; the
  // next item then starts at S_QK. pf_st: PF_IDLE, PF_Q (its Q job runs), PF_RDY (Q in; the
  // head's K job issued and tracked by kf_busy).
  localparam [1:0] PF_IDLE = 2'd0, PF_Q = 2'd1, PF_RDY = 2'd2;
  reg [1:0]       pf_st;
  reg             pf_arm, pf_k;
  reg [HIDX_W:0]  pf_h;
  reg [31:0]      pf_off;
  // the next live head after h (below HEADS and H_MAX)
  reg [HIDX_W:0]  nh;
  reg             nh_any;
  integer nhi;
  always @(*) begin
    nh = {(HIDX_W+1){1'b0}};
    nh_any = 1'b0;
    for (nhi = H_MAX - 1; nhi >= 0; nhi = nhi - 1)
      if ((HIDX_W+1)'(nhi) > h && (HIDX_W+1)'(nhi) < (HIDX_W+1)'(cfg_heads) && live_cmd[nhi]) begin
        nh = (HIDX_W+1)'(nhi);
        nh_any = 1'b1;
      end
  end
  reg             err_after_clr;  // a failed command clears the state, then reports ERROR
  reg [1:0]       fjob;      // SPATTEN_FJOB_*: K MSB, Q, K LSB, V
  reg [H_MAX-1:0] new_live;
  reg             clr_ti_done, clr_hi_done;
  assign scale_head = HIDX_W'(h);
  assign hi_head    = HIDX_W'(h);
  // A lone CLEAR is not a command (BUSY low); a CLEAR that precedes a START, or the clear after
  // a failed command, is part of that command: BUSY stays high until DONE / ERROR is set, so a
  // host never reads "idle, not done" and a START in those cycles is refused (code 6).
  assign busy = (st != S_IDLE && st != S_CLR) || (st == S_CLR && (start_after_clr || err_after_clr));

  // ---------------------------------------------------------------- fetcher index generator
  reg        g_act, g_list;
  reg [15:0] g_i, g_end;
  reg [15:0] kl_idx  [0:MAX_N-1];
  reg [15:0] kl_prob [0:MAX_N-1];
  reg        kl_miss [0:MAX_N-1];
  reg [15:0] kl_cnt, kl_last_miss;
  reg        kl_any_miss;
  // list job: kept-list entries g_i .. g_i + LANES - 1 per beat (entries past the last
  // missing one, and rows the value buffer holds, are holes)
  integer gl_i;
  always @(*) begin
    f_in_valid = g_list & g_act;
    f_in_last  = g_i + 16'(LANES) > kl_last_miss;
    for (gl_i = 0; gl_i < LANES; gl_i = gl_i + 1) begin
      f_in_idx[gl_i*16 +: 16] = kl_idx[AW'(g_i + 16'(gl_i))];
      f_in_vld[gl_i] = (g_i + 16'(gl_i) <= kl_last_miss) & kl_miss[AW'(g_i + 16'(gl_i))];
    end
  end
  assign f_job_range   = ~g_list;
  assign f_job_first   = g_i;
  assign f_job_lastrow = g_end;
  wire f_in_fire = f_in_valid & f_in_ready;
  assign f_out_ready = 1'b1;
  wire [CHANNELS-1:0] f_row = f_out_valid;
  assign kb_wr_en    = f_row & {CHANNELS{fjob == `SPATTEN_FJOB_K_MSB || fjob == `SPATTEN_FJOB_K_LSB}};
  assign kb_wr_merge = fjob == `SPATTEN_FJOB_K_LSB;
  assign vb_wr_en    = f_row & {CHANNELS{fjob == `SPATTEN_FJOB_V}};
  assign q_load      = (|f_row) & fjob == `SPATTEN_FJOB_Q;
  assign vb_clr      = st == S_HEAD;

  // ---------------------------------------------------------------- requant decision
  reg [1:0] dec;  // 0 wait row head, 1 decision pending, 2 pass, 3 drop
  reg [15:0] rb_beat;
  // no decision (and no importance update) before the head's keys are all in and clean
  wire k_clean = ~kf_busy & ~f_err & ~abort_q;
  assign rq_in_valid  = st == S_ROW && dec == 2'd0 && rb_valid && k_clean && !drop_err;
  assign rq_out_ready = dec == 2'd1;
  wire take_requant = rq_out_requant & (cfg_lsb != 4'd0) & (cfg_msb < 4'd12) & ~repass;
  genvar gl;
  generate
    for (gl = 0; gl < LANES; gl = gl + 1) begin : g_idx
      assign tv_in_index[gl*16 +: 16] = rb_beat * 16'(LANES) + 16'(gl);
    end
  endgenerate
  // row buffer -> top-k V and token importance (PASS) or the bin (DROP)
  always @(*) begin
    rb_ready    = 1'b0;
    tv_in_valid = 1'b0;
    ti_valid = 1'b0; ti_op = `SPATTEN_IMP_OP_ACC; ti_data = rb_prob; ti_keep = rb_keep; ti_last = rb_last;
    if (st == S_ROW && dec == 2'd2) begin
      tv_in_valid = rb_valid;
      ti_valid    = rb_valid & tv_in_ready;
      rb_ready    = tv_in_ready;
    end else if (st == S_ROW && (dec == 2'd3 || drop_err)) begin
      rb_ready = 1'b1;
    end else if (st == S_CLR) begin
      ti_valid = ~clr_ti_done; ti_op = `SPATTEN_IMP_OP_CLEAR; ti_last = 1'b1; ti_keep = {LANES{1'b0}};
    end else if (st == S_TREAD) begin
      ti_valid = 1'b1; ti_op = `SPATTEN_IMP_OP_READ; ti_last = 1'b1; ti_keep = {LANES{1'b0}};
    end else if (st == S_TSEL) begin
      ti_valid = tt_out_valid; ti_op = `SPATTEN_IMP_OP_COMPACT; ti_data = tt_out_index; ti_keep = tt_out_keep;
      ti_last = tt_out_last;
    end
  end
  assign tt_out_ready = st == S_TSEL && ti_ready;
  wire rb_fire = rb_valid & rb_ready;

  // ---------------------------------------------------------------- kept list from top-k V
  assign tv_out_ready = st == S_KLIST;
  reg [15:0] pv_j;  // next kept pair of the P.V assembly (LANES pairs per beat)
  integer ri;
  always @(*) begin
    for (ri = 0; ri < LANES; ri = ri + 1) vb_rd_idx[ri*16 +: 16] = kl_idx[AW'(pv_j + 16'(ri))];
  end
  assign e_ready = st == S_EWAIT;
  assign qk_q_valid = st == S_QK;
  assign qk_q_known = repass ? cfg_msb + cfg_lsb : cfg_msb;

  // head importance command
  reg [15:0] hb;   // E beat to head importance
  reg        w_job_done, w_row_done, hi_done;
  reg [D_MAX*16-1:0] ereg;
  always @(*) begin
    hi_valid = 1'b0; hi_op = `SPATTEN_IMP_OP_ACC; hi_last = 1'b0; hi_live = live_cmd;
    hi_data = ereg[32'(hb) * (LANES*16) +: LANES*16];
    if (st == S_CLR) begin
      hi_valid = ~clr_hi_done; hi_op = `SPATTEN_IMP_OP_CLEAR; hi_last = 1'b1;
    end else if (st == S_EOUT) begin
      hi_valid = ~hi_done; hi_last = hb == 16'(EB - 1);
    end else if (st == S_HREAD) begin
      hi_valid = 1'b1; hi_op = `SPATTEN_IMP_OP_READ; hi_last = 1'b1;
    end
  end
  assign th_out_ready = st == S_HSEL;

  // keep-list buffer (16 positions per 32-byte beat)
  reg [15:0] keep_mem [0:MAX_N-1];
  reg [15:0] kc, kw;
  reg        pv_done;

  // popcount of the top-k output keep (a prefix)
  function automatic [15:0] pop(input [LANES-1:0] k);
    integer i;
    begin
      pop = 16'd0;
      for (i = 0; i < LANES; i = i + 1) pop = pop + 16'(k[i]);
    end
  endfunction

  integer li;
  always @(posedge clk) begin
    done_pulse      <= 1'b0;
    error_pulse     <= 1'b0;
    err_clear       <= 1'b0;
    kb_rd_start     <= 1'b0;
    kb_clr          <= 1'b0;
    cnt_requant_inc <= 1'b0;
    cnt_macs_add    <= {MACS_ADD_W{1'b0}};
    if (!rst_n) begin
      st <= S_IDLE;
      live_heads <= {H_MAX{1'b1}};
      kept_tokens <= {NW{1'b0}};
      error_code <= 4'd0;
      f_job_valid <= 1'b0;
      w_job_valid <= 1'b0;
      w_in_valid <= 1'b0;
      g_act <= 1'b0;
      g_list <= 1'b0;
      dec <= 2'd0;
      pv_valid <= 1'b0;
      abort_q <= 1'b0;
      kf_busy <= 1'b0;
      drop_err <= 1'b0;
      pf_st <= PF_IDLE;
      pf_arm <= 1'b0;
      start_after_clr <= 1'b0;
      err_after_clr <= 1'b0;
      clr_ti_done <= 1'b0;
      clr_hi_done <= 1'b0;
    end else begin
      // ABORT is latched only while a command runs (an ABORT while idle or clearing is a
      // no-op) and is dropped in S_IDLE, so it never reaches a later command.
      if (cmd_abort && busy) abort_q <= 1'b1;
      // fetcher job handshake and index generator
      if (f_job_valid & f_job_ready) begin
        f_job_valid <= 1'b0;
        g_act <= g_list;
      end
      if (f_done) kf_busy <= 1'b0;  // only the K job can be in flight while kf_busy
      if (g_list && f_in_fire) begin
        if (f_in_last) g_act <= 1'b0;
        g_i <= g_i + 16'(LANES);
      end

      case (st)
        S_IDLE: begin
          abort_q <= 1'b0;
          pf_st <= PF_IDLE;
          pf_arm <= 1'b0;
          if (cmd_clear) begin
            st <= S_CLR;
            clr_ti_done <= 1'b0;
            clr_hi_done <= 1'b0;
            start_after_clr <= cmd_start;
            live_heads <= {H_MAX{1'b1}};
            kept_tokens <= {NW{1'b0}};
          end else if (cmd_start) begin
            st <= S_HEAD;
            live_cmd <= live_heads & heads_mask;
            new_live <= {H_MAX{1'b0}};
            h <= {(HIDX_W+1){1'b0}};
            off <= 32'd0;
            err_clear <= 1'b1;
            error_code <= 4'd0;
          end
        end
        S_CLR: begin
          if (ti_valid & ti_ready) clr_ti_done <= 1'b1;
          if (hi_valid & hi_ready) clr_hi_done <= 1'b1;
          if ((clr_ti_done | (ti_valid & ti_ready)) & (clr_hi_done | (hi_valid & hi_ready))) begin
            if (start_after_clr) begin
              st <= S_HEAD;
              live_cmd <= {H_MAX{1'b1}} & heads_mask;
              new_live <= {H_MAX{1'b0}};
              h <= {(HIDX_W+1){1'b0}};
              off <= 32'd0;
              err_clear <= 1'b1;
              error_code <= 4'd0;
            end else begin
              st <= S_IDLE;
              error_pulse <= err_after_clr;
              err_after_clr <= 1'b0;
            end
          end
        end
        S_HEAD: begin
          if (h >= (HIDX_W+1)'(cfg_heads) || h >= (HIDX_W+1)'(H_MAX)) begin
            st <= cfg_prune ? S_TREAD : S_FIN;
          end else if (live_cmd[h[HIDX_W-1:0]] && pf_st != PF_IDLE && pf_h == h) begin
            // prefetched: Q loaded (and the K plane streaming) once the prefetch is ready
            if (pf_st == PF_RDY) begin
              lsb_loaded <= 1'b0;
              qi <= 16'd0;
              repass <= 1'b0;
              pf_st <= PF_IDLE;
              st <= S_QK;
            end
          end else if (live_cmd[h[HIDX_W-1:0]]) begin
            lsb_loaded <= 1'b0;
            qi <= 16'd0;
            repass <= 1'b0;
            st <= S_QJOB;
            // the first query's row, then the K MSB plane (issued when the Q row is in)
            issue_job(cfg_q_base + off, 4'd12, `SPATTEN_CLASS_Q, `SPATTEN_FJOB_Q, 1'b0,
                      16'd0, 16'd0);
          end else begin
            h <= h + 1'b1;
            off <= off + cfg_stride;
          end
        end
        S_LWAIT: if (f_done) begin
          lsb_loaded <= 1'b1;
          if (f_err | abort_q) st <= S_FINERR;
          else st <= S_QK;
        end
        S_QJOB: if (f_job_valid & f_job_ready) st <= S_QWAIT;
        S_QWAIT: if (f_done) begin
          if (f_err || abort_q) begin
            st <= S_FINERR;
          end else begin  // then the K MSB plane, every live position, streamed under Q.K
            st <= S_QK;
            kf_busy <= 1'b1;
            kb_clr <= 1'b1;
            issue_job(cfg_kmsb_base + off, cfg_msb, `SPATTEN_CLASS_K_MSB, `SPATTEN_FJOB_K_MSB, 1'b0,
                      16'd0, n16 - 16'd1);
          end
        end
        S_QK: if (qk_q_ready) begin
          kb_rd_start <= 1'b1;
          cnt_macs_add <= MACS_ADD_W'(32'(n16) * 32'(cfg_d));
          st <= S_ROW;
          dec <= 2'd0;
          rb_beat <= 16'd0;
        end
        S_ROW: begin
          if (dec == 2'd0 && !drop_err && rb_valid && !kf_busy && (f_err || abort_q))
            drop_err <= 1'b1;
          if (drop_err && rb_fire && rb_last) begin
            drop_err <= 1'b0;
            st <= S_FINERR;
          end
          if (rq_in_valid & rq_in_ready) dec <= 2'd1;
          if (dec == 2'd1 && rq_out_valid) begin
            dec <= take_requant ? 2'd3 : 2'd2;
            if (take_requant) cnt_requant_inc <= 1'b1;
          end
          if (rb_fire) begin
            rb_beat <= rb_last ? 16'd0 : rb_beat + 16'd1;
            if (rb_last && !drop_err) begin
              dec <= 2'd0;
              if (dec == 2'd3) begin
                repass <= 1'b1;
                if (lsb_loaded) st <= S_QK;
                else begin
                  st <= S_LJOB;
                  issue_job(cfg_klsb_base + off, cfg_lsb, `SPATTEN_CLASS_K_LSB, `SPATTEN_FJOB_K_LSB, 1'b0,
                            16'd0, n16 - 16'd1);
                end
              end else begin
                st <= S_KLIST;
                kl_cnt <= 16'd0;
                kl_any_miss <= 1'b0;
              end
            end
          end
        end
        S_LJOB: if (f_job_valid & f_job_ready) st <= S_LWAIT;
        S_KLIST: if (tv_out_valid) begin
          for (li = 0; li < LANES; li = li + 1) begin
            if (tv_out_keep[li]) begin
              kl_idx[AW'((kl_cnt + 16'(li)))]  <= tv_out_index[li*16 +: 16];
              kl_prob[AW'((kl_cnt + 16'(li)))] <= tv_out_score[li*16 +: 16];
              kl_miss[AW'((kl_cnt + 16'(li)))] <= ~vb_valid[tv_out_index[li*16 +: AW]];
            end
          end
          // last missing entry (lanes ascending: the highest one wins)
          for (li = 0; li < LANES; li = li + 1)
            if (tv_out_keep[li] && !vb_valid[tv_out_index[li*16 +: AW]]) begin
              kl_last_miss <= kl_cnt + 16'(li);
            end
          if ((tv_out_keep & ~vb_valid_lanes(tv_out_index, tv_out_keep)) != {LANES{1'b0}})
            kl_any_miss <= 1'b1;
          kl_cnt <= kl_cnt + pop(tv_out_keep);
          if (tv_out_last) begin
            if (kl_any_miss || (tv_out_keep & ~vb_valid_lanes(tv_out_index, tv_out_keep)) != {LANES{1'b0}}) begin
              st <= S_VJOB;
              issue_job(cfg_v_base + off, cfg_msb, `SPATTEN_CLASS_V_MSB, `SPATTEN_FJOB_V, 1'b1,
                        16'd0, 16'd0);
            end else begin
              st <= S_PV;
              pf_arm <= 1'b1;  // the item's fetches are done
            end
            pv_j <= 16'd0;
            pv_done <= 1'b0;
          end
        end
        S_VJOB: if (f_job_valid & f_job_ready) st <= S_VWAIT;
        S_VWAIT: if (f_done) begin
          st <= S_PV;
          pf_arm <= 1'b1;  // the item's fetches are done
        end
        S_PV: begin
          if (pv_valid & pv_ready) begin
            pv_valid <= 1'b0;
            if (pv_last) st <= S_EWAIT;
          end
          if ((!pv_valid || pv_ready) && !(pv_valid && pv_last) && !pv_done) begin
            // lanes past the list carry zeros, not stale / never-written entries: P.V
            // multiplies before masking, and an X there would poison E in 4-state simulation
            for (li = 0; li < LANES; li = li + 1) begin
              pv_prob[li*16 +: 16] <= (pv_j + 16'(li) < kl_cnt) ? kl_prob[AW'(pv_j + 16'(li))]
                                                                  : 16'd0;
              pv_v[li*D_MAX*12 +: D_MAX*12] <= (pv_j + 16'(li) < kl_cnt)
                  ? vb_rd_data[li*D_MAX*12 +: D_MAX*12] : {D_MAX*12{1'b0}};
              pv_keep[li] <= pv_j + 16'(li) < kl_cnt;
            end
            pv_valid <= 1'b1;
            pv_last <= pv_j + 16'(LANES) >= kl_cnt;
            pv_done <= pv_j + 16'(LANES) >= kl_cnt;
            pv_j <= pv_j + 16'(LANES);
          end
        end
        S_EWAIT: if (e_valid) begin
          ereg <= e_data;
          cnt_macs_add <= MACS_ADD_W'(32'(kl_cnt) * 32'(cfg_d));
          st <= S_EOUT;
          w_job_valid <= 1'b1;
          w_job_base <= cfg_e_base + off;
          w_job_stride <= row_stride(d7, 5'd16);
          w_job_raw <= 1'b0;
          w_job_class <= `SPATTEN_CLASS_E;
          w_job_done <= 1'b0; w_row_done <= 1'b0; hi_done <= 1'b0;
          hb <= 16'd0;
        end
        S_EOUT: begin
          if (w_job_valid & w_job_ready) begin
            w_job_valid <= 1'b0;
            w_job_done <= 1'b1;
            w_in_valid <= 1'b1;
            w_in_data <= ereg;
            w_in_idx <= qi;
            w_in_last <= 1'b1;
          end
          if (w_in_valid & w_in_ready) begin
            w_in_valid <= 1'b0;
            w_row_done <= 1'b1;
          end
          if (hi_valid & hi_ready) begin
            hb <= hb + 16'd1;
            if (hi_last) hi_done <= 1'b1;
          end
          if (w_row_done && hi_done) st <= S_QEND;
        end
        S_QEND: begin
          if (f_err | abort_q) st <= S_FINERR;
          else if (qi + 16'd1 < nq) begin
            // the next query's Q row is prefetched (every path into S_PV arms the prefetch;
            // an error or ABORT that kept it from starting is caught just above)
            if (pf_st == PF_RDY) begin
              qi <= qi + 16'd1;
              repass <= 1'b0;
              pf_st <= PF_IDLE;
              st <= S_QK;
            end
          end else begin
            h <= h + 1'b1;
            off <= off + cfg_stride;
            st <= S_HEAD;
          end
        end
        S_TREAD: if (ti_ready) begin
          st <= S_TSEL;
          kc <= 16'd0;
        end
        S_TSEL: if (tt_out_valid & ti_ready) begin
          for (li = 0; li < LANES; li = li + 1)
            if (tt_out_keep[li]) keep_mem[AW'((kc + 16'(li)))] <= tt_out_index[li*16 +: 16];
          kc <= kc + pop(tt_out_keep);
          if (tt_out_last) begin
            st <= S_KWRITE;
            kw <= 16'd0;
            w_job_valid <= 1'b1;
            w_job_base <= cfg_keep_base;
            w_job_stride <= 16'd32;
            w_job_raw <= 1'b1;
            w_job_class <= `SPATTEN_CLASS_KEEP;
            w_job_done <= 1'b0;
          end
        end
        S_KWRITE: begin
          if (w_job_valid & w_job_ready) begin
            w_job_valid <= 1'b0;
            w_job_done <= 1'b1;
          end
          if (w_in_valid & w_in_ready) begin
            w_in_valid <= 1'b0;
            if (w_in_last) st <= S_HREAD;
          end else if (w_job_done && !w_in_valid) begin
            w_in_valid <= 1'b1;
            w_in_data <= {D_MAX*16{1'b0}};
            for (li = 0; li < 16; li = li + 1)
              if (kw * 16'd16 + 16'(li) < kc)
                w_in_data[li*16 +: 16] <= keep_mem[AW'((kw * 16'd16 + 16'(li)))];
            w_in_idx <= kw;
            w_in_last <= (kw + 16'd1) * 16'd16 >= kc;
            kw <= kw + 16'd1;
          end
        end
        S_HREAD: if (hi_ready) st <= S_HSEL;
        S_HSEL: if (th_out_valid) begin
          for (li = 0; li < LANES; li = li + 1)
            if (th_out_keep[li]) new_live[th_out_index[li*HIDX_W +: HIDX_W]] <= 1'b1;
          if (th_out_last) st <= S_FIN;
        end
        S_FIN: if (!w_busy && !f_busy && !w_job_valid) begin
          if (w_err) st <= S_FINERR;  // also when an ABORT came after the last query boundary
          else begin
            st <= S_IDLE;
            done_pulse <= 1'b1;
            live_heads <= cfg_prune ? new_live : live_cmd;
            kept_tokens <= cfg_prune ? cfg_token_keep : cfg_n;
          end
        end
        S_FINERR: if (!w_busy && !f_busy && !w_job_valid && !f_job_valid) begin
          pf_st <= PF_IDLE;
          // A failed command leaves importance half-accumulated: clear it (as CTRL.CLEAR) so
          // the state after an error is always the cleared one, and report ERROR only once
          // the clear is done (BUSY is low meanwhile, DONE/ERROR not yet set).
          st <= S_CLR;
          clr_ti_done <= 1'b0;
          clr_hi_done <= 1'b0;
          start_after_clr <= 1'b0;
          err_after_clr <= 1'b1;
          live_heads <= {H_MAX{1'b1}};
          kept_tokens <= {NW{1'b0}};
          // here through f_err or abort_q: the AXI codes win over ABORT (see E_ABORTED)
          error_code <= f_err ? E_AXI_READ : (w_err ? E_AXI_WRITE : E_ABORTED);
        end
        default: st <= S_IDLE;
      endcase

      // ---- prefetch of the next item (the fetch array is idle: this item's V rows are in)
      if (pf_arm) begin
        pf_arm <= 1'b0;
        if (!f_err && !abort_q && st != S_FINERR && (qi + 16'd1 < nq || nh_any)) begin
          pf_st <= PF_Q;
          pf_h <= (qi + 16'd1 < nq) ? h : nh;
          pf_k <= !(qi + 16'd1 < nq);
          pf_off <= (qi + 16'd1 < nq) ? off : off + 32'(nh - h) * cfg_stride;
          issue_job(cfg_q_base + ((qi + 16'd1 < nq) ? off : off + 32'(nh - h) * cfg_stride), 4'd12,
                    `SPATTEN_CLASS_Q, `SPATTEN_FJOB_Q, 1'b0, (qi + 16'd1 < nq) ? qi + 16'd1 : 16'd0,
                    (qi + 16'd1 < nq) ? qi + 16'd1 : 16'd0);
        end
      end else if (pf_st == PF_Q && f_done) begin
        pf_st <= PF_RDY;
        if (pf_k) begin  // the next head's K MSB plane, streamed under its Q.K
          kf_busy <= 1'b1;
          kb_clr <= 1'b1;
          issue_job(cfg_kmsb_base + pf_off, cfg_msb, `SPATTEN_CLASS_K_MSB, `SPATTEN_FJOB_K_MSB, 1'b0,
                    16'd0, n16 - 16'd1);
        end
      end
    end
  end

`ifndef SYNTHESIS
  // S_QEND waits for the next query's prefetch: every path into S_PV arms it, so with no error
  // and no ABORT it must be running (else the controller would wait forever).
  always @(posedge clk) begin
    if (rst_n && st == S_QEND && !(f_err || abort_q) && qi + 16'd1 < nq && pf_st == PF_IDLE
        && !pf_arm)
      $error("spatten_ctrl: the next query is not prefetched at S_QEND");
  end
`endif

  // valid bits of the V rows named by the top-k output lanes
  function automatic [LANES-1:0] vb_valid_lanes(input [LANES*16-1:0] idx, input [LANES-1:0] k);
    integer i;
    begin
      for (i = 0; i < LANES; i = i + 1) vb_valid_lanes[i] = k[i] & vb_valid[idx[i*16 +: AW]];
    end
  endfunction
  /* verilator lint_off UNUSEDSIGNAL */
  wire unused = &{1'b0, cfg_value_keep};
  /* verilator lint_on UNUSEDSIGNAL */
endmodule
`default_nettype wire
