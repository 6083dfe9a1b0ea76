(* blackbox *)
module eie_sram #(
    parameter integer WIDTH       = 8,
    parameter integer DEPTH       = 2,
    parameter integer ADDR_WIDTH  = 1,
    parameter         INIT_FILE   = "",
    parameter integer INIT_PER_PE = 0
) (
    input  wire                  clk,
    input  wire [ADDR_WIDTH-1:0] r_addr,
    input  wire                  r_en,
    output wire [WIDTH-1:0]      r_data,
    input  wire [ADDR_WIDTH-1:0] w_addr,
    input  wire                  w_en,
    input  wire [WIDTH-1:0]      w_data
);
endmodule
