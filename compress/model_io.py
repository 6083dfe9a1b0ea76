"""Reading the input model (`.npz`) and checking it before any work is done.

A layer is either `<layer>.weight` (out x in, float) with optional `<layer>.bias`, or an
already pruned and quantized `<layer>.codes` (uint8, out x in, 0 = zero) with its
`<layer>.codebook` (2**code_bits floats, entry 0 exactly 0). `<layer>.relu` (0 or 1)
overrides the default: ReLU after every layer except the last. Layers run in file order.
"""

from __future__ import annotations

import math
import zipfile
import zlib
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


def load_model(path, code_bits: int, layer_order: list[str] | None = None) -> list[InputLayer]:
    """The layers of a model: a file (our .npz, a safetensors file with PyTorch nn.Linear
    names, `layer_order` picking and ordering its layers, or an ONNX MLP, named by
    content), or in memory a dict of .npz-style arrays or an `onnx.ModelProto`."""
    if isinstance(path, dict):
        arrays, path = dict(path), "the model's arrays"
    elif type(path).__name__ == "ModelProto":
        from .model_onnx import onnx_arrays
        arrays, path = onnx_arrays(path, "the ONNX model"), "the ONNX model"
    else:
        path = Path(path)
        arrays = read_model_arrays(path, layer_order)
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


def read_model_arrays(path: Path, layer_order: list[str] | None = None) -> dict:
    """A model file's arrays in .npz form (compress/model_formats.py)."""
    from .model_formats import check_suffix, read_safetensors, sniff_format
    head = file_head(path, "model file")
    fmt = sniff_format(head, path.stat().st_size) or "npz"
    check_suffix(path, fmt)
    if layer_order and fmt != "safetensors":
        kind = ("an ONNX graph, whose order is the graph's" if fmt == "onnx"
                else "an .npz, whose order is the file's")
        raise EIEError(f"--layers orders the layers of a .safetensors file; {path} is {kind}")
    if fmt == "safetensors":
        return read_safetensors(path, layer_order)
    if fmt == "onnx":
        from .model_onnx import load_onnx, onnx_arrays
        return onnx_arrays(load_onnx(path), str(path))
    return read_npz(path)


# numpy allocates what a .npy header claims before reading the data, so a few bytes of
# header could ask for terabytes: headers are checked against these bounds first.
MAX_ELEMENTS = 1 << 31
# zlib's deflate cannot expand data by more than about 1032:1.
_MAX_DEFLATE_RATIO = 1032
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"


def file_head(path: Path, what: str) -> bytes:
    """The first bytes of `path`, after refusing a directory or a missing file."""
    if path.is_dir():
        raise EIEError(f"{what} {path} is a directory: give the file itself")
    if not path.is_file():
        raise EIEError(f"{what} {path} does not exist")
    try:
        with open(path, "rb") as stream:
            return stream.read(64)
    except OSError as exc:
        raise EIEError(f"cannot read {what} {path} ({exc.strerror or exc})") from None


def describe_head(head: bytes) -> str:
    """What a file looks like from its first bytes, for "not an .npz" style errors."""
    if not head:
        return "an empty file"
    if head.startswith(_NPY_MAGIC):
        return "a single .npy array (numpy.save)"
    if head.startswith(_ZIP_MAGIC):
        return "a zip archive"
    for magic, kind in ((b"\x1f\x8b", "a gzip file"), (b"\x89HDF", "an HDF5 file"),
                        (b"\x80", "a Python pickle")):
        if head.startswith(magic):
            return kind
    text = head.decode("utf-8", errors="ignore")
    if len(text) >= len(head) - 3 and all(c.isprintable() or c in "\t\r\n" for c in text):
        return f"a text file starting {text.splitlines()[0][:40]!r}" if text.strip() \
            else "a text file of blanks"
    return f"binary data starting {head[:8].hex(' ')}"


def read_npy_header(stream, where: str, available: int) -> tuple[tuple, np.dtype]:
    """Shape and dtype from a .npy header, refused before numpy allocates anything.

    `available` is how many bytes the file or archive member holds in all.
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        if version not in ((1, 0), (2, 0)):
            raise EIEError(f"{where} uses .npy format version {version[0]}.{version[1]}, "
                           f"which holds record or object data: save plain numeric arrays")
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(stream)
    except (ValueError, EOFError) as exc:
        raise EIEError(f"{where} is not a valid .npy array ({exc}); write it again with "
                       f"numpy") from None
    if dtype.hasobject:
        raise EIEError(f"{where} holds Python objects (dtype {dtype}), not numbers: save "
                       f"plain numeric arrays")
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise EIEError(f"{where}: its header claims shape {shape} ({count:,} elements), "
                       f"more than the {MAX_ELEMENTS:,} that can be loaded: the file is "
                       f"corrupt; write it again")
    left = available - stream.tell()
    if count * dtype.itemsize > left:
        raise EIEError(f"{where}: its header claims shape {shape} of {dtype} "
                       f"({count * dtype.itemsize:,} bytes) but only {left:,} bytes follow: "
                       f"the file is truncated or corrupt; write it again")
    return shape, dtype


LAYERS_HINT = "save the layers with numpy.savez(path, **{'fc1.weight': ...})"


def read_npz(path: Path, what: str = "model file",
             hint: str = LAYERS_HINT) -> dict[str, np.ndarray]:
    """Every array of an .npz, each header checked before numpy allocates it."""
    head = file_head(path, what)
    if head.startswith(_NPY_MAGIC):
        raise EIEError(f"{path} is a single .npy array, not an .npz archive: {hint}")
    if not head.startswith(_ZIP_MAGIC):
        raise EIEError(f"{path} is not an .npz archive (numpy.savez): it is "
                       f"{describe_head(head)}; {hint}")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            keys = [_member_key(info.filename) for info in infos]
            duplicate = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
            if duplicate is not None:
                # numpy would silently read only one of them.
                raise EIEError(f"{path} holds array {duplicate!r} twice (duplicate zip "
                               f"members): rewrite it with numpy.savez")
            size = path.stat().st_size
            return {key: _read_member(archive, info, path, size)
                    for key, info in zip(keys, infos)}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, zlib.error,
            ValueError, OSError, EOFError) as exc:
        raise EIEError(f"cannot read {path} as .npz ({exc}): the file is corrupt or not "
                       f"made by numpy.savez") from None


def _member_key(filename: str) -> str:
    return filename[:-4] if filename.endswith(".npy") else filename


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path,
                 file_size: int) -> np.ndarray:
    where = f"{path}: array {_member_key(info.filename)!r}"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        # Only for these two is the expansion bounded (see below).
        raise EIEError(f"{where} is compressed with zip method {info.compress_type}, not "
                       f"stored or deflate as numpy.savez writes: save it with numpy.savez")
    ratio = 1 if info.compress_type == zipfile.ZIP_STORED else _MAX_DEFLATE_RATIO
    if info.compress_size > file_size or info.file_size > ratio * info.compress_size + 1024:
        # The sizes in the zip directory are claims too; numpy trusts them.
        raise EIEError(f"{where}: the zip directory claims {info.file_size:,} bytes from "
                       f"{info.compress_size:,} stored: the file is corrupt; write it again")
    with archive.open(info) as stream:
        if stream.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
            raise EIEError(f"{path}: member {info.filename!r} is not a .npy array, so the "
                           f"archive was not written by numpy.savez: save the layers with it")
        stream.seek(0)
        read_npy_header(stream, where, info.file_size)
    with archive.open(info) as stream:
        return np.lib.format.read_array(stream, allow_pickle=False)


def _check_dtype(where: str, key: str, value: np.ndarray, kinds: str) -> None:
    """Refuse dtypes that would be silently converted (complex, bool) or cannot be."""
    kind = value.dtype.kind
    if kind in kinds:
        return
    if kind == "c":
        raise EIEError(f"{where}: {key} is complex ({value.dtype}); it must be real: "
                       f"take the real part yourself if the imaginary part is meant to be 0")
    if kind == "b":
        raise EIEError(f"{where}: {key} is boolean; give numbers "
                       f"({key}.astype(numpy.float32))")
    if kind in "USa":
        raise EIEError(f"{where}: {key} holds strings (dtype {value.dtype}), not numbers: "
                       f"convert them with {key}.astype(numpy.float32)")
    wanted = "integers" if kinds == "iu" else "real numbers"
    raise EIEError(f"{where}: {key} has dtype {value.dtype}; it must hold {wanted}")


def _make_layer(path: Path, name: str, arrays: dict, is_last: bool,
                code_bits: int) -> InputLayer:
    where = f"{path}: layer {name!r}"
    has_weight, has_codes = "weight" in arrays, "codes" in arrays
    if has_weight == has_codes:
        raise EIEError(f"{where} needs exactly one of {name}.weight or {name}.codes")
    relu = not is_last
    if "relu" in arrays:
        flag = np.asarray(arrays["relu"])
        _check_dtype(where, f"{name}.relu", flag, "biuf")
        if flag.size != 1 or flag.reshape(()).item() not in (0, 1):
            raise EIEError(f"{where}: {name}.relu must be 0 or 1")
        relu = bool(flag.reshape(()).item())
    layer = InputLayer(name=name, relu=relu)
    if has_weight:
        weight = _float_matrix(where, f"{name}.weight", arrays["weight"])
        if "codebook" in arrays:
            layer.codes, layer.codebook = _shared_weights(where, name, weight, arrays,
                                                          code_bits)
        else:
            layer.weight = weight
    else:
        layer.codes, layer.codebook = _codes_and_codebook(where, name, arrays, code_bits)
    rows = layer.shape[0]
    if "bias" in arrays:
        bias = np.asarray(arrays["bias"])
        _check_dtype(where, f"{name}.bias", bias, "iuf")
        if bias.shape != (rows,):
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
    _check_dtype(where, key, value, "iuf")
    value = value.astype(np.float32, copy=False)
    bad = np.count_nonzero(~np.isfinite(value))
    if bad:
        raise EIEError(f"{where}: {key} contains {bad} NaN or infinite values")
    return value


def _shared_weights(where: str, name: str, weight: np.ndarray, arrays: dict, code_bits: int):
    """A dense `.weight` whose every value is an entry of its `.codebook` (what `eie
    export` writes): the codes are the entries' indices, so the layer is taken as
    already pruned and shared, exactly as it was compressed."""
    codebook = _checked_codebook(where, name, arrays["codebook"], code_bits)
    order = np.argsort(codebook, kind="stable")
    index = np.searchsorted(codebook[order], weight)
    index = np.minimum(index, len(codebook) - 1)
    codes = order[index]
    codes[weight == 0] = 0
    if not np.array_equal(codebook[codes], weight):
        raise EIEError(f"{where}: {name}.weight holds values that are not entries of "
                       f"{name}.codebook: give the codebook the weights were shared with, "
                       f"or drop it to share them again")
    return codes.astype(np.uint8), codebook


def _codes_and_codebook(where: str, name: str, arrays: dict, code_bits: int):
    if "codebook" not in arrays:
        raise EIEError(f"{where}: {name}.codes needs {name}.codebook")
    codes = np.asarray(arrays["codes"])
    _check_dtype(where, f"{name}.codes", codes, "iu")
    if codes.ndim != 2 or 0 in codes.shape:
        raise EIEError(f"{where}: {name}.codes must be a non-empty 2-D integer matrix "
                       f"(out x in), got shape {codes.shape} dtype {codes.dtype}")
    size = 1 << code_bits
    if codes.min() < 0 or codes.max() >= size:
        raise EIEError(f"{where}: {name}.codes must lie in 0..{size - 1} for code_bits "
                       f"{code_bits}, found {codes.min()}..{codes.max()}")
    return codes.astype(np.uint8), _checked_codebook(where, name, arrays["codebook"], code_bits)


def _checked_codebook(where: str, name: str, codebook, code_bits: int) -> np.ndarray:
    """`<layer>.codebook` as float32: 2**code_bits finite entries, entry 0 exactly 0."""
    size = 1 << code_bits
    codebook = np.asarray(codebook)
    _check_dtype(where, f"{name}.codebook", codebook, "iuf")
    if codebook.shape != (size,):
        raise EIEError(f"{where}: {name}.codebook must have {size} entries (2**code_bits), "
                       f"got shape {codebook.shape}")
    codebook = codebook.astype(np.float32)
    if not np.all(np.isfinite(codebook)):
        raise EIEError(f"{where}: {name}.codebook contains NaN or infinite values")
    if codebook[0] != 0:
        raise EIEError(f"{where}: {name}.codebook[0] is {codebook[0]}, but entry 0 is "
                       f"reserved for pruned weights and must be exactly 0")
    return codebook


def check_chain(layers: list[InputLayer], path) -> None:
    for prev, nxt in zip(layers, layers[1:]):
        if prev.shape[0] != nxt.shape[1]:
            raise EIEError(
                f"{path}: layer shapes do not chain: {prev.name} is {prev.shape[0]} x "
                f"{prev.shape[1]} (out x in), so {nxt.name} must take {prev.shape[0]} "
                f"inputs, but it is {nxt.shape[0]} x {nxt.shape[1]}")
