// eie_sram: behavioural model of the one SRAM module of the EIE design.
//
// Written by `eie generate` (eie_hw/generate.py); every on-chip memory of the design
// (Spmat, pointer banks, codebook, bias, accumulator banks, the CCU's layer table and
// per-layer cycle counters) is an instance of this module. An ASIC flow replaces this
// file with wrappers that map each (WIDTH, DEPTH) to a memory macro (e.g. fakeram45);
// keep the port list and the timing below. See docs/hardware_flow.md.
//
// Parameters
//   WIDTH       word width in bits
//   DEPTH       words
//   ADDR_WIDTH  address width, max(1, ceil(log2(DEPTH)))
//   INIT_FILE   image file of this memory relative to a compressed model's images/
//               directory ("" = none), e.g. "codebook.hex"
//   INIT_PER_PE 1: INIT_FILE lies in the folder of the PE the memory belongs to,
//               images/pe<NNN>/ (e.g. "spmat.hex" of PE 3 is images/pe003/spmat.hex).
//               NNN is not a parameter (that would make every PE a different module
//               after elaboration, in simulators and synthesis alike): the model takes
//               it from its own instance path, the number N of the innermost `pe<N>`.
// Ports (all synchronous to the rising edge of clk)
//   r_addr, r_en   read: r_data holds mem[r_addr] from the cycle after r_en was high
//   r_data         until the next read (it does not change while r_en is low)
//   w_addr, w_en,  write: mem[w_addr] <= w_data
//   w_data
//   A read of the address written in the same cycle returns the new word
//   (write-first / transparent), exactly like the Amaranth simulation model.
//
// Simulation backdoor load: run with +EIE_IMAGES=<model>/images and every instance
// whose INIT_FILE is set loads that file with $readmemh (files hold only the words in
// use; the rest of the memory is not initialized: zero under Verilator's default
// --x-initial, which matches the Amaranth model). Synthesis (SYNTHESIS defined) skips
// the initial block.
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
    output reg  [WIDTH-1:0]      r_data,
    input  wire [ADDR_WIDTH-1:0] w_addr,
    input  wire                  w_en,
    input  wire [WIDTH-1:0]      w_data
);
    reg [WIDTH-1:0] mem [0:DEPTH-1];

    always @(posedge clk) begin
        if (w_en)
            mem[w_addr] <= w_data;
        if (r_en)
            r_data <= (w_en && w_addr == r_addr) ? w_data : mem[r_addr];
    end

`ifndef SYNTHESIS
    // N of the innermost instance named pe<N> in `path`, -1 if there is none.
    function automatic integer pe_number_in(input string path);
        integer i, j, value;
        pe_number_in = -1;
        for (i = 0; i + 2 < path.len(); i = i + 1) begin
            if ((i == 0 || path.getc(i - 1) == ".") && path.getc(i) == "p"
                    && path.getc(i + 1) == "e") begin
                value = 0;
                j = i + 2;
                while (j < path.len() && path.getc(j) >= "0" && path.getc(j) <= "9") begin
                    value = value * 10 + (int'(path.getc(j)) - 48);
                    j = j + 1;
                end
                if (j > i + 2 && (j == path.len() || path.getc(j) == "."))
                    pe_number_in = value;
            end
        end
    endfunction

    string images_dir, file_name;
    integer pe;
    initial begin
        r_data = {WIDTH{1'b0}};
        if (INIT_FILE != "" && $value$plusargs("EIE_IMAGES=%s", images_dir)) begin
            if (INIT_PER_PE != 0) begin
                pe = pe_number_in($sformatf("%m"));
                if (pe < 0)
                    $fatal(1, "eie_sram %m: INIT_PER_PE is set but no instance pe<N> holds it");
                file_name = $sformatf("%s/pe%03d/%s", images_dir, pe, INIT_FILE);
            end else begin
                file_name = $sformatf("%s/%s", images_dir, INIT_FILE);
            end
            $readmemh(file_name, mem);
        end
    end
`endif
endmodule
