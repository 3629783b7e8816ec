`default_nettype none
`include "spatten_check.vh"
// Synchronous FIFO for a valid/ready stream (first-word fall-through).
//
// Storage is a register array read combinationally at the read pointer, so a beat written
// into an empty FIFO is visible on the output the next cycle and the FIFO sustains one beat
// per cycle in and out at the same time, including when full (a pop frees the slot the
// push needs only on the next edge, so full means in_ready low; that costs no throughput
// as long as DEPTH >= 2).
module stream_fifo #(
    parameter integer WIDTH = 32,  // data bits per beat (the last flag is stored beside it)
    parameter integer DEPTH = 16   // number of entries, >= 2; need not be a power of two
) (
    input  wire                       clk,
    input  wire                       rst_n,
    input  wire                       in_valid,
    output wire                       in_ready,
    input  wire [WIDTH-1:0]           in_data,
    input  wire                       in_last,
    output wire                       out_valid,
    input  wire                       out_ready,
    output wire [WIDTH-1:0]           out_data,
    output wire                       out_last,
    output wire [$clog2(DEPTH+1)-1:0] count,  // entries currently held
    output wire                       full,
    output wire                       empty
);
  generate
    if (WIDTH < 1) begin : g_bad_width
      `SPATTEN_ELAB_FATAL(1, "stream_fifo: WIDTH must be >= 1 (got %0d)", WIDTH);
    end
    if (DEPTH < 2) begin : g_bad_depth
      `SPATTEN_ELAB_FATAL(1, "stream_fifo: DEPTH must be >= 2 (got %0d); use stream_skid for one slot", DEPTH);
    end
  endgenerate

  localparam integer PTR_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;
  localparam integer CNT_W = $clog2(DEPTH + 1);
  localparam [PTR_W-1:0] LAST_PTR = PTR_W'(DEPTH - 1);
  localparam [CNT_W-1:0] DEPTH_CNT = CNT_W'(DEPTH);

  reg [WIDTH:0]     mem_q [0:DEPTH-1];  // {last, data}
  reg [PTR_W-1:0]   wr_ptr_q;
  reg [PTR_W-1:0]   rd_ptr_q;
  reg [CNT_W-1:0]   count_q;

  assign full      = (count_q == DEPTH_CNT);
  assign empty     = (count_q == {CNT_W{1'b0}});
  assign count     = count_q;
  assign in_ready  = ~full;
  assign out_valid = ~empty;
  assign {out_last, out_data} = mem_q[rd_ptr_q];

  wire push = in_valid & ~full;
  wire pop  = out_ready & ~empty;

  always @(posedge clk) begin
    if (!rst_n) begin
      wr_ptr_q <= {PTR_W{1'b0}};
      rd_ptr_q <= {PTR_W{1'b0}};
      count_q  <= {CNT_W{1'b0}};
    end else begin
      if (push) wr_ptr_q <= (wr_ptr_q == LAST_PTR) ? {PTR_W{1'b0}} : wr_ptr_q + 1'b1;
      if (pop) rd_ptr_q <= (rd_ptr_q == LAST_PTR) ? {PTR_W{1'b0}} : rd_ptr_q + 1'b1;
      if (push && !pop) count_q <= count_q + 1'b1;
      else if (pop && !push) count_q <= count_q - 1'b1;
    end
  end

  always @(posedge clk) begin
    if (push) mem_q[wr_ptr_q] <= {in_last, in_data};
  end
endmodule
`default_nettype wire
