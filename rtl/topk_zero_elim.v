`include "spatten_check.vh"
`default_nettype none
// Zero eliminator of the top-k engine: turns a stream of P-lane rows with a selection mask into
// dense output beats (the first m lanes valid, keep = m ones, unused lanes zero).
//
// A row is registered (stage 1), its selected lanes are appended behind the residue (< P lanes
// left over from earlier rows); whenever P lanes are available a full beat is loaded into the
// output register. `row_final` marks the last row of a packet: the remaining lanes leave as the
// packet's last beat (an extra flush cycle when they do not fit in the same beat). A final row
// with nothing selected and no residue gives a single beat with keep = 0 (empty packet).
// Throughput: one row in and one beat out per cycle; out_valid is a register.
module topk_zero_elim #(
    parameter integer P  = 16,  // lanes, a power of two 4..32
    parameter integer DW = 32   // bits per lane
) (
    input  wire             clk,
    input  wire             rst_n,
    input  wire             row_valid,
    output wire             row_ready,
    input  wire [P-1:0]     row_mask,
    input  wire [P*DW-1:0]  row_data,
    input  wire             row_final,  // last row of the packet
    input  wire             row_sat,    // packet status, copied to out_sat
    output wire             out_valid,
    input  wire             out_ready,
    output wire [P*DW-1:0]  out_data,
    output wire [P-1:0]     out_keep,
    output wire             out_last,
    output wire             out_sat
);
  localparam integer LP = $clog2(P);

  generate
    if (P < 4 || P > 32 || (P & (P - 1)) != 0) begin : g_bad_p
      `SPATTEN_ELAB_FATAL(1, "topk_zero_elim: P must be a power of two 4..32 (got %0d)", P);
    end
    if (DW < 1) begin : g_bad_dw
      `SPATTEN_ELAB_FATAL(1, "topk_zero_elim: DW must be >= 1 (got %0d)", DW);
    end
  endgenerate

  // stage 1
  reg             s1_valid_q;
  reg [P-1:0]     s1_mask_q;
  reg [P*DW-1:0]  s1_data_q;
  reg             s1_final_q;
  reg             s1_sat_q;
  // residue: lanes [0, res_cnt_q) valid, the others zero
  reg [P*DW-1:0]  res_q;
  reg [LP-1:0]    res_cnt_q;
  reg             flush_q;   // residue is the tail of a finished packet: send it as last beat
  reg             res_sat_q;
  // output register
  reg             out_valid_q;
  reg [P*DW-1:0]  out_data_q;
  reg [P-1:0]     out_keep_q;
  reg             out_last_q;
  reg             out_sat_q;

  wire out_adv = ~out_valid_q | out_ready;   // the output register can be loaded
  wire s1_take = s1_valid_q & out_adv & ~flush_q;
  assign row_ready = ~s1_valid_q | s1_take;

  assign out_valid = out_valid_q;
  assign out_data  = out_data_q;
  assign out_keep  = out_keep_q;
  assign out_last  = out_last_q;
  assign out_sat   = out_sat_q;

  // Merge: selected lane i of the row goes to position res_cnt + (selected lanes before i);
  // positions 0..P-1 form `lo` (the next beat), P..2P-1 form `hi` (the next residue).
  reg [P*(LP+1)-1:0] pos;
  reg [LP:0]         comb_cnt;
  reg [P*DW-1:0]     lo;
  reg [P*DW-1:0]     hi;

  always @(*) begin : p_pos
    integer i;
    reg [LP:0] c;
    c = {1'b0, res_cnt_q};
    for (i = 0; i < P; i = i + 1) begin
      pos[i*(LP+1) +: LP+1] = c;
      c = c + {{LP{1'b0}}, s1_mask_q[i]};
    end
    comb_cnt = c;
  end

  always @(*) begin : p_merge
    integer i, o;
    lo = {P * DW{1'b0}};
    hi = {P * DW{1'b0}};
    for (o = 0; o < P; o = o + 1) begin
      if (o[LP-1:0] < res_cnt_q) lo[o*DW +: DW] = res_q[o*DW +: DW];
      for (i = 0; i < P; i = i + 1) begin
        if (s1_mask_q[i] && pos[i*(LP+1) +: LP+1] == {1'b0, o[LP-1:0]})
          lo[o*DW +: DW] = s1_data_q[i*DW +: DW];
        if (s1_mask_q[i] && pos[i*(LP+1) +: LP+1] == {1'b1, o[LP-1:0]})
          hi[o*DW +: DW] = s1_data_q[i*DW +: DW];
      end
    end
  end

  function automatic [P-1:0] keep_of(input [LP:0] cnt);
    integer l;
    begin
      for (l = 0; l < P; l = l + 1) keep_of[l] = ({1'b0, l[LP-1:0]} < cnt) | cnt[LP];
    end
  endfunction

  wire comb_full = comb_cnt[LP];  // >= P lanes available

  always @(posedge clk) begin
    if (!rst_n) begin
      s1_valid_q  <= 1'b0;
      res_cnt_q   <= {LP{1'b0}};
      flush_q     <= 1'b0;
      out_valid_q <= 1'b0;
    end else begin
      if (row_valid && row_ready) s1_valid_q <= 1'b1;
      else if (s1_take) s1_valid_q <= 1'b0;
      if (out_adv) begin
        out_valid_q <= 1'b0;
        if (flush_q) begin
          out_valid_q <= 1'b1;
          res_cnt_q   <= {LP{1'b0}};
          flush_q     <= 1'b0;
        end else if (s1_valid_q) begin
          if (comb_full) begin
            out_valid_q <= 1'b1;
            res_cnt_q   <= comb_cnt[LP-1:0];
            flush_q     <= s1_final_q && comb_cnt[LP-1:0] != {LP{1'b0}};
          end else if (s1_final_q) begin
            out_valid_q <= 1'b1;
            res_cnt_q   <= {LP{1'b0}};
          end else begin
            res_cnt_q   <= comb_cnt[LP-1:0];
          end
        end
      end
    end
  end

  // datapath (not reset)
  always @(posedge clk) begin
    if (row_valid && row_ready) begin
      s1_mask_q  <= row_mask;
      s1_data_q  <= row_data;
      s1_final_q <= row_final;
      s1_sat_q   <= row_sat;
    end
    if (out_adv) begin
      if (flush_q) begin
        out_data_q <= res_q;
        out_keep_q <= keep_of({1'b0, res_cnt_q});
        out_last_q <= 1'b1;
        out_sat_q  <= res_sat_q;
      end else if (s1_valid_q) begin
        out_data_q <= lo;
        out_keep_q <= keep_of(comb_cnt);
        out_last_q <= s1_final_q && comb_cnt == {1'b1, {LP{1'b0}}} || s1_final_q && !comb_full;
        out_sat_q  <= s1_sat_q;
        res_q      <= comb_full ? hi : lo;
        res_sat_q  <= s1_sat_q;
      end
    end
  end
endmodule
`default_nettype wire
