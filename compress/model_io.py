"""Reading the input model (`.npz`) and checking it before any work is done.

A layer is either `<layer>.weight` (out x in, float) with optional `<layer>.bias`, or an
already pruned and quantized `<layer>.codes` (uint8, out x in, 0 = zero) with its
`<layer>.codebook` (2**code_bits floats, entry 0 exactly 0). `<layer>.relu` (0 or 1)
overrides the default: ReLU after every layer except the last. Layers run in file order.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eie_hw.errors import EIEError

_KINDS = ("weight", "bias", "codes", "codebook", "relu")


@dataclass
class InputLayer:
    name: str
    relu: bool
    weight: np.ndarray | None = None      # float, out x in
    codes: np.ndarray | None = None       # uint8, out x in
    codebook: np.ndarray | None = None    # float, (2**code_bits,)
    bias: np.ndarray | None = None        # float, (out,)

    @property
    def shape(self) -> tuple[int, int]:
        matrix = self.weight if self.weight is not None else self.codes
        return tuple(int(n) for n in matrix.shape)

    @property
    def prequantized(self) -> bool:
        return self.codes is not None


def load_model(path, code_bits: int) -> list[InputLayer]:
    path = Path(path)
    arrays = _read_npz(path)
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        name, dot, kind = key.rpartition(".")
        if not dot or kind not in _KINDS:
            raise EIEError(f"{path}: array {key!r} is not <layer>.weight, .bias, .codes, "
                           f".codebook or .relu")
        groups.setdefault(name, {})[kind] = value
    if not groups:
        raise EIEError(f"{path} holds no layers: expected arrays named <layer>.weight")
    names = list(groups)
    layers = [_make_layer(path, name, groups[name], name == names[-1], code_bits)
              for name in names]
    check_chain(layers, path)
    return layers


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise EIEError(f"model file {path} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise EIEError(f"cannot read {path} as .npz ({exc}): the file is corrupt or not "
                       f"made by numpy.savez") from None
    if not hasattr(data, "files"):
        raise EIEError(f"{path} is a single .npy array, not an .npz of layers: save the "
                       f"layers with numpy.savez(path, **{{'fc1.weight': ...}})")
    try:
        with data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise EIEError(f"cannot read {path} as .npz ({exc}): the file is corrupt or not "
                       f"made by numpy.savez") from None


def _make_layer(path: Path, name: str, arrays: dict, is_last: bool,
                code_bits: int) -> InputLayer:
    where = f"{path}: layer {name!r}"
    has_weight, has_codes = "weight" in arrays, "codes" in arrays
    if has_weight == has_codes:
        raise EIEError(f"{where} needs exactly one of {name}.weight or {name}.codes")
    relu = not is_last
    if "relu" in arrays:
        flag = np.asarray(arrays["relu"])
        if flag.size != 1 or flag.reshape(()).item() not in (0, 1):
            raise EIEError(f"{where}: {name}.relu must be 0 or 1")
        relu = bool(flag.reshape(()).item())
    layer = InputLayer(name=name, relu=relu)
    if has_weight:
        if "codebook" in arrays:
            raise EIEError(f"{where}: {name}.codebook goes with {name}.codes, not .weight")
        layer.weight = _float_matrix(where, f"{name}.weight", arrays["weight"])
    else:
        layer.codes, layer.codebook = _codes_and_codebook(where, name, arrays, code_bits)
    rows = layer.shape[0]
    if "bias" in arrays:
        bias = np.asarray(arrays["bias"])
        if bias.shape != (rows,) or not np.issubdtype(bias.dtype, np.number):
            raise EIEError(f"{where}: {name}.bias has shape {bias.shape}, expected ({rows},) "
                           f"numbers (one per output)")
        bias = bias.astype(np.float32)
        if not np.all(np.isfinite(bias)):
            raise EIEError(f"{where}: {name}.bias contains NaN or infinite values")
        layer.bias = bias
    return layer


def _float_matrix(where: str, key: str, value) -> np.ndarray:
    value = np.asarray(value)
    if value.ndim != 2 or 0 in value.shape:
        raise EIEError(f"{where}: {key} must be a non-empty 2-D matrix (out x in), got "
                       f"shape {value.shape}")
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise EIEError(f"{where}: {key} must hold numbers, got dtype {value.dtype}")
    value = value.astype(np.float32, copy=False)
    bad = np.count_nonzero(~np.isfinite(value))
    if bad:
        raise EIEError(f"{where}: {key} contains {bad} NaN or infinite values")
    return value


def _codes_and_codebook(where: str, name: str, arrays: dict, code_bits: int):
    if "codebook" not in arrays:
        raise EIEError(f"{where}: {name}.codes needs {name}.codebook")
    codes = np.asarray(arrays["codes"])
    if codes.ndim != 2 or 0 in codes.shape or not np.issubdtype(codes.dtype, np.integer):
        raise EIEError(f"{where}: {name}.codes must be a non-empty 2-D integer matrix "
                       f"(out x in), got shape {codes.shape} dtype {codes.dtype}")
    size = 1 << code_bits
    if codes.min() < 0 or codes.max() >= size:
        raise EIEError(f"{where}: {name}.codes must lie in 0..{size - 1} for code_bits "
                       f"{code_bits}, found {codes.min()}..{codes.max()}")
    codebook = np.asarray(arrays["codebook"])
    if codebook.shape != (size,) or not np.issubdtype(codebook.dtype, np.number):
        raise EIEError(f"{where}: {name}.codebook must have {size} entries (2**code_bits), "
                       f"got shape {codebook.shape}")
    codebook = codebook.astype(np.float32)
    if not np.all(np.isfinite(codebook)):
        raise EIEError(f"{where}: {name}.codebook contains NaN or infinite values")
    if codebook[0] != 0:
        raise EIEError(f"{where}: {name}.codebook[0] is {codebook[0]}, but entry 0 is "
                       f"reserved for pruned weights and must be exactly 0")
    return codes.astype(np.uint8), codebook


def check_chain(layers: list[InputLayer], path) -> None:
    for prev, nxt in zip(layers, layers[1:]):
        if prev.shape[0] != nxt.shape[1]:
            raise EIEError(
                f"{path}: layer shapes do not chain: {prev.name} is {prev.shape[0]} x "
                f"{prev.shape[1]} (out x in), so {nxt.name} must take {prev.shape[0]} "
                f"inputs, but it is {nxt.shape[0]} x {nxt.shape[1]}")
