`default_nettype none
`include "spatten_check.vh"
// Two AXI4 read masters onto one set of CHANNELS read ports (spatten_top: the K/Q fetch array
// and the V fetch array share every memory channel, so a V list fetch runs while the next
// head's K plane streams, each at up to the whole bandwidth when the other is idle).
//
// Per channel:
//  * AR: round robin between the two sources when both request; once a source's AR is on the
//    port and not yet accepted, the choice is held until the handshake (AXI: ARVALID and the
//    address stay stable until ARREADY). ARID on the port = {source, the source's ARID}.
//  * R: the beat goes to the source named by RID's top bit (beats of the two sources may
//    interleave: they carry different IDs); RREADY is that source's.
// No storage on the data path; one register per channel (the held choice) and one for the
// round-robin turn.
module spatten_axi_rd_mux #(
    parameter integer CHANNELS = 1,   // read ports, 1..16
    parameter integer ID_W     = 3,   // ARID bits of each source (the port has ID_W + 1)
    parameter integer ADDR_W   = 32
) (
    input  wire                        clk,
    input  wire                        rst_n,
    // source 0
    input  wire [CHANNELS*ID_W-1:0]    a_arid,
    input  wire [CHANNELS*ADDR_W-1:0]  a_araddr,
    input  wire [CHANNELS*8-1:0]       a_arlen,
    input  wire [CHANNELS*3-1:0]       a_arsize,
    input  wire [CHANNELS*2-1:0]       a_arburst,
    input  wire [CHANNELS-1:0]         a_arvalid,
    output wire [CHANNELS-1:0]         a_arready,
    output wire [CHANNELS*ID_W-1:0]    a_rid,
    output wire [CHANNELS-1:0]         a_rvalid,
    input  wire [CHANNELS-1:0]         a_rready,
    // source 1
    input  wire [CHANNELS*ID_W-1:0]    b_arid,
    input  wire [CHANNELS*ADDR_W-1:0]  b_araddr,
    input  wire [CHANNELS*8-1:0]       b_arlen,
    input  wire [CHANNELS*3-1:0]       b_arsize,
    input  wire [CHANNELS*2-1:0]       b_arburst,
    input  wire [CHANNELS-1:0]         b_arvalid,
    output wire [CHANNELS-1:0]         b_arready,
    output wire [CHANNELS*ID_W-1:0]    b_rid,
    output wire [CHANNELS-1:0]         b_rvalid,
    input  wire [CHANNELS-1:0]         b_rready,
    // ports (R data, response and last go to both sources unchanged)
    output wire [CHANNELS*(ID_W+1)-1:0] m_arid,
    output wire [CHANNELS*ADDR_W-1:0]  m_araddr,
    output wire [CHANNELS*8-1:0]       m_arlen,
    output wire [CHANNELS*3-1:0]       m_arsize,
    output wire [CHANNELS*2-1:0]       m_arburst,
    output wire [CHANNELS-1:0]         m_arvalid,
    input  wire [CHANNELS-1:0]         m_arready,
    input  wire [CHANNELS*(ID_W+1)-1:0] m_rid,
    input  wire [CHANNELS-1:0]         m_rvalid,
    output wire [CHANNELS-1:0]         m_rready
);
  generate
    if (CHANNELS < 1 || CHANNELS > 16) begin : g_bad_ch
      `SPATTEN_ELAB_FATAL(1, "spatten_axi_rd_mux: CHANNELS must be 1..16 (got %0d)", CHANNELS);
    end
    if (ID_W < 1 || ID_W > 7) begin : g_bad_id
      `SPATTEN_ELAB_FATAL(1, "spatten_axi_rd_mux: ID_W must be 1..7 (got %0d)", ID_W);
    end
  endgenerate

  reg [CHANNELS-1:0] hold_q;   // an AR is on the port, not yet accepted: keep its source
  reg [CHANNELS-1:0] owner_q;  // that source
  reg [CHANNELS-1:0] turn_q;   // source preferred when both request (the one not served last)
  wire [CHANNELS-1:0] sel = (hold_q & owner_q)
                          | (~hold_q & ((a_arvalid & b_arvalid & turn_q) | (~a_arvalid & b_arvalid)));
  wire [CHANNELS-1:0] fire = m_arvalid & m_arready;

  genvar c;
  generate
    for (c = 0; c < CHANNELS; c = c + 1) begin : g_ch
      assign m_arvalid[c] = sel[c] ? b_arvalid[c] : a_arvalid[c];
      assign m_arid[c*(ID_W+1) +: ID_W+1] = sel[c] ? {1'b1, b_arid[c*ID_W +: ID_W]}
                                                   : {1'b0, a_arid[c*ID_W +: ID_W]};
      assign m_araddr[c*ADDR_W +: ADDR_W] = sel[c] ? b_araddr[c*ADDR_W +: ADDR_W]
                                                   : a_araddr[c*ADDR_W +: ADDR_W];
      assign m_arlen[c*8 +: 8]   = sel[c] ? b_arlen[c*8 +: 8] : a_arlen[c*8 +: 8];
      assign m_arsize[c*3 +: 3]  = sel[c] ? b_arsize[c*3 +: 3] : a_arsize[c*3 +: 3];
      assign m_arburst[c*2 +: 2] = sel[c] ? b_arburst[c*2 +: 2] : a_arburst[c*2 +: 2];
      assign a_arready[c] = m_arready[c] & ~sel[c];
      assign b_arready[c] = m_arready[c] & sel[c];
      wire to_b = m_rid[c*(ID_W+1) + ID_W];
      assign a_rid[c*ID_W +: ID_W] = m_rid[c*(ID_W+1) +: ID_W];
      assign b_rid[c*ID_W +: ID_W] = m_rid[c*(ID_W+1) +: ID_W];
      assign a_rvalid[c] = m_rvalid[c] & ~to_b;
      assign b_rvalid[c] = m_rvalid[c] & to_b;
      assign m_rready[c] = to_b ? b_rready[c] : a_rready[c];
    end
  endgenerate

  always @(posedge clk) begin
    if (!rst_n) begin
      hold_q <= {CHANNELS{1'b0}};
      turn_q <= {CHANNELS{1'b0}};
    end else begin
      hold_q <= m_arvalid & ~m_arready;
      turn_q <= (turn_q & ~fire) | (~sel & fire);  // served source 0 -> prefer 1 next time
    end
  end
  always @(posedge clk) owner_q <= sel;

`ifndef SYNTHESIS
  // a source must keep its AR valid until accepted (the held choice relies on it)
  // (once a reset has been seen: before it the state is random)
  integer ci;
  /* verilator lint_off PROCASSINIT */  // simulation only: the flag must start low
  reg chk_q = 1'b0;
  /* verilator lint_on PROCASSINIT */
  always @(posedge clk) begin
    if (!rst_n) chk_q <= 1'b1;
    if (chk_q && rst_n)
      for (ci = 0; ci < CHANNELS; ci = ci + 1)
        if (hold_q[ci] && !(owner_q[ci] ? b_arvalid[ci] : a_arvalid[ci]))
          $error("spatten_axi_rd_mux: channel %0d: ARVALID dropped before ARREADY", ci);
  end
`endif
endmodule
`default_nettype wire
