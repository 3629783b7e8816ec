`default_nettype none
`include "spatten_check.vh"
// Width upsizer for a valid/ready lane stream: R narrow beats become one wide beat.
//
// Why: the local-V top-k engines run at P = 16 lanes (the paper's parallelism) while the
// softmax / row buffer delivers LANES (8) probabilities per beat; packing R = P / LANES row
// beats into one engine beat lets the engine's later passes and its output scan run at P per
// cycle (they read its own buffers), with the fill pass taking the input at its own rate.
//
// Input beat j of a wide beat lands in lanes [j*K +: K] (data [j*W +: W], keep [j*K +: K]); a
// wide beat is emitted when R narrow beats are in or the packet's last beat arrives, whose
// unfilled upper part carries keep = 0 and data = 0 (so a prefix keep stays a prefix: the
// engine's last-beat rule). Packets never share a wide beat. Full throughput: a new packet's
// first narrow beat is taken in the cycle the previous wide beat leaves. Latency: one cycle
// after the wide beat's last narrow beat.
module stream_upsize #(
    parameter integer W = 32,  // data bits per narrow beat, >= 1
    parameter integer K = 1,   // keep bits per narrow beat (lanes), >= 1
    parameter integer R = 2    // narrow beats per wide beat, 1..64
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire             in_valid,
    output wire             in_ready,
    input  wire [W-1:0]     in_data,
    input  wire [K-1:0]     in_keep,
    input  wire             in_last,
    output wire             out_valid,
    input  wire             out_ready,
    output wire [R*W-1:0]   out_data,
    output wire [R*K-1:0]   out_keep,
    output wire             out_last
);
  generate
    if (W < 1 || K < 1) begin : g_bad_w
      `SPATTEN_ELAB_FATAL(1, "stream_upsize: W and K must be >= 1 (got %0d, %0d)", W, K);
    end
    if (R < 1 || R > 64) begin : g_bad_r
      `SPATTEN_ELAB_FATAL(1, "stream_upsize: R must be 1..64 (got %0d)", R);
    end
  endgenerate

  localparam integer CW = (R > 1) ? $clog2(R) : 1;

  reg           full_q, full_d;     // a wide beat waits on the output
  reg [CW-1:0]  cnt_q, cnt_d;       // narrow beats already in the beat being assembled
  reg           last_q;
  reg [R*W-1:0] data_q;
  reg [R*K-1:0] keep_q;

  wire in_fire  = in_valid & in_ready;
  wire out_fire = full_q & out_ready;
  // accept while assembling, or in the cycle the finished wide beat leaves
  assign in_ready  = ~full_q | out_ready;
  assign out_valid = full_q;
  assign out_data  = data_q;
  assign out_keep  = keep_q;
  assign out_last  = last_q;

  // the slot the incoming narrow beat takes: 0 when a new wide beat starts
  wire          fresh = full_q | (cnt_q == {CW{1'b0}});
  wire [CW-1:0] slot  = full_q ? {CW{1'b0}} : cnt_q;
  wire          done  = in_last | (32'(slot) == R - 1);

  always @(*) begin
    full_d = full_q;
    cnt_d  = cnt_q;
    if (out_fire) begin
      full_d = 1'b0;
      cnt_d  = {CW{1'b0}};
    end
    if (in_fire) begin
      full_d = done;
      cnt_d  = done ? {CW{1'b0}} : slot + 1'b1;
    end
  end

  always @(posedge clk) begin
    if (!rst_n) begin
      full_q <= 1'b0;
      cnt_q  <= {CW{1'b0}};
    end else begin
      full_q <= full_d;
      cnt_q  <= cnt_d;
    end
  end

  // datapath (not reset): a fresh wide beat starts from zeros, so the unfilled lanes of a
  // short last beat carry keep = 0 and data = 0
  integer j;
  always @(posedge clk) begin
    if (in_fire) begin
      for (j = 0; j < R; j = j + 1) begin
        if (j == 32'(slot)) begin
          data_q[j*W +: W] <= in_data;
          keep_q[j*K +: K] <= in_keep;
        end else if (fresh) begin
          data_q[j*W +: W] <= {W{1'b0}};
          keep_q[j*K +: K] <= {K{1'b0}};
        end
      end
      last_q <= in_last;
    end
  end

`ifndef SYNTHESIS
  // stream rules on the output: a waiting wide beat stays, unchanged, until taken
  reg             rst_seen_q, held_q;  // no check before the first reset (random initial state)
  reg [R*W-1:0]   held_data_q;
  reg [R*K-1:0]   held_keep_q;
  reg             held_last_q;
  always @(posedge clk) begin
    if (!rst_n) begin
      rst_seen_q <= 1'b1;
      held_q     <= 1'b0;
    end else begin
      if (rst_seen_q && held_q && !(out_valid && out_data == held_data_q && out_keep == held_keep_q
                               && out_last == held_last_q))
        $fatal(1, "stream_upsize: output beat changed or dropped while stalled");
      held_q      <= out_valid & ~out_ready;
      held_data_q <= out_data;
      held_keep_q <= out_keep;
      held_last_q <= out_last;
    end
  end
  initial rst_seen_q = 1'b0;
`endif
endmodule
`default_nettype wire
