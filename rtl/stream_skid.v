`default_nettype none
`include "spatten_check.vh"
// Pipeline register for a valid/ready stream with a skid slot.
//
// Cuts both the forward (valid/data) and the backward (ready) combinational paths while
// keeping full throughput: in_ready is a flop, so when the sink stalls, the beat already in
// flight towards us lands in the skid slot instead of being lost. Latency is one cycle.
module stream_skid #(
    parameter integer WIDTH = 32  // data bits per beat (the last flag travels beside it)
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire             in_valid,
    output wire             in_ready,
    input  wire [WIDTH-1:0] in_data,
    input  wire             in_last,
    output wire             out_valid,
    input  wire             out_ready,
    output wire [WIDTH-1:0] out_data,
    output wire             out_last
);
  generate
    if (WIDTH < 1) begin : g_bad_width
      `SPATTEN_ELAB_FATAL(1, "stream_skid: WIDTH must be >= 1 (got %0d)", WIDTH);
    end
  endgenerate

  reg             out_valid_q;
  reg [WIDTH-1:0] out_data_q;
  reg             out_last_q;
  reg             skid_valid_q;
  reg [WIDTH-1:0] skid_data_q;
  reg             skid_last_q;

  // Ready is registered: we accept whenever the skid slot is free.
  assign in_ready  = ~skid_valid_q;
  assign out_valid = out_valid_q;
  assign out_data  = out_data_q;
  assign out_last  = out_last_q;

  wire in_fire  = in_valid & in_ready;
  wire out_free = ~out_valid_q | out_ready;

  always @(posedge clk) begin
    if (!rst_n) begin
      out_valid_q  <= 1'b0;
      skid_valid_q <= 1'b0;
    end else begin
      if (out_free) begin
        // The output slot moves on: refill it from the skid slot first (oldest), else input.
        out_valid_q  <= skid_valid_q | in_fire;
        skid_valid_q <= 1'b0;
      end else if (in_fire) begin
        // Output is stalled but ready was high last cycle: park the beat in the skid slot.
        skid_valid_q <= 1'b1;
      end
    end
  end

  // Datapath registers are not reset (see docs/conventions.md).
  always @(posedge clk) begin
    if (out_free) begin
      out_data_q <= skid_valid_q ? skid_data_q : in_data;
      out_last_q <= skid_valid_q ? skid_last_q : in_last;
    end
    if (in_fire && !out_free) begin
      skid_data_q <= in_data;
      skid_last_q <= in_last;
    end
  end
endmodule
`default_nettype wire
