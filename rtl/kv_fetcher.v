`default_nettype none
`include "spatten_fixed.vh"
`include "spatten_check.vh"
// Q/K/V fetcher: live token indexes in, D-vectors out (docs/memory.md).
//
// Job: base byte address and row stride of the MSB plane and of the LSB plane, D,
// m = msb_bits, l = lsb_bits, precision (lsb_en: MSB+LSB, else MSB-only) and the byte class
// of each plane for the traffic counters. Then a packet of row indexes (in_last on the last
// one; an empty list is one beat with in_empty = in_last = 1). A job is accepted when the
// fetcher is idle, or — up to two jobs in flight — once the previous job's last index has been
// taken and the new job has the same shape (strides, D, bits, precision, classes: everything
// the later stages use; only the bases differ, and those are used at the index stage alone).
// A beat with in_empty = in_last = 1 after indexes ends the packet without an index (the end
// marker kv_fetch_array sends a channel whose last run it could not flag): it carries no row
// and no bytes; its output beat is out_empty with out_last, after the job's last row.
// The rows then leave in job order, each job's packet with its own out_last: the memory
// latency of one job hides behind the rows of the one before. Rows of two jobs never share a
// beat (the shared-beat chain restarts with each job, as golden counts a job's bytes alone).
//
// Row layout (docs/memory.md §1): an MSB-only job reads packed rows: ceil(D * m / 8) bytes at
// any byte address base + idx * stride, so a row may start inside a beat and share its first
// beat with the previous row of the list (two 48-byte 6-bit rows in 3 beats). Such a beat is
// read once: the drain keeps the last beat of every row (carry register) and the next row takes
// it from there. A two-plane job (lsb_en) reads whole-beat rows: bases and strides are beats
// (bits [4:0] ignored).
//
// Pipeline:
//   index -> row addresses (base + idx * stride, per plane; first beat, offset, beats, shared)
//   -> run builder: merges rows whose plane rows are contiguous in memory into a run and
//      allocates the run's beats in the reorder buffer (ROB, in output order: per row its
//      rb_m MSB beats then rb_l LSB beats); a run goes to the splitter when the splitter is
//      free, unless a burst is in flight and the next row continues the run and the run is
//      shorter than MAX_BURST beats: under load runs (and bursts) grow to full bursts, they
//      keep growing while the memory side is busy, and stay short when it is idle; one closed
//      run can wait for the splitter in a pending register while the next run grows
//   -> burst splitter: the run's MSB segment then LSB segment are cut into INCR bursts at
//      MAX_BURST beats, 4 KiB boundaries and channel-interleave granule boundaries
//      (channel = addr[LOG2_INTERLEAVE +: log2 CHANNELS]); each burst takes a free ARID (tag)
//      of its channel; the tag table keeps where its beats go in the ROB
//   -> R channels: round-robin, one beat per cycle written into the ROB at the position
//      the tag's entry says (responses may come back in any order between IDs)
//   -> drain: reads the ROB in order, one beat per cycle, assembles a row (the carry beat
//      first if the row shares it), aligns it to its byte offset, converts it (kv_unpack:
//      joined 12-bit values, fx.join_planes semantics) into the output register.
// Throughput bound: one 32-byte beat per cycle on the output side (= one AXI channel's peak).
module kv_fetcher #(
    parameter integer CHANNELS        = 2,    // AXI read ports, power of two 1..16
    parameter integer ADDR_W          = 32,   // AXI address bits, 32..64
    parameter integer AXI_DATA_W      = 256,  // AXI data bits; the row layout is in 32-byte beats: 256 only
    parameter integer ID_W            = 3,    // ARID bits per channel
    parameter integer OUTSTANDING     = 8,    // bursts in flight per channel, 1..2^ID_W
    parameter integer MAX_BURST       = 16,   // beats per burst, 1..256 (4 KiB caps it at 128 anyway)
    parameter integer LOG2_INTERLEAVE = 9,    // channel interleave granule 2^n bytes, 5..12
    parameter integer ROB_BEATS       = 32,   // reorder buffer beats, power of two >= 8
    parameter integer IDX_W           = 16,   // token index bits, >= 1
    parameter integer STRIDE_W        = 16,   // row stride bits (bytes), 6..ADDR_W
    parameter integer D_MAX           = `SPATTEN_D_MAX,  // values per row, 1..64
    parameter integer CNT_W           = 48    // traffic counter bits, 8..64
) (
    input  wire                          clk,
    input  wire                          rst_n,
    // ---------------------------------------------------------------- job
    input  wire                          job_valid,
    output wire                          job_ready,
    // MSB-only jobs: any byte address and stride (>= the row's bytes). Two-plane jobs: whole
    // beats, bits [4:0] ignored (the LSB plane is only ever read that way).
    input  wire [ADDR_W-1:0]             job_msb_base,    // byte address
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [ADDR_W-1:0]             job_lsb_base,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [STRIDE_W-1:0]           job_msb_stride,  // bytes
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [STRIDE_W-1:0]           job_lsb_stride,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [6:0]                    job_d,           // values per row, 1..D_MAX
    input  wire [3:0]                    job_msb_bits,    // m, 1..12
    input  wire [3:0]                    job_lsb_bits,    // l, 0..12-m
    input  wire                          job_lsb_en,      // 1: MSB+LSB precision, 0: MSB only
    input  wire [2:0]                    job_class_msb,   // byte class of the MSB plane (0 Q, 1 K_MSB, 3 V_MSB)
    input  wire [2:0]                    job_class_lsb,   // byte class of the LSB plane (2 K_LSB, 4 V_LSB)
    // ---------------------------------------------------------------- live token indexes
    input  wire                          in_valid,
    output wire                          in_ready,
    input  wire [IDX_W-1:0]              in_idx,
    input  wire                          in_empty,        // empty list marker (with in_last)
    input  wire                          in_last,
    // ---------------------------------------------------------------- rows, in index order
    output wire                          out_valid,
    input  wire                          out_ready,
    output wire [D_MAX*`SPATTEN_DATA_W-1:0] out_data,     // value d at [12d +: 12]
    output wire [3:0]                    out_known_bits,  // m or m + l
    output wire [IDX_W-1:0]              out_idx,
    output wire                          out_empty,       // the empty list's only beat
    output wire                          out_err,         // an error response hit this row or an earlier one of the packet
    output wire                          out_last,
    // ---------------------------------------------------------------- AXI4 read, per channel
    output wire [CHANNELS*ID_W-1:0]      m_axi_arid,
    output wire [CHANNELS*ADDR_W-1:0]    m_axi_araddr,
    output wire [CHANNELS*8-1:0]         m_axi_arlen,
    output wire [CHANNELS*3-1:0]         m_axi_arsize,
    output wire [CHANNELS*2-1:0]         m_axi_arburst,
    output wire [CHANNELS-1:0]           m_axi_arvalid,
    input  wire [CHANNELS-1:0]           m_axi_arready,
    input  wire [CHANNELS*ID_W-1:0]      m_axi_rid,
    input  wire [CHANNELS*AXI_DATA_W-1:0] m_axi_rdata,
    input  wire [CHANNELS*2-1:0]         m_axi_rresp,
    input  wire [CHANNELS-1:0]           m_axi_rlast,
    input  wire [CHANNELS-1:0]           m_axi_rvalid,
    output wire [CHANNELS-1:0]           m_axi_rready,
    // ---------------------------------------------------------------- status and counters
    output wire                          busy,
    output wire                          err_valid,       // sticky until err_clear
    output wire [1:0]                    err_resp,        // first error: 2 SLVERR, 3 DECERR
    output wire [3:0]                    err_channel,     // ... on this channel
    output wire [2:0]                    err_class,       // ... for this byte class
    input  wire                          err_clear,
    output wire [8*CNT_W-1:0]            cnt_rd_bytes,    // bytes read per class id (8 x CNT_W)
    output wire [CNT_W-1:0]              cnt_stall,       // cycles the next row waited on memory
    output wire                          stall            // this cycle is one of them
);
  // ================================================================ parameters
  localparam integer BEAT_B   = 32;                        // bytes per beat
  localparam integer BA_W     = ADDR_W - 5;                // beat address bits
  localparam integer SB_W     = STRIDE_W - 5;              // stride in beats
  localparam integer CH_W     = (CHANNELS > 1) ? $clog2(CHANNELS) : 1;
  localparam integer NTAG     = CHANNELS * OUTSTANDING;
  localparam integer TAG_W    = (OUTSTANDING > 1) ? $clog2(OUTSTANDING) : 1;
  localparam integer ROB_AW   = $clog2(ROB_BEATS);
  localparam integer USED_W   = ROB_AW + 1;
  localparam integer RUN_W    = 8;                         // rows per run, <= 255
  localparam integer LEFT_W   = RUN_W + 2;                 // beats of a run's plane segment
  localparam integer RB_MAX   = 6;                         // beats per row, both planes
  localparam integer PLANE_BEATS = 3;                      // D_MAX * 12 bits <= 3 beats
  localparam integer DW       = `SPATTEN_DATA_W;
  localparam integer PW       = PLANE_BEATS * AXI_DATA_W;     // one plane row
  localparam integer LG_SPAN  = (CHANNELS == 1 || LOG2_INTERLEAVE > 12) ? 7 : LOG2_INTERLEAVE - 5;
  localparam integer SPAN     = 1 << LG_SPAN;              // beats between forced burst cuts
  localparam integer CH_SHIFT = LOG2_INTERLEAVE - 5;       // channel bits in the beat address
  localparam [8:0]   MAXB     = 9'(MAX_BURST);
  localparam integer RI_W     = IDX_W + 11;                // row info: {idx, empty, last, shared, new MSB beats, offset}
  localparam integer TT_W     = (NTAG > 1) ? $clog2(NTAG) : 1;  // tag table index
  localparam integer DC_W     = $clog2(D_MAX + 1);

  generate
    if (CHANNELS < 1 || CHANNELS > 16 || (CHANNELS & (CHANNELS - 1)) != 0) begin : g_bad_ch
      `SPATTEN_ELAB_FATAL(1, "kv_fetcher: CHANNELS must be a power of two 1..16 (got %0d)", CHANNELS);
    end
    if (ADDR_W < 32 || ADDR_W > 64) begin : g_bad_aw
      `SPATTEN_ELAB_FATAL(1, "kv_fetcher: ADDR_W must be 32..64 (got %0d)", ADDR_W);
    end
    if (AXI_DATA_W != 256) begin : g_bad_dw
      `SPATTEN_ELAB_FATAL(1, "kv_fetcher: AXI_DATA_W must be 256, the row beat (got %0d)", AXI_DATA_W);
    end
    if (OUTSTANDING < 1 || OUTSTANDING > (1 << ID_W) || ID_W < 1 || ID_W > 8) begin : g_bad_os
      `SPATTEN_ELAB_FATAL(1, "kv_fetcher: need 1 <= OUTSTANDING <= 2^ID_W, ID_W 1..8 (got %0d, %0d)", OUTSTANDING, ID_W);
    end
    if (MAX_BURST < 1 || MAX_BURST > 256) begin : g_bad_mb
      `SPATTEN_ELAB_FATAL(1, "kv_fetcher: MAX_BURST must be 1..256 (got %0d)", MAX_BURST);
    end
    if (LOG2_INTERLEAVE < 5 || LOG2_INTERLEAVE > 12) begin : g_bad_il
      `SPATTEN_ELAB_FATAL(1, "kv_fetcher: LOG2_INTERLEAVE must be 5..12 (got %0d)", LOG2_INTERLEAVE);
    end
    if (ROB_BEATS < 8 || ROB_BEATS > 1024 || (ROB_BEATS & (ROB_BEATS - 1)) != 0) begin : g_bad_rob
      `SPATTEN_ELAB_FATAL(1, "kv_fetcher: ROB_BEATS must be a power of two 8..1024 (got %0d)", ROB_BEATS);
    end
    if (IDX_W < 1 || IDX_W > 32 || STRIDE_W < 6 || STRIDE_W > ADDR_W) begin : g_bad_idx
      `SPATTEN_ELAB_FATAL(1, "kv_fetcher: IDX_W 1..32, STRIDE_W 6..ADDR_W (got %0d, %0d)", IDX_W, STRIDE_W);
    end
    if (D_MAX < 1 || D_MAX > 64) begin : g_bad_d
      `SPATTEN_ELAB_FATAL(1, "kv_fetcher: D_MAX must be 1..64 (got %0d)", D_MAX);
    end
    if (CNT_W < 8 || CNT_W > 64) begin : g_bad_cnt
      `SPATTEN_ELAB_FATAL(1, "kv_fetcher: CNT_W must be 8..64 (got %0d)", CNT_W);
    end
  endgenerate

  // Rows advanced and beat position after moving `x` beats inside a plane of `rbp` beats/row.
  function automatic [8:0] div_rb(input [8:0] x, input [1:0] rbp);
    case (rbp)
      2'd2: div_rb = x >> 1;
      2'd3: div_rb = x / 9'd3;
      default: div_rb = x;
    endcase
  endfunction
  function automatic [1:0] mod_rb(input [8:0] x, input [1:0] rbp);
    case (rbp)
      2'd2: mod_rb = {1'b0, x[0]};
      2'd3: mod_rb = 2'(x % 9'd3);
      default: mod_rb = 2'd0;
    endcase
  endfunction

  // ================================================================ job registers
  reg              job_active_q;   // a job accepted, its last row not yet in the output register
  reg              job_two_q;      // ... and a second one behind it
  reg              in_done_q;      // the index packet's last beat was taken
  reg [ADDR_W-1:0] mbase_q;        // bytes (two-plane job: low 5 bits zero)
  reg [STRIDE_W-1:0] mstride_q;
  reg [BA_W-1:0]   lbase_q;
  reg [SB_W-1:0]   lstride_q;
  reg              packed_q;       // MSB-only job: packed rows, shared beats
  reg [6:0]        rbytes_q;       // bytes per MSB row (two-plane: whole beats)
  reg              prev_v_q;       // a row of this job has passed stage 1 ...
  reg [BA_W-1:0]   prev_lb_q;      // ... and this was its last MSB beat
  reg [6:0]        d_q;
  reg [3:0]        mbits_q, lbits_q;  // lbits_q = 0 in MSB-only mode
  reg [1:0]        rbm_q, rbl_q;      // beats per row of each plane (rbl_q = 0: no LSB fetch)
  reg [2:0]        rb_q;              // beats per row in the ROB
  reg [2:0]        cls_m_q, cls_l_q;

  wire [3:0]  job_l_eff = job_lsb_en ? job_lsb_bits : 4'd0;
  // beats per row: ceil(D * bits / 256), 0..3
  wire [1:0]  job_rbm = 2'((11'(job_d) * 11'(job_msb_bits) + 11'd255) >> 8);
  wire [1:0]  job_rbl = 2'((11'(job_d) * 11'(job_l_eff) + 11'd255) >> 8);
  wire [6:0]  job_rbytes = job_lsb_en ? {job_rbm, 5'd0} : 7'((11'(job_d) * 11'(job_msb_bits) + 11'd7) >> 3);
  wire        job_fire = job_valid & job_ready;
  wire        job_same = (job_lsb_en ? {job_msb_stride[STRIDE_W-1:5], 5'd0} : job_msb_stride) == mstride_q
                         && job_lsb_stride[STRIDE_W-1:5] == lstride_q
                         && packed_q == ~job_lsb_en && d_q == job_d && mbits_q == job_msb_bits
                         && lbits_q == job_l_eff && cls_m_q == job_class_msb
                         && cls_l_q == job_class_lsb;
  // the second job: while the first one's rows are still on their way
  wire        job_next = job_active_q & ~job_two_q & in_done_q & job_same;
  assign job_ready = ~job_active_q | job_next;

  // ================================================================ stage 1: row addresses
  reg              row_v_q;
  reg [IDX_W-1:0]  row_idx_q;
  reg              row_empty_q, row_last_q;
  reg [BA_W-1:0]   row_maddr_q, row_laddr_q;   // first beat to fetch, per plane
  reg [2:0]        row_nm_q;                   // MSB beats to fetch (0: all in the carry beat)
  reg              row_sh_q;                   // the first beat is the previous row's last
  reg [4:0]        row_off_q;                  // byte offset of the row in its first beat
  wire             row_take;
  wire             in_fire = in_valid & in_ready;
  assign in_ready = job_active_q & ~in_done_q & (~row_v_q | row_take);

  /* verilator lint_off WIDTHEXPAND */
  wire [ADDR_W-1:0] in_mbyte = mbase_q + in_idx * mstride_q;  // wraps modulo 2^ADDR_W like AXI
  wire [BA_W-1:0] in_laddr = lbase_q + in_idx * lstride_q;
  /* verilator lint_on WIDTHEXPAND */
  wire [BA_W-1:0] in_fb  = in_mbyte[ADDR_W-1:5];
  wire [4:0]      in_off = in_mbyte[4:0];
  /* verilator lint_off UNUSEDSIGNAL */  // the byte within the last beat does not matter
  wire [7:0]      in_end = {3'd0, in_off} + {1'b0, rbytes_q} - 8'd1;   // last byte, from the first beat
  /* verilator lint_on UNUSEDSIGNAL */
  wire [2:0]      in_last_beat = in_end[7:5];                           // its beat, 0..3
  wire [2:0]      in_nb  = in_last_beat + 3'd1;                         // beats the row touches, 1..4
  wire [BA_W-1:0] in_lb  = in_fb + BA_W'(in_last_beat);
  wire            in_sh  = packed_q & prev_v_q & (in_fb == prev_lb_q);

  // ================================================================ stage 2: run builder
  reg              run_v_q;
  reg [BA_W-1:0]   run_maddr_q, run_laddr_q;   // first beat of the run, per plane
  reg [BA_W-1:0]   run_mend_q, run_lend_q;     // beat after the run, per plane
  reg [RUN_W-1:0]  run_n_q;
  reg [LEFT_W-1:0] run_mb_q, pend_mb_q;        // MSB beats of the run
  reg [ROB_AW-1:0] run_rob_q;                  // ROB position of the run's first beat
  reg [ROB_AW-1:0] alloc_q;                    // next free ROB position
  reg [USED_W-1:0] used_q;                     // ROB beats allocated and not yet drained
  // A closed run waits in the pending register while the splitter is busy, so a row that
  // does not continue the open run (the next interleave granule of an array channel) starts
  // a new run at once instead of stalling the index input until a tag frees.
  reg              pend_v_q;
  reg  [NTAG-1:0]  tag_busy_q;                 // per (channel, ARID): a burst in flight
  reg [BA_W-1:0]   pend_maddr_q, pend_laddr_q;
  reg [RUN_W-1:0]  pend_n_q;
  reg [ROB_AW-1:0] pend_rob_q;
  wire             sp_accept;                  // the splitter takes a run this cycle
  wire             ri_full;
  wire [USED_W-1:0] rob_free = USED_W'(ROB_BEATS) - used_q;
  wire [2:0]       row_nn = row_nm_q + {1'b0, rbl_q};   // ROB beats the row allocates
  wire             room = (rob_free >= {{(USED_W-3){1'b0}}, row_nn});
  wire             contig = (row_maddr_q == run_mend_q) & ((rbl_q == 2'd0) | (row_laddr_q == run_lend_q))
                            & (run_n_q != {RUN_W{1'b1}});
  wire             take_pend = pend_v_q & sp_accept;            // oldest run first
  wire             row_ok = row_v_q & ~row_empty_q & ~ri_full & room & (row_nm_q != 3'd0);
  // a row inside the carry beat fetches nothing: it only queues its row info
  wire             row_zero = row_v_q & ~row_empty_q & ~ri_full & (row_nm_q == 3'd0);
  // While any burst is in flight, the open run keeps growing as long as the next row
  // continues it and it is shorter than a burst: handing it over earlier would issue short
  // bursts that tie up tags for a whole memory latency each (a fetch under load would then
  // be tag-bound). With nothing in flight it goes at once (no added latency).
  /* verilator lint_off WIDTHEXPAND */
  wire             run_big = (run_mend_q - run_maddr_q) >= BA_W'(MAX_BURST);
  /* verilator lint_on WIDTHEXPAND */
  wire             grow = row_ok & contig & ~run_big & (|tag_busy_q);
  wire             hand = ~pend_v_q & run_v_q & sp_accept & ~grow;  // the open run itself
  wire             park = row_ok & run_v_q & ~hand & ~contig & (~pend_v_q | take_pend);
  wire             row_new = row_ok & (~run_v_q | hand | park);
  wire             row_append = row_ok & run_v_q & ~hand & contig;
  wire             row_marker = row_v_q & row_empty_q & ~ri_full;
  assign row_take = row_new | row_append | row_marker | row_zero;
  wire             alloc = row_new | row_append;

  // the run the splitter takes: the pending one if any, else the open one
  wire [BA_W-1:0]   src_maddr = pend_v_q ? pend_maddr_q : run_maddr_q;
  wire [BA_W-1:0]   src_laddr = pend_v_q ? pend_laddr_q : run_laddr_q;
  wire [RUN_W-1:0]  src_n     = pend_v_q ? pend_n_q : run_n_q;
  wire [LEFT_W-1:0] src_mb    = pend_v_q ? pend_mb_q : run_mb_q;
  wire [ROB_AW-1:0] src_rob   = pend_v_q ? pend_rob_q : run_rob_q;

  // ================================================================ stage 3: burst splitter
  reg              sp_busy_q;
  reg              sp_plane_q;                 // 0: MSB segment, 1: LSB segment
  reg [BA_W-1:0]   sp_addr_q;                  // next beat address
  reg [LEFT_W-1:0] sp_left_q;                  // beats left in this segment
  reg [ROB_AW-1:0] sp_ring_q;                  // ROB position of the next beat
  reg [1:0]        sp_q_q;                     // its beat number inside the row's plane part
  reg [BA_W-1:0]   sp_laddr_q;                 // LSB segment, started after the MSB one
  reg [ROB_AW-1:0] sp_lring_q;
  reg [LEFT_W-1:0] sp_lleft_q;

  wire [1:0]  sp_rbp = sp_plane_q ? rbl_q : rbm_q;
  wire [8:0]  sp_to_bnd = 9'(SPAN) - {1'b0, 8'(sp_addr_q[LG_SPAN-1:0])};
  wire [8:0]  sp_left9 = (sp_left_q > LEFT_W'(256)) ? 9'd256 : 9'(sp_left_q);
  wire [8:0]  sp_len_a = (sp_left9 < MAXB) ? sp_left9 : MAXB;
  wire [8:0]  sp_len = (sp_len_a < sp_to_bnd) ? sp_len_a : sp_to_bnd;  // 1..256
  wire [CH_W-1:0] sp_ch;
  generate
    if (CHANNELS > 1) begin : g_chsel
      assign sp_ch = sp_addr_q[CH_SHIFT +: CH_W];
    end else begin : g_chsel1
      assign sp_ch = 1'b0;
    end
  endgenerate

  // per-channel AR registers and tag state
  reg  [CHANNELS-1:0]      ar_v_q;
  reg  [ID_W-1:0]          ar_id_q   [0:CHANNELS-1];
  reg  [BA_W-1:0]          ar_addr_q [0:CHANNELS-1];
  reg  [7:0]               ar_len_q  [0:CHANNELS-1];
  reg  [ROB_AW-1:0]        tt_ring_q [0:NTAG-1];  // ROB position of the tag's next beat
  reg  [1:0]               tt_q_q    [0:NTAG-1];
  reg                      tt_plane_q[0:NTAG-1];

  // lowest free tag of the splitter's channel
  reg  [TAG_W-1:0] free_tag;
  reg              free_any;
  integer fi;
  always @* begin
    free_tag = {TAG_W{1'b0}};
    free_any = 1'b0;
    for (fi = OUTSTANDING - 1; fi >= 0; fi = fi - 1) begin
      if (!tag_busy_q[32'(sp_ch) * OUTSTANDING + fi]) begin
        free_tag = TAG_W'(fi);
        free_any = 1'b1;
      end
    end
  end
  wire sp_ar_free = ~ar_v_q[sp_ch] | m_axi_arready[sp_ch];
  wire sp_issue = sp_busy_q & free_any & sp_ar_free;
  wire sp_seg_end = (sp_left_q == LEFT_W'(sp_len));
  wire sp_finish = sp_issue & sp_seg_end & (sp_plane_q | (sp_lleft_q == {LEFT_W{1'b0}}));
  assign sp_accept = ~sp_busy_q | sp_finish;
  wire [TT_W-1:0] issue_tag_idx = TT_W'(32'(sp_ch) * OUTSTANDING + 32'(free_tag));

  // position after this burst
  wire [8:0]  sp_x = 9'(sp_q_q) + sp_len;
  wire [8:0]  sp_rows = div_rb(sp_x, sp_rbp);
  wire [1:0]  sp_qn = mod_rb(sp_x, sp_rbp);
  wire [ROB_AW-1:0] sp_ring_n = sp_ring_q - ROB_AW'(sp_q_q) + ROB_AW'(12'(sp_rows) * 12'(rb_q)) + ROB_AW'(sp_qn);

  // ================================================================ R side: arbitration, ROB write
  reg  [ROB_AW-1:0]   head_q;                 // drain: next ROB position to read
  wire [CHANNELS*ROB_AW-1:0] ch_dist;         // per channel: its R beat's distance from the head
  genvar gd;
  for (gd = 0; gd < CHANNELS; gd = gd + 1) begin : g_dist_ch
    wire [TT_W-1:0] t = TT_W'(gd * OUTSTANDING + 32'(m_axi_rid[gd*ID_W +: ID_W]));
    assign ch_dist[gd*ROB_AW +: ROB_AW] = tt_ring_q[t] - head_q;
  end
  // Oldest first: among the channels presenting an R beat, grant the one whose beat goes
  // nearest the ROB head (the drain reads in order, so the beat it waits for goes first).
  reg  [CH_W-1:0]  g_ch;
  reg              g_any;
  reg  [ROB_AW-1:0] g_dist;
  integer ai;
  always @* begin
    g_ch = {CH_W{1'b0}};
    g_any = 1'b0;
    g_dist = {ROB_AW{1'b1}};
    for (ai = 0; ai < CHANNELS; ai = ai + 1) begin
      if (m_axi_rvalid[ai] && (!g_any || ch_dist[ai*ROB_AW +: ROB_AW] < g_dist)) begin
        g_ch = CH_W'(ai);
        g_any = 1'b1;
        g_dist = ch_dist[ai*ROB_AW +: ROB_AW];
      end
    end
  end
  genvar gc;
  for (gc = 0; gc < CHANNELS; gc = gc + 1) begin : g_rready
    assign m_axi_rready[gc] = g_any & (g_ch == CH_W'(gc));
  end
  wire [ID_W-1:0]        r_id   = m_axi_rid[32'(g_ch) * ID_W +: ID_W];
  wire [AXI_DATA_W-1:0]  r_data = m_axi_rdata[32'(g_ch) * AXI_DATA_W +: AXI_DATA_W];
  wire [1:0]             r_resp = m_axi_rresp[32'(g_ch) * 2 +: 2];
  wire                   r_last = m_axi_rlast[g_ch];
  wire [TT_W-1:0]        r_tag  = TT_W'(32'(g_ch) * OUTSTANDING + 32'(r_id));
  wire [ROB_AW-1:0]      r_ring = tt_ring_q[r_tag];
  wire [1:0]             r_q    = tt_q_q[r_tag];
  wire                   r_plane = tt_plane_q[r_tag];
  wire [1:0]             r_rbp  = r_plane ? rbl_q : rbm_q;
  wire [1:0]             r_skip2 = r_plane ? rbm_q : rbl_q;
  wire                   r_row_end = (r_q == r_rbp - 2'd1);
  wire [ROB_AW-1:0]      r_ring_n = r_ring + ROB_AW'(1) + (r_row_end ? ROB_AW'(r_skip2) : {ROB_AW{1'b0}});
  wire                   r_fire = g_any;
  wire                   r_bad = r_resp[1];

  // Toggle coverage of the data storage says nothing useful and bloats the Verilator model.
  /* verilator coverage_off */
  reg [AXI_DATA_W-1:0]   rob_mem [0:ROB_BEATS-1];
  /* verilator coverage_on */
  reg [ROB_BEATS-1:0]    rob_vld_q;
  reg [ROB_BEATS-1:0]    rob_err_q;

  // ================================================================ drain and output
  reg  [2:0]          dr_pos_q;               // beat of the current row
  reg                 dr_err_q;
  /* verilator coverage_off */
  reg  [AXI_DATA_W-1:0] asm_q [0:RB_MAX-2];   // beats 0..rb-2 of the current row
  /* verilator coverage_on */
  reg                 pkt_err_q;              // an error row was output in this packet

  wire                ri_valid;
  wire [RI_W-1:0]     ri_data;
  wire                ri_pop;
  wire [IDX_W-1:0]    ri_idx = ri_data[RI_W-1:11];
  wire                ri_empty = ri_data[10];
  wire                ri_last = ri_data[9];
  wire                ri_sh = ri_data[8];
  wire [2:0]          ri_nm = ri_data[7:5];
  wire [4:0]          ri_off = ri_data[4:0];

  // The output register holds the raw plane rows; the converter works on it, so it sees one
  // change per row (and the ROB read path ends at a register).
  reg                 o_v_q;
  reg  [PW-1:0]       o_msb_q, o_lsb_q;
  reg  [DC_W-1:0]     o_d_q;   // d <= D_MAX (the CSRs refuse a larger D): DC_W bits hold it
  reg  [3:0]          o_m_q, o_l_q;
  reg  [IDX_W-1:0]    o_idx_q;
  reg                 o_empty_q, o_err_q, o_last_q;
  wire                o_free = ~o_v_q | out_ready;

  wire [AXI_DATA_W-1:0] head_beat = rob_mem[head_q];
  wire                head_vld = rob_vld_q[head_q];
  // The row's beats are [carry beat if shared] + dr_nn ROB beats; dr_pos_q counts the ROB
  // beats read so far and dr_k is the row beat the head is read into.
  wire [2:0]          dr_nn = ri_nm + {1'b0, rbl_q};
  wire                dr_reads = (dr_nn != 3'd0);
  wire [2:0]          dr_k = dr_pos_q + {2'd0, ri_sh};
  wire                dr_row_end = (dr_pos_q == dr_nn - 3'd1);
  wire                dr_beat = ri_valid & ~ri_empty & dr_reads & head_vld & (~dr_row_end | o_free);
  wire                dr_zero = ri_valid & ~ri_empty & ~dr_reads & o_free;  // all in the carry beat
  wire                dr_row = (dr_beat & dr_row_end) | dr_zero;
  wire                dr_marker = ri_valid & ri_empty & o_free;
  assign ri_pop = dr_row | dr_marker;
  wire                dr_load = dr_row | dr_marker;
  wire                row_err = dr_err_q | (dr_reads & rob_err_q[head_q]) | (ri_sh & carry_err_q);

  // the row's beats: the carry beat (shared), asm_q for those already read, the head beat for
  // the current one
  /* verilator coverage_off */
  reg  [AXI_DATA_W-1:0] carry_q;              // the last beat of the previous row
  /* verilator coverage_on */
  reg                 carry_err_q;
  wire [RB_MAX*AXI_DATA_W-1:0] row_beats;
  genvar gbt;
  for (gbt = 0; gbt < RB_MAX; gbt = gbt + 1) begin : g_rowbeat
    if (gbt == 0) begin : g_first
      assign row_beats[0 +: AXI_DATA_W] = ri_sh ? carry_q : (dr_k == 3'd0) ? head_beat : asm_q[0];
    end else if (gbt < RB_MAX - 1) begin : g_asm
      assign row_beats[gbt*AXI_DATA_W +: AXI_DATA_W] =
          (dr_k == 3'(gbt)) ? head_beat : asm_q[gbt];
    end else begin : g_head
      assign row_beats[gbt*AXI_DATA_W +: AXI_DATA_W] = head_beat;
    end
  end
  // a packed row starts at byte ri_off of its first beat (two-plane rows: offset 0)
  /* verilator lint_off UNUSEDSIGNAL */
  wire [4*AXI_DATA_W-1:0] row_al = row_beats[0 +: 4*AXI_DATA_W] >> {ri_off, 3'd0};
  /* verilator lint_on UNUSEDSIGNAL */
  wire [PW-1:0] msb_row = row_al[0 +: PW];
  reg  [PW-1:0] lsb_row;
  always @* begin
    case (rbm_q)
      2'd2: lsb_row = row_beats[2*AXI_DATA_W +: PW];
      2'd3: lsb_row = row_beats[3*AXI_DATA_W +: PW];
      default: lsb_row = row_beats[1*AXI_DATA_W +: PW];
    endcase
  end
  wire [D_MAX*DW-1:0] conv_values;
  wire [3:0]          conv_known;
  kv_unpack #(
      .D_MAX(D_MAX),
      .ROW_W(PW)
  ) u_unpack (
      .msb_row   (o_msb_q),
      .lsb_row   (o_lsb_q),
      .d_count   (o_d_q),
      .msb_bits  (o_m_q),
      .lsb_bits  (o_l_q),
      .values    (conv_values),
      .known_bits(conv_known)
  );

  // row info FIFO: one entry per row (or empty marker), in output order
  // `full` gates the push (row_take), so in_ready is not needed
  /* verilator lint_off PINCONNECTEMPTY */
  kv_fifo #(
      .WIDTH(RI_W),
      .DEPTH(ROB_BEATS)
  ) u_rinfo (
      .clk      (clk),
      .rst_n    (rst_n),
      .in_valid (row_take),
      .in_ready (),
      .in_data  ({row_idx_q, row_empty_q, row_last_q, row_sh_q, row_nm_q, row_off_q}),
      .full     (ri_full),
      .out_valid(ri_valid),
      .out_ready(ri_pop),
      .out_data (ri_data)
  );
  /* verilator lint_on PINCONNECTEMPTY */

  // ================================================================ counters, errors
  reg  [CNT_W-1:0] cnt_q [0:7];
  reg  [CNT_W-1:0] stall_q;
  reg              err_q;
  reg  [1:0]       err_resp_q;
  reg  [3:0]       err_ch_q;
  reg  [2:0]       err_cls_q;
  wire             stall_now = job_active_q & ri_valid & ~ri_empty & dr_reads & ~head_vld;

  // ================================================================ sequential logic
  integer ci;
  always @(posedge clk) begin
    if (!rst_n) begin
      job_active_q <= 1'b0;
      job_two_q    <= 1'b0;
      in_done_q    <= 1'b0;
      row_v_q      <= 1'b0;
      prev_v_q     <= 1'b0;
      run_v_q      <= 1'b0;
      pend_v_q     <= 1'b0;
      alloc_q      <= {ROB_AW{1'b0}};
      used_q       <= {USED_W{1'b0}};
      sp_busy_q    <= 1'b0;
      ar_v_q       <= {CHANNELS{1'b0}};
      tag_busy_q   <= {NTAG{1'b0}};
      rob_vld_q    <= {ROB_BEATS{1'b0}};
      head_q       <= {ROB_AW{1'b0}};
      dr_pos_q     <= 3'd0;
      dr_err_q     <= 1'b0;
      pkt_err_q    <= 1'b0;
      o_v_q        <= 1'b0;
      stall_q      <= {CNT_W{1'b0}};
      err_q        <= 1'b0;
      err_resp_q   <= 2'd0;
      err_ch_q     <= 4'd0;
      err_cls_q    <= 3'd0;
      for (ci = 0; ci < 8; ci = ci + 1) cnt_q[ci] <= {CNT_W{1'b0}};
    end else begin
      // ---- job
      // jobs in flight: 0 (!active), 1 (active), 2 (active, two); a job ends when its last
      // row (or empty marker) enters the output register
      if (job_fire) begin
        in_done_q    <= 1'b0;
        prev_v_q     <= 1'b0;
      end
      if (job_fire && !(dr_load && ri_last)) begin
        job_active_q <= 1'b1;
        job_two_q    <= job_active_q;
      end else if (!job_fire && dr_load && ri_last) begin
        job_active_q <= job_two_q;
        job_two_q    <= 1'b0;
      end
      if (in_fire && (in_last || in_empty)) in_done_q <= 1'b1;
      if (in_fire && !in_empty) prev_v_q <= 1'b1;

      // ---- stage 1
      if (in_fire) row_v_q <= 1'b1;
      else if (row_take) row_v_q <= 1'b0;

      // ---- stage 2
      if (row_new) begin
        run_v_q <= 1'b1;
      end else if (hand) begin
        run_v_q <= 1'b0;
      end
      if (park) begin
        pend_v_q <= 1'b1;
      end else if (take_pend) begin
        pend_v_q <= 1'b0;
      end
      if (alloc) alloc_q <= alloc_q + ROB_AW'(row_nn);
      used_q <= used_q + (alloc ? USED_W'(row_nn) : {USED_W{1'b0}})
                       - (dr_beat ? USED_W'(1) : {USED_W{1'b0}});

      // ---- stage 3
      if (hand || take_pend) begin
        sp_busy_q <= 1'b1;
      end else if (sp_finish) begin
        sp_busy_q <= 1'b0;
      end

      // ---- AR registers and tags
      for (ci = 0; ci < CHANNELS; ci = ci + 1) begin
        if (m_axi_arready[ci]) ar_v_q[ci] <= 1'b0;
      end
      if (sp_issue) begin
        ar_v_q[sp_ch] <= 1'b1;
        tag_busy_q[issue_tag_idx] <= 1'b1;
      end
      if (r_fire && r_last) tag_busy_q[r_tag] <= 1'b0;

      // ---- ROB
      if (r_fire) rob_vld_q[r_ring] <= 1'b1;
      if (dr_beat) rob_vld_q[head_q] <= 1'b0;

      // ---- drain
      if (dr_beat) begin
        head_q <= head_q + 1'b1;
        if (dr_row) begin
          dr_pos_q <= 3'd0;
          dr_err_q <= 1'b0;
        end else begin
          dr_pos_q <= dr_pos_q + 3'd1;
          dr_err_q <= row_err;
        end
      end
      if (dr_load) begin
        o_v_q <= 1'b1;
        pkt_err_q <= ri_last ? 1'b0 : (pkt_err_q | (dr_row & row_err));
      end else if (out_ready) begin
        o_v_q <= 1'b0;
      end

      // ---- counters and errors
      if (r_fire) begin
        cnt_q[r_plane ? cls_l_q : cls_m_q] <= cnt_q[r_plane ? cls_l_q : cls_m_q] + CNT_W'(BEAT_B);
      end
      if (stall_now) stall_q <= stall_q + 1'b1;
      if (err_clear) begin
        err_q <= 1'b0;
      end else if (r_fire && r_bad && !err_q) begin
        err_q      <= 1'b1;
        err_resp_q <= r_resp;
        err_ch_q   <= 4'(g_ch);
        err_cls_q  <= r_plane ? cls_l_q : cls_m_q;
      end
    end
  end

  // datapath registers (not reset)
  always @(posedge clk) begin
    if (job_fire) begin
      // A packed job works beat by beat: the splitter and the tag table see rows of one beat
      // (rbm = rb = 1), so a burst's beats go to consecutive ROB positions.
      mbase_q   <= job_lsb_en ? {job_msb_base[ADDR_W-1:5], 5'd0} : job_msb_base;
      lbase_q   <= job_lsb_base[ADDR_W-1:5];
      mstride_q <= job_lsb_en ? {job_msb_stride[STRIDE_W-1:5], 5'd0} : job_msb_stride;
      lstride_q <= job_lsb_stride[STRIDE_W-1:5];
      packed_q  <= ~job_lsb_en;
      rbytes_q  <= job_rbytes;
      d_q       <= job_d;
      mbits_q   <= job_msb_bits;
      lbits_q   <= job_l_eff;
      rbm_q     <= job_lsb_en ? job_rbm : 2'd1;
      rbl_q     <= job_rbl;
      rb_q      <= job_lsb_en ? {1'b0, job_rbm} + {1'b0, job_rbl} : 3'd1;
      cls_m_q   <= job_class_msb;
      cls_l_q   <= job_class_lsb;
    end
    if (in_fire) begin
      row_idx_q   <= in_idx;
      row_empty_q <= in_empty;
      row_last_q  <= in_last | in_empty;
      row_maddr_q <= in_fb + BA_W'(in_sh);
      row_laddr_q <= in_laddr;
      row_nm_q    <= in_nb - 3'(in_sh);
      row_sh_q    <= in_sh;
      row_off_q   <= in_off;
    end
    if (in_fire && !in_empty) prev_lb_q <= in_lb;
    if (park) begin
      pend_maddr_q <= run_maddr_q;
      pend_laddr_q <= run_laddr_q;
      pend_n_q     <= run_n_q;
      pend_mb_q    <= run_mb_q;
      pend_rob_q   <= run_rob_q;
    end
    if (row_new) begin
      run_maddr_q <= row_maddr_q;
      run_laddr_q <= row_laddr_q;
      run_mend_q  <= row_maddr_q + BA_W'(row_nm_q);
      run_lend_q  <= row_laddr_q + BA_W'(rbl_q);
      run_n_q     <= RUN_W'(1);
      run_mb_q    <= LEFT_W'(row_nm_q);
      run_rob_q   <= alloc_q;
    end else if (row_append) begin
      run_mend_q  <= run_mend_q + BA_W'(row_nm_q);
      run_lend_q  <= run_lend_q + BA_W'(rbl_q);
      run_n_q     <= run_n_q + 1'b1;
      run_mb_q    <= run_mb_q + LEFT_W'(row_nm_q);
    end
    if (hand || take_pend) begin
      sp_plane_q <= 1'b0;
      sp_addr_q  <= src_maddr;
      sp_left_q  <= src_mb;
      sp_ring_q  <= src_rob;
      sp_q_q     <= 2'd0;
      sp_laddr_q <= src_laddr;
      sp_lring_q <= src_rob + ROB_AW'(rbm_q);
      sp_lleft_q <= LEFT_W'(src_n) * LEFT_W'(rbl_q);
    end else if (sp_issue) begin
      if (sp_seg_end) begin
        sp_plane_q <= 1'b1;
        sp_addr_q  <= sp_laddr_q;
        sp_left_q  <= sp_lleft_q;
        sp_ring_q  <= sp_lring_q;
        sp_q_q     <= 2'd0;
      end else begin
        sp_addr_q  <= sp_addr_q + BA_W'(sp_len);
        sp_left_q  <= sp_left_q - LEFT_W'(sp_len);
        sp_ring_q  <= sp_ring_n;
        sp_q_q     <= sp_qn;
      end
    end
    if (sp_issue) begin
      ar_id_q[sp_ch]   <= ID_W'(free_tag);
      ar_addr_q[sp_ch] <= sp_addr_q;
      ar_len_q[sp_ch]  <= 8'(sp_len - 9'd1);
      tt_ring_q[issue_tag_idx]  <= sp_ring_q;
      tt_q_q[issue_tag_idx]     <= sp_q_q;
      tt_plane_q[issue_tag_idx] <= sp_plane_q;
    end
    if (r_fire) begin
      rob_mem[r_ring] <= r_data;
      rob_err_q[r_ring] <= r_bad;
      tt_ring_q[r_tag] <= r_ring_n;
      tt_q_q[r_tag] <= r_row_end ? 2'd0 : r_q + 2'd1;
    end
    if (dr_beat && !dr_row) asm_q[dr_k] <= head_beat;
    if (dr_beat && dr_row) begin
      carry_q     <= head_beat;
      carry_err_q <= rob_err_q[head_q];
    end
    if (dr_load) begin
      o_msb_q   <= msb_row;
      o_lsb_q   <= lsb_row;
      o_d_q     <= dr_row ? DC_W'(d_q) : {DC_W{1'b0}};      // the empty-list beat: no values, known_bits 0
      o_m_q     <= dr_row ? mbits_q : 4'd0;
      o_l_q     <= dr_row ? lbits_q : 4'd0;
      o_idx_q   <= ri_idx;
      o_empty_q <= ri_empty;
      o_err_q   <= pkt_err_q | (dr_row & row_err);
      o_last_q  <= ri_last;
    end
  end

  // ================================================================ outputs
  assign out_valid      = o_v_q;
  assign out_data       = conv_values;
  assign out_known_bits = conv_known;
  assign out_idx        = o_idx_q;
  assign out_empty      = o_empty_q;
  assign out_err        = o_err_q;
  assign out_last       = o_last_q;
  for (gc = 0; gc < CHANNELS; gc = gc + 1) begin : g_ar
    assign m_axi_arid[gc*ID_W +: ID_W]       = ar_id_q[gc];
    assign m_axi_araddr[gc*ADDR_W +: ADDR_W] = {ar_addr_q[gc], 5'd0};
    assign m_axi_arlen[gc*8 +: 8]            = ar_len_q[gc];
    assign m_axi_arsize[gc*3 +: 3]           = 3'd5;   // 32 bytes
    assign m_axi_arburst[gc*2 +: 2]          = 2'b01;  // INCR
  end
  assign m_axi_arvalid = ar_v_q;
  assign busy          = job_active_q | o_v_q;
  assign err_valid     = err_q;
  assign err_resp      = err_resp_q;
  assign err_channel   = err_ch_q;
  assign err_class     = err_cls_q;
  assign cnt_stall     = stall_q;
  assign stall         = stall_now;
  genvar gk;
  for (gk = 0; gk < 8; gk = gk + 1) begin : g_cnt
    assign cnt_rd_bytes[gk*CNT_W +: CNT_W] = cnt_q[gk];
  end
endmodule
`default_nettype wire
