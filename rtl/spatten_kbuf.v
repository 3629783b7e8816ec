// Key buffer of spatten_top: REGIONS regions of n x D_MAX x 12-bit keys, one per head in flight
// (the controller fetches the next head's K plane into one region while Q.K reads the other).
// Every write, clear and read names its region (wr_rg with the write ports, clr_rg with clr,
// rd_rg sampled with rd_start).
// * write ports: WR_PORTS keys per cycle, one per fetch lane (joined 12-bit values, value d at
//   [12d +: 12]; port p at slice p); the lanes of one cycle name distinct keys;
//   wr_merge[p] = 0 replaces the key (MSB plane), 1 merges an LSB-plane row: the
//   fetcher delivers the LSB plane as a plane of lsb_bits bits (its bits at [11 -: lsb_bits] of
//   each value); they are placed at bits [11-m -: l] of the stored key, the MSB bits kept.
// * read port: a stream of ceil(n/LANES) beats of LANES keys (key l of the beat at
//   [(l*D_MAX + d)*12 +: 12]), keep = prefix on the last beat, started by rd_start with rd_n.
//   The output is a register (the Q.K array multiplies k_data in its first stage).
// * streaming: every key has a valid bit, set by its write (MSB plane or LSB merge) and
//   cleared by clr (a new head, or a head's LSB plane about to be merged: the stored MSB bits
//   stay); a read beat waits until all of its keys are valid, so Q.K runs while the K fetch
//   (MSB or LSB plane) is still delivering (the fetch lanes write in any order; the reader
//   follows in key order).
// * rd_busy: the reader still has beats to load; a new rd_start only once it is low (the
//   controller starts the next row's read when the previous row's keys have all left).
`default_nettype none
`include "spatten_check.vh"
module spatten_kbuf #(
    parameter integer LANES = 8,    // keys per read beat
    parameter integer D_MAX = 64,   // values per key
    parameter integer MAX_N = 256,  // keys, a multiple of LANES
    parameter integer WR_PORTS = 1, // keys written per cycle, 1..32
    parameter integer REGIONS = 2,  // heads held, 2 or 4
    parameter integer RGW = $clog2(REGIONS)
) (
    input  wire                        clk,
    input  wire                        rst_n,
    input  wire                        clr,       // a new head: every key of clr_rg invalid
    input  wire [RGW-1:0]              clr_rg,
    input  wire [WR_PORTS-1:0]         wr_en,
    input  wire [WR_PORTS*RGW-1:0]     wr_rg,     // per port
    input  wire [WR_PORTS*16-1:0]      wr_idx,
    input  wire [WR_PORTS*D_MAX*12-1:0] wr_data,
    input  wire [WR_PORTS-1:0]         wr_merge,  // per port
    input  wire [3:0]                  msb_bits,
    input  wire [3:0]                  lsb_bits,
    input  wire                        rd_start,
    input  wire [15:0]                 rd_n,
    input  wire [RGW-1:0]              rd_rg,
    output wire                        rd_busy,
    output reg                         k_valid,
    input  wire                        k_ready,
    output reg  [LANES*D_MAX*12-1:0]   k_data,
    output reg  [LANES-1:0]            k_keep,
    output reg                         k_last
);
  localparam integer KW = D_MAX * 12;
  generate
    if (MAX_N % LANES != 0 || MAX_N < LANES) begin : g_bad
      `SPATTEN_ELAB_FATAL(1, "spatten_kbuf: MAX_N must be a multiple of LANES");
    end
    if (REGIONS != 2 && REGIONS != 4) begin : g_bad_rg
      `SPATTEN_ELAB_FATAL(1, "spatten_kbuf: REGIONS must be 2 or 4 (got %0d)", REGIONS);
    end
    if (WR_PORTS < 1 || WR_PORTS > 32) begin : g_bad_wp
      `SPATTEN_ELAB_FATAL(1, "spatten_kbuf: WR_PORTS must be 1..32 (got %0d)", WR_PORTS);
    end
  endgenerate

  localparam integer AW = $clog2(MAX_N);
  reg [KW-1:0] mem [0:REGIONS*MAX_N-1];  // region r at [r*MAX_N +: MAX_N]
  // port p writes key wr_idx[p] of region wr_rg[p] (inline, not a function reading the
  // ports: Icarus would not re-evaluate the always @(*) below when only they change)

  // LSB merge mask: bits [11-m -: l] of each 12-bit value
  wire [11:0] lmask = 12'(((13'd1 << lsb_bits) - 13'd1) << (4'd12 - msb_bits - lsb_bits));
  reg  [KW-1:0] merged [0:WR_PORTS-1];
  integer d, p;
  always @(*) begin
    for (p = 0; p < WR_PORTS; p = p + 1)
      for (d = 0; d < D_MAX; d = d + 1)
        merged[p][d*12 +: 12] = (mem[{wr_rg[p*RGW +: RGW], wr_idx[p*16 +: AW]}][d*12 +: 12] & ~lmask)
                              | ((wr_data[(p*D_MAX + d)*12 +: 12] >> msb_bits) & lmask);
  end

  integer wp;
  always @(posedge clk) begin
    for (wp = 0; wp < WR_PORTS; wp = wp + 1)
      if (wr_en[wp])
        mem[{wr_rg[wp*RGW +: RGW], wr_idx[wp*16 +: AW]}] <= wr_merge[wp] ? merged[wp] : wr_data[wp*KW +: KW];
  end

  // key valid bits (set by every write: the controller clears a region before its LSB plane so
  // a re-pass reads each key once its merge has landed)
  reg  [MAX_N-1:0] vld_q [0:REGIONS-1];
  integer vp, vr;
  always @(posedge clk) begin
    for (vr = 0; vr < REGIONS; vr = vr + 1)
      if (!rst_n || (clr && clr_rg == RGW'(vr))) begin
        vld_q[vr] <= {MAX_N{1'b0}};
      end else begin
        for (vp = 0; vp < WR_PORTS; vp = vp + 1)
          if (wr_en[vp] && wr_rg[vp*RGW +: RGW] == RGW'(vr))
            vld_q[vr][wr_idx[vp*16 +: AW]] <= 1'b1;
      end
  end

  // reader
  reg        active_q;
  reg [RGW-1:0] rg_q;  // region being read
  reg [15:0] beat_q;
  reg [15:0] left_q;   // keys not yet sent
  // the beat's keys (those below n) are all written
  reg        beat_ok;
  integer    bl;
  always @(*) begin
    beat_ok = 1'b1;
    for (bl = 0; bl < LANES; bl = bl + 1)
      if (16'(bl) < left_q && !vld_q[rg_q][AW'(beat_q * 16'(LANES) + 16'(bl))]) beat_ok = 1'b0;
  end
  wire       load = active_q & beat_ok & (~k_valid | k_ready);
  assign rd_busy = active_q;
  integer l;
  always @(posedge clk) begin
    if (!rst_n) begin
      active_q <= 1'b0;
      k_valid  <= 1'b0;
    end else begin
      if (k_valid & k_ready) k_valid <= 1'b0;
      if (rd_start) begin
        active_q <= rd_n != 16'd0;
        rg_q     <= rd_rg;
        beat_q   <= 16'd0;
        left_q   <= rd_n;
      end else if (load) begin
        k_valid <= 1'b1;
        k_last  <= left_q <= 16'(LANES);
        for (l = 0; l < LANES; l = l + 1) begin
          k_keep[l] <= 16'(l) < left_q;
          // lanes past n carry zeros: never-written keys are X in 4-state simulation and
          // would leak through the Q.K products / softmax sums of the unkept lanes
          k_data[l*KW +: KW] <= (16'(l) < left_q)
              ? mem[{rg_q, AW'(beat_q * 16'(LANES) + 16'(l))}] : {KW{1'b0}};
        end
        beat_q <= beat_q + 16'd1;
        left_q <= (left_q <= 16'(LANES)) ? 16'd0 : left_q - 16'(LANES);
        if (left_q <= 16'(LANES)) active_q <= 1'b0;
      end
    end
  end
  /* verilator lint_off UNUSEDSIGNAL */
  wire unused = &{1'b0, wr_idx};
  /* verilator lint_on UNUSEDSIGNAL */
endmodule
`default_nettype wire
