`default_nettype none
// Simulation-only AXI4 read memory of the benchmark testbench (tb/run/spatten_bench_top.v,
// docs/performance.md §5): CHANNELS read ports on ONE shared backing store (every port sees
// the whole byte address space; spatten_top interleaves the channels by address).
//
// Per port: AR always ready while fewer than QDEPTH bursts are queued; a burst accepted at
// clock edge k has its first R beat taken at edge k + LATENCY (when the DUT is ready), then
// one beat per cycle; bursts return in order (the fetcher matches R beats by ID, any order
// is legal); RRESP OKAY. INCR bursts of 32-byte beats only (ARSIZE 5), aligned addresses;
// anything else stops the simulation ($fatal). Addresses wrap modulo MEM_BYTES.
//
// Backdoor (verif/hdl_mem.py): the host toggles load_req; on the next clock edge the model
// reads the hex file named by the plusarg +axi_rd_mem_file=PATH into the memory ($readmemh,
// 256-bit words, @word addresses) and copies load_req to load_ack. dump_req / dump_ack do the
// same with $writememh of words [dump_lo, dump_hi] into +axi_rd_mem_dump=PATH (read back).
module axi_rd_mem_model #(
    parameter integer CHANNELS  = 2,
    parameter integer ID_W      = 4,
    parameter integer ADDR_W    = 32,
    parameter integer LATENCY   = 20,       // AR handshake edge -> first R handshake edge, >= 2
    parameter integer QDEPTH    = 32,       // bursts queued per port, power of two
    parameter integer MEM_BYTES = 1 << 22   // power of two, >= 32
) (
    input  wire                     clk,
    input  wire                     rst_n,
    input  wire [CHANNELS*ID_W-1:0] arid,
    input  wire [CHANNELS*ADDR_W-1:0] araddr,
    input  wire [CHANNELS*8-1:0]    arlen,
    input  wire [CHANNELS*3-1:0]    arsize,
    input  wire [CHANNELS*2-1:0]    arburst,
    input  wire [CHANNELS-1:0]      arvalid,
    output wire [CHANNELS-1:0]      arready,
    output wire [CHANNELS*ID_W-1:0] rid,
    output wire [CHANNELS*256-1:0]  rdata,
    output wire [CHANNELS*2-1:0]    rresp,
    output wire [CHANNELS-1:0]      rlast,
    output wire [CHANNELS-1:0]      rvalid,
    input  wire [CHANNELS-1:0]      rready,
    // backdoor
    input  wire                     load_req,
    output reg                      load_ack,
    input  wire                     dump_req,
    output reg                      dump_ack,
    input  wire [31:0]              dump_lo,
    input  wire [31:0]              dump_hi
);
  localparam integer WORDS = MEM_BYTES / 32;
  localparam integer WA_W  = $clog2(WORDS);
  localparam integer Q_W   = $clog2(QDEPTH);

  initial begin
    if (LATENCY < 2 || QDEPTH < 2 || (QDEPTH & (QDEPTH - 1)) != 0 || MEM_BYTES < 32
        || (MEM_BYTES & (MEM_BYTES - 1)) != 0)
      $fatal(1, "axi_rd_mem_model: bad parameters (LATENCY %0d QDEPTH %0d MEM_BYTES %0d)",
             LATENCY, QDEPTH, MEM_BYTES);
  end

  reg [255:0] mem [0:WORDS-1];
  reg [31:0]  now;  // clock edges since reset

  // ---------------------------------------------------------------- backdoor
  reg [8*1024-1:0] path;
  always @(posedge clk) begin
    if (load_req != load_ack) begin
      if (!$value$plusargs("axi_rd_mem_file=%s", path))
        $fatal(1, "axi_rd_mem_model: load requested without +axi_rd_mem_file=PATH");
      $readmemh(path, mem);
      load_ack <= load_req;
    end
    if (dump_req != dump_ack) begin
      if (!$value$plusargs("axi_rd_mem_dump=%s", path))
        $fatal(1, "axi_rd_mem_model: dump requested without +axi_rd_mem_dump=PATH");
      $writememh(path, mem, dump_lo, dump_hi);
      dump_ack <= dump_req;
    end
  end
  integer i;
  initial begin  // zeroed like the host's bytearray (verif/hdl_mem.py loads only changes)
    load_ack = 1'b0;
    dump_ack = 1'b0;
    for (i = 0; i < WORDS; i = i + 1) mem[i] = 256'd0;
  end

  always @(posedge clk)
    if (!rst_n) now <= 32'd0;
    else now <= now + 32'd1;

  assign rresp = {CHANNELS{2'b00}};

  // ---------------------------------------------------------------- one queue per port
  genvar gc;
  generate
    for (gc = 0; gc < CHANNELS; gc = gc + 1) begin : g_port
      reg [ID_W-1:0] q_id   [0:QDEPTH-1];
      reg [WA_W-1:0] q_word [0:QDEPTH-1];
      reg [7:0]      q_len  [0:QDEPTH-1];
      reg [31:0]     q_due  [0:QDEPTH-1];
      reg [Q_W:0]    wr_q, rd_q;  // pointers with a wrap bit
      reg [7:0]      beat_q;      // next beat of the head burst to present
      reg            rvalid_q, rlast_q;
      reg [ID_W-1:0] rid_q;
      reg [255:0]    rdata_q;
      wire [Q_W-1:0] head = rd_q[Q_W-1:0];
      wire           full = (wr_q[Q_W-1:0] == rd_q[Q_W-1:0]) && (wr_q[Q_W] != rd_q[Q_W]);
      wire           nonempty = wr_q != rd_q;
      wire           ar_fire = arvalid[gc] && !full;
      wire           can_load = !rvalid_q || rready[gc];
      // the beat presented after edge e is taken at edge e + 1: present when due <= now + 1
      wire           present = can_load && nonempty && (q_due[head] <= now + 32'd1);
      wire [ADDR_W-1:0] a = araddr[gc*ADDR_W +: ADDR_W];

      assign arready[gc] = !full;
      assign rvalid[gc] = rvalid_q;
      assign rlast[gc] = rlast_q;
      assign rid[gc*ID_W +: ID_W] = rid_q;
      assign rdata[gc*256 +: 256] = rdata_q;

      always @(posedge clk) begin
        if (rst_n && ar_fire) begin
          if (arsize[gc*3 +: 3] != 3'd5 || arburst[gc*2 +: 2] != 2'b01 || a[4:0] != 5'd0)
            $fatal(1, "axi_rd_mem_model: port %0d: ARSIZE %0d ARBURST %0d ARADDR 0x%0h (only aligned INCR bursts of 32-byte beats)",
                   gc, arsize[gc*3 +: 3], arburst[gc*2 +: 2], a);
          q_id[wr_q[Q_W-1:0]]   <= arid[gc*ID_W +: ID_W];
          q_word[wr_q[Q_W-1:0]] <= a[5 +: WA_W];
          q_len[wr_q[Q_W-1:0]]  <= arlen[gc*8 +: 8];
          q_due[wr_q[Q_W-1:0]]  <= now + 32'(LATENCY);
        end
      end

      always @(posedge clk) begin
        if (!rst_n) begin
          wr_q <= '0;
          rd_q <= '0;
          beat_q <= 8'd0;
          rvalid_q <= 1'b0;
          rlast_q <= 1'b0;
          rid_q <= '0;
          rdata_q <= '0;
        end else begin
          if (ar_fire) wr_q <= wr_q + 1'b1;
          if (present) begin
            rvalid_q <= 1'b1;
            rid_q <= q_id[head];
            rdata_q <= mem[q_word[head] + WA_W'(beat_q)];
            rlast_q <= beat_q == q_len[head];
            if (beat_q == q_len[head]) begin
              beat_q <= 8'd0;
              rd_q <= rd_q + 1'b1;
            end else begin
              beat_q <= beat_q + 8'd1;
            end
          end else if (can_load) begin
            rvalid_q <= 1'b0;
          end
        end
      end
    end
  endgenerate
endmodule
`default_nettype wire
