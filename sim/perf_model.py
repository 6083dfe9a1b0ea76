"""Cycle-exact performance model of the RTL (eie_hw/), without simulating it.

It predicts what the hardware counters report (sim.amaranth_backend.HardwareRun, minus
the outputs): total and per-layer cycles, CCU stall cycles, per-PE busy, starved,
Spmat-read and MAC counts, from the packed memory images and the activations of every
layer. Only *which* activations are non-zero matters, and, per PE, the number of
stored entries of each column and their Spmat word addresses.

The model is a max-plus recurrence over the events of the RTL, not a cycle-by-cycle
simulation. Cycle 0 of a layer is the CCU's FETCH state, 1 is DECODE, RUN starts at 2.
`D` = FIFO depth, `N` = PEs, group `g` = columns `g*N .. g*N+N-1`, `W` = bcast_width.
A broadcast `b` is a block of `W` adjacent columns holding a non-zero (with `W = 1`, a
non-zero column); per PE, `n` = its entries in the block's non-zero columns and `l` =
those of the last such column with an entry (the range the pointer stage sends last).

CCU (eie_hw/ccu.py), per group `g` (`Q = CCU.QUEUE_DEPTH`, `S = ActRW.SCAN_LATENCY`):

- scan issue ``I_g = max(I_{g-1} + 1, L_{g-Q} + 1)``, ``I_0 = 2``: a group holds one
  credit from the cycle after its issue to the cycle it leaves the queue, ``Q`` credits;
- it is readable in the group queue (a first-word-fall-through SyncFIFO) from
  ``I_g + S + 1`` (scan data at ``I_g + S``, written into the queue that cycle);
- it loads into the group register at ``L_g = max(I_g + S + 1, R_{g-1})``, where
  ``R_g`` is the cycle the register may load the next group: the cycle of the group's
  last broadcast (the next group loads in the same cycle) or ``L_g + 1`` for a group
  with no non-zero (it spends one cycle in the register);
- broadcasts, lowest block first: the CCU decides to send ``b`` at ``s_b`` (below),
  no earlier than ``e_b = L_g + 1`` for the group's first and ``s_{b-1} + 1`` for the
  others; the broadcast is on the bus, and written into every FIFO, at ``s_b + B``
  (``B = CCU.BCAST_LATENCY`` = 1: it leaves from registers). Every FIFO must have room
  when it lands: a FIFO of ``D' = D + 1``
  entries (``ActivationFIFO.LANDING_SLOTS``) holding broadcasts ``b-D' .. b-1`` has room
  once it has popped ``b-D'``, and the CCU sees a pop in the room flags the cycle after
  (they come from the FIFO's level register); the flags do not yet count a broadcast
  still on the bus, so the CCU asks for two free slots then:
  ``s_b = max(e_b, max_p P[p, b-D'] + 1)``. Stall cycles are ``s_b - e_b``.

PE ``p`` (eie_hw/pe.py and its units), for broadcast ``b`` with ``n`` entries in ``p``:

- FIFO pop (into the pointer stage's R): ``P_b = max(s_b + B + 1, P_{b-1} + 1, Y_{b-1})``
  (R frees in the cycle its block moves on);
- R -> S2: ``Y_b = max(P_b + 1, Z_{b-1})``, where ``Z_b`` is the cycle ``b`` leaves S2:
  ``M_b`` for a non-empty block, ``Y_b + 1`` for an empty one (dropped in S2, it blocks
  nothing further);
- a non-empty block moves from S2 to the pointer output register at
  ``M_b = max(Y_b + 1, T_{b'} + n_{b'} - l_{b'})`` (``b'`` = the previous non-empty
  block: the output register frees in the cycle SpmatRead takes its last range);
- SpmatRead takes its first range at ``T_b = max(M_b + 1, T_{b'} + n_{b'})`` (the walker
  takes the next range in the cycle it issues the last entry of the current one, so the
  block's ranges follow back to back), issues its entries at ``T_b + 1 .. T_b + n`` and
  presents them to the arithmetic unit (A0: the busy counter) at
  ``T_b + 2 .. T_b + n + 1``; the last write is at ``T_b + n + 6``
  (``ArithmeticUnit.WRITE_LATENCY`` = 5 cycles after its A0).

Layer end: the CCU's drain check needs two consecutive cycles in which the scan is
finished (all groups issued, received and loaded, the group register empty, nothing on
the bus: from ``max(L_last + 1, s_last + B + 1)``) and every PE is idle (FIFO empty and
nothing in the pointer stage, SpmatRead or the arithmetic unit: from ``max_p(Y_last + 2,
T_last + n_last + 2 + ArithmeticUnit.DEPTH)``). The check is registered
(``CCU.DRAIN_REGISTER`` = 1 cycle): if both hold from cycle ``C``, the RUN state's last
cycle is ``C + 2`` and the layer counts ``C + 3`` cycles (FETCH and DECODE included).
Starved cycles of a PE: RUN cycles in which its FIFO is empty (``s_b + B + 1 .. P_b``
covers the cycles broadcast ``b`` waits in it) and no entry is in A0.
Spmat reads: a word is read whenever the next issued entry lies in a different word
from the previous one of the same layer (SpmatRead forgets its word in I/O mode, i.e.
between layers).

The accelerator's counters are per sample: cleared at start, summed over the layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compress.images import MemoryImages
from eie_hw.act_fifo import ActivationFIFO
from eie_hw.act_rw import ActRW
from eie_hw.arith import ArithmeticUnit
from eie_hw.ccu import CCU
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

from .golden import GoldenResult
from .amaranth_backend import Counters

# RTL constants the recurrence is built from (checked against the RTL by the tests).
SCAN_LATENCY = ActRW.SCAN_LATENCY          # scan issue -> value at the CCU
QUEUE_DEPTH = CCU.QUEUE_DEPTH              # scan credits (reads in flight + queued groups)
BCAST_LATENCY = CCU.BCAST_LATENCY          # send decision -> the broadcast on the bus
DRAIN_REGISTER = CCU.DRAIN_REGISTER        # the drain check sees a cycle-old AND of the PEs
RUN_START = 2                              # FETCH, DECODE, then RUN
ARITH_TAIL = ArithmeticUnit.DEPTH          # A0 of the last entry -> the unit is idle (A1-A5)

_NEG = -(1 << 40)                          # "no constraint" in the max-plus recurrence


@dataclass
class ModelRun(Counters):
    """What the hardware counters would report, per sample."""
    # Per sample and layer (the hardware only reports the per-layer cycles).
    layer_stall_cycles: list[list[int]] = field(default_factory=list)
    layer_pe_busy: list[list[list[int]]] = field(default_factory=list)
    layer_pe_starved: list[list[list[int]]] = field(default_factory=list)


@dataclass
class LayerTiming:
    """The model's figures for one layer and one input vector."""
    cycles: int
    stall_cycles: int
    pe_busy: np.ndarray        # (N,) entries that entered the arithmetic unit (= MACs)
    pe_starved: np.ndarray     # (N,)
    spmat_reads: np.ndarray    # (N,)
    broadcasts: int


class LayerShape:
    """Per-PE column entry counts and Spmat word addresses of one layer (N x cols)."""

    def __init__(self, images: MemoryImages, layer: int):
        cfg = images.config
        ptr = np.stack([np.asarray(images.layer_pointers(p, layer), dtype=np.int64)
                        for p in range(cfg.n_pes)])
        self.cols = images.layers[layer].cols
        if ptr.shape[1] != self.cols + 1:
            raise EIEError(f"pointers of layer {images.layers[layer].name} are truncated: "
                           f"the images are corrupt")
        start, end = ptr[:, :-1], ptr[:, 1:]
        # PointerRead drops a column with end <= start.
        self.counts = np.maximum(end - start, 0)
        slot_bits = cfg.slot_bits
        self.first_word = start >> slot_bits
        self.last_word = np.maximum(end - 1, start) >> slot_bits


def _spmat_reads(shape: LayerShape, cols: np.ndarray) -> np.ndarray:
    """Words read per PE when the columns `cols` (ascending) are walked in order."""
    n = shape.counts[:, cols]
    if n.size == 0:
        return np.zeros(shape.counts.shape[0], dtype=np.int64)
    ne = n > 0
    first = shape.first_word[:, cols]
    last = shape.last_word[:, cols]
    words = np.where(ne, last - first + 1, 0).sum(axis=1)
    # Word held from the previous non-empty range (addresses ascend with the column, so a
    # running maximum carries it over empty columns); -1 before the first one.
    held = np.maximum.accumulate(np.where(ne, last, -1), axis=1)
    previous = np.concatenate([np.full((len(n), 1), -1, dtype=np.int64), held[:, :-1]], axis=1)
    shared = ne & (first == previous)
    return words - shared.sum(axis=1)


def _union_length(starts: np.ndarray, ends: np.ndarray, owner: np.ndarray,
                  n_owners: int) -> np.ndarray:
    """Per owner, the number of integers covered by half-open intervals [start, end)."""
    if len(starts) == 0:
        return np.zeros(n_owners, dtype=np.int64)
    span = int(max(ends.max(), starts.max())) + 2
    key_start = owner * span + starts
    key_end = owner * span + ends
    order = np.argsort(key_start, kind="stable")
    key_start, key_end, owner = key_start[order], key_end[order], owner[order]
    reach = np.maximum.accumulate(key_end)
    before = np.concatenate(([np.iinfo(np.int64).min], reach[:-1]))
    # Intervals of an earlier owner end below this owner's offset, so `before` never
    # reaches into the next owner's range.
    covered = np.maximum(key_end - np.maximum(key_start, before), 0)
    return np.bincount(owner, weights=covered, minlength=n_owners).astype(np.int64)


def _block_counts(counts: np.ndarray, cols: np.ndarray, width: int):
    """Per broadcast (block of `width` columns holding a non-zero) and PE: the entries of
    its non-zero columns, and those of the last of them with any entry (the range the
    pointer stage hands to SpmatRead last). Also the block indices."""
    per_col = np.ascontiguousarray(counts[:, cols].T)          # (non-zero columns, N)
    if width == 1:
        return cols, per_col, per_col
    blocks, first = np.unique(cols // width, return_index=True)
    if len(cols) == 0:
        return blocks, per_col, per_col
    total = np.add.reduceat(per_col, first, axis=0)
    row = np.where(per_col > 0, np.arange(len(cols))[:, None], -1)
    last_row = np.maximum.reduceat(row, first, axis=0)
    last = np.where(last_row >= 0,
                    per_col[np.maximum(last_row, 0), np.arange(per_col.shape[1])], 0)
    return blocks, total, last


class _PointerAndWalker:
    """Per-PE state of the pointer stage and SpmatRead between broadcasts, as vectors over
    the PEs (the module docstring's P, Y, Z, M, T)."""

    def __init__(self, n_pes: int):
        self.p_prev, self.r_leave, self.s2_leave, self.t_last, self.t_ready = (
            np.full(n_pes, _NEG, dtype=np.int64) for _ in range(5))
        # p_prev = P_{b-1}; r_leave = Y_{b-1} (b-1 moved from R to S2); s2_leave = Z_{b-1}
        # (b-1 left S2); t_last = take of the last range so far; t_ready = T + n of it.

    def take(self, send: int, n: np.ndarray, last_n: np.ndarray):
        """Broadcast sent (decided) at `send`, `n` entries per PE, `last_n` of them in its
        last range: returns its FIFO pops P and SpmatRead takes T."""
        maximum, where = np.maximum, np.where
        p = maximum(maximum(self.p_prev + 1, send + BCAST_LATENCY + 1), self.r_leave)
        y = maximum(p + 1, self.s2_leave)
        m = maximum(y + 1, self.t_last)
        t = maximum(m + 1, self.t_ready)
        ne = n > 0
        self.t_last = where(ne, t + n - last_n, self.t_last)
        self.t_ready = where(ne, t + n, self.t_ready)
        self.p_prev, self.r_leave, self.s2_leave = p, y, where(ne, m, y + 1)
        return p, t


def _active_cycles(send, pop, take, counts) -> np.ndarray:
    """Per PE, the RUN cycles it is not starved: a broadcast waits in its FIFO, or an
    entry is in A0."""
    n_b, n_pes = counts.shape
    pe_index = np.broadcast_to(np.arange(n_pes), (n_b, n_pes))
    ne = counts > 0
    starts = np.concatenate([np.repeat(send + BCAST_LATENCY + 1, n_pes), take[ne] + 2])
    ends = np.concatenate([pop.reshape(-1) + 1, take[ne] + counts[ne] + 2])
    owners = np.concatenate([pe_index.reshape(-1), pe_index[ne]])
    return _union_length(starts, ends, owners, n_pes)


def layer_timing(shape: LayerShape, nonzero: np.ndarray, n_pes: int,
                 fifo_depth: int, bcast_width: int = 1) -> LayerTiming:
    """Run the recurrence of the module docstring for one layer and one input."""
    nonzero = np.asarray(nonzero, dtype=bool).reshape(-1)
    if len(nonzero) != shape.cols:
        raise EIEError(f"the layer takes {shape.cols} activations, got {len(nonzero)}")
    cols = np.flatnonzero(nonzero)
    blocks, counts, last_counts = _block_counts(shape.counts, cols, bcast_width)
    n_b = len(blocks)
    n_groups = -(-shape.cols // n_pes)
    depth = fifo_depth + ActivationFIFO.LANDING_SLOTS     # the FIFO's entries

    pop = np.empty((n_b, n_pes), dtype=np.int64)              # P
    take = np.empty((n_b, n_pes), dtype=np.int64)             # T (valid where counts > 0)
    send = np.empty(n_b, dtype=np.int64)                      # s
    pop_max = np.empty(n_b, dtype=np.int64)

    pes = _PointerAndWalker(n_pes)

    group_of = blocks * bcast_width // n_pes
    bounds = np.searchsorted(group_of, np.arange(n_groups + 1))
    loads: list[int] = []
    issue = RUN_START - 1
    reload = _NEG          # R_{g-1}
    stall = 0
    last_send = _NEG
    b = 0
    for g in range(n_groups):
        issue = max(issue + 1, loads[g - QUEUE_DEPTH] + 1 if g >= QUEUE_DEPTH else 0)
        load = max(issue + SCAN_LATENCY + 1, reload)
        loads.append(load)
        end_b = int(bounds[g + 1])
        if b == end_b:
            reload = load + 1
            continue
        earliest = load + 1
        while b < end_b:
            s = earliest
            if b >= depth:
                s = max(s, int(pop_max[b - depth]) + 1)
            stall += s - earliest
            send[b] = s
            p, t = pes.take(s, counts[b], last_counts[b])
            pop[b] = p
            take[b] = t
            pop_max[b] = p.max()
            earliest = s + 1
            b += 1
        last_send = send[b - 1]
        reload = last_send

    # Drain check: scan finished and every PE idle, two cycles in a row.
    settled = RUN_START
    if n_groups:
        settled = max(settled, loads[-1] + 1)
    if n_b:
        settled = max(settled, int(last_send) + BCAST_LATENCY + 1, int(pes.r_leave.max()) + 2,
                      int(pes.t_ready.max()) + 1 + ARITH_TAIL)
    run_last = settled + 1 + DRAIN_REGISTER
    cycles = run_last + 1

    busy = counts.sum(axis=0)
    starved = run_last - RUN_START + 1 - _active_cycles(send, pop, take, counts)
    return LayerTiming(cycles=int(cycles), stall_cycles=int(stall),
                       pe_busy=busy.astype(np.int64), pe_starved=starved.astype(np.int64),
                       spmat_reads=_spmat_reads(shape, cols), broadcasts=n_b)


def _check_config(images: MemoryImages, config: EIEConfig | None) -> EIEConfig:
    if config is None:
        return images.config
    images.config.check_packing_compatible(config, what="the memory images")
    return config


def run_model_nonzeros(images: MemoryImages, nonzero_masks, config: EIEConfig | None = None,
                       ) -> ModelRun:
    """The model from the non-zero pattern of every layer's inputs.

    `nonzero_masks[sample][layer]` is a boolean vector of the layer's `cols`: which
    activations the CCU finds non-zero (for layer 0 the quantized inputs, for layer k
    the outputs of layer k-1 after its output stage).
    """
    cfg = _check_config(images, config)
    n_layers = len(images.layers)
    shapes: list[LayerShape | None] = [None] * n_layers
    run = ModelRun()
    for sample in nonzero_masks:
        if len(sample) != n_layers:
            raise EIEError(f"got the inputs of {len(sample)} layers for a network of "
                           f"{n_layers}")
        cycles, stall = [], 0
        busy = np.zeros(cfg.n_pes, dtype=np.int64)
        starved = np.zeros(cfg.n_pes, dtype=np.int64)
        reads = np.zeros(cfg.n_pes, dtype=np.int64)
        layer_stall, layer_busy, layer_starved = [], [], []
        for k, mask in enumerate(sample):
            if shapes[k] is None:
                shapes[k] = LayerShape(images, k)
            t = layer_timing(shapes[k], mask, cfg.n_pes, cfg.fifo_depth, cfg.bcast_width)
            cycles.append(t.cycles)
            stall += t.stall_cycles
            busy += t.pe_busy
            starved += t.pe_starved
            reads += t.spmat_reads
            layer_stall.append(t.stall_cycles)
            layer_busy.append(t.pe_busy.tolist())
            layer_starved.append(t.pe_starved.tolist())
        run.total_cycles.append(int(sum(cycles)))
        run.layer_cycles.append(cycles)
        run.stall_cycles.append(int(stall))
        run.pe_busy.append(busy.tolist())
        run.pe_starved.append(starved.tolist())
        run.spmat_reads.append(reads.tolist())
        run.macs.append(busy.tolist())   # every entry that enters A0 is written
        run.layer_stall_cycles.append(layer_stall)
        run.layer_pe_busy.append(layer_busy)
        run.layer_pe_starved.append(layer_starved)
    return run


def layer_inputs_from_golden(golden: GoldenResult) -> list[list[np.ndarray]]:
    """`[sample][layer]` input activations: the quantized inputs, then each layer's outputs."""
    per_layer = [golden.inputs] + [layer.outputs for layer in golden.layers[:-1]]
    return [[np.asarray(x[s]) for x in per_layer] for s in range(len(golden.inputs))]


def run_model(images: MemoryImages, layer_inputs: list[list[np.ndarray]] | GoldenResult,
              config: EIEConfig | None = None) -> ModelRun:
    """The model's counters for every sample.

    `layer_inputs` is a GoldenResult (`sim.golden.GoldenModel(images).run(...)`) or
    `[sample][layer]` activation vectors in fixed point (layer 0: the quantized inputs,
    layer k: the outputs of layer k-1). `config` may differ from `images.config` only
    in the fields that do not change the packing (the FIFO depth).
    """
    if isinstance(layer_inputs, GoldenResult):
        layer_inputs = layer_inputs_from_golden(layer_inputs)
    masks = [[np.asarray(x).reshape(-1) != 0 for x in sample] for sample in layer_inputs]
    return run_model_nonzeros(images, masks, config)
