"""Named interfaces between the units: the PE <-> CCU contract and the host's access.

Each is a `wiring.Signature` seen from the side that drives it (its `Out` members), so
the driver holds it as `Out(...)`, every receiver as `In(...)`, and one
`wiring.connect(m, driver, *receivers)` joins a driver to any number of receivers (the
CCU's layer constants reach every PE that way).
"""

from __future__ import annotations

from amaranth.hdl import signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .layouts import broadcast_layout
from .memory_map import (COUNTER_BITS, TARGET_BITS, host_addr_bits, host_data_bits,
                         pe_select_bits)
from .sram import SRAMPortSignature


class LayerControlSignature(wiring.Signature):
    """CCU -> every PE: the running layer's constants and the mode.

    `layer` selects the codebook row, `ptr_base` the layer's pointer region, `dst_bank`
    the accumulator bank written (the other one is the source); `clear_dst` (one cycle
    at the start of a layer) forgets the destination bank's contents; `running` is high
    while a layer computes (the PE counters count then); `clear_counters` resets the
    counters at start; `io_mode` hands every memory to the host port.
    """

    def __init__(self, config: EIEConfig):
        super().__init__({
            "layer": Out(range(config.max_layers)),
            "ptr_base": Out(range(config.ptr_entries)),
            "dst_bank": Out(1),
            "clear_dst": Out(1),
            "running": Out(1),
            "clear_counters": Out(1),
            "io_mode": Out(1),
        })


class BroadcastSignature(wiring.Signature):
    """CCU -> every PE: a block of activations, from registers in the CCU.

    `valid` is high for one cycle per broadcast and every PE writes `payload` into its
    FIFO in that cycle: there is no ready. The CCU sends only when every PE's FIFO will
    have room when the broadcast arrives, judged from the PEs' registered room flags
    (`layouts.fifo_room_layout`) and the broadcast already on its way. So neither a
    PE's FIFO state nor the CCU's choice crosses the chip combinationally to the other.
    """

    def __init__(self, config: EIEConfig):
        super().__init__({"valid": Out(1), "payload": Out(broadcast_layout(config))})


class ScanRequestSignature(wiring.Signature):
    """A read of source activations through the PE's output stage (CCU scan, host read).

    `addr` of bank `bank`, plus the output stage of the layer that wrote the bank:
    bias (`use_bias`, from `bias_base + addr`), rounding shift `shift`, `relu`. The
    parameters travel with the read, so they need only be valid with `en`.
    """

    def __init__(self, config: EIEConfig):
        super().__init__({
            "addr": Out(range(config.act_entries)),
            "en": Out(1),
            "bank": Out(1),
            "bias_base": Out(range(config.bias_entries)),
            "use_bias": Out(1),
            "shift": Out(range(config.acc_bits)),
            "relu": Out(1),
        })


class ScanResultSignature(wiring.Signature):
    """The answer to a scan request, `SCAN_LATENCY` cycles later (eie_hw/memory_map.py)."""

    def __init__(self, config: EIEConfig):
        super().__init__({"valid": Out(1), "value": Out(signed(config.act_bits))})


class PEStatusSignature(wiring.Signature):
    """A PE's idle flag (for the CCU's end of layer) and its counters (for the host)."""

    def __init__(self):
        super().__init__({
            "idle": Out(1),
            "busy_cycles": Out(COUNTER_BITS),
            "starved_cycles": Out(COUNTER_BITS),
            "spmat_reads": Out(COUNTER_BITS),
            "macs": Out(COUNTER_BITS),
        })


class DestinationPortSignature(wiring.Signature):
    """Arithmetic unit -> accumulator banks: read a row, and write one, every cycle.

    `rdata` is row `raddr`'s sum in the cycle after `ren` (0 if the row is untouched in
    this layer); a write in the same cycle as the read is seen.
    """

    def __init__(self, config: EIEConfig):
        super().__init__({
            "raddr": Out(range(config.act_entries)),
            "ren": Out(1),
            "rdata": In(signed(config.acc_bits)),
            "waddr": Out(range(config.act_entries)),
            "wdata": Out(signed(config.acc_bits)),
            "we": Out(1),
        })


class HostActSignature(wiring.Signature):
    """Host -> act R/W in I/O mode: the bias memory, input activations, clearing."""

    def __init__(self, config: EIEConfig):
        super().__init__({
            "bias": Out(SRAMPortSignature(config.acc_bits, config.bias_entries)),
            "waddr": Out(range(config.act_entries)),
            "wdata": Out(signed(config.act_bits)),
            "we": Out(1),
            "clear": Out(1),
        })


class HostPESignature(wiring.Signature):
    """Host -> one PE in I/O mode: every memory of the PE (eie_hw/eie.py's host port)."""

    def __init__(self, config: EIEConfig):
        cfg = config
        super().__init__({
            "spmat": Out(SRAMPortSignature(cfg.sram_width, cfg.spmat_words)),
            "ptr_even": Out(SRAMPortSignature(cfg.ptr_word_bits, cfg.ptr_bank_entries)),
            "ptr_odd": Out(SRAMPortSignature(cfg.ptr_word_bits, cfg.ptr_bank_entries)),
            "codebook": Out(SRAMPortSignature(cfg.weight_bits,
                                              cfg.max_layers * cfg.codebook_size)),
            "act": Out(HostActSignature(cfg)),
        })


class HostBusSignature(wiring.Signature):
    """Host port -> every PE: the registered host command, which each PE decodes itself.

    `write` / `read` are high for one cycle per command; `target`, `pe`, `addr`, `data`
    as in the host command (eie_hw/memory_map.py); `clear_inputs` is the decoded
    "clear inputs" control command. A PE answers the reads addressed to it on its
    `host_rdata` output (the memory word or counter, until its next read).
    """

    def __init__(self, config: EIEConfig):
        super().__init__({
            "write": Out(1),
            "read": Out(1),
            "target": Out(TARGET_BITS),
            "pe": Out(pe_select_bits(config)),
            "addr": Out(host_addr_bits(config)),
            "data": Out(host_data_bits(config)),
            "clear_inputs": Out(1),
        })
