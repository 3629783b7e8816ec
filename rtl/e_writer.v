`default_nettype none
`include "spatten_fixed.vh"
`include "spatten_check.vh"
// E / score writer: rows written back over AXI4 (docs/memory.md).
//
// Job (one at a time): base byte address, row stride, D, mode, byte class. Then a packet of
// rows (in_last on the last one):
//   mode 0 (E rows):  in_data holds D x 16-bit E values (value d at [16d +: 16]); the row
//                     is written at base + in_idx * stride as ceil(D/16) beats, fields >= D
//                     zero (the golden pack_rows layout, 16 bits).
//   mode 1 (raw):     in_data[255:0] is one 32-byte beat written at base + 32 * k for the
//                     k-th beat of the packet (importance scores, live token/head lists).
// Pipeline:
//   input row -> beat buffer (FIFO_BEATS x 32 B, a whole row pushed in one cycle) and, for
//      its address, the run queue: a row whose first beat follows the last beat of the
//      previous row (E: consecutive in_idx with stride == row bytes; raw: every beat) extends
//      the queue's last run, any other row opens a new run
//   -> burst planner: the head run is cut into INCR bursts of at most MAX_BURST beats, never
//      across 4 KiB; a burst covers only beats already buffered. A burst is issued as soon as
//      it cannot grow (MAX_BURST or 4 KiB reached, a later run queued, the packet's last row
//      in), or when the W channel is down to its last issued beat, unless a row extending it
//      is being accepted and the buffer has room for it to reach its cap. Runs grow while the
//      W channel is busy and while contiguous rows stream in; the next AW is out by the time
//      the current burst's last beat moves, so back-to-back bursts leave no idle W cycle, and
//      a burst never waits for a row that is not there.
//   -> W channel: the buffer drained in order, one beat per cycle; the planner marks each
//      burst's last beat in the buffer (wlast), and only issued beats are presented.
// W beats of a burst may start in the cycle its AW is presented (AXI allows W before the AW
// handshake). At most OUTSTANDING bursts wait for their write response. The job ends when its
// last row is written and every response is back: done pulses, with done_err if any response
// was SLVERR/DECERR (sticky status err_* until err_clear).
// Throughput bound: one 32-byte beat per cycle (the W channel's peak), reached on long runs of
// contiguous rows with OUTSTANDING >= 2 (docs/memory.md). Latency: a row that no contiguous
// row follows has its AW and first W beat two cycles after it is accepted; while contiguous
// rows keep coming, the first burst of a run waits until it reaches its cap or the buffer is
// full (at most MAX_BURST beats).
module e_writer #(
    parameter integer ADDR_W      = 32,   // AXI address bits, 32..64
    parameter integer ID_W        = 2,    // AWID bits (one ID is used: responses in order)
    parameter integer OUTSTANDING = 4,    // bursts awaiting a write response, 1..255
    parameter integer IDX_W       = 16,   // row index bits
    parameter integer STRIDE_W    = 16,   // row stride bits (bytes, multiple of 32), 6..ADDR_W
    parameter integer D_MAX       = `SPATTEN_D_MAX,  // E values per row, 16..64, multiple of 16
    parameter integer CNT_W       = 48,   // traffic counter bits, 8..64
    parameter integer MAX_BURST   = 16,   // beats per burst, 1..FIFO_BEATS (4 KiB caps it at 128)
    parameter integer FIFO_BEATS  = 32,   // beat buffer, power of two 8..256 (2 x MAX_BURST: full bursts)
    parameter integer RUNS        = 4     // run queue entries (address runs buffered), power of two 2..16
) (
    input  wire                      clk,
    input  wire                      rst_n,
    input  wire                      job_valid,
    output wire                      job_ready,
    /* verilator lint_off UNUSEDSIGNAL */  // bits [4:0]: whole beats only
    input  wire [ADDR_W-1:0]         job_base,
    input  wire [STRIDE_W-1:0]       job_stride,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [6:0]                job_d,       // 1..D_MAX
    input  wire                      job_raw,     // 1: raw 32-byte beats
    input  wire [2:0]                job_class,   // byte class for the counters (5 = E)
    input  wire                      in_valid,
    output wire                      in_ready,
    input  wire [D_MAX*`SPATTEN_E_W-1:0] in_data,
    input  wire [IDX_W-1:0]          in_idx,
    input  wire                      in_last,
    output wire [ID_W-1:0]           m_axi_awid,
    output wire [ADDR_W-1:0]         m_axi_awaddr,
    output wire [7:0]                m_axi_awlen,
    output wire [2:0]                m_axi_awsize,
    output wire [1:0]                m_axi_awburst,
    output wire                      m_axi_awvalid,
    input  wire                      m_axi_awready,
    output wire [255:0]              m_axi_wdata,
    output wire [31:0]               m_axi_wstrb,
    output wire                      m_axi_wlast,
    output wire                      m_axi_wvalid,
    input  wire                      m_axi_wready,
    /* verilator lint_off UNUSEDSIGNAL */  // one ID in flight: bid carries no information
    input  wire [ID_W-1:0]           m_axi_bid,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [1:0]                m_axi_bresp,
    input  wire                      m_axi_bvalid,
    output wire                      m_axi_bready,
    output wire                      busy,
    output wire                      done,        // one-cycle pulse at the end of a job
    output wire                      done_err,    // ... with an error response in the job
    output wire                      err_valid,   // sticky until err_clear
    output wire [1:0]                err_resp,
    output wire [2:0]                err_class,
    input  wire                      err_clear,
    output wire [8*CNT_W-1:0]        cnt_wr_bytes,  // bytes written per class id
    output wire [CNT_W-1:0]          cnt_stall      // cycles buffered beats waited on the memory
);
  localparam integer EW     = `SPATTEN_E_W;  // 16
  localparam integer BA_W   = ADDR_W - 5;
  localparam integer SB_W   = STRIDE_W - 5;
  localparam integer RB_MAX = (D_MAX * EW + 255) / 256;  // beats per row
  localparam integer OS_W   = $clog2(OUTSTANDING + 1);
  localparam integer K_W    = 32;                        // raw beat counter
  localparam integer FA_W   = $clog2(FIFO_BEATS);        // buffer index bits
  localparam integer PT_W   = FA_W + 1;                  // buffer pointers (one wrap bit)
  localparam integer RQ_W   = $clog2(RUNS);
  localparam integer RP_W   = RQ_W + 1;

  generate
    if (ADDR_W < 32 || ADDR_W > 64) begin : g_bad_aw
      `SPATTEN_ELAB_FATAL(1, "e_writer: ADDR_W must be 32..64 (got %0d)", ADDR_W);
    end
    if (ID_W < 1 || ID_W > 8) begin : g_bad_id
      `SPATTEN_ELAB_FATAL(1, "e_writer: ID_W must be 1..8 (got %0d)", ID_W);
    end
    if (OUTSTANDING < 1 || OUTSTANDING > 255) begin : g_bad_os
      `SPATTEN_ELAB_FATAL(1, "e_writer: OUTSTANDING must be 1..255 (got %0d)", OUTSTANDING);
    end
    if (D_MAX < 16 || D_MAX > 64 || D_MAX % 16 != 0) begin : g_bad_d
      `SPATTEN_ELAB_FATAL(1, "e_writer: D_MAX must be 16, 32, 48 or 64 (got %0d)", D_MAX);
    end
    if (IDX_W < 1 || IDX_W > 32 || STRIDE_W < 6 || STRIDE_W > ADDR_W) begin : g_bad_idx
      `SPATTEN_ELAB_FATAL(1, "e_writer: IDX_W 1..32, STRIDE_W 6..ADDR_W (got %0d, %0d)", IDX_W, STRIDE_W);
    end
    if (CNT_W < 8 || CNT_W > 64) begin : g_bad_cnt
      `SPATTEN_ELAB_FATAL(1, "e_writer: CNT_W must be 8..64 (got %0d)", CNT_W);
    end
    // 8 beats hold two 4-beat rows: one drains while the next is accepted.
    if (FIFO_BEATS < 8 || FIFO_BEATS > 256 || (FIFO_BEATS & (FIFO_BEATS - 1)) != 0) begin : g_bad_fifo
      `SPATTEN_ELAB_FATAL(1, "e_writer: FIFO_BEATS must be a power of two 8..256 (got %0d)", FIFO_BEATS);
    end
    // A burst covers buffered beats only: a longer MAX_BURST could never be reached.
    if (MAX_BURST < 1 || MAX_BURST > FIFO_BEATS) begin : g_bad_burst
      `SPATTEN_ELAB_FATAL(1, "e_writer: MAX_BURST must be 1..FIFO_BEATS (got %0d, FIFO_BEATS %0d)", MAX_BURST, FIFO_BEATS);
    end
    if (RUNS < 2 || RUNS > 16 || (RUNS & (RUNS - 1)) != 0) begin : g_bad_runs
      `SPATTEN_ELAB_FATAL(1, "e_writer: RUNS must be a power of two 2..16 (got %0d)", RUNS);
    end
  endgenerate

  // ---------------------------------------------------------------- job FSM
  // S_IDLE: job_ready. S_ROWS: rows accepted until in_last. S_DRAIN: last row in, waiting for
  // its beats to leave and every response to come back.
  localparam [1:0] S_IDLE = 2'd0, S_ROWS = 2'd1, S_DRAIN = 2'd2;
  reg  [1:0]      state_q, state_d;
  reg [BA_W-1:0]  base_q;
  reg [SB_W-1:0]  stride_q;
  reg [6:0]       d_q;
  reg             raw_q;
  reg [2:0]       cls_q;
  reg [K_W-1:0]   k_q;          // raw beats taken
  reg             job_err_q;
  assign job_ready = (state_q == S_IDLE);
  wire job_fire = job_valid & job_ready;

  // ---------------------------------------------------------------- beat buffer, run queue
  reg [255:0]          buf_data_q [0:FIFO_BEATS-1];
  reg [FIFO_BEATS-1:0] buf_last_q;                   // last beat of its burst (set when issued)
  reg [PT_W-1:0]       wr_q, pl_q, rd_q;             // push, first unplanned, next W beat
  reg [BA_W-1:0]       run_addr_q [0:RUNS-1];        // beat address of the run's next beat
  reg [PT_W-1:0]       run_len_q  [0:RUNS-1];        // beats of the run not yet in a burst
  reg [RP_W-1:0]       rh_q, rt_q;                   // run queue head, tail (one wrap bit)
  reg [BA_W-1:0]       tail_end_q;                   // beat after the last row accepted
  reg                  aw_v_q;
  reg [BA_W-1:0]       aw_addr_q;
  reg [7:0]            aw_len_q;
  reg [OS_W-1:0]       os_q;                         // bursts awaiting a response

  wire [PT_W-1:0] used    = wr_q - rd_q;
  wire [PT_W-1:0] free    = PT_W'(FIFO_BEATS) - used;
  wire [PT_W-1:0] credit  = pl_q - rd_q;             // issued beats not yet sent
  wire [RP_W-1:0] run_cnt = rt_q - rh_q;
  wire [RQ_W-1:0] rh_i    = rh_q[RQ_W-1:0];
  wire [RQ_W-1:0] rlast_i = RQ_W'(rt_q - 1'b1);     // the run of the last row accepted

  // row of the input: fields >= D zeroed; raw: one beat
  wire [2:0] rb = raw_q ? 3'd1 : 3'((11'(d_q) * 11'd16 + 11'd255) >> 8);
  reg  [RB_MAX*256-1:0] in_masked;
  integer fi;
  always @* begin
    in_masked = {RB_MAX*256{1'b0}};
    for (fi = 0; fi < D_MAX; fi = fi + 1) begin
      if (raw_q ? (fi < 16) : (fi < 32'(d_q))) in_masked[fi*EW +: EW] = in_data[fi*EW +: EW];
    end
  end
  /* verilator lint_off WIDTHEXPAND */
  wire [BA_W-1:0] e_addr = base_q + in_idx * stride_q;  // wraps modulo 2^BA_W like AXI
  /* verilator lint_on WIDTHEXPAND */
  wire [BA_W-1:0] in_addr = raw_q ? base_q + BA_W'(k_q) : e_addr;

  // ---------------------------------------------------------------- burst planner
  wire [BA_W-1:0] h_addr = run_addr_q[rh_i];
  wire [8:0]      h_len  = 9'(run_len_q[rh_i]);
  wire [8:0]      to4k   = 9'd128 - {2'd0, h_addr[6:0]};
  wire [8:0]      cap    = (to4k < 9'(MAX_BURST)) ? to4k : 9'(MAX_BURST);
  wire [8:0]      blen   = (h_len < cap) ? h_len : cap;          // beats of the next burst
  wire            aw_free = ~aw_v_q | m_axi_awready;
  // The head run may still grow: it is the last run, below its cap, and the packet's last row
  // is not in yet. It is held back while the W channel has more than one issued beat left
  // (waiting costs nothing then), and while a row extending it is being accepted and the
  // buffer has room for the run to reach its cap: rows stream in, and the W cycles this
  // costs build a lead of buffered beats once, after which bursts reach their cap while the
  // W channel is busy (at equal input and W rates the lead stays). Otherwise it is issued with
  // the beats it has: growth is bounded (cap, buffer room), so no burst waits for a row that
  // does not come.
  wire            can_grow = (run_cnt == RP_W'(1)) & (h_len < cap) & (state_q == S_ROWS);
  wire            grow_now = in_valid & in_ready & (in_addr == tail_end_q);
  wire            room     = (9'(free) >= cap - h_len);
  wire            hold     = (credit > PT_W'(1)) | (grow_now & room);
  wire            issue    = (run_cnt != {RP_W{1'b0}}) & aw_free & (os_q != OS_W'(OUTSTANDING))
                             & ~(can_grow & hold);
  wire            pop_run  = issue & (blen == h_len);
  wire [FA_W-1:0] blast_i  = FA_W'(pl_q + PT_W'(blen) - 1'b1);  // buffer slot of the burst's last beat

  // ---------------------------------------------------------------- input, W channel
  // Registered occupancy only (no path from wready to in_ready); FIFO_BEATS >= 2 rows keeps
  // the W channel fed.
  assign in_ready = (state_q == S_ROWS) & (free >= PT_W'(rb)) & (run_cnt != RP_W'(RUNS));
  wire       in_fire = in_valid & in_ready;
  // The row extends the last run if its first beat follows that run's last beat, unless the
  // planner takes that run's last beats in this very cycle (its AW is then already out).
  wire       extend  = (run_cnt != {RP_W{1'b0}}) & (in_addr == tail_end_q)
                       & ~(pop_run & (run_cnt == RP_W'(1)));
  wire       w_fire  = m_axi_wvalid & m_axi_wready;
  wire       b_fire  = m_axi_bvalid;  // bready is always 1
  wire       job_end = (state_q == S_DRAIN) & (used == {PT_W{1'b0}}) & (os_q == {OS_W{1'b0}}) & ~aw_v_q;

  always @* begin
    state_d = state_q;
    case (state_q)
      S_IDLE:  if (job_fire) state_d = S_ROWS;
      S_ROWS:  if (in_fire && in_last) state_d = S_DRAIN;
      S_DRAIN: if (job_end) state_d = S_IDLE;
      default: state_d = S_IDLE;
    endcase
  end

  // ---------------------------------------------------------------- counters, errors
  reg [CNT_W-1:0] cnt_q [0:7];
  reg [CNT_W-1:0] stall_q;
  reg             err_q;
  reg [1:0]       err_resp_q;
  reg [2:0]       err_cls_q;
  reg             done_q, done_err_q;
  wire            b_bad = b_fire & m_axi_bresp[1];
  wire            stall_now = (used != {PT_W{1'b0}}) & ~w_fire;

  // control state (reset)
  integer ci;
  always @(posedge clk) begin
    if (!rst_n) begin
      state_q      <= S_IDLE;
      wr_q         <= {PT_W{1'b0}};
      pl_q         <= {PT_W{1'b0}};
      rd_q         <= {PT_W{1'b0}};
      rh_q         <= {RP_W{1'b0}};
      rt_q         <= {RP_W{1'b0}};
      aw_v_q       <= 1'b0;
      os_q         <= {OS_W{1'b0}};
      k_q          <= {K_W{1'b0}};
      job_err_q    <= 1'b0;
      stall_q      <= {CNT_W{1'b0}};
      err_q        <= 1'b0;
      err_resp_q   <= 2'd0;
      err_cls_q    <= 3'd0;
      done_q       <= 1'b0;
      done_err_q   <= 1'b0;
      for (ci = 0; ci < 8; ci = ci + 1) cnt_q[ci] <= {CNT_W{1'b0}};
    end else begin
      state_q <= state_d;
      done_q <= job_end;
      done_err_q <= job_end & job_err_q;
      if (job_fire) begin
        k_q       <= {K_W{1'b0}};
        job_err_q <= 1'b0;
      end
      if (in_fire) begin
        wr_q <= wr_q + PT_W'(rb);
        k_q  <= k_q + 1'b1;
        if (!extend) rt_q <= rt_q + 1'b1;
      end
      if (issue) begin
        pl_q <= pl_q + PT_W'(blen);
        if (pop_run) rh_q <= rh_q + 1'b1;
        aw_v_q <= 1'b1;
      end else if (m_axi_awready) begin
        aw_v_q <= 1'b0;
      end
      if (w_fire) rd_q <= rd_q + 1'b1;
      os_q <= os_q + (issue ? OS_W'(1) : {OS_W{1'b0}}) - (b_fire ? OS_W'(1) : {OS_W{1'b0}});
      if (w_fire) cnt_q[cls_q] <= cnt_q[cls_q] + CNT_W'(32);
      if (stall_now) stall_q <= stall_q + 1'b1;
      if (b_bad) job_err_q <= 1'b1;
      if (err_clear) begin
        err_q <= 1'b0;
      end else if (b_bad && !err_q) begin
        err_q      <= 1'b1;
        err_resp_q <= m_axi_bresp;
        err_cls_q  <= cls_q;
      end
    end
  end

  // Beat b of a row lands in slot wr_q + b, so slot s can only receive beat (s - wr_q) mod 4:
  // one 4:1 selection per slot residue ("lane") instead of one per slot (the buffer's write
  // side stays small; FIFO_BEATS >= 8 is a multiple of 4 and a row has <= 4 beats). A lane
  // whose beat index is >= RB_MAX is never written; "% RB_MAX" only keeps the select in range.
  reg [255:0] lane_data [0:3];
  integer li;
  always @* begin
    for (li = 0; li < 4; li = li + 1) begin
      lane_data[li] = in_masked[32'(2'(li - 32'(wr_q[1:0]))) % RB_MAX * 256 +: 256];
    end
  end

  // datapath (no reset: every entry is written before the pointers make it visible)
  integer si;
  always @(posedge clk) begin
    if (job_fire) begin
      base_q   <= job_base[ADDR_W-1:5];
      stride_q <= job_stride[STRIDE_W-1:5];
      d_q      <= job_d;
      raw_q    <= job_raw;
      cls_q    <= job_class;
    end
    if (in_fire) begin
      for (si = 0; si < FIFO_BEATS; si = si + 1) begin
        if (FA_W'(FA_W'(si) - wr_q[FA_W-1:0]) < FA_W'(rb)) begin  // slot wr_q .. wr_q + rb - 1
          buf_data_q[si] <= lane_data[si % 4];
          buf_last_q[si] <= 1'b0;
        end
      end
      tail_end_q <= in_addr + BA_W'(rb);
    end
    if (issue) begin  // slots below wr_q: never the ones pushed in this cycle
      buf_last_q[blast_i] <= 1'b1;
      run_addr_q[rh_i]    <= h_addr + BA_W'(blen);
      run_len_q[rh_i]     <= PT_W'(h_len - blen);
      aw_addr_q           <= h_addr;
      aw_len_q            <= 8'(blen - 9'd1);
    end
    if (in_fire) begin
      if (!extend) begin  // a new run (never the head: the queue has a free entry)
        run_addr_q[RQ_W'(rt_q)] <= in_addr;
        run_len_q[RQ_W'(rt_q)]  <= PT_W'(rb);
      end else if (issue && rlast_i == rh_i) begin  // the head both issues and grows
        run_len_q[rlast_i] <= PT_W'(h_len - blen) + PT_W'(rb);
      end else begin
        run_len_q[rlast_i] <= run_len_q[rlast_i] + PT_W'(rb);
      end
    end
  end

  wire [FA_W-1:0] rd_i = rd_q[FA_W-1:0];
  assign m_axi_awid    = {ID_W{1'b0}};
  assign m_axi_awaddr  = {aw_addr_q, 5'd0};
  assign m_axi_awlen   = aw_len_q;
  assign m_axi_awsize  = 3'd5;
  assign m_axi_awburst = 2'b01;
  assign m_axi_awvalid = aw_v_q;
  assign m_axi_wvalid  = (credit != {PT_W{1'b0}});
  assign m_axi_wdata   = buf_data_q[rd_i];
  assign m_axi_wstrb   = 32'hFFFF_FFFF;
  assign m_axi_wlast   = buf_last_q[rd_i];
  assign m_axi_bready  = 1'b1;
  assign busy          = (state_q != S_IDLE);
  assign done          = done_q;
  assign done_err      = done_err_q;
  assign err_valid     = err_q;
  assign err_resp      = err_resp_q;
  assign err_class     = err_cls_q;
  assign cnt_stall     = stall_q;
  genvar gk;
  for (gk = 0; gk < 8; gk = gk + 1) begin : g_cnt
    assign cnt_wr_bytes[gk*CNT_W +: CNT_W] = cnt_q[gk];
  end
`ifndef SYNTHESIS
  // Protocol and planner checks (simulation only). AXI: once valid, AW and W stay valid with
  // the same payload until the handshake. Planner: a burst has 1..MAX_BURST beats, stays in
  // its 4 KiB page and covers buffered beats only.
  reg             aw_hold_q, w_hold_q;
  reg [BA_W+7:0]  aw_prev_q;
  reg [256:0]     w_prev_q;
  reg             rst_seen_q;  // no check before the first reset (random initial state)
  initial rst_seen_q = 1'b0;
  always @(posedge clk) begin
    if (!rst_n) begin
      aw_hold_q <= 1'b0;
      w_hold_q  <= 1'b0;
      rst_seen_q <= 1'b1;
    end else if (rst_seen_q) begin
      if (aw_hold_q && !(m_axi_awvalid && {aw_addr_q, aw_len_q} == aw_prev_q))
        $fatal(1, "e_writer: AW dropped or changed before its handshake");
      if (w_hold_q && !(m_axi_wvalid && {m_axi_wlast, m_axi_wdata} == w_prev_q))
        $fatal(1, "e_writer: W dropped or changed before its handshake");
      if (issue && (blen == 9'd0 || blen > 9'(MAX_BURST) || blen > to4k
                    || 10'(credit) + 10'(blen) > 10'(used)))
        $fatal(1, "e_writer: burst of %0d beats at beat 0x%0h out of its limits", blen, h_addr);
      aw_hold_q <= m_axi_awvalid & ~m_axi_awready;
      w_hold_q  <= m_axi_wvalid & ~m_axi_wready;
    end
    aw_prev_q <= {aw_addr_q, aw_len_q};
    w_prev_q  <= {m_axi_wlast, m_axi_wdata};
  end
`endif
endmodule
`default_nettype wire
