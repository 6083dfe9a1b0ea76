"""Leading-non-zero detection (LNZD): the CCU's pick of the next non-zero activation.

The paper distributes the search as a quadtree of 4-input nodes (64 PEs: 16 + 4 + 1 =
21 nodes) so that each node only has to see its own four children; we keep that shape,
one submodule per node, so the generated Verilog hierarchy mirrors the paper's tree and
a later physical step can place each node next to the PEs it serves.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out


class LNZDNode(wiring.Component):
    """Picks the lowest-numbered of 4 children that reports a non-zero.

    `child_index_bits` is the width of each child's own index (0 for a leaf, whose
    children are raw non-zero flags). A child spans `2**child_index_bits` inputs, so
    `index = child_number * child_span + child_index` is just the two-bit child number
    placed above the child's index.

    When no child is valid, `index` is 0; consumers must look at `valid` first.
    """

    def __init__(self, child_index_bits: int = 0):
        if child_index_bits < 0:
            raise ValueError(f"child_index_bits must be >= 0, not {child_index_bits}")
        self.child_index_bits = child_index_bits
        super().__init__({
            "valid_in": In(4),
            "index_in": In(data.ArrayLayout(child_index_bits, 4)),
            "valid": Out(1),
            "index": Out(child_index_bits + 2),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.valid.eq(self.valid_in.any())
        # The If/Elif chain is the priority: child 0 wins over 1, and so on, which is
        # what makes the whole tree report the *lowest* set flag.
        with m.If(self.valid_in[0]):
            m.d.comb += self.index.eq(Cat(self.index_in[0], Const(0, 2)))
        for child in range(1, 4):
            with m.Elif(self.valid_in[child]):
                m.d.comb += self.index.eq(Cat(self.index_in[child], Const(child, 2)))
        return m


def any_below(m: Module, flags: Signal, name: str = "any_below") -> Signal:
    """Bit i = any of `flags[0 .. i-1]`: a log-depth prefix OR (Kogge-Stone).

    The CCU clears the lowest set flag with it (`flags & any_below` is every set flag but
    the lowest) and knows whether another one remains, without waiting for the LNZD's
    index: both come from the flags in log2(n) levels of 2-input ORs.
    """
    n = len(flags)
    prefix = [flags[i] for i in range(n)]          # OR of flags[i-span+1 .. i]
    span = 1
    while span < n:
        prefix = [prefix[i] | prefix[i - span] if i >= span else prefix[i] for i in range(n)]
        span *= 2
    below = Signal(n, name=name)
    # Inclusive prefix of i-1 is the exclusive prefix of i.
    m.d.comb += below.eq(Cat(Const(0, 1), *prefix[:n - 1]))
    return below


def lnzd_level_sizes(n_inputs: int) -> list[int]:
    """Nodes per level, leaves first: `ceil(n/4)`, then `ceil(/4)` until one root.

    At least one node always exists, so n = 1 (and 2, 3) is a single leaf.
    """
    if n_inputs < 1:
        raise ValueError(f"LNZD needs at least 1 input, not {n_inputs}")
    sizes = [-(-n_inputs // 4)]
    while sizes[-1] > 1:
        sizes.append(-(-sizes[-1] // 4))
    return sizes


class LNZD(wiring.Component):
    """Quadtree LNZD over `n_inputs` non-zero flags; purely combinational.

    `valid` is high when any flag is set; `index` is then the lowest set flag (0 when
    none is set). Inputs beyond `n_inputs` in the last leaf (and missing children of
    upper nodes) are tied to zero, so any n >= 1 works.

    `node_count = sum(lnzd_level_sizes(n))`, i.e. ceil(n/4) + ceil(n/16) + ... down to
    one root; n = 1..4 gives a single leaf node. `levels = len(lnzd_level_sizes(n))`.
    """

    def __init__(self, n_inputs: int):
        self.n_inputs = n_inputs
        self.level_sizes = lnzd_level_sizes(n_inputs)
        self.levels = len(self.level_sizes)
        self.node_count = sum(self.level_sizes)
        super().__init__({
            "nonzero": In(n_inputs),
            "valid": Out(1),
            "index": Out(range(max(n_inputs, 2))),
        })

    def elaborate(self, platform):
        m = Module()
        # Outputs of the level below, as (valid, index) pairs; level 0's "children"
        # are the raw flags, which carry no index of their own.
        children = [(self.nonzero[i], None) for i in range(self.n_inputs)]
        for level, size in enumerate(self.level_sizes):
            nodes = []
            for k in range(size):
                node = LNZDNode(child_index_bits=2 * level)
                m.submodules[f"l{level}_n{k}"] = node
                for c in range(4):
                    pos = 4 * k + c
                    if pos >= len(children):
                        continue  # unconnected inputs stay at their reset value, 0
                    valid, index = children[pos]
                    m.d.comb += node.valid_in[c].eq(valid)
                    if index is not None:
                        m.d.comb += node.index_in[c].eq(index)
                nodes.append((node.valid, node.index))
            children = nodes
        (root_valid, root_index), = children
        # The root index is 2*levels bits wide; a valid index is < n_inputs, so
        # truncating to the output width loses nothing.
        m.d.comb += [
            self.valid.eq(root_valid),
            self.index.eq(root_index),
        ]
        return m
