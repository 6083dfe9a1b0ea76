"""The arithmetic contract (spec section 2), shared by the compressor, golden model and tests.

All integer arrays are int64 numpy arrays holding the two's complement value; widths
come from the `EIEConfig`.
"""

from __future__ import annotations

import numpy as np

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def saturate(values: np.ndarray, bits: int) -> np.ndarray:
    lo, hi = signed_range(bits)
    return np.clip(values, lo, hi)


def wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement wrap to `bits` (the accumulator's modulo arithmetic)."""
    values = np.asarray(values, dtype=np.int64)
    half = np.int64(1) << np.int64(bits - 1)
    if bits >= 64:
        return values
    return ((values + half) & ((half << np.int64(1)) - 1)) - half


def quantize_activations(x, config: EIEConfig) -> np.ndarray:
    """Float activations to the activation format: round to nearest, saturate."""
    return quantize_activations_counted(x, config)[0]


def quantize_activations_counted(x, config: EIEConfig) -> tuple[np.ndarray, np.ndarray]:
    """`quantize_activations` and a mask of the values it clipped to the activation range.

    Clipping is reported, not just done: an input beyond the range silently changes the
    network's answer.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise EIEError("input activations contain NaN or infinite values")
    scaled = np.rint(x * float(1 << config.act_frac))
    lo, hi = signed_range(config.act_bits)
    return saturate(scaled, config.act_bits).astype(np.int64), (scaled < lo) | (scaled > hi)


def dequantize(values, frac: int) -> np.ndarray:
    return np.asarray(values, dtype=np.float64) / float(1 << frac)


def _fits(scaled: np.ndarray, bits: int) -> bool:
    lo, hi = signed_range(bits)
    return bool(np.all((scaled >= lo) & (scaled <= hi)))


def _bias_fits(bias, weight_frac: int, config: EIEConfig) -> bool:
    if bias is None:
        return True
    frac = config.act_frac + weight_frac
    return _fits(np.rint(np.asarray(bias, dtype=np.float64) * 2.0 ** frac), config.acc_bits)


def choose_weight_frac(codebook: np.ndarray, config: EIEConfig, bias=None) -> int:
    """Largest s (0..acc_bits-1) for which every rounded codebook entry fits weight_bits
    and, when given, the bias fits the accumulator at act_frac + s fraction bits.

    The bias shares s (spec section 2), so a codebook with small (or no) entries must not
    push s so high that the bias no longer fits.
    """
    codebook = np.asarray(codebook, dtype=np.float64)
    if not _fits(np.rint(codebook), config.weight_bits):
        raise EIEError(
            f"codebook entry {float(np.max(np.abs(codebook))):g} does not fit a "
            f"{config.weight_bits}-bit signed weight even with 0 fraction bits: "
            f"raise --weight-bits or scale the layer down")
    if not _bias_fits(bias, 0, config):
        raise EIEError(
            f"bias {float(np.max(np.abs(bias))):g} does not fit the {config.acc_bits}-bit "
            f"accumulator even with weight fraction 0 ({config.act_frac} fraction bits): "
            f"raise --acc-bits or scale the layer down")
    s = 0
    while s < config.max_weight_frac and _fits(np.rint(codebook * 2.0 ** (s + 1)),
                                                config.weight_bits) \
            and _bias_fits(bias, s + 1, config):
        s += 1
    return s


def quantize_codebook(codebook: np.ndarray, weight_frac: int, config: EIEConfig,
                      layer: str = "layer") -> np.ndarray:
    check_weight_frac(weight_frac, config, layer)
    scaled = np.rint(np.asarray(codebook, dtype=np.float64) * 2.0 ** weight_frac)
    if not _fits(scaled, config.weight_bits):
        raise EIEError(
            f"{layer}: codebook does not fit {config.weight_bits}-bit weights at weight "
            f"fraction {weight_frac}: use a smaller --weight-frac (at most "
            f"{choose_weight_frac(codebook, config)}) or omit it")
    return scaled.astype(np.int64)


def quantize_bias(bias: np.ndarray, weight_frac: int, config: EIEConfig,
                  layer: str = "layer") -> np.ndarray:
    """Bias in accumulator format: act_frac + s fraction bits."""
    frac = config.act_frac + weight_frac
    scaled = np.rint(np.asarray(bias, dtype=np.float64) * 2.0 ** frac)
    if not _fits(scaled, config.acc_bits):
        worst = float(np.max(np.abs(bias)))
        raise EIEError(
            f"{layer}: bias {worst:g} does not fit the {config.acc_bits}-bit accumulator "
            f"with {frac} fraction bits (act_frac {config.act_frac} + weight fraction "
            f"{weight_frac}): pass a smaller --weight-frac for this layer or raise --acc-bits")
    return scaled.astype(np.int64)


def check_weight_frac(weight_frac: int, config: EIEConfig, layer: str = "layer") -> None:
    if not 0 <= weight_frac <= config.max_weight_frac:
        raise EIEError(f"{layer}: weight fraction {weight_frac} is outside 0.."
                       f"{config.max_weight_frac} (acc_bits - 1)")


def output_stage(acc: np.ndarray, weight_frac: int, relu: bool, config: EIEConfig) -> np.ndarray:
    """acc (already wrapped) -> activation: round, arithmetic shift, saturate, ReLU."""
    return output_stage_counted(acc, weight_frac, relu, config)[0]


def output_stage_counted(acc: np.ndarray, weight_frac: int, relu: bool,
                         config: EIEConfig) -> tuple[np.ndarray, np.ndarray]:
    """`output_stage` and a mask of the outputs that saturation changed.

    With ReLU a clamp at the bottom of the range is not counted: ReLU zeroes the value
    either way, so the output is exact.
    """
    acc = np.asarray(acc, dtype=np.int64)
    if weight_frac > 0:
        # Exact sum (one bit wider than the accumulator), so that rounding a value near
        # the top of the range saturates instead of wrapping to a negative number.
        shifted = (acc + (np.int64(1) << np.int64(weight_frac - 1))) >> np.int64(weight_frac)
    else:
        shifted = acc
    lo, hi = signed_range(config.act_bits)
    y = saturate(shifted, config.act_bits)
    saturated = shifted > hi
    if relu:
        y = np.maximum(y, 0)
    else:
        saturated |= shifted < lo
    return y.astype(np.int64), saturated
