"""Bit-exact golden model of the arithmetic contract (spec section 2).

It reads the packed memory images, not the dense matrices, so that every test against
it also checks the packer: pointers, relative indices, fillers and word packing are
decoded exactly as the hardware walks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compress.balance import inverse
from compress.encode import decode_pe_entries, local_rows
from compress.fixedpoint import (dequantize, output_stage_counted,
                                 quantize_activations_counted, wrap)
from compress.images import MemoryImages
from eie_hw.errors import EIEError

# Bound the (batch x entries) product matrices so large batches run in slices.
_MAX_PRODUCTS = 1 << 24


@dataclass
class LayerEntries:
    """Every stored entry of one layer, all PEs together, sorted by global row."""
    rows: np.ndarray
    cols: np.ndarray
    codes: np.ndarray
    entries_per_pe: list[int]


@dataclass
class LayerResult:
    name: str
    rows: int
    cols: int
    weight_frac: int
    relu: bool
    codebook: list[int]
    outputs: np.ndarray            # (batch, rows) activation format
    overflow: np.ndarray           # (batch,) rows whose exact sum left acc_bits
    # (batch,) inputs clipped to the activation range when quantized; only the first
    # layer's can be, the others read activations already in the format.
    input_clipped: np.ndarray
    # (batch,) outputs that saturation changed; with ReLU a clamp at the bottom does not
    # count, ReLU would have zeroed the value anyway.
    saturated: np.ndarray
    outputs_float: np.ndarray      # (batch, rows) float reference
    entries_per_pe: list[int]
    work_per_pe: np.ndarray        # (batch, n_pes) entries in non-zero columns


@dataclass
class GoldenResult:
    inputs: np.ndarray             # (batch, cols) activation format
    layers: list[LayerResult] = field(default_factory=list)

    @property
    def outputs(self) -> np.ndarray:
        return self.layers[-1].outputs

    @property
    def outputs_float(self) -> np.ndarray:
        return self.layers[-1].outputs_float

    def quantization_error(self, frac: int) -> dict:
        err = dequantize(self.outputs, frac) - self.outputs_float
        scale = float(np.max(np.abs(self.outputs_float))) or 1.0
        return {"max_abs": float(np.max(np.abs(err))) if err.size else 0.0,
                "rms": float(np.sqrt(np.mean(err ** 2))) if err.size else 0.0,
                "max_abs_relative_to_range": float(np.max(np.abs(err)) / scale)
                if err.size else 0.0,
                "argmax_agreement": float(np.mean(np.argmax(self.outputs, axis=1)
                                                  == np.argmax(self.outputs_float, axis=1)))
                if err.size else 1.0}


def _corrupt(what: str) -> EIEError:
    return EIEError(f"memory images are inconsistent ({what}); they are corrupt or were "
                    f"not written by `eie compress`: re-run it")


def decode_layer_entries(images: MemoryImages, layer: int) -> LayerEntries:
    cfg = images.config
    d = images.layers[layer]
    all_rows, all_cols, all_codes, counts = [], [], [], []
    for pe in range(cfg.n_pes):
        pointers = images.layer_pointers(pe, layer)
        if len(pointers) != d.cols + 1 or np.any(np.diff(pointers) < 0) \
                or pointers[-1] > len(images.spmat[pe]):
            raise _corrupt(f"pointers of layer {d.name} in PE {pe}")
        entries = images.spmat[pe][pointers[0]:pointers[-1]]
        local_row, col, code = decode_pe_entries(entries, np.diff(pointers), cfg)
        if len(local_row) and local_row.max() >= local_rows(d.rows, cfg.n_pes, pe):
            raise _corrupt(f"a relative index of layer {d.name} in PE {pe} runs past the "
                           f"layer's {d.rows} rows")
        all_rows.append(local_row * cfg.n_pes + pe)
        all_cols.append(col)
        all_codes.append(code)
        counts.append(len(entries))
    rows, cols, codes = (np.concatenate(a) for a in (all_rows, all_cols, all_codes))
    order = np.argsort(rows, kind="stable")
    return LayerEntries(rows[order], cols[order], codes[order], counts)


def _row_sums(inputs: np.ndarray, entries: LayerEntries, weights: np.ndarray,
              n_rows: int) -> np.ndarray:
    """sum over entries of inputs[:, col] * weight, per row; dtype follows the inputs."""
    batch = inputs.shape[0]
    out = np.zeros((batch, n_rows), dtype=inputs.dtype)
    if len(entries.rows) == 0:
        return out
    starts = np.flatnonzero(np.concatenate(([True], entries.rows[1:] != entries.rows[:-1])))
    target = entries.rows[starts]
    step = max(1, _MAX_PRODUCTS // len(entries.rows))
    for lo in range(0, batch, step):
        products = inputs[lo:lo + step, entries.cols] * weights
        out[lo:lo + step, target] = np.add.reduceat(products, starts, axis=1)
    return out


class GoldenModel:
    """Runs a packed network; decoded layers are cached across calls."""

    def __init__(self, images: MemoryImages):
        self.images = images
        self.config = images.config
        self._entries = [decode_layer_entries(images, i) for i in range(len(images.layers))]

    def run(self, inputs_float=None, inputs_int=None) -> GoldenResult:
        """Give float activations (quantized here) or activations already in fixed point."""
        cfg = self.config
        first = self.images.layers[0]
        if inputs_int is None:
            x_float = self._as_batch(inputs_float, first.cols)
            x, clipped = quantize_activations_counted(x_float, cfg)
        else:
            x = self._as_batch(inputs_int, first.cols).astype(np.int64)
            lo, hi = -(1 << (cfg.act_bits - 1)), (1 << (cfg.act_bits - 1)) - 1
            if x.size and (x.min() < lo or x.max() > hi):
                raise EIEError(f"fixed-point inputs must lie in {lo}..{hi} (act_bits "
                               f"{cfg.act_bits})")
            x_float = dequantize(x, cfg.act_frac)
            clipped = np.zeros(x.shape, dtype=bool)
        result = GoldenResult(inputs=x)
        clipped = np.count_nonzero(clipped, axis=1)
        for index, desc in enumerate(self.images.layers):
            layer = self._run_layer(index, x, x_float, clipped)
            result.layers.append(layer)
            x, x_float = layer.outputs, layer.outputs_float
            clipped = np.zeros_like(clipped)
        return result

    def _as_batch(self, values, cols: int) -> np.ndarray:
        if values is None:
            raise EIEError("no input activations given")
        try:
            array = np.asarray(values)
        except ValueError:
            raise EIEError("input rows have different lengths: give a vector or a "
                           "rectangular batch (samples x activations)") from None
        shape = array.shape
        if array.size == 0:
            raise EIEError(f"the input is empty (shape {shape}): give at least one sample "
                           f"of {cols} activations")
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != cols:
            raise EIEError(f"input has shape {shape} but the first layer "
                           f"takes {cols} activations: give a vector of {cols} or a batch "
                           f"(samples x {cols})")
        if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
            raise EIEError(f"input must be real numbers, got dtype {array.dtype}")
        return array

    def _run_layer(self, index: int, x: np.ndarray, x_float: np.ndarray,
                   clipped: np.ndarray) -> LayerResult:
        cfg = self.config
        desc = self.images.layers[index]
        entries = self._entries[index]
        codebook = self.images.codebook[index]
        bias = np.zeros(desc.rows, dtype=np.int64)
        for pe in range(cfg.n_pes):
            bias[pe::cfg.n_pes] = self.images.layer_bias(pe, index)

        exact = bias[None, :] + _row_sums(x, entries, codebook[entries.codes], desc.rows)
        acc = wrap(exact, cfg.acc_bits)
        outputs, saturated = output_stage_counted(acc, desc.weight_frac, desc.relu, cfg)

        bias_float = np.zeros(desc.rows) if desc.bias_float is None \
            else np.asarray(desc.bias_float, dtype=np.float64)
        weights_float = np.asarray(desc.codebook_float, dtype=np.float64)[entries.codes]
        out_float = bias_float[None, :] + _row_sums(np.asarray(x_float, dtype=np.float64),
                                                    entries, weights_float, desc.rows)
        if desc.relu:
            out_float = np.maximum(out_float, 0.0)
        if desc.last and desc.row_order is not None:
            # A load-balanced final layer (compress/balance.py): back to the original
            # order. Earlier layers stay in the stored order the next layer reads.
            restore = inverse(np.asarray(desc.row_order, dtype=np.int64))
            outputs, out_float = outputs[:, restore], out_float[:, restore]
        return LayerResult(
            name=desc.name, rows=desc.rows, cols=desc.cols, weight_frac=desc.weight_frac,
            relu=desc.relu, codebook=[int(c) for c in codebook], outputs=outputs,
            overflow=np.count_nonzero(exact != acc, axis=1),
            input_clipped=clipped,
            saturated=np.count_nonzero(saturated, axis=1), outputs_float=out_float,
            entries_per_pe=entries.entries_per_pe,
            work_per_pe=self._work_per_pe(index, x))

    def _work_per_pe(self, index: int, x: np.ndarray) -> np.ndarray:
        """Entries each PE must process: its entries in columns whose activation != 0."""
        work = np.zeros((x.shape[0], self.config.n_pes), dtype=np.int64)
        for pe in range(self.config.n_pes):
            counts = np.diff(self.images.layer_pointers(pe, index))
            work[:, pe] = (x != 0).astype(np.int64) @ counts
        return work
