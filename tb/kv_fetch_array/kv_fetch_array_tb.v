`default_nettype none
// Testbench top for kv_fetch_array: the flattened per-channel AXI read vectors become the 16
// named ports m_axi0_* .. m_axi15_* that cocotbext-axi binds by name (the same generated port
// groups as spatten_top: rtl/spatten_axi_rd_ports.vh / spatten_axi_rd_map.vh); ports at or
// above CHANNELS are tied off.
module kv_fetch_array_tb #(
    parameter integer CHANNELS        = 2,
    parameter integer LOG2_INTERLEAVE = 9,
    parameter integer ROB_BEATS       = 64,
    parameter integer OUTSTANDING     = 16,
    parameter integer MAX_BURST       = 16,
    parameter integer RUNQ            = 4,
    parameter integer LIST_W          = 4,
    parameter integer D_MAX           = 64,
    parameter integer CNT_W           = 48
) (
    input  wire                         clk,
    input  wire                         rst_n,
    `include "spatten_axi_rd_ports.vh"
    input  wire                         job_valid,
    output wire                         job_ready,
    input  wire [31:0]                  job_base,
    input  wire [15:0]                  job_stride,
    input  wire [6:0]                   job_d,
    input  wire [3:0]                   job_bits,
    input  wire [2:0]                   job_class,
    input  wire                         job_range,
    input  wire [15:0]                  job_first,
    input  wire [15:0]                  job_lastrow,
    input  wire                         in_valid,
    output wire                         in_ready,
    input  wire [LIST_W*16-1:0]         in_idx,
    input  wire [LIST_W-1:0]            in_vld,
    input  wire                         in_empty,
    input  wire                         in_last,
    output wire [CHANNELS-1:0]          out_valid,
    input  wire                         out_ready,
    output wire [CHANNELS*D_MAX*12-1:0] out_data,
    output wire [CHANNELS*16-1:0]       out_idx,
    output wire [CHANNELS-1:0]          out_err,
    output wire [CHANNELS-1:0]          out_tag,
    output wire                         done,
    output wire                         busy,
    output wire                         err_valid,
    output wire [1:0]                   err_resp,
    output wire [3:0]                   err_channel,
    output wire [2:0]                   err_class,
    input  wire                         err_clear,
    output wire [8*CNT_W-1:0]           cnt_rd_bytes,
    output wire [CNT_W-1:0]             cnt_stall
);
  wire [CHANNELS*4-1:0]   ax_arid, ax_rid;
  wire [CHANNELS*32-1:0]  ax_araddr;
  wire [CHANNELS*8-1:0]   ax_arlen;
  wire [CHANNELS*3-1:0]   ax_arsize;
  wire [CHANNELS*2-1:0]   ax_arburst, ax_rresp;
  wire [CHANNELS-1:0]     ax_arvalid, ax_arready, ax_rlast, ax_rvalid, ax_rready;
  wire [CHANNELS*256-1:0] ax_rdata;

  kv_fetch_array #(
      .CHANNELS(CHANNELS), .ADDR_W(32), .ID_W(4), .OUTSTANDING(OUTSTANDING),
      .MAX_BURST(MAX_BURST), .LOG2_INTERLEAVE(LOG2_INTERLEAVE), .ROB_BEATS(ROB_BEATS),
      .IDX_W(16), .STRIDE_W(16), .D_MAX(D_MAX), .CNT_W(CNT_W), .RUNQ(RUNQ), .LIST_W(LIST_W)
  ) dut (
      .clk(clk), .rst_n(rst_n),
      .job_valid(job_valid), .job_ready(job_ready), .job_base(job_base), .job_stride(job_stride),
      .job_d(job_d), .job_bits(job_bits), .job_class(job_class), .job_range(job_range),
      .job_first(job_first), .job_lastrow(job_lastrow),
      .in_valid(in_valid), .in_ready(in_ready), .in_idx(in_idx), .in_vld(in_vld),
      .in_empty(in_empty),
      .in_last(in_last),
      .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data), .out_idx(out_idx),
      .out_err(out_err), .out_tag(out_tag), .done(done),
      .m_axi_arid(ax_arid), .m_axi_araddr(ax_araddr), .m_axi_arlen(ax_arlen),
      .m_axi_arsize(ax_arsize), .m_axi_arburst(ax_arburst), .m_axi_arvalid(ax_arvalid),
      .m_axi_arready(ax_arready), .m_axi_rid(ax_rid), .m_axi_rdata(ax_rdata),
      .m_axi_rresp(ax_rresp), .m_axi_rlast(ax_rlast), .m_axi_rvalid(ax_rvalid),
      .m_axi_rready(ax_rready),
      .busy(busy), .err_valid(err_valid), .err_resp(err_resp), .err_channel(err_channel),
      .err_class(err_class), .err_clear(err_clear), .cnt_rd_bytes(cnt_rd_bytes),
      .cnt_stall(cnt_stall));

`include "spatten_axi_rd_map.vh"
endmodule
`default_nettype wire
