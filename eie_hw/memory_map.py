"""The memory map: what the compressor, the hardware, the host model and the Verilog
generator must agree on, in one place.

- the file names of a model folder (`eie compress -o DIR`): `model.eie`, `manifest.json`,
  and the image files every SRAM is loaded from (names relative to its `images/`);
- the host port: targets, control addresses, status and command bits, field widths;
- the layer descriptor word (fields and widths), as the CCU decodes it and the packer
  writes it;
- the counter width and the scan (output-stage) read latency the host port waits for.

`compress/` writes files and descriptors by these definitions, `eie_hw/` builds the
hardware from them, `sim/host.py` speaks the port with them; none of them defines its
own copy.
"""

from __future__ import annotations

import enum

from amaranth.lib import data

from .config import EIEConfig

# ----------------------------------------------------------------------------- model folder

MODEL_FILE = "model.eie"         # the compressed model (compress/container.py)
MANIFEST_FILE = "manifest.json"  # what the folder holds, sealed (compress/manifest.py)

# ----------------------------------------------------------------------------- image files

CODEBOOK_FILE = "codebook.hex"   # one codebook for every PE (each PE holds a copy)
LAYERS_FILE = "layers.hex"       # the CCU's layer table
# Per-PE files, inside the PE's folder `pe_image_dir(index)`.
SPMAT_FILE = "spmat.hex"
PTR_EVEN_FILE = "ptr_even.hex"
PTR_ODD_FILE = "ptr_odd.hex"
BIAS_FILE = "bias.hex"
PE_FILES = (SPMAT_FILE, PTR_EVEN_FILE, PTR_ODD_FILE, BIAS_FILE)


def pe_image_dir(index: int) -> str:
    """The folder of PE `index`'s image files. The Verilog SRAM model derives the same
    name from the PE's instance name `pe<index>` (see eie_hw/generate.py)."""
    return f"pe{index:03d}"


def pe_instance_name(index: int) -> str:
    """Instance name of PE `index` in the top level (and in the Amaranth hierarchy)."""
    return f"pe{index}"


# ----------------------------------------------------------------------------- host port

class Target(enum.IntEnum):
    SPMAT = 0
    PTR_EVEN = 1
    PTR_ODD = 2
    CODEBOOK = 3
    BIAS = 4
    ACT = 5
    LAYERS = 6
    CONTROL = 7


TARGET_BITS = 3


class Control(enum.IntEnum):
    # read: STATUS_* bits; write: CMD_* bits
    STATUS = 0
    TOTAL_CYCLES = 1
    STALL_CYCLES = 2    # CCU cycles stalled on a full FIFO
    LAYERS_DONE = 3
    PE_BUSY = 4         # of PE `pe`
    PE_STARVED = 5
    PE_SPMAT_READS = 6
    PE_MACS = 7
    LAYER_CYCLES = 8    # + layer index


# Status word (read of Control.STATUS).
STATUS_BUSY, STATUS_DONE, STATUS_PAUSED = 1, 2, 4
# Command word (write of Control.STATUS): start (or resume), clear the inputs, step
# (pause after every layer so that the host can read its outputs).
CMD_START, CMD_CLEAR_INPUTS, CMD_STEP = 1, 2, 4

COUNTER_BITS = 32

# Per-PE counters the host reads (Control address -> PE status field).
PE_COUNTERS = {Control.PE_BUSY: "busy_cycles", Control.PE_STARVED: "starved_cycles",
               Control.PE_SPMAT_READS: "spmat_reads", Control.PE_MACS: "macs"}

# An activation read goes through the PE's output stage: request in cycle t, value in
# cycle t + SCAN_LATENCY (request register, bank + bias read, add, round/shift,
# saturate/ReLU).
SCAN_LATENCY = 4
# A host read is answered READ_LATENCY cycles after it is issued (after the command
# register): the slowest read, an activation through the output stage, sets it.
READ_LATENCY = max(1, SCAN_LATENCY)


def descriptor_fields(config: EIEConfig) -> list[tuple[str, int]]:
    """Layer descriptor word, least significant field first."""
    dim_bits = max(1, (config.n_pes * config.act_entries).bit_length())
    return [
        ("rows", dim_bits),
        ("cols", dim_bits),
        ("ptr_base", max(1, (config.ptr_entries - 1).bit_length())),
        ("bias_base", max(1, (config.bias_entries - 1).bit_length())),
        ("weight_frac", config.shift_bits),
        ("relu", 1),
        ("last", 1),
    ]


def descriptor_layout(config: EIEConfig) -> data.StructLayout:
    return data.StructLayout({name: width for name, width in descriptor_fields(config)})


def descriptor_bits(config: EIEConfig) -> int:
    return sum(width for _, width in descriptor_fields(config))


def host_data_bits(config: EIEConfig) -> int:
    return max(config.sram_width, config.acc_bits, config.ptr_word_bits,
               descriptor_bits(config), COUNTER_BITS)


def host_addr_bits(config: EIEConfig) -> int:
    depths = [config.spmat_words, config.ptr_bank_entries, config.bias_entries,
              config.act_entries, config.max_layers * config.codebook_size,
              Control.LAYER_CYCLES + config.max_layers]
    return max(1, max((d - 1).bit_length() for d in depths))


def pe_select_bits(config: EIEConfig) -> int:
    """Width of a PE number on the host port (at least 1 bit)."""
    return max(1, (config.n_pes - 1).bit_length())


def pe_read_bits(config: EIEConfig) -> int:
    """Width of a PE's answer to a host read: any of its memories' words or counters."""
    return max(config.sram_width, config.acc_bits, config.ptr_word_bits, config.weight_bits,
               COUNTER_BITS)


def host_command_layout(config: EIEConfig) -> data.StructLayout:
    return data.StructLayout({
        "write": 1,
        "target": TARGET_BITS,
        "pe": pe_select_bits(config),
        "addr": host_addr_bits(config),
        "data": host_data_bits(config),
    })
