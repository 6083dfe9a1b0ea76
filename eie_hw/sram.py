"""The one SRAM abstraction every on-chip memory goes through.

Two ways to elaborate the same ports:

* For the Amaranth simulator (platform None, the default): `amaranth.lib.memory.Memory`
  with one synchronous, write-transparent read port and one write port, preloaded from
  `init` (the backdoor load).
* For Verilog hand-off (`eie_hw.generate`): an instance of the black-box module
  `eie_sram` (`SRAM_MODULE`) with parameters WIDTH, DEPTH, ADDR_WIDTH and INIT_FILE, the
  image file (relative to a model's `images/` directory, or to the PE's own folder in
  it when INIT_PER_PE is 1) that the behavioural model `eie_sram.v` loads with
  `$readmemh` when the simulation is given `+EIE_IMAGES=<dir>`. The PE's folder is not
  a parameter: the model derives it from the PE's instance name, so that every PE of
  the design is the same module (eie_hw/generate.py).
  An ASIC flow swaps that module for SRAM macros (docs/hardware_flow.md). The platform
  object asks for this with a true `sram_blackbox` attribute.

Keeping every memory behind this class is what makes that swap a one-place change;
`share_with_host` is the one place where a memory is handed between compute and host.
"""

from amaranth.hdl import ClockSignal, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .memory_map import PE_FILES

SRAM_MODULE = "eie_sram"


def sram_addr_width(depth: int) -> int:
    """Address width of an SRAM port (at least 1 bit, also for depth 1)."""
    return (max(depth, 2) - 1).bit_length()


class SRAMPortSignature(wiring.Signature):
    """One read and one write port, seen from the side that drives the addresses.

    `r_data` holds the word addressed in the cycle `r_en` was high, from the next
    cycle on, until the next read. A read of the address written in the same cycle
    returns the new word (write-first / transparent).
    """

    def __init__(self, width: int, depth: int):
        self.width, self.depth = width, depth
        super().__init__({
            "r_addr": Out(range(max(depth, 2))),
            "r_en": Out(1),
            "r_data": In(width),
            "w_addr": Out(range(max(depth, 2))),
            "w_en": Out(1),
            "w_data": Out(width),
        })


def wants_sram_blackbox(platform) -> bool:
    return bool(getattr(platform, "sram_blackbox", False))


class SRAM(wiring.Component):
    """`depth` x `width` memory, optionally initialized (the backdoor load).

    `init` (list of ints) is used by the Amaranth `Memory`; `init_file` names the same
    contents as an image file for the Verilog black box (`""`: no image, the memory
    starts empty). A per-PE file of the memory map (`memory_map.PE_FILES`) lies in the
    folder of the PE the memory belongs to (`INIT_PER_PE`); any other name is relative
    to the images folder.
    """

    def __init__(self, *, width: int, depth: int, init=(), init_file: str = ""):
        self.width, self.depth = width, depth
        self.init = list(init)
        self.init_file = str(init_file)
        self.per_pe = self.init_file in PE_FILES
        if len(self.init) > depth:
            raise ValueError(f"SRAM init has {len(self.init)} words for depth {depth}")
        super().__init__({"port": In(SRAMPortSignature(width, depth))})

    def elaborate(self, platform):
        if wants_sram_blackbox(platform):
            # The instance itself, not a module around it: every memory of a unit is
            # then an `eie_sram` directly inside that unit's module.
            return Instance(
                SRAM_MODULE,
                p_WIDTH=self.width,
                p_DEPTH=self.depth,
                p_ADDR_WIDTH=sram_addr_width(self.depth),
                p_INIT_FILE=self.init_file,
                p_INIT_PER_PE=int(self.per_pe),
                i_clk=ClockSignal(),
                i_r_addr=self.port.r_addr,
                i_r_en=self.port.r_en,
                o_r_data=self.port.r_data,
                i_w_addr=self.port.w_addr,
                i_w_en=self.port.w_en,
                i_w_data=self.port.w_data,
            )
        m = Module()
        m.submodules.mem = mem = Memory(shape=self.width, depth=self.depth, init=self.init)
        wp = mem.write_port()
        rp = mem.read_port(transparent_for=(wp,))
        m.d.comb += [
            wp.addr.eq(self.port.w_addr), wp.en.eq(self.port.w_en),
            wp.data.eq(self.port.w_data),
            rp.addr.eq(self.port.r_addr), rp.en.eq(self.port.r_en),
            self.port.r_data.eq(rp.data),
        ]
        return m


def share_with_host(m, port, host, io_mode, *, read_addr, read_en, host_reads=None):
    """Hand SRAM `port` to the host in I/O mode and to the compute side otherwise.

    The host's requests (`host`, an `SRAMPortSignature` interface seen from the host) are
    registered here, in the unit that owns the memory, and reach the memory a cycle later:
    each unit's registers then drive only its own memory's pins (a macro tile's dozens of
    them), and the host decode in front ends at flip-flops (issue 13). Host writes take
    effect only if issued in I/O mode; compute never writes the memories shared this way.
    A host read (issued while `host_reads`, default: all of I/O mode) takes the read port
    in the next cycle, else the compute side has it (`read_addr` / `read_en`; in I/O mode
    the compute side does not read). `r_data` goes to both sides: it holds the last word
    read, whoever read it.
    """
    host_reads = io_mode if host_reads is None else host_reads
    w_addr, w_data = Signal.like(host.w_addr), Signal.like(host.w_data)
    w_en, r_addr, host_read = Signal(), Signal.like(host.r_addr), Signal()
    m.d.sync += [w_addr.eq(host.w_addr), w_data.eq(host.w_data), w_en.eq(host.w_en & io_mode),
                 r_addr.eq(host.r_addr), host_read.eq(host.r_en & host_reads)]
    m.d.comb += [port.w_addr.eq(w_addr), port.w_data.eq(w_data), port.w_en.eq(w_en),
                 host.r_data.eq(port.r_data)]
    with m.If(host_read):
        m.d.comb += [port.r_addr.eq(r_addr), port.r_en.eq(1)]
    with m.Else():
        m.d.comb += [port.r_addr.eq(read_addr), port.r_en.eq(read_en)]
