"""cocotb 2.x test bench for the generated EIE Verilog (run by `sim.verilator_backend`).

The bench speaks only the host port, with exactly the command sequences and the cycle
timing of the Amaranth harness (`sim.amaranth_backend.run_samples`), so the hardware
counters (total, per-layer, per-PE cycles) agree with the Amaranth simulator to the cycle.

Timing convention: the host coroutine lives on the *falling* clock edges. It samples the
DUT outputs there (settled after the previous rising edge) and drives inputs there (seen
at the next rising edge). One Amaranth `ctx.tick()` is one `await FallingEdge(clk)`; this
is independent of whether the simulator shows pre- or post-edge values right after a
rising edge (Verilator shows post-edge values, event-driven simulators pre-edge ones).

The job comes from the runner through the plusarg `+EIE_COCOTB_JOB=<path>` (or the
environment variable of that name): the path of a JSON file (written by `sim.verilator_backend`) with

    images_dir      directory with manifest.json + images/ (`eie compress -o DIR`)
    config          EIEConfig.to_dict() of the design
    inputs          .npy file: int64 activations, one row per sample
    load_via_host   write every memory word through the host port first
    cycle_limit     per-layer limit for the wait for the accelerator to go idle
    clock_ps        clock period in ps
    result          where to write the HardwareRun as JSON

The memories are loaded through the `$readmemh` backdoor of the SRAM models when the
simulator got the plusarg `+EIE_IMAGES=<images_dir>/images` (the runner adds it unless
`load_via_host`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, RisingEdge, Timer
from cocotb.utils import get_sim_time

from compress.manifest import read_images
from eie_hw.config import EIEConfig
from eie_hw.memory_map import host_command_layout

from .amaranth_backend import HardwareRun, run_samples, run_until
from .host import Write

JOB_ENV = "EIE_COCOTB_JOB"


class TB:
    """Clock, reset and the host port of one `eie_top` instance (verilog-axis style)."""

    def __init__(self, dut, config: EIEConfig, clock_ps: int = 1250):
        self.dut = dut
        self.config = config
        self.log = dut._log
        self.clock_ps = clock_ps
        # The clock toggles in the simulator's C++ side ("gpi"), so Python runs only when
        # the bench awaits something: a layer runs without Python acting every cycle.
        self.clock = Clock(dut.clk, clock_ps, unit="ps", impl="gpi")
        self.clock.start()
        dut.cmd__valid.value = 0
        dut.cmd__payload.value = 0
        dut.rsp__ready.value = 0
        dut.rst.value = 0
        self.host = CocotbHost(dut, config, clock_ps)

    async def reset(self):
        """Synchronous reset for two cycles; returns on a falling edge (host phase)."""
        dut = self.dut
        dut.rst.value = 0
        await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)
        dut.rst.value = 1
        await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)


class CocotbHost:
    """The three host-port transactions `run_samples` needs, on cocotb triggers.

    Each method starts and ends on a falling clock edge; see the module docstring.
    """

    def __init__(self, dut, config: EIEConfig, clock_ps: int = 1250):
        self.dut = dut
        self.config = config
        self.clock_ps = clock_ps
        # Time spent waiting for layers to finish (the compute phase), for the figures.
        self.compute_seconds = 0.0
        self.compute_cycles = 0
        layout = host_command_layout(config)
        # StructLayout: fields packed LSB first, in declaration order.
        self._fields = {name: (field.offset, field.width) for name, field in layout}

    def _pack(self, write: int, target: int, addr: int, data: int, pe: int) -> int:
        word = 0
        for name, value in (("write", write), ("target", target), ("pe", pe),
                            ("addr", addr), ("data", data)):
            offset, width = self._fields[name]
            word |= (int(value) & ((1 << width) - 1)) << offset
        return word

    async def _tick(self):
        await FallingEdge(self.dut.clk)

    async def _command(self, write: int, target: int, addr: int, data: int, pe: int):
        dut = self.dut
        dut.cmd__payload.value = self._pack(write, target, addr, data, pe)
        dut.cmd__valid.value = 1
        while True:                      # Amaranth: await ctx.tick().until(cmd.ready)
            ready = int(dut.cmd__ready.value)
            await self._tick()
            if ready:
                break
        dut.cmd__valid.value = 0

    async def write(self, cmd: Write):
        await self._command(1, cmd.target, cmd.addr, cmd.data, cmd.pe)

    async def read_many(self, requests) -> list[int]:
        """Reads `(target, addr, pe)` back to back (see `AmaranthHost.read_many`): a
        command each falling edge while the port takes them, answers as they come."""
        dut = self.dut
        values, issued = [], 0
        dut.rsp__ready.value = 1
        while len(values) < len(requests):
            if issued < len(requests):
                target, addr, pe = requests[issued]
                dut.cmd__payload.value = self._pack(0, target, addr, 0, pe)
                dut.cmd__valid.value = 1
            else:
                dut.cmd__valid.value = 0
            ready = int(dut.cmd__ready.value)
            valid = int(dut.rsp__valid.value)
            payload = int(dut.rsp__payload.value) if valid else 0
            await self._tick()
            if issued < len(requests) and ready:
                issued += 1
            if valid:
                values.append(payload)
        dut.cmd__valid.value = 0
        dut.rsp__ready.value = 0
        return values

    async def wait_idle(self, limit: int):
        """Like polling `busy` on every falling edge (the Amaranth harness), but asleep
        while the layer runs: wake when `busy` falls, then go to that cycle's falling
        edge, the first one at which polling would have seen it low."""
        dut = self.dut
        start, start_ps = time.perf_counter(), get_sim_time("ps")
        await self._tick()
        if int(dut.busy.value):
            timeout = Timer(limit * self.clock_ps, unit="ps")
            if await First(FallingEdge(dut.busy), timeout) is timeout:
                raise TimeoutError(f"the accelerator did not finish within {limit} cycles")
            await self._tick()
        self.compute_seconds += time.perf_counter() - start
        self.compute_cycles += round((get_sim_time("ps") - start_ps) / self.clock_ps)


def run_to_json(run: HardwareRun) -> dict:
    data = asdict(run)
    data["layer_outputs"] = [[np.asarray(o).tolist() for o in sample]
                             for sample in run.layer_outputs]
    return data


def run_from_json(data: dict) -> HardwareRun:
    run = HardwareRun(**{k: v for k, v in data.items() if k != "layer_outputs"})
    run.layer_outputs = [[np.array(o, dtype=np.int64) for o in sample]
                         for sample in data["layer_outputs"]]
    return run


@cocotb.test()
async def run_job(dut):
    """Load (backdoor or host port), run every sample, write the HardwareRun as JSON."""
    job_path = cocotb.plusargs.get(JOB_ENV) or os.environ.get(JOB_ENV)
    if not job_path:
        raise RuntimeError(f"no job: run with the plusarg +{JOB_ENV}=<job.json>")
    job = json.loads(Path(str(job_path)).read_text())
    config = EIEConfig.from_dict(job["config"])
    images = read_images(job["images_dir"], config)
    x_int = np.load(job["inputs"], allow_pickle=False)

    tb = TB(dut, config, int(job.get("clock_ps", 1250)))
    await tb.reset()
    if job.get("stop"):
        await run_until(tb.host, images, np.atleast_2d(x_int)[0], job["stop"],
                        int(job["cycle_limit"]))
        meta = {"host_cycles": round(get_sim_time("ps") / tb.clock_ps), "run_seconds": 0.0}
        Path(job["result"]).write_text(json.dumps({"run": run_to_json(HardwareRun()),
                                                   "meta": meta}))
        return
    start, start_ps = time.perf_counter(), get_sim_time("ps")
    run = await run_samples(tb.host, images, np.atleast_2d(x_int),
                            bool(job["load_via_host"]), int(job["cycle_limit"]))
    seconds = time.perf_counter() - start
    cycles = round((get_sim_time("ps") - start_ps) / tb.clock_ps)
    result = run_to_json(run)
    result_meta = {"host_cycles": cycles, "run_seconds": seconds,
                   "sim_time_ps": cycles * tb.clock_ps,
                   "compute_cycles": tb.host.compute_cycles,
                   "compute_seconds": tb.host.compute_seconds}
    Path(job["result"]).write_text(json.dumps({"run": result, "meta": result_meta}))
    tb.log.info("EIE job done: %d cycles in %.2f s", cycles, seconds)
