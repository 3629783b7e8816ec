`default_nettype none
`include "spatten_check.vh"
// Small synchronous FIFO (first-word fall-through) for the fetcher's side queues: like
// stream_fifo without packets; `full` is exported so a producer can gate its own push.
module kv_fifo #(
    parameter integer WIDTH = 8,  // bits per entry, >= 1
    parameter integer DEPTH = 8   // entries, power of two >= 2
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire             in_valid,
    output wire             in_ready,
    input  wire [WIDTH-1:0] in_data,
    output wire             full,
    output wire             out_valid,
    input  wire             out_ready,
    output wire [WIDTH-1:0] out_data
);
  generate
    if (WIDTH < 1) begin : g_bad_width
      `SPATTEN_ELAB_FATAL(1, "kv_fifo: WIDTH must be >= 1 (got %0d)", WIDTH);
    end
    if (DEPTH < 2 || (DEPTH & (DEPTH - 1)) != 0) begin : g_bad_depth
      `SPATTEN_ELAB_FATAL(1, "kv_fifo: DEPTH must be a power of two >= 2 (got %0d)", DEPTH);
    end
  endgenerate

  localparam integer PTR_W = $clog2(DEPTH);

  reg [WIDTH-1:0] mem_q [0:DEPTH-1];
  reg [PTR_W:0]   wr_q, rd_q;  // one extra bit tells full from empty

  wire empty = (wr_q == rd_q);
  assign full      = (wr_q[PTR_W-1:0] == rd_q[PTR_W-1:0]) & (wr_q[PTR_W] != rd_q[PTR_W]);
  assign in_ready  = ~full;
  assign out_valid = ~empty;
  assign out_data  = mem_q[rd_q[PTR_W-1:0]];

  wire push = in_valid & ~full;
  wire pop  = out_ready & ~empty;

  always @(posedge clk) begin
    if (!rst_n) begin
      wr_q <= {(PTR_W + 1){1'b0}};
      rd_q <= {(PTR_W + 1){1'b0}};
    end else begin
      if (push) wr_q <= wr_q + 1'b1;
      if (pop) rd_q <= rd_q + 1'b1;
    end
  end

  always @(posedge clk) begin
    if (push) mem_q[wr_q[PTR_W-1:0]] <= in_data;
  end
endmodule
`default_nettype wire
