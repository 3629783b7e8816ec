// Controller of spatten_top: runs one layer command as a pipeline of (query, head) items
// (docs/spatten_top.md, "Pipeline"). Per item: Q fetch into a query slot, the head's K MSB
// plane into one of KREG key-buffer regions (streamed under Q.K, on either fetch array), Q.K + softmax into the row
// buffer, requant decision at the row head (drop the row, K LSB plane once per head, re-pass),
// accepted row -> token importance ACC + local-V top-k, kept list, V fetch of the rows not
// buffered, P.V, E write + head importance; the front runs up to QS items ahead of the row
// decision and the back. At the end (PRUNE_EN) token top-k -> importance COMPACT + KEEP list
// write, head top-k -> LIVE_HEADS.
// The START check lives in spatten_csr; this block sees only accepted commands (cmd_start).
`default_nettype none
`include "spatten_check.vh"
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
    parameter integer CHANNELS = 1,    // fetch lanes (kv_fetch_array output lanes)
    parameter integer QS     = 16,     // query slots = (query, head) items between Q fetch and
                                       // row decision (a power of two 4..32, >= H_MAX: in
                                       // generation slot h holds head h's query)
    parameter integer QSW    = $clog2(QS),
    parameter integer KREG   = 4,      // key-buffer regions = heads in flight (2 or 4)
    parameter integer RGW    = $clog2(KREG),
    parameter integer SPEC_ROWS = 3,   // summarization: Q.K rows issued ahead of the row
                                       // decision, 1..QS (a requantized row's re-pass redoes
                                       // them; docs/spatten_top.md)
    parameter integer TOPK_P = LANES,  // lanes of the local-V top-k output (spatten_top: 16)
    parameter integer QB_W   = (H_MAX > 16) ? 16 : H_MAX  // head indexes per beat of the Q
                                       // batch list (the K/Q fetch array's LIST_W), 1..16
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
    output reg  [31:0]                f_job_stride,
    output reg  [3:0]                 f_job_bits,
    output reg  [2:0]                 f_job_class,
    output reg                        f_job_range,  // rows f_job_first..f_job_lastrow, else
    output reg  [15:0]                f_job_first,  // the list on fq_in_* (the live heads'
    output reg  [15:0]                f_job_lastrow,//   query rows, generation)
    output wire                       fq_in_valid,
    input  wire                       fq_in_ready,
    output wire [QB_W*16-1:0]         fq_in_idx,
    output wire [QB_W-1:0]            fq_in_vld,
    output wire                       fq_in_last,
    input  wire [CHANNELS*16-1:0]     f_out_idx,
    input  wire [CHANNELS-1:0]        f_out_valid,  // a row on fetch lane c
    input  wire                       f_done,       // every row of the job delivered
    // ---------------------------------------------------------------- V fetch array (list jobs)
    output reg                        v_job_valid,
    input  wire                       v_job_ready,
    output reg  [31:0]                v_job_base,
    output reg  [15:0]                v_job_stride,
    output reg                        v_job_range,  // a K MSB plane (range) on the V array, else
    output reg  [15:0]                v_job_lastrow, //   a V list; rows 0..v_job_lastrow
    output reg  [3:0]                 v_job_bits,
    output reg  [2:0]                 v_job_class,
    output reg                        v_in_valid,   // the kept rows not buffered,
    input  wire                       v_in_ready,   // LANES kept-list entries per beat
    output reg  [LANES*16-1:0]        v_in_idx,
    output reg  [LANES-1:0]           v_in_vld,     // the entries whose row is missing
    output reg                        v_in_last,
    input  wire [CHANNELS-1:0]        v_out_valid,  // a row of the V array on fetch lane c
    input  wire [CHANNELS-1:0]        v_out_tag,    // ... of the V job of this parity (two in flight)
    input  wire                       v_done,
    input  wire [CHANNELS-1:0]        f_out_tag,    // a K/Q-array row's job parity (two K jobs in flight)
    input  wire                       f_err,        // either array (sticky)
    input  wire                       f_busy,       // either array
    output wire                       err_clear,    // with a command's start (the sticky AXI errors)
    // ---------------------------------------------------------------- buffers
    output wire [CHANNELS-1:0]        kb_wr_en,
    output wire                       kb_wr_merge,
    output wire                       kb_rd_start,  // Q.K reads region kb_rd_rg
    output wire [RGW-1:0]             kb_rd_rg,
    input  wire                       kb_rd_busy,
    output reg  [CHANNELS*RGW-1:0]    kb_wr_rg,     // per lane: the region its K row goes to
    output wire [CHANNELS-1:0]        kb2_wr_en,    // K rows from the V array's lanes
    output wire [RGW-1:0]             kb2_wr_rg,
    output wire                       kb2_wr_merge, // ... an LSB plane (merged)
    output wire                       vb_clr,       // clear region vb_clr_rg (a new head's V rows)
    output wire [1:0]                 vb_clr_rg,
    output reg  [CHANNELS*2-1:0]      vb_wr_rg,     // per lane: the region of its row's V job
    output wire [1:0]                 vb_vld_rg,    // region whose valid bits vb_valid shows (the list stage's)
    output wire [1:0]                 vb_rd_rg,     // region P.V reads (the output stage's)
    output reg                        kb_clr,       // region kb_clr_rg's valid bits: a new K plane
    output reg  [RGW-1:0]             kb_clr_rg,
    output wire [CHANNELS-1:0]        vb_wr_en,
    input  wire [MAX_N-1:0]           vb_valid,
    output reg  [LANES*16-1:0]        vb_rd_idx,
    input  wire [LANES*D_MAX*12-1:0]  vb_rd_data,
    input  wire [LANES-1:0]           vb_rd_valid,  // per lane: its vb_rd_idx row has landed
    output wire [CHANNELS-1:0]        q_load,       // the Q row on lane c -> query slot c of
    output wire [CHANNELS*QSW-1:0]    q_load_slot,  //   q_load_slot
    output wire [QSW-1:0]             q_rd_slot,    // the slot Q.K takes its query from
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
    output reg                        tv_in_sel,    // the engine (of two) a passed row goes to
    output reg                        tv_out_sel,   // the engine the back reads (same order)
    input  wire                       tv_out_valid,
    output wire                       tv_out_ready,
    input  wire [TOPK_P*16-1:0]       tv_out_index,
    input  wire [TOPK_P*16-1:0]       tv_out_score,
    input  wire [TOPK_P-1:0]          tv_out_keep,
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
  localparam integer HX = HIDX_W + 1;     // head counter width (counts up to H_MAX)

  generate
    if (KREG != 2 && KREG != 4) begin : g_bad_kreg
      `SPATTEN_ELAB_FATAL(1, "spatten_ctrl: KREG must be 2 or 4 (got %0d)", KREG);
    end
    if (QS < 4 || QS > 32 || (QS & (QS - 1)) != 0 || QS < H_MAX) begin : g_bad_qs
      `SPATTEN_ELAB_FATAL(1, "spatten_ctrl: QS must be a power of two 4..32 and >= H_MAX (got %0d, H_MAX %0d)", QS, H_MAX);
    end
    if (SPEC_ROWS < 1 || SPEC_ROWS > QS) begin : g_bad_spec_rows
      `SPATTEN_ELAB_FATAL(1, "spatten_ctrl: SPEC_ROWS must be in 1..QS (got %0d, QS %0d)", SPEC_ROWS, QS);
    end
    if (QB_W < 1 || QB_W > 16) begin : g_bad_qb_w
      `SPATTEN_ELAB_FATAL(1, "spatten_ctrl: QB_W must be in 1..16 (got %0d)", QB_W);
    end
    if (TOPK_P < LANES || TOPK_P > 32 || (TOPK_P & (TOPK_P - 1)) != 0) begin : g_bad_topk_p
      `SPATTEN_ELAB_FATAL(1, "spatten_ctrl: TOPK_P must be a power of two LANES..32 (got %0d)", TOPK_P);
    end
  endgenerate

  // ================================================================ structure
  // Four concurrent parts, joined by small queues (docs/spatten_top.md, "Pipeline"):
  //  * sequencer (st): a command's start, the end-of-command pruning, DONE / ERROR, CLEAR;
  //  * front (f_st): walks the (head, query) items; per item the Q row into a query slot, the
  //    head's K MSB plane into a free key-buffer region (streamed under Q.K), the K LSB plane
  //    for a re-pass, then the Q.K pass; it runs ahead of the rest by up to QS items and KREG
  //    heads (key-buffer regions);
  //  * row stage (r_st): the rows leave softmax in item order; the decision at the row head
  //    (requant -> the row dropped and the item sent back to the front as a re-pass; every
  //    row the front issued after it is dropped too: it belongs to the old epoch), else the
  //    row to token importance and the local-V top-k;
  //  * back (b_st): per passed item, in order: the kept list from the top-k, the V rows not
  //    buffered, P.V, the E write and head importance.
  // The fetch array runs one job at a time; `fu` grants the front's and the back's requests
  // (the back first) and routes the rows of the job in flight.
  // After an AXI read error or ABORT (stop) nothing new is issued and every row already in the
  // datapath drains (dropped) before the command ends with ERROR.

  localparam [4:0] S_IDLE = 5'd0, S_CLR = 5'd1, S_RUN = 5'd2, S_DRAIN = 5'd3,
                   S_TREAD = 5'd18, S_TSEL = 5'd19, S_KWRITE = 5'd20, S_HREAD = 5'd21,
                   S_HSEL = 5'd22, S_FIN = 5'd23, S_FINERR = 5'd24, S_KWAIT = 5'd25;
  reg [4:0] st;
  // The end-of-command token selection (S_TREAD, S_TSEL) needs only the token importance,
  // which is final once the last row has passed (rows_done): it runs beside the back's tail
  // (the last items' V fetch, P.V and E write). The KEEP write shares the writer with the E
  // stage and the head selection needs every E row, so both wait for the back (S_KWAIT).
  // cut: a stop (ABORT, AXI read error) came while the back still had work, so E rows were
  // dropped and the command must end with ERROR; a later ABORT is too late (DONE).
  reg       cut;

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
  // popcount of a top-k output keep (a prefix; up to 32 lanes: LANES or TOPK_P wide)
  function automatic [15:0] pop(input [31:0] k);
    integer i;
    begin
      pop = 16'd0;
      for (i = 0; i < 32; i = i + 1) pop = pop + 16'(k[i]);
    end
  endfunction

  wire [6:0]  d7   = 7'(cfg_d);
  wire [15:0] n16  = 16'(cfg_n);
  wire [15:0] nq   = cfg_mode ? 16'd1 : n16;  // queries
  wire [H_MAX-1:0] heads_mask = (cfg_heads >= HW'(H_MAX)) ? {H_MAX{1'b1}}
                                : H_MAX'(({{H_MAX{1'b0}}, 1'b1} << cfg_heads) - 1'b1);
  wire [MACS_ADD_W-1:0] qk_macs = MACS_ADD_W'(32'(n16) * 32'(cfg_d));

  // ---------------------------------------------------------------- command state
  reg [H_MAX-1:0] live_cmd, new_live;
  reg             abort_q, start_after_clr, err_after_clr, clr_ti_done, clr_hi_done;
  wire            stop = f_err | abort_q;  // nothing new is issued; the datapath drains
  wire            act  = st == S_RUN || st == S_DRAIN;
  reg             go;                      // one cycle after a command enters S_RUN
  // A lone CLEAR is not a command (BUSY low); a CLEAR that precedes a START, or the clear after
  // a failed command, is part of that command: BUSY stays high until DONE / ERROR is set, so a
  // host never reads "idle, not done" and a START in those cycles is refused (code 6).
  assign busy = (st != S_IDLE && st != S_CLR) || (st == S_CLR && (start_after_clr || err_after_clr));
  // The sticky read / write errors of the previous command are cleared on the edge the command
  // starts, so S_RUN never sees a stale one.
  wire clr_done = (clr_ti_done | (ti_valid & ti_ready)) & (clr_hi_done | (hi_valid & hi_ready));
  assign err_clear = (st == S_IDLE && !cmd_clear && cmd_start) || (st == S_CLR && clr_done && start_after_clr);

  // ================================================================ fetch units
  // Two fetch arrays share the memory channels (spatten_axi_rd_mux): the front's Q / K MSB /
  // K LSB range jobs on one (a K MSB plane may follow one still in flight: the next head's K
  // streams while the previous head's rows land; every other job waits for an idle array),
  // the back's V list jobs on the other, up to two in flight (the next item's V job is issued once the previous one's list walk is complete:
  // its memory latency hides behind the rows of the one before; kv_fetch_array tags each row
  // with its job's parity, vdesc_rg maps the parity to the job's value-buffer region).
  // Requests are levels, withdrawn by leaving the state.
  wire fr_q, fr_k, fr_l, br_v;
  reg  [1:0] fu_n;               // K/Q-array jobs granted, done not seen: 0..2
  reg        fpar, fdpar;        // parity of the next K/Q-array job granted / of the next done
  reg  [2*RGW-1:0] fdesc_rg;     // per parity p: the job's key-buffer region at [p*RGW +: RGW]
  reg  [1:0] vu_n;               // V-array jobs granted, done not seen: 0..2
  reg        vpar, vdpar;        // parity of the next V-array job granted / of the next done
  reg  [3:0] vdesc_rg;           // per parity p: the V job's value-buffer region at [2p +: 2]
  reg  [1:0] fjob;               // SPATTEN_FJOB_* of the front job in flight: where its rows go
  reg  [QSW-1:0] fu_slot;        // its query slot (one-row Q jobs)
  reg            fu_batch;       // the job is the command's Q batch (generation)
  // A K MSB or K LSB job goes to the K/Q array, or to the V array when that one is free and
  // the K/Q array is not (the back's V lists first): two heads' K planes then stream at once,
  // and a re-pass's LSB plane need not wait for the K MSB prefetches ahead of it.
  reg            vu_k;           // the V array's job in flight is a K plane (MSB or LSB)
  reg            vu_l;           // ... the K LSB plane
  reg  [RGW-1:0] vu_rg;          // its key-buffer region
  wire fr_qb;                    // the front's Q batch request
  wire fu_free  = (fu_n == 2'd0) & ~f_job_valid & ~stop;
  wire fu_more  = (fu_n == 2'd1) & (fjob == `SPATTEN_FJOB_K_MSB) & ~f_job_valid & ~stop;
  // a V list may follow a V list still in flight (same job shape); a K plane goes only to an
  // idle V array, and nothing follows it until it is done (its rows go to the key buffer)
  wire vu_idle  = (vu_n == 2'd0) & ~v_job_valid & ~stop;
  wire vu_free  = vu_idle | ((vu_n == 2'd1) & ~vu_k & ~g_act & ~v_job_valid & ~stop);
  wire gnt_v    = vu_free & br_v;
  wire gnt_f    = (fu_free & (fr_q | fr_k | fr_l | fr_qb)) | (fu_more & fr_k);
  wire gnt_kv   = vu_idle & ~br_v & fr_k & ~fu_free & ~fu_more;
  wire gnt_lv   = vu_idle & ~br_v & fr_l & ~fu_free;
  wire done_vk  = v_done & vu_k;       // a K plane on the V array
  wire done_vv  = v_done & ~vu_k;      // a V list
  wire done_q   = f_done & fjob == `SPATTEN_FJOB_Q;
  wire done_l   = f_done & fjob == `SPATTEN_FJOB_K_LSB;
  wire done_k   = f_done & fjob == `SPATTEN_FJOB_K_MSB;
  wire [RGW-1:0] f_done_rg = fdesc_rg[32'(fdpar) * RGW +: RGW];  // the region of the job done now

  // List job index generator: the back's kept list, LANES entries per beat, streamed while
  // the top-k output is still arriving (the V job is issued when the item's kept list
  // starts). Rows the value buffer holds are holes. A beat goes once its entries are written
  // and more follow, or once the list is complete (kl_done): its last flag then never changes
  // while it waits. A list without a missing row is a beat of holes (no bytes).
  reg        g_act;
  reg [15:0] g_i;
  // four kept lists (slot ls: the list stage's, ps: the output stage's, and the items
  // between them waiting for their V rows), index {slot, entry}
  reg [15:0] kl_idx  [0:4*MAX_N-1];
  reg [15:0] kl_prob [0:4*MAX_N-1];
  reg        kl_miss [0:4*MAX_N-1];
  reg [15:0] kl_cnt;
  reg        kl_done, v_issued;
  reg [1:0]  ls, ps;     // kept-list slots (taken in turn)
  reg [1:0]  vr, pr;     // value-buffer regions (list stage, output stage; taken in turn)
  reg        bpar;       // the list stage item's V job parity
  integer gl_i;
  always @(*) begin
    v_in_valid = g_act & (kl_done | (g_i + 16'(LANES) < kl_cnt));
    v_in_last  = kl_done & (g_i + 16'(LANES) >= kl_cnt);
    for (gl_i = 0; gl_i < LANES; gl_i = gl_i + 1) begin
      v_in_idx[gl_i*16 +: 16] = kl_idx[{ls, AW'(g_i + 16'(gl_i))}];
      v_in_vld[gl_i] = (g_i + 16'(gl_i) < kl_cnt) & kl_miss[{ls, AW'(g_i + 16'(gl_i))}];
    end
  end
  wire v_in_fire = v_in_valid & v_in_ready;
  wire [CHANNELS-1:0] f_row = f_out_valid;
  assign kb_wr_en    = f_row & {CHANNELS{fjob == `SPATTEN_FJOB_K_MSB || fjob == `SPATTEN_FJOB_K_LSB}};
  assign kb_wr_merge = fjob == `SPATTEN_FJOB_K_LSB;
  integer fl;
  always @(*) begin
    for (fl = 0; fl < CHANNELS; fl = fl + 1)
      kb_wr_rg[fl*RGW +: RGW] = f_out_tag[fl] ? fdesc_rg[RGW +: RGW] : fdesc_rg[0 +: RGW];
  end
  assign vb_wr_en    = v_out_valid & {CHANNELS{~vu_k}};
  integer vl;
  always @(*) begin
    for (vl = 0; vl < CHANNELS; vl = vl + 1)
      vb_wr_rg[vl*2 +: 2] = v_out_tag[vl] ? vdesc_rg[3:2] : vdesc_rg[1:0];
  end
  assign kb2_wr_en   = v_out_valid & {CHANNELS{vu_k}};
  assign kb2_wr_rg   = vu_rg;
  assign kb2_wr_merge = vu_l;
  assign q_load      = f_row & {CHANNELS{fjob == `SPATTEN_FJOB_Q}};
  genvar gq;
  generate
    for (gq = 0; gq < CHANNELS; gq = gq + 1) begin : g_qslot  // batch: slot = row = head
      assign q_load_slot[gq*QSW +: QSW] = fu_batch ? QSW'(f_out_idx[gq*16 +: 16]) : fu_slot;
    end
  endgenerate

  // ================================================================ front
  localparam [3:0] F_IDLE = 4'd0, F_FIRST = 4'd1, F_NEXT = 4'd2, F_QREQ = 4'd3, F_QWAIT = 4'd4,
                   F_KREQ = 4'd5, F_LREQ = 4'd6, F_QK = 4'd8, F_END = 4'd9,
                   F_QBREQ = 4'd10, F_QBWAIT = 4'd11;
  reg [3:0]      f_st;
  reg [HX-1:0]   fh;          // the item: head, query, sequence number (its query slot)
  reg [15:0]     fqi, fseq;
  reg            frep;        // a re-pass (K LSB merged, Q.K with MSB + LSB bits)
  reg            fep;         // epoch: flips with every re-pass the front takes back
  reg            fhave;       // an item is left
  reg  [RGW-1:0] frg;         // key-buffer region of the item's head
  // key-buffer regions: the head whose MSB plane it holds, busy (rows of that head not yet
  // decided), LSB plane requested (its job granted: once per head), LSB job done, MSB job done
  reg [HX-1:0]   rg_head [0:KREG-1];
  reg [KREG-1:0] rg_vld, rg_busy, rg_lreq, rg_lsb, rg_done;
  // query slots: the item whose Q row a slot holds (valid until that item's row passes)
  reg [HX-1:0]   qs_h  [0:QS-1];
  reg [15:0]     qs_qi [0:QS-1];
  reg [QS-1:0]   qs_vld;
  // re-pass handed back by the row stage
  // (a queue: in generation the row stage goes on deciding rows while a re-pass waits, so
  // several may wait; in summarization the epoch keeps it at one)
  wire           redo, redo_push, redo_pop;
  wire [HX-1:0]  redo_h;
  wire [15:0]    redo_qi, redo_seq;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [$clog2(QS+1)-1:0] redo_count;
  wire redo_full, redo_empty, redo_last_unused, redo_room;
  /* verilator lint_on UNUSEDSIGNAL */
  stream_fifo #(.WIDTH(HX + 32), .DEPTH(QS)) u_redo_fifo (
      .clk(clk), .rst_n(rst_n & ~go),  // empty at every command's start
      .in_valid(redo_push), .in_ready(redo_room), .in_data({r_h, r_qi, r_seq}), .in_last(1'b1),
      .out_valid(redo), .out_ready(redo_pop), .out_data({redo_h, redo_qi, redo_seq}),
      .out_last(redo_last_unused), .count(redo_count), .full(redo_full), .empty(redo_empty));
  // Generation: a re-pass is inserted (f_ins) and the front then goes on from the saved item:
  // the other heads' rows already issued need not be redone (each item is its own head, the
  // sums they feed do not depend on the order; summarization keeps the serial order because
  // a head's value buffer and kept lists depend on its queries' order)
  reg            f_ins, sv_have;
  reg [HX-1:0]   sv_h;
  reg [15:0]     sv_qi, sv_seq;

  // Generation (one query per head): the query rows of every live head come in one list job
  // at the start of the command (rows at Q_BASE + h * HEAD_STRIDE, one beat-aligned row each,
  // so the bytes are those of one job per row), slot h holding head h's; summarization, or a
  // HEAD_STRIDE below a query row: one job per item, slot = the item's sequence number.
  wire           batch_q    = cfg_mode && cfg_stride >= 32'(row_bytes(d7, 5'd12));
  wire [QSW-1:0] f_slot     = cfg_mode ? QSW'(fh) : fseq[QSW-1:0];
  wire           f_slot_hit = qs_vld[f_slot] && qs_h[f_slot] == fh && qs_qi[f_slot] == fqi;
  // the region holding fh's K plane, and a free region (the lowest of each)
  reg            rg_hit, rg_free;
  reg [RGW-1:0]  rg_hit_i, rg_free_i;
  integer rgi;
  always @(*) begin
    rg_hit = 1'b0; rg_hit_i = {RGW{1'b0}};
    rg_free = 1'b0; rg_free_i = {RGW{1'b0}};
    for (rgi = KREG - 1; rgi >= 0; rgi = rgi - 1) begin
      if (rg_vld[rgi] && rg_head[rgi] == fh) begin
        rg_hit = 1'b1;
        rg_hit_i = RGW'(rgi);
      end
      if (!rg_busy[rgi]) begin
        rg_free = 1'b1;
        rg_free_i = RGW'(rgi);
      end
    end
  end
  // the first live head, the next live head after fh and the next after kp_h (below HEADS
  // and H_MAX)
  reg [HX-1:0]   f_first, f_nh, kp_nh;
  reg            f_first_any, f_nh_any, kp_nh_any;
  reg [HX-1:0]   kp_h;        // the last head given a key-buffer region (front or prefetch)
  reg            kp_v;        // ... one was given this command
  integer nhi;
  always @(*) begin
    f_first = {HX{1'b0}}; f_first_any = 1'b0;
    f_nh = {HX{1'b0}};    f_nh_any = 1'b0;
    kp_nh = {HX{1'b0}};   kp_nh_any = 1'b0;
    for (nhi = H_MAX - 1; nhi >= 0; nhi = nhi - 1) begin
      if (HX'(nhi) < HX'(cfg_heads) && live_cmd[nhi]) begin
        f_first = HX'(nhi);
        f_first_any = 1'b1;
        if (HX'(nhi) > fh) begin
          f_nh = HX'(nhi);
          f_nh_any = 1'b1;
        end
        if (HX'(nhi) > kp_h) begin
          kp_nh = HX'(nhi);
          kp_nh_any = 1'b1;
        end
      end
    end
  end
  // K prefetch: while the front waits to issue a Q.K row, the K MSB plane of the next head
  // that has no region yet (heads in the front's order) goes into a free region, so up to
  // KREG - 1 heads ahead are fetched (two jobs in flight per fetch array) and the front finds
  // them resident (F_NEXT: rg_hit). The front allocates in F_KREQ only a head the prefetch has
  // not reached. Both allocate in head order, so the heads ahead are always the next ones.
  // It also runs while the generation Q batch is in flight (F_QBWAIT, the K/Q array busy):
  // the first head's plane then streams on the idle V array instead of after the batch.
  wire           pf_st  = f_st == F_QK || f_st == F_QBWAIT;
  wire [HX-1:0]  pf_h   = kp_v ? kp_nh : f_first;     // no region given yet: the first head
  wire           pf_any = kp_v ? kp_nh_any : f_first_any;
  wire           k_pf   = pf_st && pf_any && rg_free && !stop;
  wire [HX-1:0]  k_head = k_pf ? pf_h : fh;           // the K job's head and region
  wire [RGW-1:0] k_rg   = k_pf ? rg_free_i : frg;
  wire [31:0]    f_off  = 32'(k_head) * cfg_stride;   // (fh's in every other front state)

  // the descriptor of every issued Q.K row, to the row stage (rows leave softmax in order)
  localparam integer RQW = 16 + HX + 16 + RGW + QSW + 1 + 1 + 1;
  wire           rq_push, rq_pop, rq_room, rq_have;
  wire [RQW-1:0] rq_head;
  wire [$clog2(QS+1)-1:0] rq_count;
  /* verilator lint_off UNUSEDSIGNAL */
  wire rq_full, rq_empty, rq_last_unused, bq_last_unused;
  /* verilator lint_on UNUSEDSIGNAL */
  stream_fifo #(.WIDTH(RQW), .DEPTH(QS)) u_rq_fifo (
      .clk(clk), .rst_n(rst_n),
      .in_valid(rq_push), .in_ready(rq_room),
      .in_data({fseq, fh, fqi, frg, f_slot, frep, fep, fqi + 16'd1 >= nq}), .in_last(1'b1),
      .out_valid(rq_have), .out_ready(rq_pop), .out_data(rq_head), .out_last(rq_last_unused),
      .count(rq_count), .full(rq_full), .empty(rq_empty));
  wire [15:0]    r_seq  = rq_head[RQW-1 -: 16];
  wire [HX-1:0]  r_h    = rq_head[RQW-17 -: HX];
  wire [15:0]    r_qi   = rq_head[RQW-17-HX -: 16];
  wire [RGW-1:0] r_rg   = rq_head[QSW + 3 +: RGW];
  wire [QSW-1:0] r_slot = rq_head[3 +: QSW];
  wire           r_rep  = rq_head[2];
  wire           r_ep   = rq_head[1];
  wire           r_lasth = rq_head[0];   // the head's last query

  // Q.K issue: the query (slot, head scale, known bits) and the key-buffer read start together,
  // once the reader has sent the previous row's keys (valid does not wait for ready: the
  // reader and the queue only become free while it waits). In summarization at most
  // SPEC_ROWS rows wait for their decision: a requantized row's re-pass redoes every row issued
  // behind it (the epoch rule), so rows issued further ahead are mostly work thrown away
  // (BERT-base N = 512 pruned, 16 channels: 3 rows 558,751 cycles, 4 rows 607,826, QS = 16
  // rows 655,253; 2 rows starve the dense command, 462,349 -> 593,962). Generation decides
  // per head and re-inserts only the requantized row, so it is not limited.
  wire   spec_room   = cfg_mode || 32'(rq_count) < SPEC_ROWS;
  assign qk_q_valid  = f_st == F_QK && !kb_rd_busy && rq_room && spec_room;
  wire   f_qk_fire   = qk_q_valid & qk_q_ready;
  assign qk_q_known  = frep ? cfg_msb + cfg_lsb : cfg_msb;
  assign q_rd_slot   = f_slot;
  assign scale_head  = HIDX_W'(fh);
  assign kb_rd_start = f_qk_fire;
  assign kb_rd_rg    = frg;
  assign rq_push     = f_qk_fire;
  assign fr_q = f_st == F_QREQ;
  assign fr_qb = f_st == F_QBREQ;
  // the batch's list: every live head in order, QB_W head indexes per beat (lane l of the
  // beat at qg_h, a multiple of QB_W, is head qg_h + l; a pruned head or one >= HEADS is a
  // hole), so the fetch array dispatches up to QB_W query rows per cycle: one row per cycle
  // kept 12 heads' Q batch 45 cycles in flight, 11 of them the walk (GPT-2 trace, N = 102)
  // (qg_h stays below H_MAX: it advances only to a beat that holds a live head)
  reg            qg_act;
  reg  [HX-1:0]  qg_h;
  // the live heads below HEADS, zero-padded so that a beat at qg_h < H_MAX is in range
  wire [H_MAX+QB_W-1:0] qg_live = {{QB_W{1'b0}}, live_cmd & heads_mask};
  wire [H_MAX+QB_W-1:0] qg_after = qg_live >> (32'(qg_h) + QB_W);  // heads after this beat
  genvar gqb;
  generate
    for (gqb = 0; gqb < QB_W; gqb = gqb + 1) begin : g_qb
      assign fq_in_idx[gqb*16 +: 16] = 16'(qg_h) + 16'(gqb);
    end
  endgenerate
  assign fq_in_vld   = qg_live[32'(qg_h) +: QB_W];
  assign fq_in_valid = qg_act;
  assign fq_in_last  = ~|qg_after;
  assign fr_k = (f_st == F_KREQ && !redo) || k_pf;  // frg: the region F_NEXT found free
  assign fr_l = f_st == F_LREQ;

  // ================================================================ row stage
  localparam [1:0] R_IDLE = 2'd0, R_DEC = 2'd1, R_PASS = 2'd2, R_DROP = 2'd3;
  reg [1:0]  r_st;
  reg        rep;                 // the row stage's epoch
  reg [15:0] rb_beat;
  // no decision (and no importance update) before the head's keys are all in and clean (for a
  // re-pass row also the LSB plane: its Q.K streamed under that job, whose error comes last)
  wire r_clean = rg_done[r_rg] & (~r_rep | rg_lsb[r_rg]) & ~stop;
  wire r_old   = r_ep != rep;
  assign rq_in_valid  = r_st == R_IDLE && rb_valid && rq_have && r_clean && !r_old;
  wire take_requant = rq_out_requant & (cfg_lsb != 4'd0) & (cfg_msb < 4'd12) & ~r_rep;
  // the passed item's descriptor to the back (pushed at the decision)
  localparam integer BQW = HX + 16 + 1;
  wire           bq_room, bq_have, bq_pop;
  wire [BQW-1:0] bq_head;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [$clog2(QS+1)-1:0] bq_count;
  wire bq_full, bq_empty;
  /* verilator lint_on UNUSEDSIGNAL */
  wire r_pass = rq_out_valid & ~stop & ~take_requant;
  assign rq_out_ready = r_st == R_DEC && (stop || take_requant || bq_room);
  wire r_dec_fire = rq_out_valid & rq_out_ready;
  assign redo_push = r_st == R_DEC && r_dec_fire && !stop && take_requant;
  assign redo_pop  = f_st == F_NEXT && !stop && redo && !f_ins;
  stream_fifo #(.WIDTH(BQW), .DEPTH(QS)) u_bq_fifo (
      .clk(clk), .rst_n(rst_n),
      .in_valid(r_dec_fire & r_pass), .in_ready(bq_room),
      .in_data({r_h, r_qi, r_qi == 16'd0}), .in_last(1'b1),
      .out_valid(bq_have), .out_ready(bq_pop), .out_data(bq_head), .out_last(bq_last_unused),
      .count(bq_count), .full(bq_full), .empty(bq_empty));
  genvar gl;
  generate
    for (gl = 0; gl < LANES; gl = gl + 1) begin : g_idx
      assign tv_in_index[gl*16 +: 16] = rb_beat * 16'(LANES) + 16'(gl);
    end
  endgenerate
  wire rb_fire = rb_valid & rb_ready;
  assign rq_pop = rb_fire & rb_last & (r_st == R_PASS || r_st == R_DROP);
  // row buffer -> top-k V and token importance (PASS) or the bin (DROP); the sequencer's
  // CLEAR / READ / COMPACT operations on token importance
  always @(*) begin
    rb_ready    = 1'b0;
    tv_in_valid = 1'b0;
    ti_valid = 1'b0; ti_op = `SPATTEN_IMP_OP_ACC; ti_data = rb_prob; ti_keep = rb_keep; ti_last = rb_last;
    if (r_st == R_PASS) begin
      tv_in_valid = rb_valid;
      ti_valid    = rb_valid & tv_in_ready;
      rb_ready    = tv_in_ready;
    end else if (r_st == R_DROP) begin
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

  // ================================================================ back
  // Two stages joined by four kept-list slots and a four-region value buffer, both taken in
  // turn, and a landing queue of up to two items between them:
  //  * list stage (b_st): the item's kept list from its local-V engine into slot ls and the V
  //    list job of the rows region vr lacks (streamed while the list arrives); once the job's
  //    list walk is complete the item goes to the landing queue (lq) and the stage takes the
  //    next item, whose V job may then overlap the rows of this one;
  //  * landing queue: items in order, each waiting for its V job's done (matched by the job's
  //    parity) and then for the output stage;
  //  * output stage (p_st): P.V over slot ps / region pr; the fed item's head, query and
  //    kept count then go to the E stage and the output stage takes the next item at once;
  //  * E stage (w_st): the E rows in feed order, into the writer and head importance, while
  //    the next item's P.V runs (it holds no kept-list slot or value-buffer region).
  // A new head's item takes the next region (cleared at the pop): the output stage only ever
  // reads the region of the item it was handed. At most three items are live (output, queue,
  // list stage) and a slot or region is reused four allocations later, so none is reused while
  // live. An item of the same head keeps the region (summarization: the V rows of earlier
  // queries stay buffered, golden's rule); it is popped only once every V job before it is
  // done, so the valid bits it reads are those of the serial order, and the output stage then
  // reads rows that are already valid while new rows of that head land.
  localparam [2:0] B_IDLE = 3'd0, B_KLIST = 3'd1, B_VWAIT = 3'd3;
  localparam [1:0] P_IDLE = 2'd0, P_PV = 2'd1;
  localparam [0:0] W_IDLE = 1'd0, W_OUT = 1'd1;  // IDLE: no E row in hand (waiting for one)
  reg [2:0]    b_st;
  reg [1:0]    p_st;
  reg          w_st;
  reg [HX-1:0] bh, ph;
  /* verilator lint_off UNUSEDSIGNAL */  // the E stage uses only the head-importance index bits
  reg [HX-1:0] wh;
  /* verilator lint_on UNUSEDSIGNAL */
  reg [15:0]   bqi, pqi, p_cnt, wqi;
  wire [31:0]  b_off = 32'(bh) * cfg_stride;
  // fed items waiting for their E row (pv_array's latency; a short item's feed can end
  // before the item ahead of it has its E): head, query, kept count. Two entries keep the
  // P.V array fed back to back (an item's E is taken ~7 cycles after its last beat).
  localparam integer EQW = HX + 32, EQD = 2;
  wire           eq_room, eq_have;
  wire [EQW-1:0] eq_head;
  wire [HX-1:0]  eq_h   = eq_head[EQW-1 -: HX];
  wire [15:0]    eq_qi  = eq_head[31:16];
  wire [15:0]    eq_cnt = eq_head[15:0];
  wire           eq_push = p_st == P_PV && pv_valid && pv_ready && pv_last;
  wire           eq_pop  = w_st == W_IDLE && eq_have && e_valid;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [$clog2(EQD+1)-1:0] eq_count;
  wire eq_full, eq_empty, eq_last_unused;
  /* verilator lint_on UNUSEDSIGNAL */
  stream_fifo #(.WIDTH(EQW), .DEPTH(EQD)) u_eq_fifo (
      .clk(clk), .rst_n(rst_n),
      .in_valid(eq_push), .in_ready(eq_room), .in_data({ph, pqi, p_cnt}), .in_last(1'b1),
      .out_valid(eq_have), .out_ready(eq_pop), .out_data(eq_head), .out_last(eq_last_unused),
      .count(eq_count), .full(eq_full), .empty(eq_empty));
  // landing queue: entry 0 the oldest
  reg  [1:0]   lq_v, lq_done, lq_par;
  reg  [1:0]   lq_slot [0:1];
  reg  [1:0]   lq_rg   [0:1];
  reg  [HX-1:0] lq_h   [0:1];
  reg  [15:0]  lq_qi   [0:1];
  reg  [15:0]  lq_cnt  [0:1];
  reg          p_vwait, p_par;  // the output stage's item: its V job not done yet; its parity
  // every V job done (also the output stage's: it may run while its rows still land)
  wire   lq_landed = (!lq_v[0] || (lq_done[0] && (!lq_v[1] || lq_done[1]))) && !p_vwait;
  assign bq_pop = b_st == B_IDLE && bq_have && !lq_v[1] && (bq_head[0] || lq_landed);
  assign vb_clr    = bq_pop & bq_head[0];   // a new head: its V rows are not buffered yet
  assign vb_clr_rg = vr + 2'd1;
  assign vb_vld_rg = vr;
  assign vb_rd_rg  = pr;
  assign br_v   = (b_st == B_KLIST || b_st == B_VWAIT) && !v_issued;
  assign tv_out_ready = b_st == B_KLIST;
  // the list stage's item leaves for the queue: its V job granted and its list walk complete
  wire   b_push = b_st == B_VWAIT && v_issued && !g_act && !v_job_valid;
  // the output stage takes an item only with an E-queue entry free for it (pushed at the
  // end of its feed; one feed at a time, so the entry stays free until then). It does not
  // wait for the item's V job: P.V takes each beat once its rows have landed (vb_rd_valid),
  // so the feed runs while the rows arrive. After a stop an item leaves only once its job is
  // done (the queue then drains with the jobs).
  // The item before must have seen its done (p_vwait low: one pending V job tracked here).
  wire   lq_pop = lq_v[0] && (stop ? lq_done[0] : (p_st == P_IDLE && eq_room && !p_vwait));
  wire   hand   = lq_pop && !stop;
  wire   lq_at  = lq_v[0] && !lq_pop;   // the queue entry a pushed item takes
  reg [15:0] pv_j;  // next kept pair of the P.V assembly (LANES pairs per beat)
  reg        pv_done;
  reg        pv_rows_ok;  // every kept row of the next beat has landed (or a stop: E dropped)
  integer ri, rv;
  always @(*) begin
    for (ri = 0; ri < LANES; ri = ri + 1)
      vb_rd_idx[ri*16 +: 16] = kl_idx[{ps, AW'(pv_j + 16'(ri))}];
  end
  // a block of its own: vb_rd_valid depends on vb_rd_idx, and one block computing both
  // is a combinational loop to the Verilator scheduler (UNOPTFLAT)
  always @(*) begin
    pv_rows_ok = 1'b1;
    for (rv = 0; rv < LANES; rv = rv + 1)
      if (pv_j + 16'(rv) < p_cnt && !vb_rd_valid[rv]) pv_rows_ok = 1'b0;
    if (stop) pv_rows_ok = 1'b1;
  end
  assign e_ready = w_st == W_IDLE && eq_have;

  // head importance: the back's E rows (ACC), the sequencer's CLEAR / READ
  reg [15:0] hb;   // E beat to head importance
  reg        w_job_done, w_row_done, hi_done;
  reg [D_MAX*16-1:0] ereg;
  assign hi_head = HIDX_W'(wh);
  always @(*) begin
    hi_valid = 1'b0; hi_op = `SPATTEN_IMP_OP_ACC; hi_last = 1'b0; hi_live = live_cmd;
    hi_data = ereg[32'(hb) * (LANES*16) +: LANES*16];
    if (st == S_CLR) begin
      hi_valid = ~clr_hi_done; hi_op = `SPATTEN_IMP_OP_CLEAR; hi_last = 1'b1;
    end else if (w_st == W_OUT) begin
      hi_valid = ~hi_done; hi_last = hb == 16'(EB - 1);
    end else if (st == S_HREAD) begin
      hi_valid = 1'b1; hi_op = `SPATTEN_IMP_OP_READ; hi_last = 1'b1;
    end
  end
  assign th_out_ready = st == S_HSEL;

  // keep-list buffer (16 positions per 32-byte beat)
  reg [15:0] keep_mem [0:MAX_N-1];
  reg [15:0] kc, kw;

  // every part idle, nothing in flight (a finished command, or a drained failed one)
  // (the row queue holds a descriptor per issued row until the row leaves the row buffer:
  // empty = every issued row consumed)
  wire rows_idle = rq_empty && r_st == R_IDLE && !bq_have && b_st == B_IDLE && p_st == P_IDLE
                   && w_st == W_IDLE && !eq_have
                   && !lq_v[0] && fu_n == 2'd0 && !f_job_valid && vu_n == 2'd0 && !v_job_valid
                   && !g_act && !qg_act;
  wire all_done  = f_st == F_END && !redo && rows_idle;
  // every row decided and passed (token importance final): no item left, no re-pass waiting,
  // no row between the Q.K issue and the row stage's end
  wire rows_done = f_st == F_END && !redo && rq_empty && r_st == R_IDLE;
  wire sel_st    = st == S_TREAD || st == S_TSEL || st == S_KWAIT;

  // MACs: n * d per decided Q.K row (squashed rows are not counted: golden counts the
  // passes of the serial order), kept * d per P.V
  reg [MACS_ADD_W-1:0] macs_b;
  always @(*) macs_b = (eq_pop && !stop) ? MACS_ADD_W'(32'(eq_cnt) * 32'(cfg_d))
                                                             : {MACS_ADD_W{1'b0}};

  integer li, qsi;
  always @(posedge clk) begin
    done_pulse      <= 1'b0;
    error_pulse     <= 1'b0;
    kb_clr          <= 1'b0;
    go              <= 1'b0;
    cnt_requant_inc <= 1'b0;
    cnt_macs_add    <= (r_dec_fire ? qk_macs : {MACS_ADD_W{1'b0}}) + macs_b;
    if (!rst_n) begin
      st <= S_IDLE;
      f_st <= F_IDLE;
      r_st <= R_IDLE;
      b_st <= B_IDLE;
      p_st <= P_IDLE;
      w_st <= W_IDLE;
      ls <= 2'd0;
      vr <= 2'd0;
      lq_v <= 2'b00;
      p_vwait <= 1'b0;
      vu_n <= 2'd0;
      vpar <= 1'b0;
      vdpar <= 1'b0;
      live_heads <= {H_MAX{1'b1}};
      kept_tokens <= {NW{1'b0}};
      error_code <= 4'd0;
      f_job_valid <= 1'b0;
      v_job_valid <= 1'b0;
      fu_n <= 2'd0;
      fpar <= 1'b0;
      fdpar <= 1'b0;
      qg_act <= 1'b0;
      w_job_valid <= 1'b0;
      w_in_valid <= 1'b0;
      g_act <= 1'b0;
      pv_valid <= 1'b0;
      abort_q <= 1'b0;
      start_after_clr <= 1'b0;
      err_after_clr <= 1'b0;
      cut <= 1'b0;
      clr_ti_done <= 1'b0;
      clr_hi_done <= 1'b0;
      rb_beat <= 16'd0;
      rep <= 1'b0;
      tv_in_sel <= 1'b0;
      tv_out_sel <= 1'b0;
    end else begin
      // ABORT is latched only while a command runs (an ABORT while idle or clearing is a
      // no-op) and is dropped in S_IDLE, so it never reaches a later command.
      if (cmd_abort && busy) abort_q <= 1'b1;
      if (sel_st && stop && !rows_idle) cut <= 1'b1;

      // ---------------------------------------------------------- fetch units
      // Every fetch job is issued here: the job fields, where its rows go (fjob, region,
      // slot) and the list walk of a V job (the back's kept list from entry 0).
      if (f_job_valid & f_job_ready) begin
        f_job_valid <= 1'b0;
        if (fu_batch) begin  // the list walk starts at head 0's beat
          qg_act <= 1'b1;
          qg_h <= {HX{1'b0}};
        end
      end
      if (fq_in_valid & fq_in_ready) begin
        if (fq_in_last) qg_act <= 1'b0;
        else qg_h <= qg_h + HX'(QB_W);
      end
      fu_n <= fu_n + {1'b0, gnt_f} - {1'b0, f_done};
      if (f_done) fdpar <= ~fdpar;
      if (done_k) rg_done[f_done_rg] <= 1'b1;
      if (done_l) rg_lsb[f_done_rg] <= 1'b1;
      if (gnt_f) begin
        f_job_valid <= 1'b1;
        fpar        <= ~fpar;
        fdesc_rg[32'(fpar) * RGW +: RGW] <= k_rg;
        fu_slot     <= f_slot;
        fu_batch    <= fr_qb;
        f_job_range <= ~fr_qb;
        f_job_base  <= fr_qb ? cfg_q_base
                     : (fr_q ? cfg_q_base : fr_k ? cfg_kmsb_base : cfg_klsb_base) + f_off;
        f_job_bits  <= (fr_q | fr_qb) ? 4'd12 : fr_k ? cfg_msb : cfg_lsb;
        f_job_class <= (fr_q | fr_qb) ? `SPATTEN_CLASS_Q
                     : fr_k ? `SPATTEN_CLASS_K_MSB : `SPATTEN_CLASS_K_LSB;
        fjob        <= (fr_q | fr_qb) ? `SPATTEN_FJOB_Q
                     : fr_k ? `SPATTEN_FJOB_K_MSB : `SPATTEN_FJOB_K_LSB;
        f_job_stride <= fr_qb ? cfg_stride
                      : 32'(row_bytes(d7, {1'b0, fr_q ? 4'd12 : fr_k ? cfg_msb : cfg_lsb}));
        f_job_first <= fr_q ? fqi : 16'd0;   // Q: the item's row; K: every position
        f_job_lastrow <= fr_q ? fqi : n16 - 16'd1;
      end
      if (v_job_valid & v_job_ready) begin
        v_job_valid <= 1'b0;
        g_act <= ~vu_k;  // a V list: its walk starts
      end
      if (v_in_fire) begin
        if (v_in_last) g_act <= 1'b0;
        g_i <= g_i + 16'(LANES);
      end
      vu_n <= vu_n + {1'b0, gnt_v | gnt_kv | gnt_lv} - {1'b0, v_done};
      if (v_done) vdpar <= ~vdpar;
      if (done_vk && !vu_l) rg_done[vu_rg] <= 1'b1;
      if (done_vk && vu_l) rg_lsb[vu_rg] <= 1'b1;
      if (gnt_v) begin
        vdesc_rg[{vpar, 1'b0} +: 2] <= vr;
        bpar <= vpar;
      end
      if (gnt_v | gnt_kv | gnt_lv) begin
        v_job_valid  <= 1'b1;
        vpar         <= ~vpar;
        vu_k         <= gnt_kv | gnt_lv;
        vu_l         <= gnt_lv;
        vu_rg        <= k_rg;
        v_job_range  <= gnt_kv | gnt_lv;
        v_job_lastrow <= n16 - 16'd1;
        v_job_bits   <= gnt_lv ? cfg_lsb : cfg_msb;
        v_job_class  <= gnt_lv ? `SPATTEN_CLASS_K_LSB
                      : gnt_kv ? `SPATTEN_CLASS_K_MSB : `SPATTEN_CLASS_V_MSB;
        v_job_base   <= gnt_lv ? cfg_klsb_base + f_off
                      : gnt_kv ? cfg_kmsb_base + f_off : cfg_v_base + b_off;
        v_job_stride <= row_bytes(d7, {1'b0, gnt_lv ? cfg_lsb : cfg_msb});
        g_i <= 16'd0;
      end
      if (gnt_v) v_issued <= 1'b1;

      // ---------------------------------------------------------- front
      // a head's K MSB plane granted (F_KREQ, or the prefetch in F_QK): its region
      if ((k_pf || (f_st == F_KREQ && !stop && !redo)) && (gnt_f || gnt_kv)) begin
        kb_clr <= 1'b1;
        kb_clr_rg <= k_rg;
        rg_head[k_rg] <= k_head;
        rg_vld[k_rg] <= 1'b1;
        rg_busy[k_rg] <= 1'b1;
        rg_lreq[k_rg] <= 1'b0;
        rg_lsb[k_rg] <= 1'b0;
        rg_done[k_rg] <= 1'b0;
        kp_h <= k_head;
        kp_v <= 1'b1;
      end
      case (f_st)
        F_IDLE: if (go) f_st <= F_FIRST;
        F_FIRST: begin
          fh <= f_first;
          fqi <= 16'd0;
          fseq <= 16'd0;
          frep <= 1'b0;
          fep <= 1'b0;
          fhave <= f_first_any;
          rg_vld <= {KREG{1'b0}};
          rg_busy <= {KREG{1'b0}};
          kp_v <= 1'b0;
          qs_vld <= {QS{1'b0}};
          f_ins <= 1'b0;
          rep <= 1'b0;   // both epochs start equal (a drained failed command may leave them apart)
          f_st <= (batch_q && f_first_any) ? F_QBREQ : F_NEXT;
        end
        F_NEXT: begin
          if (stop) f_st <= F_IDLE;
          else if (redo && !f_ins) begin  // take the re-pass back (one inserted at a time)
            fh <= redo_h;
            fqi <= redo_qi;
            fseq <= redo_seq;
            frep <= 1'b1;
            fhave <= 1'b1;
            if (cfg_mode) begin  // generation: the item alone, then on where the front was
              f_ins <= 1'b1;
              sv_h <= fh;
              sv_qi <= fqi;
              sv_seq <= fseq;
              sv_have <= fhave;
            end else begin       // summarization: the item again, then the ones after it
              fep <= ~fep;
            end
          end else if (!fhave) f_st <= F_END;
          else if (!f_slot_hit) begin
            if (!qs_vld[f_slot]) f_st <= F_QREQ;  // else the slot's item is not decided yet
          end else if (rg_hit) begin
            frg <= rg_hit_i;
            f_st <= (frep && !rg_lreq[rg_hit_i]) ? F_LREQ : F_QK;
          end else if (rg_free) begin
            frg <= rg_free_i;
            f_st <= F_KREQ;
          end
        end
        F_QREQ: begin
          if (stop) f_st <= F_IDLE;
          else if (gnt_f) begin
            qs_h[f_slot] <= fh;
            qs_qi[f_slot] <= fqi;
            f_st <= F_QWAIT;
          end
        end
        F_QWAIT: begin
          if (done_q) qs_vld[f_slot] <= 1'b1;
          if (stop) f_st <= F_IDLE;
          else if (done_q) f_st <= F_NEXT;
        end
        F_QBREQ: begin
          if (stop) f_st <= F_IDLE;
          else if (gnt_f) f_st <= F_QBWAIT;
        end
        F_QBWAIT: begin
          if (stop) f_st <= F_IDLE;
          else if (done_q) begin  // every live head's query is in its slot
            f_st <= F_NEXT;
            for (qsi = 0; qsi < QS; qsi = qsi + 1) begin
              qs_vld[qsi] <= qsi < H_MAX && HX'(qsi) < HX'(cfg_heads) && live_cmd[qsi % H_MAX];
              qs_h[qsi] <= HX'(qsi);
              qs_qi[qsi] <= 16'd0;
            end
          end
        end
        F_KREQ: begin
          if (stop) f_st <= F_IDLE;
          else if (redo) f_st <= F_NEXT;
          else if (gnt_f || gnt_kv) f_st <= F_QK;  // the head's K MSB plane, streamed under its Q.K
        end
        // The K LSB plane streams under the re-pass's Q.K as the MSB plane does under the
        // first pass: the region's valid bits are cleared at the grant and every merged row
        // sets its key's again, so the reader follows the LSB job row by row. The keys keep
        // their MSB bits, and every other reader of the region masks the LSB bits off (known
        // bits m); an older row of the same head still being read can only be one of the
        // epoch the re-pass drops (summarization; in generation a head has one item).
        F_LREQ: begin
          if (stop) f_st <= F_IDLE;
          else if (gnt_f || gnt_lv) begin
            kb_clr <= 1'b1;
            kb_clr_rg <= frg;
            rg_lreq[frg] <= 1'b1;
            f_st <= F_QK;
          end
        end
        F_QK: if (f_qk_fire) begin  // then the next item (a Q.K row is always completed)
          f_st <= stop ? F_IDLE : F_NEXT;
          fseq <= fseq + 16'd1;
          frep <= 1'b0;
          if (f_ins) begin  // an inserted re-pass: back to where the front was
            f_ins <= 1'b0;
            fh <= sv_h;
            fqi <= sv_qi;
            fseq <= sv_seq;
            fhave <= sv_have;
          end else if (fqi + 16'd1 < nq) fqi <= fqi + 16'd1;
          else begin
            fqi <= 16'd0;
            fh <= f_nh;
            fhave <= f_nh_any;
          end
        end
        F_END: begin
          if (!act || stop) f_st <= F_IDLE;
          else if (redo) f_st <= F_NEXT;
        end
        default: f_st <= F_IDLE;
      endcase

      // ---------------------------------------------------------- row stage
      if (rb_fire) rb_beat <= rb_last ? 16'd0 : rb_beat + 16'd1;
      case (r_st)
        R_IDLE: if (rb_valid && rq_have) begin
          if (stop || r_old) r_st <= R_DROP;  // a failed command, or the epoch before a re-pass
          else if (rq_in_valid & rq_in_ready) r_st <= R_DEC;
        end
        R_DEC: if (r_dec_fire) begin
          if (stop) r_st <= R_DROP;
          else if (take_requant) begin  // drop the row; the item comes back as a re-pass
            cnt_requant_inc <= 1'b1;
            if (!cfg_mode) rep <= ~rep;  // summarization: the rows issued after it are dropped
            r_st <= R_DROP;
          end else begin  // passed: its query slot, and after the head's last query its region, are free
            qs_vld[r_slot] <= 1'b0;
            if (r_lasth) rg_busy[r_rg] <= 1'b0;
            r_st <= R_PASS;
          end
        end
        R_PASS, R_DROP: if (rq_pop) begin
          r_st <= R_IDLE;
          if (r_st == R_PASS) tv_in_sel <= ~tv_in_sel;  // the next passed row: the other engine
        end
        default: r_st <= R_IDLE;
      endcase

      // ---------------------------------------------------------- back
      case (b_st)
        B_IDLE: if (bq_pop) begin
          bh <= bq_head[BQW-1 -: HX];
          bqi <= bq_head[16:1];
          if (bq_head[0]) vr <= vr + 2'd1;  // a new head: the next region (cleared now)
          kl_cnt <= 16'd0;
          kl_done <= 1'b0;
          v_issued <= 1'b0;
          b_st <= B_KLIST;
        end
        B_KLIST: if (tv_out_valid) begin
          for (li = 0; li < TOPK_P; li = li + 1) begin
            if (tv_out_keep[li]) begin
              kl_idx[{ls, AW'((kl_cnt + 16'(li)))}]  <= tv_out_index[li*16 +: 16];
              kl_prob[{ls, AW'((kl_cnt + 16'(li)))}] <= tv_out_score[li*16 +: 16];
              kl_miss[{ls, AW'((kl_cnt + 16'(li)))}] <= ~vb_valid[tv_out_index[li*16 +: AW]];
            end
          end
          kl_cnt <= kl_cnt + pop(32'(tv_out_keep));
          if (tv_out_last) begin  // the V job (if it was issued) finishes the list walk
            kl_done <= 1'b1;
            tv_out_sel <= ~tv_out_sel;
            b_st <= B_VWAIT;  // (a V job not issued yet waits for the V array there)
          end
        end
        // the list walk always completes once issued; then the item queues for its rows (a
        // failed command too: the queue drops it once its V job is done)
        B_VWAIT: begin
          if (!v_issued && !gnt_v && stop) b_st <= B_IDLE;
          else if (b_push) begin
            ls <= ls + 2'd1;
            b_st <= B_IDLE;
          end
        end
        default: b_st <= B_IDLE;
      endcase

      // ---------------------------------------------------------- back: landing queue
      // the V jobs end in order: a done belongs to the item whose job has the done's parity
      // (the queue's, or the list stage's item being pushed this cycle)
      for (li = 0; li < 2; li = li + 1)
        if (done_vv && lq_v[li] && lq_par[li] == vdpar) lq_done[li] <= 1'b1;
      if (done_vv && p_vwait && p_par == vdpar) p_vwait <= 1'b0;
      if (hand) begin
        p_vwait <= !(lq_done[0] || (done_vv && lq_par[0] == vdpar));
        p_par <= lq_par[0];
      end
      if (lq_pop) begin
        lq_v <= {1'b0, lq_v[1]};
        lq_done[0] <= lq_done[1] | (done_vv && lq_v[1] && lq_par[1] == vdpar);
        lq_par[0] <= lq_par[1];
        lq_slot[0] <= lq_slot[1]; lq_rg[0] <= lq_rg[1]; lq_h[0] <= lq_h[1];
        lq_qi[0] <= lq_qi[1]; lq_cnt[0] <= lq_cnt[1];
      end
      // (the item popped with entry 1 free, and only this stage fills the queue)
      if (b_push) begin
        lq_v[lq_at] <= 1'b1;
        lq_done[lq_at] <= done_vv && bpar == vdpar;
        lq_par[lq_at] <= bpar;
        lq_slot[lq_at] <= ls; lq_rg[lq_at] <= vr; lq_h[lq_at] <= bh; lq_qi[lq_at] <= bqi;
        lq_cnt[lq_at] <= kl_cnt;
      end

      // ---------------------------------------------------------- back: output stage
      case (p_st)
        P_IDLE: if (hand) begin
          ps <= lq_slot[0];
          pr <= lq_rg[0];
          ph <= lq_h[0];
          pqi <= lq_qi[0];
          p_cnt <= lq_cnt[0];
          pv_j <= 16'd0;
          pv_done <= 1'b0;
          p_st <= P_PV;
        end
        P_PV: begin
          if (pv_valid & pv_ready) begin
            pv_valid <= 1'b0;
            if (pv_last) p_st <= P_IDLE;  // to the E stage (eq_push); the next item may come
          end
          if ((!pv_valid || pv_ready) && !(pv_valid && pv_last) && !pv_done && pv_rows_ok) begin
            // lanes past the list carry zeros, not stale / never-written entries: P.V
            // multiplies before masking, and an X there would poison E in 4-state simulation
            for (li = 0; li < LANES; li = li + 1) begin
              pv_prob[li*16 +: 16] <= (pv_j + 16'(li) < p_cnt) ? kl_prob[{ps, AW'(pv_j + 16'(li))}]
                                                                 : 16'd0;
              pv_v[li*D_MAX*12 +: D_MAX*12] <= (pv_j + 16'(li) < p_cnt)
                  ? vb_rd_data[li*D_MAX*12 +: D_MAX*12] : {D_MAX*12{1'b0}};
              pv_keep[li] <= pv_j + 16'(li) < p_cnt;
            end
            pv_valid <= 1'b1;
            pv_last <= pv_j + 16'(LANES) >= p_cnt;
            pv_done <= pv_j + 16'(LANES) >= p_cnt;
            pv_j <= pv_j + 16'(LANES);
          end
        end
        default: p_st <= P_IDLE;
      endcase

      // ---------------------------------------------------------- back: E stage
      if (w_st == W_IDLE) begin
        if (eq_pop && !stop) begin  // a failed command writes no more E rows
          wh <= eq_h;
          wqi <= eq_qi;
          ereg <= e_data;
          w_st <= W_OUT;
          w_job_valid <= 1'b1;
          w_job_base <= cfg_e_base + 32'(eq_h) * cfg_stride;
          w_job_stride <= row_stride(d7, 5'd16);
          w_job_raw <= 1'b0;
          w_job_class <= `SPATTEN_CLASS_E;
          w_job_done <= 1'b0; w_row_done <= 1'b0; hi_done <= 1'b0;
          hb <= 16'd0;
        end
      end else begin
        if (w_job_valid & w_job_ready) begin
          w_job_valid <= 1'b0;
          w_job_done <= 1'b1;
          w_in_valid <= 1'b1;
          w_in_data <= ereg;
          w_in_idx <= wqi;
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
        if (w_row_done && hi_done) w_st <= W_IDLE;
      end

      // ---------------------------------------------------------- sequencer
      case (st)
        S_IDLE: begin
          abort_q <= 1'b0;
          if (cmd_clear) begin
            st <= S_CLR;
            clr_ti_done <= 1'b0;
            clr_hi_done <= 1'b0;
            start_after_clr <= cmd_start;
            live_heads <= {H_MAX{1'b1}};
            kept_tokens <= {NW{1'b0}};
          end else if (cmd_start) begin
            st <= S_RUN;
            go <= 1'b1;
            live_cmd <= live_heads & heads_mask;
            new_live <= {H_MAX{1'b0}};
            error_code <= 4'd0;
          end
        end
        S_CLR: begin
          if (ti_valid & ti_ready) clr_ti_done <= 1'b1;
          if (hi_valid & hi_ready) clr_hi_done <= 1'b1;
          if (clr_done) begin
            if (start_after_clr) begin
              st <= S_RUN;
              go <= 1'b1;
              live_cmd <= {H_MAX{1'b1}} & heads_mask;
              new_live <= {H_MAX{1'b0}};
              error_code <= 4'd0;
            end else begin
              st <= S_IDLE;
              error_pulse <= err_after_clr;
              err_after_clr <= 1'b0;
            end
          end
        end
        S_RUN: begin
          cut <= 1'b0;
          if (stop) st <= S_DRAIN;
          else if (cfg_prune ? (rows_done && !go) : (all_done && !go))
            st <= cfg_prune ? S_TREAD : S_FIN;
        end
        S_DRAIN: if (f_st == F_IDLE && rows_idle) st <= S_FINERR;
        S_TREAD: if (ti_ready) begin
          st <= S_TSEL;
          kc <= 16'd0;
        end
        S_TSEL: if (tt_out_valid & ti_ready) begin
          for (li = 0; li < LANES; li = li + 1)
            if (tt_out_keep[li]) keep_mem[AW'((kc + 16'(li)))] <= tt_out_index[li*16 +: 16];
          kc <= kc + pop(32'(tt_out_keep));
          if (tt_out_last) st <= S_KWAIT;
        end
        // the back's tail done: the KEEP write (a stop while the back worked: drain, ERROR)
        S_KWAIT: begin
          if (cut || (stop && !rows_idle)) st <= S_DRAIN;
          else if (rows_idle) begin
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
          // one KEEP beat per cycle: the next one is loaded in the cycle the writer takes one
          if (w_in_valid & w_in_ready & w_in_last) begin
            w_in_valid <= 1'b0;
            st <= S_HREAD;
          end else if (w_job_done && (!w_in_valid || w_in_ready)) begin
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
          // here through f_err, w_err or abort_q: the AXI codes win over ABORT (see E_ABORTED)
          error_code <= f_err ? E_AXI_READ : (w_err ? E_AXI_WRITE : E_ABORTED);
        end
        default: st <= S_IDLE;
      endcase
    end
  end

`ifdef SPATTEN_TRACE  // +define+SPATTEN_TRACE: one line per item event (debugging the pipeline)
  always @(posedge clk) begin
    if (f_qk_fire) $display("%0t DBG F issue h=%0d qi=%0d seq=%0d rg=%0d slot=%0d rep=%0d ep=%0d", $time, fh, fqi, fseq, frg, f_slot, frep, fep);
    if (gnt_f) $display("%0t DBG F grant q=%0d k=%0d l=%0d pf=%0d h=%0d qi=%0d rg=%0d slot=%0d", $time, fr_q, fr_k, fr_l, k_pf, k_head, fqi, k_rg, f_slot);
    if (r_dec_fire) $display("%0t DBG R dec h=%0d qi=%0d rg=%0d slot=%0d take=%0d", $time, r_h, r_qi, r_rg, r_slot, take_requant);
    if (bq_pop) $display("%0t DBG B pop h=%0d qi=%0d first=%0d", $time, bq_head[BQW-1 -: HX], bq_head[16:1], bq_head[0]);
    if (b_st == B_KLIST && tv_out_valid) $display("%0t DBG B klist idx0=%0d keep=%b", $time, tv_out_index[15:0], tv_out_keep);
    if (gnt_v) $display("%0t DBG B vgrant h=%0d", $time, bh);
    if (|v_out_valid) $display("%0t DBG V row %b", $time, v_out_valid);
    if (b_push) $display("%0t DBG B push h=%0d qi=%0d par=%0d rg=%0d slot=%0d", $time, bh, bqi, bpar, vr, ls);
    if (v_done) $display("%0t DBG V done par=%0d k=%0d", $time, vdpar, vu_k);
    if (hand) $display("%0t DBG B hand h=%0d qi=%0d", $time, lq_h[0], lq_qi[0]);
    if (eq_pop) $display("%0t DBG B e h=%0d qi=%0d e0=%h", $time, eq_h, eq_qi, e_data[63:0]);
  end
`endif

`ifndef SYNTHESIS
  // The row stage's queue holds a descriptor for every row in the datapath: a row at the
  // row buffer with no descriptor means the front and the row stage disagree.
  // Checked only once a reset has been seen: before it the state is random (Verilator's
  // --x-initial unique) and rst_n may read high.
  /* verilator lint_off PROCASSINIT */  // simulation only: the flag must start low
  reg chk_q = 1'b0;
  /* verilator lint_on PROCASSINIT */
  always @(posedge clk) begin
    if (!rst_n) chk_q <= 1'b1;
    if (chk_q && rst_n && rb_valid && !rq_have)
      $error("spatten_ctrl: a row at the row buffer without its descriptor");
    if (chk_q && rst_n && st == S_IDLE && (f_st != F_IDLE || r_st != R_IDLE || b_st != B_IDLE
                                       || p_st != P_IDLE || w_st != W_IDLE || eq_have || lq_v != 2'b00))
      $error("spatten_ctrl: a stage is not idle between commands");
    // at most two V-array jobs in flight (the row tags are one parity bit), and the landing
    // queue never overflows (an item is popped only with its entry 1 free)
    if (chk_q && rst_n && (vu_n == 2'd3 || (vu_n == 2'd2 && (gnt_v || gnt_kv))))
      $error("spatten_ctrl: a third V-array job in flight");
    // the front allocates only heads the K prefetch has not reached (head order)
    if (chk_q && rst_n && f_st == F_KREQ && !stop && !redo && (gnt_f || gnt_kv) && kp_v && kp_h >= fh)
      $error("spatten_ctrl: the front allocates head %0d behind the prefetch (head %0d)", fh, kp_h);
    if (chk_q && rst_n && (fu_n == 2'd3 || (fu_n == 2'd2 && gnt_f)))
      $error("spatten_ctrl: a third K/Q-array job in flight");
    if (chk_q && rst_n && eq_push && !eq_room)
      $error("spatten_ctrl: an item fed with no room in the E queue");
    if (chk_q && rst_n && b_push && lq_v[1])
      $error("spatten_ctrl: the landing queue overflows");
    // a V job's done comes at least a fetch pipeline (~8 cycles) after its list walk's last
    // beat, and the item is pushed one cycle after that beat: the done always finds the item
    // in the queue (or being pushed), never still in the list stage
    if (chk_q && rst_n && v_issued && done_vv && bpar == vdpar && b_st != B_IDLE && !b_push)
      $error("spatten_ctrl: a V job done before its item left the list stage");
  end
`endif

  /* verilator lint_off UNUSEDSIGNAL */
  wire unused = &{1'b0, cfg_value_keep};
  /* verilator lint_on UNUSEDSIGNAL */
endmodule
`default_nettype wire
