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
// Each row is one INCR burst, or two when it crosses a 4 KiB boundary. W beats of a burst
// may start in the cycle its AW is presented (AXI allows W before the AW handshake).
// At most OUTSTANDING bursts wait for their write response. The job ends when its last row
// is written and every response is back: done pulses, with done_err if any response was
// SLVERR/DECERR (sticky status err_* until err_clear).
module e_writer #(
    parameter integer ADDR_W      = 32,   // AXI address bits, 32..64
    parameter integer ID_W        = 2,    // AWID bits (one ID is used: responses in order)
    parameter integer OUTSTANDING = 4,    // bursts awaiting a write response, 1..255
    parameter integer IDX_W       = 16,   // row index bits
    parameter integer STRIDE_W    = 16,   // row stride bits (bytes, multiple of 32), 6..ADDR_W
    parameter integer D_MAX       = `SPATTEN_D_MAX,  // E values per row, 16..64, multiple of 16
    parameter integer CNT_W       = 48    // traffic counter bits, 8..64
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
    output wire [CNT_W-1:0]          cnt_stall      // cycles a row waited on the memory
);
  localparam integer EW     = `SPATTEN_E_W;  // 16
  localparam integer BA_W   = ADDR_W - 5;
  localparam integer SB_W   = STRIDE_W - 5;
  localparam integer RB_MAX = (D_MAX * EW + 255) / 256;  // beats per row
  localparam integer OS_W   = $clog2(OUTSTANDING + 1);
  localparam integer K_W    = 32;                        // raw beat counter

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
  endgenerate

  // ---------------------------------------------------------------- job
  reg             active_q, in_done_q;
  reg [BA_W-1:0]  base_q;
  reg [SB_W-1:0]  stride_q;
  reg [6:0]       d_q;
  reg             raw_q;
  reg [2:0]       cls_q;
  reg [K_W-1:0]   k_q;          // raw beats taken
  reg             job_err_q;
  assign job_ready = ~active_q;
  wire job_fire = job_valid & job_ready;

  // ---------------------------------------------------------------- row engine
  reg                     row_v_q;
  reg [RB_MAX*256-1:0]    row_data_q;
  reg [BA_W-1:0]          row_addr_q;    // beat address of the next burst
  reg [2:0]               row_left_q;    // beats of the row not yet in a burst
  reg [2:0]               bi_q;          // next W beat of the row
  reg [8:0]               piece_left_q;  // W beats left in the current burst
  reg                     aw_v_q;
  reg [BA_W-1:0]          aw_addr_q;
  reg [7:0]               aw_len_q;
  reg [OS_W-1:0]          os_q;          // bursts awaiting a response


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

  wire [8:0] to4k = 9'd128 - {2'd0, row_addr_q[6:0]};
  wire [8:0] plen = ({6'd0, row_left_q} < to4k) ? {6'd0, row_left_q} : to4k;
  wire       aw_free = ~aw_v_q | m_axi_awready;
  wire       b_fire = m_axi_bvalid;  // bready is always 1
  wire       start_piece = row_v_q & (piece_left_q == 9'd0) & (row_left_q != 3'd0) & aw_free
                           & (os_q != OS_W'(OUTSTANDING));
  wire       w_fire = m_axi_wvalid & m_axi_wready;
  wire       row_end = w_fire & (piece_left_q == 9'd1) & (row_left_q == 3'd0);
  assign in_ready = active_q & ~in_done_q & (~row_v_q | row_end);  // next row as this one ends
  wire       in_fire = in_valid & in_ready;
  wire       job_end = active_q & in_done_q & ~row_v_q & (os_q == {OS_W{1'b0}}) & ~aw_v_q;

  // ---------------------------------------------------------------- counters, errors
  reg [CNT_W-1:0] cnt_q [0:7];
  reg [CNT_W-1:0] stall_q;
  reg             err_q;
  reg [1:0]       err_resp_q;
  reg [2:0]       err_cls_q;
  reg             done_q, done_err_q;
  wire            b_bad = b_fire & m_axi_bresp[1];
  wire            stall_now = row_v_q & ~w_fire;

  integer ci;
  always @(posedge clk) begin
    if (!rst_n) begin
      active_q     <= 1'b0;
      in_done_q    <= 1'b0;
      row_v_q      <= 1'b0;
      piece_left_q <= 9'd0;
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
      done_q <= job_end;
      done_err_q <= job_end & job_err_q;
      if (job_fire) begin
        active_q  <= 1'b1;
        in_done_q <= 1'b0;
        k_q       <= {K_W{1'b0}};
        job_err_q <= 1'b0;
      end else if (job_end) begin
        active_q <= 1'b0;
      end
      if (in_fire) begin  // (also while the previous row ends)
        row_v_q <= 1'b1;
        k_q <= k_q + 1'b1;
        if (in_last) in_done_q <= 1'b1;
      end else if (row_end) begin
        row_v_q <= 1'b0;
      end
      if (start_piece) begin
        aw_v_q       <= 1'b1;
        piece_left_q <= plen;
      end else begin
        if (m_axi_awready) aw_v_q <= 1'b0;
        if (w_fire) piece_left_q <= piece_left_q - 9'd1;
      end
      os_q <= os_q + (start_piece ? OS_W'(1) : {OS_W{1'b0}}) - (b_fire ? OS_W'(1) : {OS_W{1'b0}});
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

  always @(posedge clk) begin
    if (job_fire) begin
      base_q   <= job_base[ADDR_W-1:5];
      stride_q <= job_stride[STRIDE_W-1:5];
      d_q      <= job_d;
      raw_q    <= job_raw;
      cls_q    <= job_class;
    end
    if (in_fire) begin
      row_data_q <= in_masked;
      row_addr_q <= in_addr;
      row_left_q <= rb;
      bi_q       <= 3'd0;
    end else begin
      if (start_piece) begin
        row_addr_q <= row_addr_q + BA_W'(plen);
        row_left_q <= row_left_q - 3'(plen);
        aw_addr_q  <= row_addr_q;
        aw_len_q   <= 8'(plen - 9'd1);
      end
      if (w_fire) bi_q <= bi_q + 3'd1;
    end
  end

  assign m_axi_awid    = {ID_W{1'b0}};
  assign m_axi_awaddr  = {aw_addr_q, 5'd0};
  assign m_axi_awlen   = aw_len_q;
  assign m_axi_awsize  = 3'd5;
  assign m_axi_awburst = 2'b01;
  assign m_axi_awvalid = aw_v_q;
  assign m_axi_wvalid  = row_v_q & (piece_left_q != 9'd0);
  assign m_axi_wdata   = row_data_q[32'(bi_q) * 256 +: 256];
  assign m_axi_wstrb   = 32'hFFFF_FFFF;
  assign m_axi_wlast   = (piece_left_q == 9'd1);
  assign m_axi_bready  = 1'b1;
  assign busy          = active_q;
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
endmodule
`default_nettype wire
