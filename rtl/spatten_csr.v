`default_nettype none
`include "spatten_check.vh"
`include "spatten_fixed.vh"
`include "spatten_regs.vh"
// Control and status registers of spatten_top: AXI4-Lite slave (32-bit data) implementing the
// register map of rtl/spatten_regs.rdl (generated: docs/registers.md, the offsets of
// rtl/spatten_regs.vh, golden.regs.Reg). Details: docs/csr.md.
//
// * Command CSRs are plain registers, exposed as live outputs (cfg_*) to the controller; the
//   host must not change them while BUSY. Narrow fields (MODE, PRUNE, IRQ_EN, BITS,
//   REQUANT_THR, SCORE_SCALE) store only their bits, the others all 32 (the START check sees
//   the whole value). Every CSR resets to 0.
// * CTRL write (byte 0 strobe): CLEAR and ABORT become one-cycle pulses; START is validated
//   HERE against golden.accel.check_command (plus start-while-busy, code 6): an accepted START
//   gives a one-cycle cmd_start pulse, clears the counters and ERROR_CODE; a refused one sets
//   STATUS.ERROR and ERROR_CODE and nothing else. CLEAR together with START: the check sees the
//   cleared state (all heads live, no live token).
// * STATUS: BUSY = `busy` input or a done/error pulse this cycle; DONE / ERROR sticky, set by
//   done_pulse / error_pulse (which also loads ERROR_CODE from error_code), cleared by writing 1
//   (a set wins over a clear in the same cycle).
// * Counters live here (reset by every accepted START): CYCLES counts cycles with `busy` high,
//   the others count the cnt_* increment / add inputs (a zero add is a no-op).
// * Score scale table: read port scale_head -> {scale_shift, scale_mult}, combinational; head
//   importance scale table (HEAD_SCALE): read port hscale_head -> hscale = {SHIFT, MULT}, the
//   same (the in_scale of head_importance).
// * Importance window (debug read-back): IMP_ADDR = {HEAD, INDEX}; a read of IMP_DATA while
//   idle (not busy, no START pending) pulses imp_tok_rd or imp_head_rd (index in range) with
//   imp_index = INDEX, takes the entry from imp_tok_score / imp_head_score one cycle later (0
//   for an index >= MAX_N / H_MAX), answers bits 31:0 and latches 63:32 into IMP_DATA_HI, and
//   INDEX advances by 1 at that second edge (before a write to IMP_ADDR at the same edge,
//   which merges over the advanced value). R of such a read comes one cycle later than the
//   others. While busy: SLVERR, data 0, nothing changes.
// * Unmapped addresses (including SCORE_SCALE[h] and HEAD_SCALE[h] for h >= H_MAX): SLVERR,
//   reads return 0.
//   Writes to RO registers are ignored with OKAY. One transaction per direction at a time; AW
//   and W are accepted independently, in either order; B and R are held until accepted.
module spatten_csr #(
    parameter integer ADDR_W      = 12,                 // AXI-Lite byte address bits, 9..32
    parameter integer LANES       = 8,                  // VERSION[7:0], power of two <= 128
    parameter integer D_MAX       = `SPATTEN_D_MAX,     // VERSION[15:8], power of two <= SPATTEN_D_MAX
    parameter integer MAX_N       = 1024,               // VERSION[20:16] = log2, power of two 2..SPATTEN_MAX_N
    parameter integer H_MAX       = 16,                 // VERSION[31:21], 1..32
    parameter integer MACS_ADD_W  = 16,                 // cnt_macs_add bits, 1..32
    parameter integer BYTES_ADD_W = 16,                 // bits of each cnt_bytes_add field, 1..32
    // derived (do not override)
    parameter integer NW          = $clog2(MAX_N) + 1,  // bits of N and the token counts
    parameter integer DW          = $clog2(D_MAX) + 1,  // bits of D
    parameter integer HW          = $clog2(H_MAX) + 1,  // bits of HEADS / HEAD_KEEP
    parameter integer HIDX_W      = (H_MAX > 1) ? $clog2(H_MAX) : 1  // head index bits
) (
    input  wire                     clk,
    input  wire                     rst_n,
    // ---------------------------------------------------------------- AXI4-Lite slave
    input  wire                     s_axil_awvalid,
    output wire                     s_axil_awready,
    input  wire [ADDR_W-1:0]        s_axil_awaddr,
    input  wire [2:0]               s_axil_awprot,
    input  wire                     s_axil_wvalid,
    output wire                     s_axil_wready,
    input  wire [31:0]              s_axil_wdata,
    input  wire [3:0]               s_axil_wstrb,
    output wire                     s_axil_bvalid,
    input  wire                     s_axil_bready,
    output wire [1:0]               s_axil_bresp,
    input  wire                     s_axil_arvalid,
    output wire                     s_axil_arready,
    input  wire [ADDR_W-1:0]        s_axil_araddr,
    input  wire [2:0]               s_axil_arprot,
    output wire                     s_axil_rvalid,
    input  wire                     s_axil_rready,
    output wire [31:0]              s_axil_rdata,
    output wire [1:0]               s_axil_rresp,
    // ---------------------------------------------------------------- to the controller
    output wire                     cmd_start,    // one-cycle pulse: an accepted START
    output wire                     cmd_clear,    // one-cycle pulse: CTRL.CLEAR
    output wire                     cmd_abort,    // one-cycle pulse: CTRL.ABORT
    output wire                     cfg_mode,     // 0 summarization, 1 generation
    output wire [NW-1:0]            cfg_n,        // the range-checked fields below are
    output wire [DW-1:0]            cfg_d,        // meaningful for an accepted START
    output wire [HW-1:0]            cfg_heads,
    output wire                     cfg_prune_en,
    output wire [NW-1:0]            cfg_token_keep,
    output wire [HW-1:0]            cfg_head_keep,
    output wire [NW-1:0]            cfg_value_keep,
    output wire [3:0]               cfg_msb_bits,
    output wire [3:0]               cfg_lsb_bits,
    output wire [15:0]              cfg_requant_thr,  // UQ0.16
    output wire [31:0]              cfg_q_base,
    output wire [31:0]              cfg_k_msb_base,
    output wire [31:0]              cfg_k_lsb_base,
    output wire [31:0]              cfg_v_msb_base,
    output wire [31:0]              cfg_e_base,
    output wire [31:0]              cfg_keep_base,
    output wire [31:0]              cfg_head_stride,
    input  wire [HIDX_W-1:0]        scale_head,   // SCORE_SCALE read port (combinational)
    output wire [`SPATTEN_SCORE_MULT_W-1:0]  scale_mult,
    output wire [`SPATTEN_SCORE_SHIFT_W-1:0] scale_shift,
    input  wire [HIDX_W-1:0]        hscale_head,  // HEAD_SCALE read port (combinational)
    output wire [`SPATTEN_HEAD_SCALE_SHIFT_W+`SPATTEN_HEAD_SCALE_MULT_W-1:0] hscale,  // {SHIFT, MULT}
    output wire                     irq,          // IRQ_EN & (DONE | ERROR)
    // ---------------------------------------------------------------- from the controller
    input  wire                     busy,         // must be high the cycle after cmd_start
    input  wire                     done_pulse,   // command finished: STATUS.DONE
    input  wire                     error_pulse,  // command failed: STATUS.ERROR, ERROR_CODE
    input  wire [3:0]               error_code,   //   = error_code (7 / 8 / 10: AXI rd / wr, ABORT)
    input  wire [H_MAX-1:0]         live_heads,   // LIVE_HEADS
    input  wire [NW-1:0]            kept_tokens,  // KEPT_TOKENS (live tokens)
    // ---------------------------------------------------------------- counter events
    input  wire                     cnt_busy_inc,     // BUSY_CYCLES += 1
    input  wire                     cnt_stall_inc,    // MEM_STALL_CYCLES += 1
    input  wire                     cnt_requant_inc,  // REQUANT_ROWS += 1
    input  wire [MACS_ADD_W-1:0]    cnt_macs_add,     // MACS += value
    input  wire [5*BYTES_ADD_W-1:0] cnt_bytes_add,    // BYTES_{Q,K_MSB,K_LSB,V_MSB,E} (field 0..4)
    // ---------------------------------------------------------------- importance window
    output wire                     imp_tok_rd,   // one-cycle: read token_importance entry
    output wire                     imp_head_rd,  // one-cycle: read head_importance entry
    output wire [15:0]              imp_index,    //   imp_index (position / head id)
    input  wire [`SPATTEN_TOK_IMP_W-1:0]  imp_tok_score,   // the entry, the cycle after
    input  wire [`SPATTEN_HEAD_IMP_W-1:0] imp_head_score
);
  // ================================================================ parameter checks
  generate
    if (ADDR_W < 9 || ADDR_W > 32) begin : g_bad_addr_w
      `SPATTEN_ELAB_FATAL(1, "spatten_csr: ADDR_W must be 9..32 (got %0d)", ADDR_W);
    end
    if (LANES < 1 || LANES > 128 || (LANES & (LANES - 1)) != 0) begin : g_bad_lanes
      `SPATTEN_ELAB_FATAL(1, "spatten_csr: LANES must be a power of two <= 128 (got %0d)", LANES);
    end
    if (D_MAX < 1 || D_MAX > `SPATTEN_D_MAX || (D_MAX & (D_MAX - 1)) != 0) begin : g_bad_d_max
      `SPATTEN_ELAB_FATAL(1, "spatten_csr: D_MAX must be a power of two <= %0d (got %0d)",
                          `SPATTEN_D_MAX, D_MAX);
    end
    if (MAX_N < 2 || MAX_N > `SPATTEN_MAX_N || (MAX_N & (MAX_N - 1)) != 0) begin : g_bad_max_n
      `SPATTEN_ELAB_FATAL(1, "spatten_csr: MAX_N must be a power of two 2..%0d (got %0d)",
                          `SPATTEN_MAX_N, MAX_N);
    end
    if (H_MAX < 1 || H_MAX > 32) begin : g_bad_h_max
      `SPATTEN_ELAB_FATAL(1, "spatten_csr: H_MAX must be 1..32 (got %0d)", H_MAX);
    end
    if (MACS_ADD_W < 1 || MACS_ADD_W > 32) begin : g_bad_macs_w
      `SPATTEN_ELAB_FATAL(1, "spatten_csr: MACS_ADD_W must be 1..32 (got %0d)", MACS_ADD_W);
    end
    if (BYTES_ADD_W < 1 || BYTES_ADD_W > 32) begin : g_bad_bytes_w
      `SPATTEN_ELAB_FATAL(1, "spatten_csr: BYTES_ADD_W must be 1..32 (got %0d)", BYTES_ADD_W);
    end
    if (NW != $clog2(MAX_N) + 1 || DW != $clog2(D_MAX) + 1 || HW != $clog2(H_MAX) + 1
        || HIDX_W != ((H_MAX > 1) ? $clog2(H_MAX) : 1)) begin : g_bad_derived
      `SPATTEN_ELAB_FATAL(1, "spatten_csr: NW/DW/HW/HIDX_W are derived, do not override");
    end
  endgenerate

  // ================================================================ constants
  localparam integer WA_W = ADDR_W - 2;  // word address bits
  localparam [31:0] ID_VALUE = `SPATTEN_REG_ID_RESET;  // "SPAT"
  localparam [31:0] VERSION_VALUE = (LANES << `SPATTEN_FIELD_VERSION_LANES_LSB)
                                  | (D_MAX << `SPATTEN_FIELD_VERSION_D_MAX_LSB)
                                  | ($clog2(MAX_N) << `SPATTEN_FIELD_VERSION_LOG2_MAX_N_LSB)
                                  | (H_MAX << `SPATTEN_FIELD_VERSION_H_MAX_LSB);
  localparam [1:0] RESP_OKAY = 2'b00, RESP_SLVERR = 2'b10;
  // word addresses (byte offset / 4) from spatten_regs.vh; scripts/gen_regs.py refuses a map
  // that breaks the groups of consecutive words below.
  localparam integer W_ID = `SPATTEN_REG_ID / 4, W_VERSION = `SPATTEN_REG_VERSION / 4,
                     W_CTRL = `SPATTEN_REG_CTRL / 4, W_STATUS = `SPATTEN_REG_STATUS / 4,
                     W_ERROR_CODE = `SPATTEN_REG_ERROR_CODE / 4;
  localparam integer W_CFG0 = `SPATTEN_REG_IRQ_EN / 4;  // IRQ_EN .. HEAD_STRIDE: NCFG consecutive RW words
  localparam integer NCFG = (`SPATTEN_REG_HEAD_STRIDE - `SPATTEN_REG_IRQ_EN) / 4 + 1;
  localparam integer C_IRQ_EN = 0, C_MODE = `SPATTEN_REG_MODE / 4 - W_CFG0,
                     C_N = `SPATTEN_REG_N / 4 - W_CFG0, C_D = `SPATTEN_REG_D / 4 - W_CFG0,
                     C_HEADS = `SPATTEN_REG_HEADS / 4 - W_CFG0,
                     C_PRUNE = `SPATTEN_REG_PRUNE / 4 - W_CFG0,
                     C_TOKEN_KEEP = `SPATTEN_REG_TOKEN_KEEP / 4 - W_CFG0,
                     C_HEAD_KEEP = `SPATTEN_REG_HEAD_KEEP / 4 - W_CFG0,
                     C_VALUE_KEEP = `SPATTEN_REG_VALUE_KEEP / 4 - W_CFG0,
                     C_BITS = `SPATTEN_REG_BITS / 4 - W_CFG0,
                     C_REQUANT_THR = `SPATTEN_REG_REQUANT_THR / 4 - W_CFG0,
                     C_Q_BASE = `SPATTEN_REG_Q_BASE / 4 - W_CFG0,
                     C_HEAD_STRIDE = `SPATTEN_REG_HEAD_STRIDE / 4 - W_CFG0;
  localparam integer W_LIVE_HEADS = `SPATTEN_REG_LIVE_HEADS / 4,
                     W_KEPT_TOKENS = `SPATTEN_REG_KEPT_TOKENS / 4;
  localparam integer W_IMP_ADDR = `SPATTEN_REG_IMP_ADDR / 4, W_IMP_DATA = `SPATTEN_REG_IMP_DATA / 4,
                     W_IMP_DATA_HI = `SPATTEN_REG_IMP_DATA_HI / 4;
  localparam integer W_CNT0 = `SPATTEN_REG_CYCLES / 4;  // CYCLES .. MEM_STALL_CYCLES: NCNT consecutive RO words
  localparam integer NCNT = (`SPATTEN_REG_MEM_STALL_CYCLES - `SPATTEN_REG_CYCLES) / 4 + 1;
  localparam integer K_CYCLES = 0, K_BUSY = `SPATTEN_REG_BUSY_CYCLES / 4 - W_CNT0,
                     K_MACS_LO = `SPATTEN_REG_MACS_LO / 4 - W_CNT0,
                     K_MACS_HI = `SPATTEN_REG_MACS_HI / 4 - W_CNT0,
                     K_BYTES0 = `SPATTEN_REG_BYTES_Q / 4 - W_CNT0,
                     K_REQUANT = `SPATTEN_REG_REQUANT_ROWS / 4 - W_CNT0,
                     K_STALL = `SPATTEN_REG_MEM_STALL_CYCLES / 4 - W_CNT0;
  localparam integer W_SCALE0 = `SPATTEN_REG_SCORE_SCALE / 4;  // SCORE_SCALE[0..H_MAX-1]
  localparam integer SCALE_W = `SPATTEN_SCORE_MULT_W + `SPATTEN_SCORE_SHIFT_W;
  localparam integer W_HSCALE0 = `SPATTEN_REG_HEAD_SCALE / 4;  // HEAD_SCALE[0..H_MAX-1]
  localparam integer HSCALE_W = `SPATTEN_HEAD_SCALE_MULT_W + `SPATTEN_HEAD_SCALE_SHIFT_W;
  // START check codes (golden/codes.py via spatten_fixed.vh)
  localparam [3:0] E_BAD_N = `SPATTEN_ERR_BAD_N, E_BAD_D = `SPATTEN_ERR_BAD_D,
                   E_BAD_HEADS = `SPATTEN_ERR_BAD_HEADS, E_K_GT_LIVE = `SPATTEN_ERR_K_GT_LIVE,
                   E_MISALIGNED = `SPATTEN_ERR_MISALIGNED, E_START_BUSY = `SPATTEN_ERR_START_BUSY,
                   E_BAD_BITS = `SPATTEN_ERR_BAD_BITS, E_BAD_LAYOUT = `SPATTEN_ERR_BAD_LAYOUT;

  // Stored bits of each RW word (the others read 0).
  function automatic [31:0] cfg_mask(input integer c);
    case (c)
      C_IRQ_EN:      cfg_mask = `SPATTEN_REG_IRQ_EN_MASK;
      C_MODE:        cfg_mask = `SPATTEN_REG_MODE_MASK;
      C_PRUNE:       cfg_mask = `SPATTEN_REG_PRUNE_MASK;
      C_BITS:        cfg_mask = `SPATTEN_REG_BITS_MASK;
      C_REQUANT_THR: cfg_mask = `SPATTEN_REG_REQUANT_THR_MASK;
      default:       cfg_mask = 32'hFFFF_FFFF;  // the other RW words store all 32 bits
    endcase
  endfunction

  function automatic [31:0] merge(input [31:0] old, input [31:0] data, input [3:0] strb);
    integer b;
    begin
      for (b = 0; b < 4; b = b + 1) merge[b*8 +: 8] = strb[b] ? data[b*8 +: 8] : old[b*8 +: 8];
    end
  endfunction

  // ================================================================ AXI-Lite write side
  reg              aw_held_q, w_held_q, bvalid_q;
  reg [WA_W-1:0]   aw_word_q;
  reg [31:0]       w_data_q;
  reg [3:0]        w_strb_q;
  reg [1:0]        bresp_q;

  assign s_axil_awready = ~aw_held_q & ~bvalid_q;
  assign s_axil_wready  = ~w_held_q & ~bvalid_q;
  assign s_axil_bvalid  = bvalid_q;
  assign s_axil_bresp   = bresp_q;

  wire aw_fire = s_axil_awvalid & s_axil_awready;
  wire w_fire  = s_axil_wvalid & s_axil_wready;
  wire [WA_W-1:0] wr_word = aw_held_q ? aw_word_q : s_axil_awaddr[ADDR_W-1:2];
  wire [31:0]     wr_data = w_held_q ? w_data_q : s_axil_wdata;
  wire [3:0]      wr_strb = w_held_q ? w_strb_q : s_axil_wstrb;
  wire            wr_go   = (aw_held_q | aw_fire) & (w_held_q | w_fire);  // the write happens

  always @(posedge clk) begin
    if (!rst_n) begin
      aw_held_q <= 1'b0;
      w_held_q  <= 1'b0;
      bvalid_q  <= 1'b0;
    end else begin
      if (wr_go) begin
        aw_held_q <= 1'b0;
        w_held_q  <= 1'b0;
        bvalid_q  <= 1'b1;
      end else begin
        if (aw_fire) aw_held_q <= 1'b1;
        if (w_fire)  w_held_q  <= 1'b1;
        if (s_axil_bready) bvalid_q <= 1'b0;
      end
    end
  end

  always @(posedge clk) begin
    if (aw_fire) aw_word_q <= s_axil_awaddr[ADDR_W-1:2];
    if (w_fire) begin
      w_data_q <= s_axil_wdata;
      w_strb_q <= s_axil_wstrb;
    end
    if (wr_go) bresp_q <= wr_mapped ? RESP_OKAY : RESP_SLVERR;
  end

  // ================================================================ address decode
  function automatic is_mapped(input [WA_W-1:0] w);
    is_mapped = (w <= WA_W'(W_KEPT_TOKENS))
                || w == WA_W'(W_IMP_ADDR) || w == WA_W'(W_IMP_DATA) || w == WA_W'(W_IMP_DATA_HI)
                || (w >= WA_W'(W_CNT0) && w < WA_W'(W_CNT0 + NCNT))
                || (w >= WA_W'(W_SCALE0) && w < WA_W'(W_SCALE0 + H_MAX))
                || (32'(w) >= 32'(W_HSCALE0) && 32'(w) < 32'(W_HSCALE0 + H_MAX));  // ends at
                                                      // 2^WA_W when ADDR_W = 9, H_MAX = 32
  endfunction

  wire wr_mapped = is_mapped(wr_word);
  wire wr_byte0  = wr_go & wr_strb[0];
  wire wr_ctrl   = wr_byte0 & (wr_word == WA_W'(W_CTRL));
  wire wr_status = wr_byte0 & (wr_word == WA_W'(W_STATUS));

  // ================================================================ RW registers
  reg [31:0]        cfg_q   [0:NCFG-1];
  reg [SCALE_W-1:0] scale_q [0:H_MAX-1];
  reg [HSCALE_W-1:0] hscale_q [0:H_MAX-1];

  integer ri;
  always @(posedge clk) begin
    if (!rst_n) begin
      for (ri = 0; ri < NCFG; ri = ri + 1) cfg_q[ri] <= 32'd0;
      for (ri = 0; ri < H_MAX; ri = ri + 1) scale_q[ri] <= {SCALE_W{1'b0}};
      for (ri = 0; ri < H_MAX; ri = ri + 1) hscale_q[ri] <= {HSCALE_W{1'b0}};
    end else if (wr_go) begin
      for (ri = 0; ri < NCFG; ri = ri + 1)
        if (wr_word == WA_W'(W_CFG0 + ri))
          cfg_q[ri] <= merge(cfg_q[ri], wr_data, wr_strb) & cfg_mask(ri);
      for (ri = 0; ri < H_MAX; ri = ri + 1)
        if (wr_word == WA_W'(W_SCALE0 + ri))
          scale_q[ri] <= SCALE_W'(merge(32'(scale_q[ri]), wr_data, wr_strb));
      for (ri = 0; ri < H_MAX; ri = ri + 1)
        if (wr_word == WA_W'(W_HSCALE0 + ri))
          hscale_q[ri] <= HSCALE_W'(merge(32'(hscale_q[ri]), wr_data, wr_strb));
    end
  end

  assign {scale_shift, scale_mult} = scale_q[scale_head];
  assign hscale = hscale_q[hscale_head];

  assign cfg_mode        = cfg_q[C_MODE][`SPATTEN_FIELD_MODE_GENERATION];
  assign cfg_n           = cfg_q[C_N][NW-1:0];
  assign cfg_d           = cfg_q[C_D][DW-1:0];
  assign cfg_heads       = cfg_q[C_HEADS][HW-1:0];
  assign cfg_prune_en    = cfg_q[C_PRUNE][`SPATTEN_FIELD_PRUNE_EN];
  assign cfg_token_keep  = cfg_q[C_TOKEN_KEEP][NW-1:0];
  assign cfg_head_keep   = cfg_q[C_HEAD_KEEP][HW-1:0];
  assign cfg_value_keep  = cfg_q[C_VALUE_KEEP][NW-1:0];
  assign cfg_msb_bits    = cfg_q[C_BITS][`SPATTEN_FIELD_BITS_MSB];
  assign cfg_lsb_bits    = cfg_q[C_BITS][`SPATTEN_FIELD_BITS_LSB];
  assign cfg_requant_thr = cfg_q[C_REQUANT_THR][`SPATTEN_FIELD_REQUANT_THR_THR];
  assign cfg_q_base      = cfg_q[C_Q_BASE];
  assign cfg_k_msb_base  = cfg_q[C_Q_BASE + 1];
  assign cfg_k_lsb_base  = cfg_q[C_Q_BASE + 2];
  assign cfg_v_msb_base  = cfg_q[C_Q_BASE + 3];
  assign cfg_e_base      = cfg_q[C_Q_BASE + 4];
  assign cfg_keep_base   = cfg_q[C_Q_BASE + 5];
  assign cfg_head_stride = cfg_q[C_HEAD_STRIDE];

  // ================================================================ START check
  // golden.accel.check_command; `clear` in the same write: all heads live, no live token.
  reg start_q, clear_q, abort_q;
  wire clear_req = wr_ctrl & wr_data[`SPATTEN_FIELD_CTRL_CLEAR];
  wire [H_MAX-1:0] live_eff = clear_req ? {H_MAX{1'b1}} : live_heads;
  wire [31:0]      kept_eff = clear_req ? 32'd0 : 32'(kept_tokens);
  wire [31:0] n_v = cfg_q[C_N], d_v = cfg_q[C_D], heads_v = cfg_q[C_HEADS];
  wire [31:0] tk_v = cfg_q[C_TOKEN_KEEP], hk_v = cfg_q[C_HEAD_KEEP], vk_v = cfg_q[C_VALUE_KEEP];
  wire [3:0]  msb_v = cfg_q[C_BITS][`SPATTEN_FIELD_BITS_MSB], lsb_v = cfg_q[C_BITS][`SPATTEN_FIELD_BITS_LSB];

  reg [5:0] live_cnt;  // live heads below HEADS
  integer hi;
  always @(*) begin
    live_cnt = 6'd0;
    for (hi = 0; hi < H_MAX; hi = hi + 1)
      if (live_eff[hi] && heads_v > 32'(hi)) live_cnt = live_cnt + 6'd1;
  end

  reg misaligned;
  integer ai;
  always @(*) begin
    misaligned = 1'b0;
    for (ai = C_Q_BASE; ai <= C_HEAD_STRIDE; ai = ai + 1)
      if (cfg_q[ai][4:0] != 5'd0) misaligned = 1'b1;
  end

  wire bad_n     = n_v == 32'd0 || n_v > 32'(MAX_N) || n_v < kept_eff;
  wire bad_d     = d_v == 32'd0 || d_v > 32'(D_MAX) || (d_v & (d_v - 32'd1)) != 32'd0;
  wire bad_heads = heads_v == 32'd0 || heads_v > 32'(H_MAX) || live_cnt == 6'd0;
  wire bad_k     = vk_v == 32'd0 || vk_v > n_v
                   || (cfg_q[C_PRUNE][`SPATTEN_FIELD_PRUNE_EN] && (tk_v == 32'd0 || tk_v > n_v
                                            || hk_v == 32'd0 || hk_v > 32'(live_cnt)));
  wire bad_bits  = msb_v == 4'd0 || msb_v > 4'd12 || {1'b0, msb_v} + {1'b0, lsb_v} > 5'd12;
  wire busy_eff  = busy | start_q;  // the controller raises busy the cycle after start

  // ---------------------------------------------------------------- layout rule (code 11)
  // golden.accel.layout_error, on the region sizes the RTL touches (whole beats); the sizes
  // are meaningful once the checks above pass (they have priority). With HEADS > 1 every
  // region of head 0 lies in [lo, lo + HEAD_STRIDE) (lo: the lowest per-head base); E
  // overlaps no region read; KEEP (PRUNE) overlaps no head's block.
  localparam integer SZW = 24;  // region bytes: <= 4096 rows x 96 B + 31
  localparam integer LAW = 40;  // byte addresses without wrap (lo + 32 x HEAD_STRIDE)
  function automatic [SZW-1:0] plane(input [NW-1:0] rows, input [7:0] d, input [3:0] bits);
    reg [SZW-1:0] rb;
    begin
      rb = (SZW'(d) * SZW'(bits) + SZW'(7)) >> 3;  // bytes of a packed row
      plane = (SZW'(rows) * rb + SZW'(31)) & ~SZW'(31);
    end
  endfunction
  function automatic overlap(input [LAW-1:0] a0, input [LAW-1:0] a1, input [LAW-1:0] b0,
                             input [LAW-1:0] b1);
    overlap = a0 < b1 && b0 < a1;
  endfunction
  wire [NW-1:0]  lay_nq = cfg_q[C_MODE][`SPATTEN_FIELD_MODE_GENERATION] ? NW'(1) : n_v[NW-1:0];
  wire           lsb_used = lsb_v != 4'd0;
  wire [SZW-1:0] sz_q  = plane(lay_nq, d_v[7:0], 4'd12);
  wire [SZW-1:0] sz_k  = plane(n_v[NW-1:0], d_v[7:0], msb_v);  // K MSB and V MSB planes
  wire [SZW-1:0] sz_kl = plane(n_v[NW-1:0], d_v[7:0], lsb_v);
  wire [SZW-1:0] sz_e  = SZW'(lay_nq) * ((SZW'(d_v[7:0]) * SZW'(2) + SZW'(31)) & ~SZW'(31));
  wire [SZW-1:0] sz_kp = (SZW'(tk_v[NW-1:0]) * SZW'(2) + SZW'(31)) & ~SZW'(31);
  wire [LAW-1:0] q0 = LAW'(cfg_q[C_Q_BASE]), k0 = LAW'(cfg_q[C_Q_BASE + 1]),
                 kl0 = LAW'(cfg_q[C_Q_BASE + 2]), v0 = LAW'(cfg_q[C_Q_BASE + 3]),
                 e0 = LAW'(cfg_q[C_Q_BASE + 4]), kp0 = LAW'(cfg_q[C_Q_BASE + 5]);
  wire [LAW-1:0] q1 = q0 + LAW'(sz_q), k1 = k0 + LAW'(sz_k), kl1 = kl0 + LAW'(sz_kl),
                 v1 = v0 + LAW'(sz_k), e1 = e0 + LAW'(sz_e), kp1 = kp0 + LAW'(sz_kp);
  wire [LAW-1:0] stride_v = LAW'(cfg_q[C_HEAD_STRIDE]);
  reg  [LAW-1:0] lay_lo, lay_end;  // lowest per-head base, highest end of head 0's regions
  always @(*) begin
    lay_lo = q0;
    if (k0 < lay_lo) lay_lo = k0;
    if (lsb_used && kl0 < lay_lo) lay_lo = kl0;
    if (v0 < lay_lo) lay_lo = v0;
    if (e0 < lay_lo) lay_lo = e0;
    lay_end = q1;
    if (k1 > lay_end) lay_end = k1;
    if (lsb_used && kl1 > lay_end) lay_end = kl1;
    if (v1 > lay_end) lay_end = v1;
    if (e1 > lay_end) lay_end = e1;
  end
  wire multi_head = heads_v > 32'd1;
  wire [LAW-1:0] lay_hi = multi_head ? lay_lo + LAW'(heads_v[5:0]) * stride_v : lay_end;
  wire bad_stride = multi_head && lay_end > lay_lo + stride_v;
  wire e_overlap  = overlap(e0, e1, q0, q1) || overlap(e0, e1, k0, k1) || overlap(e0, e1, v0, v1)
                    || (lsb_used && overlap(e0, e1, kl0, kl1));
  wire keep_overlap = cfg_q[C_PRUNE][`SPATTEN_FIELD_PRUNE_EN] && overlap(kp0, kp1, lay_lo, lay_hi);
  wire bad_layout = bad_stride | e_overlap | keep_overlap;

  reg [3:0] start_code;  // 0: accepted
  always @(*) begin
    if (busy_eff)        start_code = E_START_BUSY;
    else if (bad_n)      start_code = E_BAD_N;
    else if (bad_d)      start_code = E_BAD_D;
    else if (bad_heads)  start_code = E_BAD_HEADS;
    else if (bad_k)      start_code = E_K_GT_LIVE;
    else if (misaligned) start_code = E_MISALIGNED;
    else if (bad_bits)   start_code = E_BAD_BITS;
    else if (bad_layout) start_code = E_BAD_LAYOUT;
    else                 start_code = 4'd0;
  end

  wire start_req    = wr_ctrl & wr_data[`SPATTEN_FIELD_CTRL_START];
  wire start_ok     = start_req & (start_code == 4'd0);
  wire start_refuse = start_req & (start_code != 4'd0);

  // ================================================================ CTRL pulses, STATUS
  reg       done_q, error_q;
  reg [3:0] error_code_q;

  always @(posedge clk) begin
    if (!rst_n) begin
      start_q      <= 1'b0;
      clear_q      <= 1'b0;
      abort_q      <= 1'b0;
      done_q       <= 1'b0;
      error_q      <= 1'b0;
      error_code_q <= 4'd0;
    end else begin
      start_q <= start_ok;
      clear_q <= clear_req;
      abort_q <= wr_ctrl & wr_data[`SPATTEN_FIELD_CTRL_ABORT];
      // W1C first, then the sets: an event in the same cycle as its clear is kept
      done_q  <= (done_q & ~(wr_status & wr_data[`SPATTEN_FIELD_STATUS_DONE])) | done_pulse;
      error_q <= (error_q & ~(wr_status & wr_data[`SPATTEN_FIELD_STATUS_ERROR])) | error_pulse | start_refuse;
      if (error_pulse)       error_code_q <= error_code;  // a command's failure wins a tie
      else if (start_req)    error_code_q <= start_code;
    end
  end

  assign cmd_start = start_q;
  assign cmd_clear = clear_q;
  assign cmd_abort = abort_q;
  assign irq   = cfg_q[C_IRQ_EN][`SPATTEN_FIELD_IRQ_EN_EN] & (done_q | error_q);

  // ================================================================ counters
  reg [31:0] cnt_q [0:NCNT-1];
  integer ci;
  wire [63:0] macs_sum = {cnt_q[K_MACS_HI], cnt_q[K_MACS_LO]} + 64'(cnt_macs_add);

  always @(posedge clk) begin
    if (!rst_n || start_ok) begin
      for (ci = 0; ci < NCNT; ci = ci + 1) cnt_q[ci] <= 32'd0;
    end else begin
      if (busy)            cnt_q[K_CYCLES]  <= cnt_q[K_CYCLES] + 32'd1;
      if (cnt_busy_inc)    cnt_q[K_BUSY]    <= cnt_q[K_BUSY] + 32'd1;
      if (cnt_requant_inc) cnt_q[K_REQUANT] <= cnt_q[K_REQUANT] + 32'd1;
      if (cnt_stall_inc)   cnt_q[K_STALL]   <= cnt_q[K_STALL] + 32'd1;
      {cnt_q[K_MACS_HI], cnt_q[K_MACS_LO]} <= macs_sum;
      for (ci = 0; ci < 5; ci = ci + 1)
        cnt_q[K_BYTES0 + ci] <= cnt_q[K_BYTES0 + ci] + 32'(cnt_bytes_add[ci*BYTES_ADD_W +: BYTES_ADD_W]);
    end
  end

  // ================================================================ AXI-Lite read side
  // importance window state (logic below)
  localparam integer IMP_AW = 17;  // {HEAD, INDEX}
  reg [IMP_AW-1:0] imp_addr_q;
  reg              imp_pend_q, imp_sel_q, imp_oor_q;
  reg [31:0]       imp_hi_q;
  reg        rvalid_q;
  reg [31:0] rdata_q;
  reg [1:0]  rresp_q;
  reg [31:0] rd_val;

  wire [WA_W-1:0] rd_word = s_axil_araddr[ADDR_W-1:2];
  wire            ar_fire = s_axil_arvalid & s_axil_arready;

  assign s_axil_arready = ~rvalid_q & ~imp_pend_q;
  assign s_axil_rvalid  = rvalid_q;
  assign s_axil_rdata   = rdata_q;
  assign s_axil_rresp   = rresp_q;

  integer mi;
  always @(*) begin
    case (rd_word)
      WA_W'(W_ID):          rd_val = ID_VALUE;
      WA_W'(W_VERSION):     rd_val = VERSION_VALUE;
      // BUSY also covers the cycle of done/error_pulse (DONE / ERROR visible one cycle later),
      // so STATUS never reads "not busy, not done" at the end of a command.
      WA_W'(W_STATUS):      rd_val = {29'd0, error_q, done_q, busy | done_pulse | error_pulse};
      WA_W'(W_ERROR_CODE):  rd_val = {28'd0, error_code_q};
      WA_W'(W_LIVE_HEADS):  rd_val = 32'(live_heads);
      WA_W'(W_KEPT_TOKENS): rd_val = 32'(kept_tokens);
      WA_W'(W_IMP_ADDR):    rd_val = 32'(imp_addr_q);
      WA_W'(W_IMP_DATA_HI): rd_val = imp_hi_q;
      default:              rd_val = 32'd0;  // CTRL (write-only) and unmapped words
    endcase
    for (mi = 0; mi < NCFG; mi = mi + 1)
      if (rd_word == WA_W'(W_CFG0 + mi)) rd_val = cfg_q[mi];
    for (mi = 0; mi < NCNT; mi = mi + 1)
      if (rd_word == WA_W'(W_CNT0 + mi)) rd_val = cnt_q[mi];
    for (mi = 0; mi < H_MAX; mi = mi + 1)
      if (rd_word == WA_W'(W_SCALE0 + mi)) rd_val = 32'(scale_q[mi]);
    for (mi = 0; mi < H_MAX; mi = mi + 1)
      if (rd_word == WA_W'(W_HSCALE0 + mi)) rd_val = 32'(hscale_q[mi]);
  end

  always @(posedge clk) begin
    if (!rst_n) begin
      rvalid_q   <= 1'b0;
      imp_pend_q <= 1'b0;
    end else if (imp_ok) begin
      imp_pend_q <= 1'b1;  // R once the entry is back
    end else if (ar_fire | imp_pend_q) begin
      rvalid_q   <= 1'b1;
      imp_pend_q <= 1'b0;
    end else if (s_axil_rready) begin
      rvalid_q   <= 1'b0;
    end
  end

  always @(posedge clk) begin
    if (imp_pend_q) begin
      rdata_q <= imp_entry[31:0];
      rresp_q <= RESP_OKAY;
    end else if (ar_fire) begin
      rdata_q <= rd_val;  // IMP_DATA while busy: 0, SLVERR
      rresp_q <= (is_mapped(rd_word) && !imp_refused) ? RESP_OKAY : RESP_SLVERR;
    end
  end

  // ================================================================ importance window
  wire [15:0] imp_idx = imp_addr_q[`SPATTEN_FIELD_IMP_ADDR_INDEX];
  wire        imp_sel = imp_addr_q[`SPATTEN_FIELD_IMP_ADDR_HEAD];
  wire        imp_oor = imp_sel ? (32'(imp_idx) >= 32'(H_MAX)) : (32'(imp_idx) >= 32'(MAX_N));
  wire        imp_refused = ar_fire & (rd_word == WA_W'(W_IMP_DATA)) & busy_eff;  // refused
  wire        imp_ok = ar_fire & (rd_word == WA_W'(W_IMP_DATA)) & ~busy_eff;
  assign imp_tok_rd  = imp_ok & ~imp_sel & ~imp_oor;
  assign imp_head_rd = imp_ok & imp_sel & ~imp_oor;
  assign imp_index   = imp_idx;
  wire [63:0] imp_entry = imp_oor_q ? 64'd0
                        : imp_sel_q ? 64'(imp_head_score) : 64'(imp_tok_score);
  // INDEX advances at the edge the entry is taken; a write at that edge merges over it
  wire [31:0] imp_addr_adv = imp_pend_q ? 32'({imp_sel, imp_idx + 16'd1}) : 32'(imp_addr_q);

  always @(posedge clk) begin
    if (!rst_n) begin
      imp_addr_q <= {IMP_AW{1'b0}};
      imp_hi_q   <= 32'd0;
    end else begin
      if (wr_go && wr_word == WA_W'(W_IMP_ADDR))
        imp_addr_q <= IMP_AW'(merge(imp_addr_adv, wr_data, wr_strb) & `SPATTEN_REG_IMP_ADDR_MASK);
      else
        imp_addr_q <= IMP_AW'(imp_addr_adv);
      if (imp_pend_q) imp_hi_q <= imp_entry[63:32];
    end
  end

  always @(posedge clk) begin
    if (imp_ok) begin
      imp_sel_q <= imp_sel;
      imp_oor_q <= imp_oor;
    end
  end

  // AWPROT / ARPROT carry no meaning here; the two low address bits select bytes within the word.
  /* verilator lint_off UNUSEDSIGNAL */
  wire unused_ok = &{1'b0, s_axil_awprot, s_axil_arprot, s_axil_awaddr[1:0], s_axil_araddr[1:0]};
  /* verilator lint_on UNUSEDSIGNAL */

endmodule
`default_nettype wire
