"""Run a packed network on the Amaranth RTL in the Amaranth simulator.

The testbench speaks only the host port: load (unless the memories were preloaded
through the backdoor), write each sample's inputs, start in step mode, read every
layer's outputs while the CCU pauses between layers, then read the counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from compress.images import MemoryImages
from eie_hw.config import EIEConfig
from eie_hw.eie import EIE
from eie_hw.memory_map import Control, Target

from .host import (CMD_START, CMD_STEP, Write, input_commands, load_commands,
                   output_addresses, to_signed)


@dataclass
class Counters:
    """The accelerator's counters, per sample: what the hardware reports and the
    performance model predicts."""
    total_cycles: list[int] = field(default_factory=list)
    layer_cycles: list[list[int]] = field(default_factory=list)
    stall_cycles: list[int] = field(default_factory=list)
    pe_busy: list[list[int]] = field(default_factory=list)
    pe_starved: list[list[int]] = field(default_factory=list)
    spmat_reads: list[list[int]] = field(default_factory=list)
    macs: list[list[int]] = field(default_factory=list)


@dataclass
class HardwareRun(Counters):
    """What a hardware backend measured, per sample."""
    layer_outputs: list[list[np.ndarray]] = field(default_factory=list)  # [sample][layer]

    @property
    def outputs(self) -> np.ndarray:
        return np.array([layers[-1] for layers in self.layer_outputs])

    def layer_outputs_array(self, layer: int) -> np.ndarray:
        """(samples, rows) outputs of one layer."""
        return np.array([sample[layer] for sample in self.layer_outputs])

    def golden_matches(self, golden) -> list[bool]:
        """Per layer: are the outputs of every sample those of `golden` (a GoldenResult)?"""
        return [bool(np.array_equal(self.layer_outputs_array(k), layer.outputs))
                for k, layer in enumerate(golden.layers)]


class AmaranthHost:
    """Host-port transactions inside an Amaranth async testbench."""

    def __init__(self, ctx, dut: EIE):
        self.ctx, self.dut = ctx, dut

    def _command(self, write: int, target: int, addr: int, data: int, pe: int):
        p = self.dut.cmd.payload
        for name, value in (("write", write), ("target", target), ("addr", addr),
                            ("data", data), ("pe", pe)):
            self.ctx.set(getattr(p, name), value)
        self.ctx.set(self.dut.cmd.valid, 1)

    async def write(self, cmd: Write):
        self._command(1, cmd.target, cmd.addr, cmd.data, cmd.pe)
        await self.ctx.tick().until(self.dut.cmd.ready)
        self.ctx.set(self.dut.cmd.valid, 0)

    async def read_many(self, requests) -> list[int]:
        """Reads `(target, addr, pe)` back to back, one command a cycle while the port
        takes them, collecting the answers as they come (in order)."""
        ctx, dut = self.ctx, self.dut
        values, issued = [], 0
        ctx.set(dut.rsp.ready, 1)
        while len(values) < len(requests):
            if issued < len(requests):
                target, addr, pe = requests[issued]
                self._command(0, target, addr, 0, pe)
            else:
                ctx.set(dut.cmd.valid, 0)
            *_, ready, valid, payload = await ctx.tick().sample(
                dut.cmd.ready, dut.rsp.valid, dut.rsp.payload)
            if issued < len(requests) and ready:
                issued += 1
            if valid:
                values.append(int(payload))
        ctx.set(dut.cmd.valid, 0)
        ctx.set(dut.rsp.ready, 0)
        return values

    async def wait_idle(self, limit: int):
        for _ in range(limit):
            await self.ctx.tick()
            if not self.ctx.get(self.dut.busy):
                return
        raise TimeoutError(f"the accelerator did not finish within {limit} cycles")


async def run_samples(host, images: MemoryImages, x_int: np.ndarray, load_via_host: bool,
                      cycle_limit: int) -> HardwareRun:
    """The whole protocol for a batch; `host` is any object with write/read_many/wait_idle."""
    cfg = images.config
    run = HardwareRun()
    if load_via_host:
        for cmd in load_commands(images):
            await host.write(cmd)
    for sample in x_int:
        for cmd in input_commands(sample, cfg.n_pes, cfg.act_bits):
            await host.write(cmd)
        await host.write(Write(Target.CONTROL, Control.STATUS, CMD_START | CMD_STEP))
        outputs = []
        for index, layer in enumerate(images.layers):
            await host.wait_idle(cycle_limit)
            # The final layer's outputs in the original order (a load-balanced layer is
            # stored permuted); earlier layers' in the stored order the next one reads.
            order = layer.row_order if layer.last else None
            words = await host.read_many(
                [(Target.ACT, row, pe)
                 for pe, row in output_addresses(layer.rows, cfg.n_pes, order)])
            values = [to_signed(word, cfg.act_bits) for word in words]
            outputs.append(np.array(values, dtype=np.int64))
            if index + 1 < len(images.layers):
                await host.write(Write(Target.CONTROL, Control.STATUS, CMD_START))
        run.layer_outputs.append(outputs)
        await _read_counters(host, run, cfg, len(images.layers))
    return run


STOPS = ("compute_start", "compute_end")


async def run_until(host, images: MemoryImages, sample: np.ndarray, stop: str,
                    cycle_limit: int) -> None:
    """Load one sample and start the first layer; at `stop` "compute_end" also wait for
    it to finish. Two runs stopped at the two ends trace exactly the compute phase
    between them (sim/saif.py `window`), for power."""
    if stop not in STOPS:
        raise ValueError(f"stop {stop!r}: one of {STOPS}")
    for cmd in input_commands(sample, images.config.n_pes, images.config.act_bits):
        await host.write(cmd)
    await host.write(Write(Target.CONTROL, Control.STATUS, CMD_START | CMD_STEP))
    if stop == "compute_end":
        await host.wait_idle(cycle_limit)


async def _read_counters(host, run: HardwareRun, cfg: EIEConfig, n_layers: int):
    control = [Control.TOTAL_CYCLES, Control.STALL_CYCLES] + [
        Control.LAYER_CYCLES + i for i in range(n_layers)]
    per_pe = (("pe_busy", Control.PE_BUSY), ("pe_starved", Control.PE_STARVED),
              ("spmat_reads", Control.PE_SPMAT_READS), ("macs", Control.PE_MACS))
    words = await host.read_many(
        [(Target.CONTROL, address, 0) for address in control]
        + [(Target.CONTROL, address, p) for _, address in per_pe for p in range(cfg.n_pes)])
    run.total_cycles.append(words[0])
    run.stall_cycles.append(words[1])
    run.layer_cycles.append(words[2:2 + n_layers])
    at = 2 + n_layers
    for attr, _ in per_pe:
        getattr(run, attr).append(words[at:at + cfg.n_pes])
        at += cfg.n_pes


def run_amaranth(images: MemoryImages, x_int: np.ndarray, config: EIEConfig | None = None,
                 load_via_host: bool = False, vcd_path=None,
                 cycle_limit: int = 1_000_000) -> HardwareRun:
    """Simulate the design for `config` (default: the images' own) on a batch of inputs."""
    config = config or images.config
    dut = EIE(config, images=None if load_via_host else images)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    result = {}

    async def testbench(ctx):
        result["run"] = await run_samples(AmaranthHost(ctx, dut), images,
                                          np.atleast_2d(x_int), load_via_host, cycle_limit)

    sim.add_testbench(testbench)
    if vcd_path:
        with sim.write_vcd(str(vcd_path)):
            sim.run()
    else:
        sim.run()
    return result["run"]
