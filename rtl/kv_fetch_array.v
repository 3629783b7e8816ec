`default_nettype none
`include "spatten_fixed.vh"
`include "spatten_check.vh"
// Multi-channel fetch path of spatten_top: one kv_fetcher per AXI read channel, so the fetch
// bandwidth grows with the channel count (docs/memory.md §2b). One kv_fetcher drains one
// 32-byte beat per cycle; CHANNELS of them drain CHANNELS beats per cycle.
//
// Job: MSB plane only (base, row stride, D, bits, byte class) and either
//   * a range (job_range = 1): rows job_first .. job_lastrow, generated here — one run of the
//     row groups that start in one interleave granule per cycle, so the dispatch keeps up with
//     CHANNELS beats per cycle (a granule of G bytes holds up to G/32 groups), or
//   * a list (job_range = 0): row indexes on in_*, LIST_W lanes per beat (in_vld: the lanes
//     that carry an index, the others are holes; in_last on the last beat; an empty list is
//     one beat with in_empty = in_last = 1). A beat waits in a lane register and its lanes go
//     out in order, each to its channel: per cycle one run per channel, a lane that continues
//     the previous lane's run (same channel, next index) joins it, and the first lane whose
//     channel is taken or full waits for the next cycle with every lane after it (the order
//     within a channel is the list's).
//
// Rows are packed (row j at base + j * stride, any byte stride; base 32-byte aligned), so
// neighbouring rows may share a beat. The rows are dispatched in beat-aligned groups of
// P = 32 / gcd(stride, 32) rows (P * stride is a whole number of beats; blocks.row_group): rows
// of one group may share beats, rows of two groups never do, so a whole group goes to one
// kv_fetcher, which reads a shared beat once (in an ascending list the byte counts are then
// those of one fetcher, independent of CHANNELS).
//
// Dispatch: a group goes to the channel of its first byte, (addr >> LOG2_INTERLEAVE) mod
// CHANNELS, as a run {first row, count}. Every AXI port sees the whole address space
// (docs/memory.md §1), so a group that crosses a granule boundary is read whole on the port of
// its first beat; the interleave only spreads the load. Each run goes to its channel's run
// queue the cycle it is cut, so a channel's memory reads start while later runs are still
// being cut. kv_fetcher ends a job at in_last; a run carries it (final) when it is known to be
// its channel's last: a range run whose last group lies fewer than CHANNELS granules further
// on (a later run for the same channel would be CHANNELS or more granules on, so the flag is
// never wrong; with a group stride of at most a granule every granule up to the last group's
// has a group start, so it is also never missed: every K plane). Every channel whose final run
// was not flagged, and every channel that got no row, is then sent the end marker (in_empty =
// in_last = 1: kv_fetcher's empty list, or after indexes the end of the packet with no index).
// An earlier version held each channel's newest run until the next one or the job's end to
// flag its last: a K job then waited ~16 cycles from accept to its first AR, a channel's first
// run waiting for its second (CHANNELS cycles) or for the job's last row (one cycle per
// granule). A run queue per channel turns runs into one index per cycle for its kv_fetcher.
//
// Rows leave on CHANNELS output lanes (lane c: rows read on channel c, in that channel's order;
// no order across lanes: the key and value buffers are written by row index). One out_ready
// stalls every lane. `done` pulses once every channel's last row of the job has been accepted.
//
// Two jobs in flight: the next job is accepted once the dispatcher has handed out every index
// of the one before (each channel's fetcher has taken its last one) and the jobs have the same
// shape (stride, D, bits, class: kv_fetcher), so its memory latency overlaps the rows of the
// one before. Rows then leave in job order on each lane, but the lanes are not in step: one
// lane may already carry the second job's rows while another still carries the first's. Each
// row's job is out_tag (per lane: the job count parity, toggled after the lane's last row of a
// job); `done` pulses once per job, in job order. A consumer that issues a job only while at
// most one is in flight can map the tag to that job.
module kv_fetch_array #(
    parameter integer CHANNELS        = 2,    // AXI read ports, power of two 1..16
    parameter integer ADDR_W          = 32,   // AXI address bits, 32..64
    parameter integer ID_W            = 3,    // ARID bits per channel
    parameter integer OUTSTANDING     = 8,    // bursts in flight per channel
    parameter integer MAX_BURST       = 16,   // beats per burst
    parameter integer LOG2_INTERLEAVE = 9,    // channel granule 2^n bytes, 6..9
    parameter integer ROB_BEATS       = 64,   // reorder buffer beats per channel
    parameter integer IDX_W           = 16,   // row index bits
    parameter integer STRIDE_W        = 16,   // row stride bits (bytes)
    parameter integer D_MAX           = `SPATTEN_D_MAX,
    parameter integer CNT_W           = 48,   // traffic counter bits
    parameter integer RUNQ            = 4,    // run queue entries per channel, >= 2
    parameter integer LIST_W          = 1     // list indexes per input beat, 1..16
) (
    input  wire                           clk,
    input  wire                           rst_n,
    // ---------------------------------------------------------------- job
    input  wire                           job_valid,
    output wire                           job_ready,
    input  wire [ADDR_W-1:0]              job_base,     // byte address, 32-byte aligned ([4:0] ignored)
    input  wire [STRIDE_W-1:0]            job_stride,   // bytes, >= the row's bytes
    input  wire [6:0]                     job_d,
    input  wire [3:0]                     job_bits,
    input  wire [2:0]                     job_class,
    input  wire                           job_range,
    input  wire [IDX_W-1:0]               job_first,    // range: first row
    input  wire [IDX_W-1:0]               job_lastrow,  // range: last row (>= job_first)
    // ---------------------------------------------------------------- list mode indexes
    input  wire                           in_valid,
    output wire                           in_ready,
    input  wire [LIST_W*IDX_W-1:0]        in_idx,       // lane l at [l*IDX_W +: IDX_W]
    input  wire [LIST_W-1:0]              in_vld,       // lanes that carry an index
    input  wire                           in_empty,
    input  wire                           in_last,
    // ---------------------------------------------------------------- rows, one lane per channel
    output wire [CHANNELS-1:0]            out_valid,
    input  wire                           out_ready,
    output wire [CHANNELS*D_MAX*`SPATTEN_DATA_W-1:0] out_data,
    output wire [CHANNELS*IDX_W-1:0]      out_idx,
    output wire [CHANNELS-1:0]            out_err,
    output wire [CHANNELS-1:0]            out_tag,      // the row's job: parity of the job count
    output reg                            done,
    // ---------------------------------------------------------------- AXI4 read, per channel
    output wire [CHANNELS*ID_W-1:0]       m_axi_arid,
    output wire [CHANNELS*ADDR_W-1:0]     m_axi_araddr,
    output wire [CHANNELS*8-1:0]          m_axi_arlen,
    output wire [CHANNELS*3-1:0]          m_axi_arsize,
    output wire [CHANNELS*2-1:0]          m_axi_arburst,
    output wire [CHANNELS-1:0]            m_axi_arvalid,
    input  wire [CHANNELS-1:0]            m_axi_arready,
    input  wire [CHANNELS*ID_W-1:0]       m_axi_rid,
    input  wire [CHANNELS*256-1:0]        m_axi_rdata,
    input  wire [CHANNELS*2-1:0]          m_axi_rresp,
    input  wire [CHANNELS-1:0]            m_axi_rlast,
    input  wire [CHANNELS-1:0]            m_axi_rvalid,
    output wire [CHANNELS-1:0]            m_axi_rready,
    // ---------------------------------------------------------------- status and counters
    output wire                           busy,
    output wire                           err_valid,    // sticky until err_clear
    output wire [1:0]                     err_resp,     // first error seen: 2 SLVERR, 3 DECERR
    output wire [3:0]                     err_channel,
    output wire [2:0]                     err_class,
    input  wire                           err_clear,
    output wire [8*CNT_W-1:0]             cnt_rd_bytes, // bytes read per class, all channels
    output wire [CNT_W-1:0]               cnt_stall     // cycles no row left while one waited on memory
);
  localparam integer KW    = D_MAX * `SPATTEN_DATA_W;
  localparam integer CH_W  = (CHANNELS > 1) ? $clog2(CHANNELS) : 1;
  localparam integer BA_W  = ADDR_W - 5;                 // beat address bits
  localparam integer SG_W  = (STRIDE_W < BA_W) ? STRIDE_W : BA_W;  // group stride in beats (P * stride / 32; an address)
  localparam integer LGB   = LOG2_INTERLEAVE - 5;        // log2 beats per granule
  localparam integer GB    = 1 << LGB;                   // beats per granule = max groups per run
  localparam integer RC_W  = LGB + 6;                    // run count 1..GB * 32 rows
  localparam integer RQ_W  = IDX_W + RC_W + 2;           // run: {first, count, final, empty}

  generate
    if (CHANNELS < 1 || CHANNELS > 16 || (CHANNELS & (CHANNELS - 1)) != 0) begin : g_bad_ch
      `SPATTEN_ELAB_FATAL(1, "kv_fetch_array: CHANNELS must be a power of two 1..16 (got %0d)", CHANNELS);
    end
    // 32-byte granules would send every 64-byte row to an even channel (a row goes to the
    // channel of its first beat); above 512 B the per-granule row count needs more logic.
    if (LOG2_INTERLEAVE < 6 || LOG2_INTERLEAVE > 9) begin : g_bad_il
      `SPATTEN_ELAB_FATAL(1, "kv_fetch_array: LOG2_INTERLEAVE must be 6..9 (got %0d)", LOG2_INTERLEAVE);
    end
    if (RUNQ < 2 || RUNQ > 64) begin : g_bad_rq
      `SPATTEN_ELAB_FATAL(1, "kv_fetch_array: RUNQ must be 2..64 (got %0d)", RUNQ);
    end
    if (LIST_W < 1 || LIST_W > 16) begin : g_bad_lw
      `SPATTEN_ELAB_FATAL(1, "kv_fetch_array: LIST_W must be 1..16 (got %0d)", LIST_W);
    end
    if (STRIDE_W < 6 || STRIDE_W > ADDR_W || IDX_W < 1 || IDX_W > 32) begin : g_bad_w
      `SPATTEN_ELAB_FATAL(1, "kv_fetch_array: STRIDE_W 6..ADDR_W, IDX_W 1..32 (got %0d, %0d)", STRIDE_W, IDX_W);
    end
  endgenerate

  // ================================================================ dispatcher FSM
  // S_IDLE: ready for a job (the previous one's rows may still be coming: `inflight`)
  localparam [1:0] S_IDLE = 2'd0, S_GEN = 2'd1, S_FLUSH = 2'd2;
  reg  [1:0]          state_q, state_d;
  reg                 range_q;
  reg  [BA_W-1:0]     base_q;          // beat address of row 0
  reg  [SG_W-1:0]     sg_q;            // group stride in beats
  reg  [BA_W-1:0]     g_lastga_q;      // range: beat address of the last row's group
  reg  [2:0]          lgp_q;           // log2 rows per group
  reg  [IDX_W-1:0]    g_row_q;         // range: next row
  reg  [BA_W-1:0]     g_addr_q;        // ... the beat address of its group
  reg  [IDX_W-1:0]    g_last_q;        // range: last row
  reg  [CHANNELS-1:0] flushed_q;       // final run (or end marker) queued
  // job completion: per channel the last rows (or empty markers) accepted and not yet
  // matched by a done pulse (0..2); a job is done when every channel has one
  reg  [1:0]          lastc_q [0:CHANNELS-1];
  reg  [1:0]          inflight_q;      // jobs accepted, done not yet pulsed: 0..2
  reg  [CHANNELS-1:0] tag_q;           // per lane: the job parity of its next row

  wire [CHANNELS-1:0] sub_job_ready, sub_busy, sub_err, sub_stall;
  wire                all_sub_idle = &sub_job_ready;
  assign job_ready = (state_q == S_IDLE) & all_sub_idle & (inflight_q != 2'd2);
  wire                job_fire = job_valid & job_ready;

  // rows per group: 32 / gcd(stride, 32) = 2^(5 - trailing zeros of stride, at most 5)
  reg  [2:0]          job_lgp;
  integer zi;
  always @* begin
    job_lgp = 3'd0;
    for (zi = 4; zi >= 0; zi = zi - 1) if (job_stride[zi]) job_lgp = 3'(5 - zi);
  end
  /* verilator lint_off WIDTHTRUNC */
  wire [SG_W-1:0]     job_sg = SG_W'(({5'd0, job_stride} << job_lgp) >> 5);
  /* verilator lint_on WIDTHTRUNC */

  // ---- the run offered this cycle (range: the rows of the groups starting in the granule)
  wire [LGB:0]        to_bnd = (LGB+1)'(GB) - (LGB+1)'(g_addr_q[LGB-1:0] & {LGB{1'b1}});
  // groups starting before the granule boundary: #{k : k * group stride < to_bnd}, k < GB
  reg  [LGB:0]        k_gran;
  integer kj;
  always @* begin
    k_gran = (LGB+1)'(0);
    for (kj = 0; kj < GB; kj = kj + 1)
      if (32'(kj) * 32'(sg_q) < 32'(to_bnd)) k_gran = (LGB+1)'(kj + 1);
  end
  wire [4:0]          g_in_grp = g_row_q[4:0] & ~(5'h1F << lgp_q);  // rows of the group before g_row
  wire [RC_W-1:0]     k_rows = (RC_W'(k_gran) << lgp_q) - RC_W'(g_in_grp);
  wire [IDX_W:0]      g_left = {1'b0, g_last_q} - {1'b0, g_row_q} + 1'b1;  // rows not yet dispatched
  wire [RC_W-1:0]     r_cnt = ((IDX_W+1)'(k_rows) > g_left) ? RC_W'(g_left) : k_rows;
  // channel of a beat address (its interleave granule)
  function automatic [CH_W-1:0] ch_of(input [BA_W-1:0] a);
    /* verilator lint_off UNUSEDSIGNAL */
    reg [BA_W-1:0] x;
    /* verilator lint_on UNUSEDSIGNAL */
    begin
      x = a >> LGB;
      ch_of = (CHANNELS > 1) ? x[CH_W-1:0] : {CH_W{1'b0}};
    end
  endfunction
  wire [CH_W-1:0]     r_ch = ch_of(g_addr_q);  // range mode: the run's channel

  // ---- list mode: the lane register (the beat being dispatched) and this cycle's runs
  reg                 lr_v_q, lr_last_q;
  reg  [LIST_W-1:0]   lr_vld_q;        // lanes still to dispatch (holes cleared)
  reg  [LIST_W-1:0]   lr_left_q;       // lanes not yet consumed (holes included)
  reg  [IDX_W-1:0]    lr_idx_q [0:LIST_W-1];
  reg  [CH_W-1:0]     lr_ch_q  [0:LIST_W-1];
  wire [CHANNELS-1:0] can_take;        // the channel can take a new run now
  reg  [LIST_W-1:0]   l_go;            // lanes consumed this cycle (a prefix of lr_left_q)
  reg  [CHANNELS-1:0] l_used;          // channels that get a run this cycle
  reg  [IDX_W-1:0]    l_first [0:CHANNELS-1];
  reg  [RC_W-1:0]     l_cnt   [0:CHANNELS-1];
  reg                 l_stop;
  reg  [CH_W-1:0]     l_prev_ch;
  reg                 l_prev_run;      // the previous lane went out as part of a run
  integer la, lc;
  always @* begin
    l_go = {LIST_W{1'b0}};
    l_used = {CHANNELS{1'b0}};
    l_stop = ~(lr_v_q & (state_q == S_GEN) & ~range_q);
    l_prev_ch = {CH_W{1'b0}};
    l_prev_run = 1'b0;
    for (lc = 0; lc < CHANNELS; lc = lc + 1) begin
      l_first[lc] = {IDX_W{1'b0}};
      l_cnt[lc] = RC_W'(0);
    end
    for (la = 0; la < LIST_W; la = la + 1) begin
      if (!l_stop && lr_left_q[la]) begin
        if (!lr_vld_q[la]) begin
          l_go[la] = 1'b1;  // a hole
          l_prev_run = 1'b0;
        end else if (l_prev_run && lr_ch_q[la] == l_prev_ch && la > 0
                     && lr_idx_q[la] == lr_idx_q[(la > 0) ? la - 1 : 0] + 1'b1) begin
          l_go[la] = 1'b1;  // continues the previous lane's run
          l_cnt[lr_ch_q[la]] = l_cnt[lr_ch_q[la]] + 1'b1;
        end else if (!l_used[lr_ch_q[la]] && can_take[lr_ch_q[la]]) begin
          l_go[la] = 1'b1;
          l_used[lr_ch_q[la]] = 1'b1;
          l_first[lr_ch_q[la]] = lr_idx_q[la];
          l_cnt[lr_ch_q[la]] = RC_W'(1);
          l_prev_ch = lr_ch_q[la];
          l_prev_run = 1'b1;
        end else begin
          l_stop = 1'b1;
        end
      end
    end
  end
  wire                l_done = lr_v_q & ((lr_left_q & ~l_go) == {LIST_W{1'b0}});  // beat consumed
  wire                l_free = ~lr_v_q | l_done;

  // ---- per-channel run queue
  wire [CHANNELS-1:0] q_full;
  assign can_take = ~q_full;
  genvar gc;
  // a range run is its channel's last when the last group's granule is fewer than CHANNELS
  // granules on (in the range's granule order, last >= this)
  /* verilator lint_off WIDTHEXPAND */
  wire [BA_W-1:0]     gran_left = (g_lastga_q >> LGB) - (g_addr_q >> LGB);
  /* verilator lint_on WIDTHEXPAND */
  wire                r_final = gran_left < BA_W'(CHANNELS);
  wire                r_fire = (state_q == S_GEN) & range_q & can_take[r_ch];
  wire                range_end = r_fire & ((IDX_W+1)'(r_cnt) == g_left);
  // a run for channel c this cycle: the range run, or the list lanes' run
  wire [CHANNELS-1:0] gen_ch = range_q ? ({{(CHANNELS-1){1'b0}}, r_fire} << r_ch) : l_used;
  wire                list_end = l_done & lr_last_q;
  assign in_ready = (state_q == S_GEN) & ~range_q & l_free & ~(lr_v_q & lr_last_q);

  always @* begin
    state_d = state_q;
    case (state_q)
      S_IDLE:  if (job_fire) state_d = S_GEN;
      S_GEN:   if (range_end || list_end) state_d = S_FLUSH;
      S_FLUSH: if (&flushed_q) state_d = S_IDLE;
      default: state_d = S_IDLE;
    endcase
  end

  // ================================================================ channels
  wire [CHANNELS-1:0] q_push, q_pop, q_valid;
  wire [RQ_W-1:0]     q_in   [0:CHANNELS-1];
  wire [RQ_W-1:0]     q_out  [0:CHANNELS-1];
  wire [CHANNELS-1:0] sub_in_valid, sub_in_ready, sub_out_valid, sub_out_last, sub_out_empty;
  wire [CHANNELS*8*CNT_W-1:0] sub_cnt;
  wire [CHANNELS*2-1:0] sub_err_resp;
  wire [CHANNELS*3-1:0] sub_err_class;
  reg  [RC_W-1:0]     ek_q [0:CHANNELS-1];   // index of the head run being expanded

  for (gc = 0; gc < CHANNELS; gc = gc + 1) begin : g_ch
    wire gen_here = gen_ch[gc];
    wire flush_here = (state_q == S_FLUSH) & ~flushed_q[gc] & ~q_full[gc];
    // GEN: the run cut for this channel (a range run with its final flag, a list run never
    // final). FLUSH: the end marker {empty, final} where no final run went.
    assign q_push[gc] = gen_here | flush_here;
    assign q_in[gc] = flush_here ? {{(IDX_W+RC_W){1'b0}}, 2'b11}
                    : range_q ? {g_row_q, r_cnt, r_final, 1'b0}
                    : {l_first[gc], l_cnt[gc], 2'b00};

    /* verilator lint_off PINCONNECTEMPTY */
    stream_fifo #(.WIDTH(RQ_W), .DEPTH(RUNQ)) u_runq (
        .clk(clk), .rst_n(rst_n),
        .in_valid(q_push[gc]), .in_ready(), .in_data(q_in[gc]), .in_last(1'b0),
        .out_valid(q_valid[gc]), .out_ready(q_pop[gc]), .out_data(q_out[gc]), .out_last(),
        .count(), .full(q_full[gc]), .empty());
    /* verilator lint_on PINCONNECTEMPTY */

    wire [IDX_W-1:0] h_first = q_out[gc][RQ_W-1 -: IDX_W];
    wire [RC_W-1:0]  h_cnt   = q_out[gc][2 +: RC_W];
    wire             h_final = q_out[gc][1];
    wire             h_empty = q_out[gc][0];
    wire             h_end   = h_empty | (ek_q[gc] == h_cnt - 1'b1);  // last index of the run
    assign sub_in_valid[gc] = q_valid[gc];
    assign q_pop[gc] = q_valid[gc] & sub_in_ready[gc] & h_end;

    always @(posedge clk) begin
      if (!rst_n) begin
        ek_q[gc] <= RC_W'(0);
      end else if (sub_in_valid[gc] & sub_in_ready[gc]) begin
        ek_q[gc] <= h_end ? RC_W'(0) : ek_q[gc] + 1'b1;
      end
    end

    /* verilator lint_off PINCONNECTEMPTY */
    kv_fetcher #(
        .CHANNELS(1), .ADDR_W(ADDR_W), .AXI_DATA_W(256), .ID_W(ID_W), .OUTSTANDING(OUTSTANDING),
        .MAX_BURST(MAX_BURST), .LOG2_INTERLEAVE(12), .ROB_BEATS(ROB_BEATS), .IDX_W(IDX_W),
        .STRIDE_W(STRIDE_W), .D_MAX(D_MAX), .CNT_W(CNT_W)
    ) u_fetch (
        .clk(clk), .rst_n(rst_n),
        .job_valid(job_fire), .job_ready(sub_job_ready[gc]),
        .job_msb_base(job_base), .job_lsb_base(job_base), .job_msb_stride(job_stride),
        .job_lsb_stride(job_stride), .job_d(job_d), .job_msb_bits(job_bits),
        .job_lsb_bits(4'd0), .job_lsb_en(1'b0), .job_class_msb(job_class),
        .job_class_lsb(`SPATTEN_CLASS_NONE),  // MSB-only jobs: no LSB plane
        .in_valid(sub_in_valid[gc]), .in_ready(sub_in_ready[gc]),
        .in_idx(h_first + IDX_W'(ek_q[gc])), .in_empty(h_empty), .in_last(h_final & h_end),
        .out_valid(sub_out_valid[gc]), .out_ready(out_ready),
        .out_data(out_data[gc*KW +: KW]), .out_known_bits(),
        .out_idx(out_idx[gc*IDX_W +: IDX_W]), .out_empty(sub_out_empty[gc]),
        .out_err(out_err[gc]), .out_last(sub_out_last[gc]),
        .m_axi_arid(m_axi_arid[gc*ID_W +: ID_W]), .m_axi_araddr(m_axi_araddr[gc*ADDR_W +: ADDR_W]),
        .m_axi_arlen(m_axi_arlen[gc*8 +: 8]), .m_axi_arsize(m_axi_arsize[gc*3 +: 3]),
        .m_axi_arburst(m_axi_arburst[gc*2 +: 2]), .m_axi_arvalid(m_axi_arvalid[gc]),
        .m_axi_arready(m_axi_arready[gc]), .m_axi_rid(m_axi_rid[gc*ID_W +: ID_W]),
        .m_axi_rdata(m_axi_rdata[gc*256 +: 256]), .m_axi_rresp(m_axi_rresp[gc*2 +: 2]),
        .m_axi_rlast(m_axi_rlast[gc]), .m_axi_rvalid(m_axi_rvalid[gc]),
        .m_axi_rready(m_axi_rready[gc]),
        .busy(sub_busy[gc]), .err_valid(sub_err[gc]), .err_resp(sub_err_resp[gc*2 +: 2]),
        .err_channel(), .err_class(sub_err_class[gc*3 +: 3]), .err_clear(err_clear),
        .cnt_rd_bytes(sub_cnt[gc*8*CNT_W +: 8*CNT_W]), .cnt_stall(), .stall(sub_stall[gc]));
    /* verilator lint_on PINCONNECTEMPTY */

    assign out_valid[gc] = sub_out_valid[gc] & ~sub_out_empty[gc];
  end

  // ================================================================ job completion
  wire [CHANNELS-1:0] lane_last;       // the lane's last row (or empty marker) of a job taken
  reg                 job_end;         // every channel has finished the oldest job
  integer cl;
  always @* begin
    job_end = 1'b1;
    for (cl = 0; cl < CHANNELS; cl = cl + 1) if (lastc_q[cl] == 2'd0) job_end = 1'b0;
  end
  for (gc = 0; gc < CHANNELS; gc = gc + 1) begin : g_last
    assign lane_last[gc] = sub_out_valid[gc] & out_ready & sub_out_last[gc];
  end
  assign out_tag = tag_q;

  // ================================================================ sequential logic
  integer ci;
  always @(posedge clk) begin
    if (!rst_n) begin
      state_q   <= S_IDLE;
      lr_v_q    <= 1'b0;
      flushed_q <= {CHANNELS{1'b0}};
      inflight_q <= 2'd0;
      tag_q     <= {CHANNELS{1'b0}};
      for (ci = 0; ci < CHANNELS; ci = ci + 1) lastc_q[ci] <= 2'd0;
      done      <= 1'b0;
    end else begin
      state_q <= state_d;
      done    <= job_end;
      inflight_q <= inflight_q + {1'b0, job_fire} - {1'b0, job_end};
      if (in_valid & in_ready) lr_v_q <= 1'b1;
      else if (l_done) lr_v_q <= 1'b0;
      if (job_fire) flushed_q <= {CHANNELS{1'b0}};
      for (ci = 0; ci < CHANNELS; ci = ci + 1) begin
        if (gen_ch[ci] && range_q && r_final) flushed_q[ci] <= 1'b1;  // its final run is queued
        if (state_q == S_FLUSH && !flushed_q[ci] && !q_full[ci]) flushed_q[ci] <= 1'b1;
        lastc_q[ci] <= lastc_q[ci] + {1'b0, lane_last[ci]} - {1'b0, job_end};
        if (lane_last[ci]) tag_q[ci] <= ~tag_q[ci];
      end
    end
  end

  integer lj;
  // datapath registers (not reset)
  always @(posedge clk) begin
    if (in_valid & in_ready) begin
      lr_last_q  <= in_last | in_empty;
      lr_vld_q   <= in_empty ? {LIST_W{1'b0}} : in_vld;
      lr_left_q  <= {LIST_W{1'b1}};
      for (lj = 0; lj < LIST_W; lj = lj + 1) begin
        lr_idx_q[lj] <= in_idx[lj*IDX_W +: IDX_W];
        /* verilator lint_off WIDTHEXPAND */
        lr_ch_q[lj]  <= ch_of(base_q + (in_idx[lj*IDX_W +: IDX_W] >> lgp_q) * sg_q);  // its group's channel
        /* verilator lint_on WIDTHEXPAND */
      end
    end else if (lr_v_q) begin
      lr_left_q <= lr_left_q & ~l_go;
    end
    if (job_fire) begin
      range_q  <= job_range;
      base_q   <= job_base[ADDR_W-1:5];
      sg_q     <= job_sg;
      lgp_q    <= job_lgp;
      g_row_q  <= job_first;
      /* verilator lint_off WIDTHEXPAND */
      g_addr_q <= job_base[ADDR_W-1:5] + (job_first >> job_lgp) * job_sg;
      g_last_q <= job_lastrow;
      g_lastga_q <= job_base[ADDR_W-1:5] + (job_lastrow >> job_lgp) * job_sg;
      /* verilator lint_on WIDTHEXPAND */
    end else if (r_fire) begin
      g_row_q  <= g_row_q + IDX_W'(r_cnt);
      g_addr_q <= g_addr_q + BA_W'(32'(k_gran) * 32'(sg_q));
    end
  end

  // ================================================================ errors, counters
  reg              err_q;
  reg  [1:0]       err_resp_q;
  reg  [3:0]       err_ch_q;
  reg  [2:0]       err_cls_q;
  reg  [CNT_W-1:0] stall_q;
  reg  [CH_W-1:0]  e_ch;               // lowest channel with an error
  integer ei;
  always @* begin
    e_ch = {CH_W{1'b0}};
    for (ei = CHANNELS - 1; ei >= 0; ei = ei - 1) if (sub_err[ei]) e_ch = CH_W'(ei);
  end
  wire stall_now = ((state_q != S_IDLE) | (inflight_q != 2'd0)) & (|sub_stall) & ~(|(out_valid & {CHANNELS{out_ready}}));
  always @(posedge clk) begin
    if (!rst_n) begin
      err_q   <= 1'b0;
      stall_q <= {CNT_W{1'b0}};
    end else begin
      if (stall_now) stall_q <= stall_q + 1'b1;
      if (err_clear) begin
        err_q <= 1'b0;
      end else if (!err_q && (|sub_err)) begin
        err_q      <= 1'b1;
        err_resp_q <= sub_err_resp[32'(e_ch) * 2 +: 2];
        err_ch_q   <= 4'(e_ch);
        err_cls_q  <= sub_err_class[32'(e_ch) * 3 +: 3];
      end
    end
  end
  genvar gk;
  for (gk = 0; gk < 8; gk = gk + 1) begin : g_cnt
    reg [CNT_W-1:0] sum;
    integer si;
    always @* begin
      sum = {CNT_W{1'b0}};
      for (si = 0; si < CHANNELS; si = si + 1) sum = sum + sub_cnt[(si*8 + gk)*CNT_W +: CNT_W];
    end
    assign cnt_rd_bytes[gk*CNT_W +: CNT_W] = sum;
  end
  assign busy        = (state_q != S_IDLE) | (inflight_q != 2'd0) | (|sub_busy);
  assign err_valid   = err_q;
  assign err_resp    = err_resp_q;
  assign err_channel = err_ch_q;
  assign err_class   = err_cls_q;
  assign cnt_stall   = stall_q;

`ifndef SYNTHESIS
  // A range job names rows first..last; the dispatcher's count arithmetic relies on it.
  always @(posedge clk) begin
    if (rst_n && job_fire && job_range && job_lastrow < job_first)
      $error("kv_fetch_array: range job with last row %0d < first row %0d", job_lastrow, job_first);
    if (rst_n && job_fire && (job_stride == {STRIDE_W{1'b0}}
                              || 32'(job_stride) < (32'(job_d) * 32'(job_bits) + 32'd7) / 32'd8))
      $error("kv_fetch_array: job stride %0d bytes < the row's %0d bytes", job_stride,
             (32'(job_d) * 32'(job_bits) + 32'd7) / 32'd8);
  end
`endif
endmodule
`default_nettype wire
