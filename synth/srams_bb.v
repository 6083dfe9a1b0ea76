(* blackbox *)
module eie_sram_16x32 (clk, r_addr, r_en, r_data, w_addr, w_en, w_data);
  input clk;
  input [3:0] r_addr;
  input r_en;
  output [31:0] r_data;
  input [3:0] w_addr;
  input w_en;
  input [31:0] w_data;
endmodule

(* blackbox *)
module eie_sram_16x55 (clk, r_addr, r_en, r_data, w_addr, w_en, w_data);
  input clk;
  input [3:0] r_addr;
  input r_en;
  output [54:0] r_data;
  input [3:0] w_addr;
  input w_en;
  input [54:0] w_data;
endmodule

(* blackbox *)
module eie_sram_64x32 (clk, r_addr, r_en, r_data, w_addr, w_en, w_data);
  input clk;
  input [5:0] r_addr;
  input r_en;
  output [31:0] r_data;
  input [5:0] w_addr;
  input w_en;
  input [31:0] w_data;
endmodule

(* blackbox *)
module eie_sram_256x16 (clk, r_addr, r_en, r_data, w_addr, w_en, w_data);
  input clk;
  input [7:0] r_addr;
  input r_en;
  output [15:0] r_data;
  input [7:0] w_addr;
  input w_en;
  input [15:0] w_data;
endmodule

(* blackbox *)
module eie_sram_256x32 (clk, r_addr, r_en, r_data, w_addr, w_en, w_data);
  input clk;
  input [7:0] r_addr;
  input r_en;
  output [31:0] r_data;
  input [7:0] w_addr;
  input w_en;
  input [31:0] w_data;
endmodule

(* blackbox *)
module eie_sram_8192x18 (clk, r_addr, r_en, r_data, w_addr, w_en, w_data);
  input clk;
  input [12:0] r_addr;
  input r_en;
  output [17:0] r_data;
  input [12:0] w_addr;
  input w_en;
  input [17:0] w_data;
endmodule

(* blackbox *)
module eie_sram_16384x64 (clk, r_addr, r_en, r_data, w_addr, w_en, w_data);
  input clk;
  input [13:0] r_addr;
  input r_en;
  output [63:0] r_data;
  input [13:0] w_addr;
  input w_en;
  input [63:0] w_data;
endmodule
