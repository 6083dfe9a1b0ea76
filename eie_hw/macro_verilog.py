"""Verilog for building the design's memories from SRAM macros (issue #12).

* `macro_model_verilog(macro)`: a behavioural simulation model of one single-port macro
  with the fakeram45 pin names (clk, ce_in, we_in, addr_in, wd_in, w_mask_in, rd_out), for
  simulating the wrapped design where no vendor model is at hand. Its storage is the array
  `mem`, which the wrapper's backdoor load writes by hierarchical reference.
* `wrapper_verilog(mappings)`: a drop-in `eie_sram` (same parameters, ports and timing as
  the behavioural one in `eie_hw/sram_verilog.py`) that picks, with a generate-if on
  (DEPTH, WIDTH), a tile of macros for every shape mapped onto macros
  (`eie_hw/macro_mapping.py`), and keeps the behavioural model, renamed
  `eie_sram_behavioural`, for flip-flop mappings and every other shape.

A tile `eie_sram_<DEPTH>x<WIDTH>` is `rows` banks of `cols` macros side by side, each macro
word holding `fold` logical words (slices). The macros are single-port: the address is
`w_en ? w_addr : r_addr` (these memories never read and write in one cycle; simulation
checks it with `$error`). Logical address a: slice = a % fold, word = a / fold,
bank = word / macro words, macro address = word % macro words (the last bank of a depth
that is not a multiple is partly used). A write replicates w_data into every slice and
masks all bits but the chosen slice's (and the unused top bits of the last column). A read
enables only the addressed bank and registers bank and slice with r_en; the next cycle
r_data selects them from the macros' rd_out, which holds until the bank's next read, so
r_data holds between reads like eie_sram's. (A macro whose rd_out changes on a write
would need an extra output register.)

Simulation backdoor load (`ifndef SYNTHESIS`): the same +EIE_IMAGES / INIT_FILE /
INIT_PER_PE rules as eie_sram; the tile reads the image into a temporary array and copies
each macro's words into its `mem`.
"""

from __future__ import annotations

from typing import Iterable

from .errors import EIEError
from .macro_mapping import Mapping
from .macros import Macro, MacroLibrary
from .sram import sram_addr_width
from .sram_verilog import SRAM_VERILOG, _sram_header

__all__ = ["macro_model_verilog", "macro_models_verilog", "wrapper_verilog",
           "tile_module_name", "BEHAVIOURAL_MODULE"]

BEHAVIOURAL_MODULE = "eie_sram_behavioural"


def _macro_addr_width(macro: Macro) -> int:
    return sram_addr_width(macro.words)


# ----------------------------------------------------------------------------- macro model

def macro_model_verilog(macro: Macro) -> str:
    """A behavioural model of one single-port macro, named as the macro."""
    if macro.ports != 1:
        raise EIEError(f"macro {macro.name} has {macro.ports} ports: only single-port "
                       "macros (fakeram45 pins clk, ce_in, we_in, addr_in, wd_in, w_mask_in, "
                       "rd_out) have a model here")
    aw, b, w = _macro_addr_width(macro), macro.bits, macro.words
    if macro.write_mask:
        mask_port = f"    input  wire [{b - 1}:0] w_mask_in,\n"
        write = "mem[addr_in] <= (mem[addr_in] & ~w_mask_in) | (wd_in & w_mask_in);"
    else:
        mask_port = ""
        write = "mem[addr_in] <= wd_in;"
    return f"""\
// {macro.name}: behavioural simulation model ({w} words x {b} bits, single port,
// {'per-bit write mask' if macro.write_mask else 'no write mask'}); written by eie_hw/macro_verilog.py.
// On a rising clk edge with ce_in high: we_in high writes addr_in, else reads it into
// rd_out, which holds otherwise (also during writes).
module {macro.name} (
    input  wire          clk,
    input  wire          ce_in,
    input  wire          we_in,
    input  wire [{aw - 1}:0] addr_in,
    input  wire [{b - 1}:0] wd_in,
{mask_port}    output reg  [{b - 1}:0] rd_out
);
    reg [{b - 1}:0] mem [0:{w - 1}];

    always @(posedge clk) begin
        if (ce_in) begin
            if (we_in)
                {write}
            else
                rd_out <= mem[addr_in];
        end
    end

`ifndef SYNTHESIS
    initial rd_out = {b}'d0;
`endif
endmodule
"""


def macro_models_verilog(mappings: Iterable[Mapping], library: MacroLibrary) -> str:
    """The models of every macro the mappings use, each once, in name order."""
    names = sorted({m.macro for m in mappings if m.kind == "macro"})
    return "\n".join(macro_model_verilog(library.macro(n)) for n in names)


# ----------------------------------------------------------------------------- reused text

def _between(text: str, start: str, end: str) -> str:
    i = text.find(start)
    j = text.find(end, i)
    if i < 0 or j < 0:
        raise AssertionError(f"eie_hw/sram_verilog.py changed: {start!r} ... {end!r} not found")
    return text[i:j + len(end)]


def _behavioural_module() -> str:
    head = "module eie_sram #("
    assert SRAM_VERILOG.count(head) == 1, "eie_hw/sram_verilog.py changed"
    return SRAM_VERILOG.replace(head, f"module {BEHAVIOURAL_MODULE} #(")


# The pe<N> function and the image-file choice of the behavioural eie_sram, reused as is.
_PE_FUNCTION = _between(SRAM_VERILOG, "    // N of the innermost", "    endfunction\n")
_IMAGE_SELECT = _between(SRAM_VERILOG, "        if (INIT_FILE != \"\"", "$readmemh(file_name, mem);")
assert _IMAGE_SELECT.endswith("mem);")
_IMAGE_SELECT = _IMAGE_SELECT[:-len("mem);")] + "image);"


# ----------------------------------------------------------------------------- wrapper

def tile_module_name(mapping: Mapping) -> str:
    return f"eie_sram_{mapping.depth}x{mapping.width}"


def _check_tile(m: Mapping, macro: Macro) -> None:
    d, wd = m.depth, m.width
    if m.fold > 1 and (m.cols != 1 or not macro.write_mask or m.fold * wd > macro.bits):
        raise EIEError(f"mapping of {d}x{wd} onto {macro.name}: fold {m.fold} needs 1 column "
                       "and a macro with a write mask wide enough for the slices")
    if m.cols * macro.bits < wd or m.rows * macro.words * m.fold < d:
        raise EIEError(f"mapping of {d}x{wd} onto {m.cols} x {m.rows} {macro.name} (fold "
                       f"{m.fold}) does not hold the memory")


def _tile_verilog(m: Mapping, macro: Macro) -> str:
    _check_tile(m, macro)
    total = m.cols * macro.bits
    return "\n".join([*_tile_head(m, macro, total), *_tile_macros(m, macro, total),
                      *_tile_backdoor(m, macro, total), "endmodule", ""])


def _tile_head(m: Mapping, macro: Macro, total: int) -> list[str]:
    """Ports, and the one address of the single-port macros split into bank/word/slice."""
    d, wd, fold = m.depth, m.width, m.fold
    maw, aw = _macro_addr_width(macro), sram_addr_width(d)
    pad = total - fold * wd
    rep = f"{{{fold}{{w_data}}}}" if fold > 1 else "w_data"
    wd_all = f"{{{{{pad}{{1'b0}}}}, {rep}}}" if pad else rep
    ones = f"{{{{{total - wd}{{1'b0}}}}, {{{wd}{{1'b1}}}}}}" if total > wd else f"{{{wd}{{1'b1}}}}"
    idx_w = max(aw, maw) + 1          # wide enough for every address quotient
    return [
        f"// eie_sram {d} x {wd}: {m.cols} x {m.rows} (cols x rows) {macro.name}, "
        f"{fold} word{'s' if fold > 1 else ''} per macro word.",
        f"module {tile_module_name(m)} #(",
        f"    parameter integer ADDR_WIDTH  = {aw},",
        "    parameter         INIT_FILE   = \"\",",
        "    parameter integer INIT_PER_PE = 0",
        ") (",
        "    input  wire                  clk,",
        "    input  wire [ADDR_WIDTH-1:0] r_addr,",
        "    input  wire                  r_en,",
        f"    output wire [{wd - 1}:0]           r_data,",
        "    input  wire [ADDR_WIDTH-1:0] w_addr,",
        "    input  wire                  w_en,",
        f"    input  wire [{wd - 1}:0]           w_data",
        ");",
        "    /* verilator lint_off WIDTH */",
        f"    localparam integer DEPTH = {d}, WIDTH = {wd}, FOLD = {fold}, WORDS = {macro.words};",
        f"    localparam integer IW = {idx_w};",
        "    // single port: the address of the write, else of the read",
        "    wire [IW-1:0] addr  = w_en ? w_addr : r_addr;",
        "    wire [IW-1:0] slice = addr % FOLD;            // logical word in the macro word",
        "    wire [IW-1:0] word  = addr / FOLD;            // macro word of the whole tile",
        "    wire [IW-1:0] bank  = word / WORDS;           // row of macros",
        f"    wire [{maw - 1}:0] maddr = word % WORDS;",
        f"    wire [{total - 1}:0] wd_all = {wd_all};",
        "    // The mask matters on writes only: taken from w_addr, it keeps the read address",
        "    // (the compute mode's critical paths) off the mask pins of every macro.",
        "    wire [IW-1:0] w_slice = w_addr % FOLD;",
        f"    wire [{total - 1}:0] mask_all = {ones} << (w_slice * WIDTH);",
        "    reg  [IW-1:0] bank_q, slice_q;",
        "    always @(posedge clk)",
        "        if (r_en) begin",
        "            bank_q  <= bank;",
        "            slice_q <= slice;",
        "        end",
        "",
    ]


def _tile_macros(m: Mapping, macro: Macro, total: int) -> list[str]:
    """The macro instances, and the read data of the bank and slice read last."""
    bits, lines = macro.bits, []
    for r in range(m.rows):
        for c in range(m.cols):
            mask = f"        .w_mask_in(mask_all[{c * bits + bits - 1}:{c * bits}]),\n" \
                if macro.write_mask else ""
            lines.append(
                f"    wire [{bits - 1}:0] rd_r{r}_c{c};\n"
                f"    {macro.name} u_r{r}_c{c} (\n"
                f"        .clk(clk),\n"
                f"        .ce_in((r_en | w_en) && bank == {r}),\n"
                f"        .we_in(w_en),\n"
                f"        .addr_in(maddr),\n"
                f"        .wd_in(wd_all[{c * bits + bits - 1}:{c * bits}]),\n"
                f"{mask}"
                f"        .rd_out(rd_r{r}_c{c}));")

    def row(r: int) -> str:
        parts = [f"rd_r{r}_c{c}" for c in reversed(range(m.cols))]
        return parts[0] if m.cols == 1 else "{" + ", ".join(parts) + "}"
    lines += ["", f"    reg [{total - 1}:0] rd_all;", "    always @(*)", "        case (bank_q)"]
    lines += [f"            {r}: rd_all = {row(r)};" for r in range(m.rows - 1)]
    return lines + [f"            default: rd_all = {row(m.rows - 1)};", "        endcase",
                    "    assign r_data = rd_all[slice_q * WIDTH +: WIDTH];",
                    "    /* verilator lint_on WIDTH */", ""]


def _tile_backdoor(m: Mapping, macro: Macro, total: int) -> list[str]:
    """Simulation only: the single-port check and the +EIE_IMAGES load into each macro."""
    bits = macro.bits
    lines = [
        "`ifndef SYNTHESIS",
        "    always @(posedge clk)",
        "        if (r_en && w_en)",
        f"            $error(\"{tile_module_name(m)} %m: r_en and w_en in one cycle: the "
        "single-port macros cannot do both\");",
        "",
        _PE_FUNCTION.rstrip("\n"),
        "",
        "    reg [WIDTH-1:0] image [0:DEPTH-1];",
        f"    reg [{total - 1}:0] mword;",
        "    string images_dir, file_name;",
        "    integer pe, i, s, a;",
        "    initial begin",
        "        bank_q = 0;",
        "        slice_q = 0;",
        _IMAGE_SELECT,
        "            // macro word i of bank r holds logical words (r * WORDS + i) * FOLD + s",
    ]
    for r in range(m.rows):
        lines += [
            "            for (i = 0; i < WORDS; i = i + 1) begin",
            f"                mword = {total}'d0;",
            "                for (s = 0; s < FOLD; s = s + 1) begin",
            f"                    a = ({r} * WORDS + i) * FOLD + s;",
            "                    if (a < DEPTH)",
            "                        mword[s * WIDTH +: WIDTH] = image[a];",
            "                end",
        ]
        lines += [f"                u_r{r}_c{c}.mem[i] = mword[{c * bits + bits - 1}:{c * bits}];"
                  for c in range(m.cols)]
        lines.append("            end")
    return lines + ["        end", "    end", "`endif"]


def _shape_table(mappings: Iterable[Mapping]) -> dict[tuple[int, int], Mapping]:
    shapes: dict[tuple[int, int], Mapping] = {}
    for m in mappings:
        key = (m.depth, m.width)
        old = shapes.get(key)
        same = old is not None and (old.kind, old.macro, old.cols, old.rows, old.fold) == \
            (m.kind, m.macro, m.cols, m.rows, m.fold)
        if old is not None and not same:
            raise EIEError(
                f"memories of {m.depth} words x {m.width} bits are mapped two ways "
                f"({old.kind} {old.macro} and {m.kind} {m.macro}, e.g. {old.name or '?'} and "
                f"{m.name or '?'}): the eie_sram wrapper picks a build by (DEPTH, WIDTH) "
                "alone, so every memory of one shape must be built the same way")
        shapes[key] = m
    return shapes


def wrapper_verilog(mappings: list[Mapping], library: MacroLibrary | None = None) -> str:
    """A drop-in eie_sram building each macro-mapped (DEPTH, WIDTH) from macros.

    `library` gives the macros' sizes; without it the fakeram45 library is used.
    The macros' own models (or `macro_models_verilog`) must be compiled alongside.
    """
    if library is None:
        from .macro_views import load_library
        library = load_library("fakeram45")
    shapes = _shape_table(mappings)
    tiles = [m for k, m in sorted(shapes.items()) if m.kind == "macro"]
    flops = [m for k, m in sorted(shapes.items()) if m.kind != "macro"]
    out = [
        "// eie_sram built from SRAM macros: written by eie_hw/macro_verilog.py (issue #12).",
        "// A drop-in replacement of the behavioural eie_sram (same parameters, ports and",
        "// timing): shapes (DEPTH, WIDTH) mapped onto macros use a tile eie_sram_<D>x<W>;",
        f"// flip-flop mappings and every other shape use {BEHAVIOURAL_MODULE}, the",
        "// behavioural model. Compile the macros' models (or vendor views) alongside.",
        "",
        _behavioural_module(),
    ]
    for m in tiles:
        out.append(_tile_verilog(m, library.macro(m.macro)))
    body = []
    for n, m in enumerate(tiles):
        kw = "if" if n == 0 else "else if"
        body += [
            f"        {kw} (DEPTH == {m.depth} && WIDTH == {m.width}) begin : g_{m.depth}x{m.width}",
            f"            // {m.cols} x {m.rows} {m.macro}, fold {m.fold}",
            f"            {tile_module_name(m)} #(.ADDR_WIDTH(ADDR_WIDTH), .INIT_FILE(INIT_FILE),",
            "                .INIT_PER_PE(INIT_PER_PE)) u_tile (",
            "                .clk(clk), .r_addr(r_addr), .r_en(r_en), .r_data(r_data),",
            "                .w_addr(w_addr), .w_en(w_en), .w_data(w_data));",
            "        end"]
    flop_note = ", ".join(f"{m.depth}x{m.width}" for m in flops) or "none"
    body += [
        f"        {'else ' if tiles else ''}begin : g_behavioural",
        f"            // flip-flop mappings ({flop_note}) and shapes not mapped",
        f"            {BEHAVIOURAL_MODULE} #(.WIDTH(WIDTH), .DEPTH(DEPTH), .ADDR_WIDTH(ADDR_WIDTH),",
        "                .INIT_FILE(INIT_FILE), .INIT_PER_PE(INIT_PER_PE)) u_sram (",
        "                .clk(clk), .r_addr(r_addr), .r_en(r_en), .r_data(r_data),",
        "                .w_addr(w_addr), .w_en(w_en), .w_data(w_data));",
        "        end"]
    header = _sram_header("wire")
    out += [header + "    generate", *body, "    endgenerate", "endmodule", ""]
    return "\n".join(out)
