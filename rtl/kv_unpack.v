`default_nettype none
`include "spatten_fixed.vh"
`include "spatten_check.vh"
// Bit-width converter of the K/V/Q fetcher (combinational): one packed MSB-plane row and one
// packed LSB-plane row (docs/fixed_point.md §7: field d at row bits [d*bits, (d+1)*bits),
// little-endian) -> D 12-bit values, bit-exact with golden fx.join_planes / fx.reconstruct:
//
//   x = (msb << (12 - m)) | (lsb << (12 - m - l)) | (k < 12 ? 1 << (11 - k) : 0),  k = m + l
//
// (the MSB field is signed, so placing it at the top of the 12-bit word keeps its sign).
// MSB-only precision is lsb_bits = 0 (k = m). Fields d >= d_count are forced to 0.
// Cost per field: a 12:1 mux of windows per plane and a 12-bit shifter for the LSB field.
// Precondition (the fetcher checks it at job start): 1 <= msb_bits, msb_bits + lsb_bits <= 12.
module kv_unpack #(
    parameter integer D_MAX = `SPATTEN_D_MAX,  // values per row, 1..64
    parameter integer ROW_W = 768              // bits of each plane row input, >= D_MAX * 12
) (
    /* verilator lint_off UNUSEDSIGNAL */  // bits above D_MAX*12 are row padding
    input  wire [ROW_W-1:0]                msb_row,
    input  wire [ROW_W-1:0]                lsb_row,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [$clog2(D_MAX+1)-1:0]      d_count,    // valid values in the row, 1..D_MAX
    input  wire [3:0]                      msb_bits,   // m, 1..12
    input  wire [3:0]                      lsb_bits,   // l, 0..11 (0: MSB-only)
    output wire [D_MAX*`SPATTEN_DATA_W-1:0] values,    // value d at [12d +: 12], signed
    output wire [3:0]                      known_bits  // m + l
);
  localparam integer W = `SPATTEN_DATA_W;  // 12

  generate
    if (D_MAX < 1 || D_MAX > 64) begin : g_bad_d
      `SPATTEN_ELAB_FATAL(1, "kv_unpack: D_MAX must be 1..64 (got %0d)", D_MAX);
    end
    if (ROW_W < D_MAX * W) begin : g_bad_row
      `SPATTEN_ELAB_FATAL(1, "kv_unpack: ROW_W (%0d) must be >= D_MAX*12", ROW_W);
    end
  endgenerate

  localparam integer RW = D_MAX * W;  // field d of width b ends at bit d*b + b <= D_MAX*12

  wire [RW-1:0] msb_use = msb_row[RW-1:0];
  wire [RW-1:0] lsb_use = lsb_row[RW-1:0];
  wire [3:0] k = msb_bits + lsb_bits;
  wire [W-1:0] half = (k < 4'd12) ? (12'd1 << (4'd11 - k)) : 12'd0;
  wire [3:0] lsb_shift = 4'd12 - k;  // where the LSB field lands
  assign known_bits = k;

  // One procedural loop over the fields; per field a case over the width picks the window
  // at a constant position (synthesis: a 12:1 mux per field and plane; simulators evaluate
  // only the selected branch, and the Verilator model stays small). Toggle coverage of the
  // temporaries would only bloat the model.
  /* verilator coverage_off */
  reg [RW-1:0] values_r;
  reg [W-1:0]  hi, lo;
  integer d;
  always @* begin
    values_r = {RW{1'b0}};
    for (d = 0; d < D_MAX; d = d + 1) begin
      case (msb_bits)
        4'd1: hi = {msb_use[d*1 +: 1], 11'd0};
        4'd2: hi = {msb_use[d*2 +: 2], 10'd0};
        4'd3: hi = {msb_use[d*3 +: 3], 9'd0};
        4'd4: hi = {msb_use[d*4 +: 4], 8'd0};
        4'd5: hi = {msb_use[d*5 +: 5], 7'd0};
        4'd6: hi = {msb_use[d*6 +: 6], 6'd0};
        4'd7: hi = {msb_use[d*7 +: 7], 5'd0};
        4'd8: hi = {msb_use[d*8 +: 8], 4'd0};
        4'd9: hi = {msb_use[d*9 +: 9], 3'd0};
        4'd10: hi = {msb_use[d*10 +: 10], 2'd0};
        4'd11: hi = {msb_use[d*11 +: 11], 1'd0};
        4'd12: hi = msb_use[d*12 +: 12];
        default: hi = {W{1'b0}};
      endcase
      case (lsb_bits)
        4'd1: lo = {11'd0, lsb_use[d*1 +: 1]};
        4'd2: lo = {10'd0, lsb_use[d*2 +: 2]};
        4'd3: lo = {9'd0, lsb_use[d*3 +: 3]};
        4'd4: lo = {8'd0, lsb_use[d*4 +: 4]};
        4'd5: lo = {7'd0, lsb_use[d*5 +: 5]};
        4'd6: lo = {6'd0, lsb_use[d*6 +: 6]};
        4'd7: lo = {5'd0, lsb_use[d*7 +: 7]};
        4'd8: lo = {4'd0, lsb_use[d*8 +: 8]};
        4'd9: lo = {3'd0, lsb_use[d*9 +: 9]};
        4'd10: lo = {2'd0, lsb_use[d*10 +: 10]};
        4'd11: lo = {1'd0, lsb_use[d*11 +: 11]};
        default: lo = {W{1'b0}};
      endcase
      if (d < 32'(d_count)) values_r[d*W +: W] = hi | (lo << lsb_shift) | half;
    end
  end
  assign values = values_r;
  /* verilator coverage_on */
endmodule
`default_nettype wire
