"""LNZD reports the lowest set non-zero flag for any PE count, with the paper's node count;
the CCU's prefix OR beside it."""

import re

import pytest
from amaranth.back import verilog
from amaranth.hdl import Fragment, Module, Signal
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from eie_hw.lnzd import LNZD, LNZDNode, any_below, lnzd_level_sizes

PE_COUNTS = [1, 3, 4, 5, 16, 64]


def reference(n, flags):
    """(valid, index) of the lowest set bit; index 0 when none is set."""
    flags &= (1 << n) - 1
    if not flags:
        return 0, 0
    return 1, (flags & -flags).bit_length() - 1


def run_vectors(dut, vectors):
    """Drive every vector in one simulation; returns the observed (valid, index) pairs."""
    seen = []

    async def tb(ctx):
        for v in vectors:
            ctx.set(dut.nonzero, v)
            await ctx.delay(1e-9)
            seen.append((ctx.get(dut.valid), ctx.get(dut.index)))

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    return seen


def named_vectors(n):
    ones = (1 << n) - 1
    vectors = {"all zero": 0, "all ones": ones, "last only": 1 << (n - 1)}
    for i in range(n):
        vectors[f"single {i}"] = 1 << i
        # A set bit above the lowest one must not disturb the answer.
        vectors[f"from {i} up"] = ones & ~((1 << i) - 1)
    return vectors


@pytest.mark.parametrize("n", PE_COUNTS)
def test_named_cases(n):
    vectors = named_vectors(n)
    seen = dict(zip(vectors, run_vectors(LNZD(n), list(vectors.values()))))
    assert seen["all zero"][0] == 0
    assert seen["all ones"] == (1, 0)
    assert seen["last only"] == (1, n - 1)
    for name, v in vectors.items():
        assert seen[name] == reference(n, v), name


@given(data=st.data(), n=st.integers(1, 70))
@settings(max_examples=25, deadline=None)
def test_random_flags_match_lowest_set_bit(data, n):
    # Sparse and dense vectors both matter: mostly-zero inputs exercise the
    # padding and upper levels, dense ones the priority inside a leaf.
    vectors = data.draw(st.lists(
        st.one_of(st.integers(0, (1 << n) - 1),
                  st.sets(st.integers(0, n - 1), max_size=3).map(lambda s: sum(1 << i for i in s))),
        min_size=1, max_size=16))
    assert run_vectors(LNZD(n), vectors) == [reference(n, v) for v in vectors]


@pytest.mark.parametrize("n,nodes,levels", [
    (1, 1, 1), (3, 1, 1), (4, 1, 1), (5, 3, 2), (16, 5, 2), (17, 8, 3), (64, 21, 3), (65, 25, 4),
])
def test_node_count(n, nodes, levels):
    dut = LNZD(n)
    assert (dut.node_count, dut.levels) == (nodes, levels)
    # The attribute must describe what is built, not a formula kept beside it.
    assert len(Fragment.get(dut, None).subfragments) == nodes


def test_bad_input_count():
    # Checked through the helper LNZD.__init__ calls first: a failed LNZD(0) would
    # leave a half-built Elaboratable that warns "never used" in some later test.
    with pytest.raises(ValueError, match="at least 1 input"):
        lnzd_level_sizes(0)


def test_node_concatenates_child_number_and_index():
    dut = LNZDNode(child_index_bits=2)
    cases = [(0b0000, [0, 0, 0, 0]), (0b0100, [1, 2, 3, 1]), (0b1010, [0, 3, 0, 2]),
             (0b1000, [3, 3, 3, 2])]
    seen = []

    async def tb(ctx):
        for valid_in, idx in cases:
            ctx.set(dut.valid_in, valid_in)
            for c in range(4):
                ctx.set(dut.index_in[c], idx[c])
            await ctx.delay(1e-9)
            seen.append((ctx.get(dut.valid), ctx.get(dut.index)))

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    assert seen == [(0, 0), (1, 2 * 4 + 3), (1, 1 * 4 + 3), (1, 3 * 4 + 2)]


@pytest.mark.parametrize("n", [1, 5, 64])
def test_verilog_has_one_module_per_node(n):
    dut = LNZD(n)
    text = verilog.convert(dut, emit_src=False)
    # Each node stays its own Verilog module, so the tree survives into the netlist.
    modules = re.findall(r"^module \\top\.(l\d+_n\d+) ", text, flags=re.M)
    expected = {f"l{level}_n{k}" for level, size in enumerate(dut.level_sizes)
                for k in range(size)}
    assert len(modules) == dut.node_count and set(modules) == expected


@pytest.mark.parametrize("n", [1, 2, 5, 16, 64])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_any_below_is_the_exclusive_prefix_or(n, data):
    vectors = data.draw(st.lists(st.integers(0, (1 << n) - 1), min_size=1, max_size=8))
    m = Module()
    flags = Signal(n)
    below = any_below(m, flags)
    seen = []

    async def tb(ctx):
        for v in vectors:
            ctx.set(flags, v)
            seen.append(ctx.get(below))

    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()
    for v, got in zip(vectors, seen):
        assert got == sum(1 << i for i in range(n) if v & ((1 << i) - 1))
