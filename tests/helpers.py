"""Helpers that several test files share: small configurations, random compressed networks
and inputs, and the comparisons of a run against the golden model or another run.

`tests/conftest.py` makes this module importable as `helpers` from every test folder.
"""

import hashlib
import re
from pathlib import Path

import numpy as np

from compress.fixedpoint import choose_weight_frac
from compress.model import CompressedLayer
from eie_hw.config import EIEConfig

# The narrowest legal accumulator (acc_bits = act_bits + weight_bits): wraps are easy to hit.
NARROW_ARITH = dict(act_bits=8, act_frac=4, weight_bits=8, acc_bits=16)
# Memories as small as a few tiny layers allow: generation and synthesis stay fast.
TINY_MEMORIES = dict(spmat_words=32, ptr_entries=32, bias_entries=16)

# What a run reports per sample; two runs of the same images must agree on all of it.
COUNTERS = ("total_cycles", "layer_cycles", "stall_cycles", "pe_busy", "pe_starved",
            "spmat_reads", "macs")


def small_config(n_pes=4, fifo_depth=2, sram_width=32, bcast_width=1, **changes):
    """A configuration small enough to simulate in seconds; `changes` set any other field.

    The memories fit a few layers of a few dozen rows and columns per PE.
    """
    fields = dict(n_pes=n_pes, fifo_depth=fifo_depth, sram_width=sram_width,
                  bcast_width=bcast_width, spmat_words=256, ptr_entries=256, act_entries=32,
                  bias_entries=64, max_layers=4)
    fields.update(changes)
    return EIEConfig(**fields)


def random_codebook(rng):
    values = rng.normal(0, 0.5, 16).astype(np.float32)
    values[0] = 0
    return values


# The order in which random_layer draws a layer's parts: "coin" (whether the layer has a
# bias), "codes", "codebook", "bias" (its values). Test files whose seeds were chosen with
# another order pass theirs, so that the same seeds keep giving the same networks.
DRAW_ORDER = ("coin", "codes", "codebook", "bias")


def random_layer(rng, n_in, n_out, density, *, name="l", relu=True, bias=0.7,
                 weight_frac=None, config=None, order=DRAW_ORDER):
    """An n_out x n_in layer whose codes are non-zero (1..15) with probability `density`.

    bias: True or False, or the probability of a bias (then one draw decides).
    weight_frac: a number; None: the largest `config` allows for the codebook, at most 12
        (the default configuration if None); "random": drawn in 0..13 after the other parts.
    """
    assert sorted(order) == sorted(DRAW_ORDER), order
    has_bias, codes, codebook, values = bias, None, None, None
    for part in order:
        if part == "coin" and not isinstance(bias, bool):
            has_bias = bool(rng.random() < bias)
        elif part == "codes":
            codes = np.where(rng.random((n_out, n_in)) < density,
                             rng.integers(1, 16, (n_out, n_in)), 0).astype(np.uint8)
        elif part == "codebook":
            codebook = random_codebook(rng)
        elif part == "bias" and has_bias:
            values = rng.normal(0, 0.3, n_out).astype(np.float32)
    if weight_frac is None:
        weight_frac = min(12, choose_weight_frac(codebook, config or EIEConfig()))
    elif weight_frac == "random":
        weight_frac = int(rng.integers(0, 14))
    return CompressedLayer(name=name, codes=codes, codebook=codebook, weight_frac=weight_frac,
                           relu=relu, bias=values)


def random_network(rng, dims, density, config=None, *, relu_last=False, bias=0.7,
                   **layer_options):
    """Layers dims[0] -> dims[1] -> ... named fc0, fc1, ...; ReLU on all but the last
    (`relu_last` adds it there). `bias` may also be a function of the layer index;
    `layer_options` go to random_layer."""
    last = len(dims) - 2
    return [random_layer(rng, n_in, n_out, density, name=f"fc{k}",
                         relu=relu_last or k < last, bias=bias(k) if callable(bias) else bias,
                         config=config, **layer_options)
            for k, (n_in, n_out) in enumerate(zip(dims, dims[1:]))]


def random_inputs(rng, n, cols, zero_fraction=0.4):
    x = rng.normal(0, 1.5, (n, cols))          # negative activations included
    x[rng.random(x.shape) < zero_fraction] = 0
    return x


def assert_matches_golden(run, golden):
    """Every layer's outputs bit-exact; a PE busy exactly one cycle per entry of a non-zero
    column, and one MAC per busy cycle."""
    for s in range(len(golden.inputs)):
        for k, layer in enumerate(golden.layers):
            assert np.array_equal(run.layer_outputs[s][k], layer.outputs[s]), \
                f"sample {s} layer {layer.name}"
        work = sum(layer.work_per_pe[s] for layer in golden.layers)
        assert run.pe_busy[s] == work.tolist()
        assert run.macs[s] == work.tolist()


def assert_same_counters(a, b, names=("hardware", "model")):
    """Every counter of every sample equal; the message names the first difference."""
    for counter in COUNTERS:
        x, y = getattr(a, counter), getattr(b, counter)
        assert len(x) == len(y), f"{counter}: {len(x)} samples vs {len(y)}"
        for s, (u, v) in enumerate(zip(x, y)):
            assert u == v, f"sample {s} {counter}: {names[0]} {u}, {names[1]} {v}"


def makefile_variables(text: str) -> dict[str, str]:
    """`export NAME [?]= value` lines of a config.mk (backslash continuations joined)."""
    text = text.replace("\\\n", " ")
    return {m.group(1): " ".join(m.group(2).split())
            for m in re.finditer(r"^export (\w+)\s*\??=\s*(.*)$", text, re.M)}


def images_digest(folder: Path) -> str:
    """One hash of every memory image a compressed folder holds (names and bytes)."""
    h = hashlib.sha256()
    for path in sorted((Path(folder) / "images").rglob("*")):
        if path.is_file():
            h.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return h.hexdigest()
