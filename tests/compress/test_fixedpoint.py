"""The fixed-point conversions of the arithmetic contract (spec section 2)."""

import numpy as np
import pytest

from compress.fixedpoint import (choose_weight_frac, output_stage, quantize_activations,
                                 quantize_bias, quantize_codebook, wrap)
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

CFG = EIEConfig()


def test_activations_round_to_nearest_and_saturate():
    q = quantize_activations([0.5 / 256, 1.5 / 256, -1.0, 200.0, -200.0], CFG)
    assert q.tolist() == [0, 2, -256, 32767, -32768]   # rint: half to even


def test_weight_frac_is_largest_that_fits():
    codebook = np.array([0, 0.9, -0.3], dtype=np.float32)
    s = choose_weight_frac(codebook, CFG)
    assert np.all(np.abs(np.rint(codebook * 2.0 ** s)) <= 32767)
    assert np.any(np.rint(codebook * 2.0 ** (s + 1)) > 32767)
    assert s == 15
    # The rounded value must fit too: 0.99999 * 2**15 rounds up to 32768.
    assert choose_weight_frac(np.array([0, 0.99999]), CFG) == 14
    # -1.0 * 2**15 = -32768 fits the negative side.
    assert choose_weight_frac(np.array([0, -1.0]), CFG) == 15


def test_all_zero_codebook_uses_the_largest_fraction():
    assert choose_weight_frac(np.zeros(16), CFG) == CFG.acc_bits - 1


def test_codebook_too_large_and_override_errors():
    with pytest.raises(EIEError, match="even with 0 fraction bits"):
        choose_weight_frac(np.array([0, 40000.0]), CFG)
    with pytest.raises(EIEError, match="smaller --weight-frac"):
        quantize_codebook(np.array([0, 0.9]), 16, CFG)
    with pytest.raises(EIEError, match="outside 0"):
        quantize_codebook(np.array([0, 0.9]), -1, CFG)


def test_bias_in_accumulator_format():
    assert quantize_bias(np.array([1.0, -0.5]), 4, CFG).tolist() == [4096, -2048]
    with pytest.raises(EIEError, match="does not fit the 32-bit accumulator"):
        quantize_bias(np.array([100.0]), 24, CFG)


def test_wrap_and_output_stage():
    assert wrap(np.array([2**31, -2**31 - 1, 5]), 32).tolist() == [-2**31, 2**31 - 1, 5]
    acc = np.array([5, 6, -5, -6, 2**31 - 1])
    # (acc + 2) >> 2 with exact add: the top value rounds up and saturates, not wraps.
    assert output_stage(acc, 2, False, CFG).tolist() == [1, 2, -1, -1, 32767]
    assert output_stage(acc, 2, True, CFG).tolist() == [1, 2, 0, 0, 32767]
    assert output_stage(np.array([-40000, 3]), 0, False, CFG).tolist() == [-32768, 3]
