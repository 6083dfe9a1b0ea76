"""Model files `eie compress` reads besides its own `.npz`: safetensors and ONNX (issue 15).

Each is turned into the arrays an `.npz` would hold (`<layer>.weight` out x in,
`<layer>.bias`, `<layer>.relu`), so one reader (compress/model_io.py) checks them all.
The format is named by the file's content, not its suffix:

- `.npz`: a zip archive (`PK`);
- safetensors: an 8-byte little-endian header length, then a JSON header (`{`);
- ONNX: a protobuf `ModelProto` (the `onnx` package, an optional extra:
  `pip install 'eie-hw[onnx]'`).

A file whose content is one format under another's suffix is an error: a mislabelled file
is more often the wrong file than a renamed one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eie_hw.errors import EIEError

FORMATS = {"npz": (".npz",), "safetensors": (".safetensors",), "onnx": (".onnx",)}
_ARTICLE = {"npz": "an .npz", "safetensors": "a safetensors", "onnx": "an ONNX"}


def sniff_format(head: bytes, size: int) -> str | None:
    """"npz", "safetensors" or "onnx" from a file's first 16 bytes and its size; None
    when it is none of them (the .npz reader then says what it is)."""
    if head[:2] == b"PK":
        return "npz"
    if len(head) >= 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") < size:
        return "safetensors"
    # A serialized ModelProto starts with field 1, ir_version (a small varint: tag 0x08).
    if len(head) >= 2 and head[0] == 0x08 and 1 <= head[1] <= 64:
        return "onnx"
    return None


def check_suffix(path: Path, fmt: str) -> None:
    suffix = path.suffix.lower()
    owner = next((name for name, suffixes in FORMATS.items() if suffix in suffixes), None)
    if owner is not None and owner != fmt:
        raise EIEError(f"{path} holds {_ARTICLE[fmt]} model under a {suffix} name: rename "
                       f"it to {FORMATS[fmt][0]} (or check that it is the file you meant)")


# ----------------------------------------------------------------------------- safetensors

def read_safetensors(path: Path, order: list[str] | None = None) -> dict[str, np.ndarray]:
    """PyTorch `nn.Linear` tensors (`fc1.weight` out x in, `fc1.bias`) as .npz arrays, in
    the file's layer order (the order of their data) or in `order` (layer names)."""
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise EIEError("reading .safetensors needs the safetensors package: pip install "
                       "safetensors") from None
    header_order = _safetensors_order(path)
    try:
        tensors = load_file(str(path))
    except Exception as exc:       # the Rust reader raises its own error types
        raise EIEError(f"{path} is not a readable safetensors file ({exc})") from None
    layers: dict[str, dict[str, np.ndarray]] = {}
    for key in header_order:
        name, dot, kind = key.rpartition(".")
        if kind not in ("weight", "bias") or not dot:
            raise EIEError(f"{path}: tensor {key!r} is not <layer>.weight or <layer>.bias "
                           f"(nn.Linear); export only the fully connected layers")
        layers.setdefault(name, {})[kind] = tensors[key]
    names = list(layers)
    if order:
        unknown = [n for n in order if n not in layers]
        if unknown:
            raise EIEError(f"{path}: --layers names {', '.join(unknown)}, which the file does "
                           f"not hold (it has {', '.join(names)})")
        names = list(order)
    return {f"{name}.{kind}": value for name in names for kind, value in layers[name].items()}


def _safetensors_order(path: Path) -> list[str]:
    """Tensor names in the order of their data in the file (the order they were saved)."""
    with path.open("rb") as f:
        length = int.from_bytes(f.read(8), "little")
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise EIEError(f"{path} has a broken safetensors header: export it again") \
                from None
    entries = [(v["data_offsets"][0], k) for k, v in header.items() if k != "__metadata__"]
    return [k for _, k in sorted(entries)]
