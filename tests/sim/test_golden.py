"""The golden model (reading packed images) equals a plain dense fixed-point computation."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from compress.fixedpoint import quantize_activations, quantize_bias, quantize_codebook
from compress.images import pack_layers
from compress.model import CompressedLayer
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from sim.golden import GoldenModel

from helpers import random_network


def dense_reference(layers, config, x_int):
    """Textbook evaluation of the contract on dense matrices, one Python int at a time."""
    x = [list(map(int, row)) for row in x_int]
    lo, hi = -(1 << (config.act_bits - 1)), (1 << (config.act_bits - 1)) - 1
    for layer in layers:
        c = quantize_codebook(layer.codebook, layer.weight_frac, config)
        w = c[layer.codes]
        b = (quantize_bias(layer.bias, layer.weight_frac, config)
             if layer.bias is not None else np.zeros(layer.rows, dtype=np.int64))
        s = layer.weight_frac
        out = []
        for sample in x:
            row_out = []
            for i in range(layer.rows):
                acc = int(b[i]) + sum(int(w[i, j]) * sample[j] for j in range(layer.cols))
                acc = (acc + (1 << (config.acc_bits - 1))) % (1 << config.acc_bits) \
                    - (1 << (config.acc_bits - 1))
                y = (acc + (1 << (s - 1))) >> s if s > 0 else acc
                y = min(max(y, lo), hi)
                row_out.append(max(y, 0) if layer.relu else y)
            out.append(row_out)
        x = out
    return np.array(x, dtype=np.int64)


# The draw order and weight fractions this file's seeds were chosen with.
DRAWS = dict(weight_frac="random", order=("codes", "codebook", "coin", "bias"))
# The hand-made single-layer cases need little memory.
ONE_PE = EIEConfig(n_pes=1, act_entries=8, bias_entries=8, spmat_words=64, ptr_entries=64)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_layers=st.integers(1, 3),
       n_pes=st.sampled_from([1, 2, 3, 4, 8, 16]))
def test_golden_equals_dense_fixed_point(seed, n_layers, n_pes):
    rng = np.random.default_rng(seed)
    dims = [int(d) for d in rng.integers(1, 40, n_layers + 1)]
    config = EIEConfig(n_pes=n_pes, sram_width=int(rng.choice([32, 64, 128])),
                       spmat_words=4096, ptr_entries=4096, act_entries=64,
                       bias_entries=512, max_layers=4)
    layers = random_network(rng, dims, float(rng.choice([0.05, 0.3, 0.9])), config, **DRAWS)
    x = rng.normal(0, 2, (3, dims[0]))
    x[rng.random(x.shape) < 0.4] = 0     # zero activations; negative ones stay
    result = GoldenModel(pack_layers(layers, config)).run(inputs_float=x)
    expected = dense_reference(layers, config, quantize_activations(x, config))
    assert np.array_equal(result.outputs, expected)


def test_saturation_and_relu():
    config = ONE_PE.replace(n_pes=2)
    codes = np.array([[1], [2], [1]], dtype=np.uint8)
    codebook = np.zeros(16, dtype=np.float32)
    codebook[1], codebook[2] = 100.0, -100.0
    layer = CompressedLayer("l", codes, codebook, weight_frac=0, relu=False)
    golden = GoldenModel(pack_layers([layer], config))
    out = golden.run(inputs_float=[[100.0]]).outputs[0]
    # 100 * 100 = 10000 in act format (8 fraction bits) saturates both ways.
    assert out.tolist() == [32767, -32768, 32767]
    layer.relu = True
    out = GoldenModel(pack_layers([layer], config)).run(inputs_float=[[100.0]]).outputs[0]
    assert out.tolist() == [32767, 0, 32767]


def test_accumulator_overflow_is_reported_not_hidden():
    config = ONE_PE
    codes = np.ones((1, 4), dtype=np.uint8)
    codebook = np.zeros(16, dtype=np.float32)
    codebook[1] = 127.99
    layer = CompressedLayer("l", codes, codebook, weight_frac=8, relu=False)
    result = GoldenModel(pack_layers([layer], config)).run(inputs_float=[[127.0] * 4])
    assert result.layers[0].overflow.tolist() == [1]
    result = GoldenModel(pack_layers([layer], config)).run(inputs_float=[[1.0] * 4])
    assert result.layers[0].overflow.tolist() == [0]


def test_rounding_is_half_up_arithmetic_shift():
    config = ONE_PE
    codes = np.array([[1]], dtype=np.uint8)
    codebook = np.zeros(16, dtype=np.float32)
    codebook[1] = 0.5     # s = 2: C = 2 ; acc = a * 2 ; y = (acc + 2) >> 2
    layer = CompressedLayer("l", codes, codebook, weight_frac=2, relu=False)
    golden = GoldenModel(pack_layers([layer], config))
    for a in [-3, -2, -1, 1, 2, 3]:
        y = golden.run(inputs_int=[[a]]).outputs[0, 0]
        assert y == (a * 2 + 2) >> 2


def test_float_reference_and_quantization_error():
    rng = np.random.default_rng(5)
    config = EIEConfig(n_pes=4, act_entries=32, bias_entries=128, spmat_words=512,
                       ptr_entries=512)
    layers = random_network(rng, [20, 30, 5], 0.3, config, **DRAWS)
    for layer in layers:
        layer.weight_frac = 12
    x = rng.random((4, 20))
    result = GoldenModel(pack_layers(layers, config)).run(inputs_float=x)
    # The float reference is the same shared-weight network in float64.
    h = x
    for layer in layers:
        h = h @ layer.shared_weights().T + layer.bias_or_zeros()
        if layer.relu:
            h = np.maximum(h, 0)
    assert np.allclose(result.outputs_float, h)
    err = result.quantization_error(config.act_frac)
    assert 0 < err["max_abs"] < 0.1


def test_bad_input_shape_is_a_clear_error():
    config = ONE_PE
    layer = CompressedLayer("l", np.ones((2, 3), np.uint8),
                            np.arange(16, dtype=np.float32) / 16, 4, False)
    golden = GoldenModel(pack_layers([layer], config))
    with pytest.raises(EIEError, match="takes 3 activations"):
        golden.run(inputs_float=[1.0, 2.0])
    with pytest.raises(EIEError, match="NaN"):
        golden.run(inputs_float=[1.0, np.nan, 2.0])
