"""`model.eie`: the Huffman-coded compressed model as written to disk.

It holds everything needed to rebuild the exact memory images (the per-PE entry
streams, not just the code matrix, so that a later change of the encoder cannot silently
change what a stored model packs to), and its size is the "real on-disk size" of the
compression report. Its header carries the model id, the first 16 bytes of the
sha256 of the body: it names the content, so two compressions of the same input get the
same id, and `manifest.json` records it to tie the folder's images to this file.
Byte-by-byte layout: docs/formats.md.

This module knows the file only: `read_container` checks its framing, CRC and id.
compress/manifest.py, above it, ties it to its folder (`read_model_dir`).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

from .balance import check_row_order
from .encode import PEColumns, decode_layer, encode_layer, entry_fields
from .huffman import HuffmanStream, encode_varint, huffman_decode, huffman_encode, read_varint
from .model import CompressedLayer, CompressedModel

CONTAINER_FORMAT_VERSION = 2
MAGIC = b"EIEZ"
_ID_BYTES = 16
_CRC_BYTES = 4
_STREAMS = ("v", "z", "counts")


@dataclass
class ContainerStats:
    total_bytes: int
    layers: list[dict]
    model_id: str = ""


class _Corrupt(Exception):
    """Raised while parsing; read_container words it for the user with the file name."""


# ----------------------------------------------------------------------------- writing

def write_container(path, model: CompressedModel, config: EIEConfig,
                    encoded: list[list[PEColumns]] | None = None) -> ContainerStats:
    """Write `model` as packed for `config`; `encoded` skips re-encoding the layers."""
    layers = model.layers
    if encoded is None:
        encoded = [encode_layer(layer.codes, config) for layer in layers]
    _check_encoded(layers, encoded, config)
    sections, layer_stats = [], []
    for layer, pe_columns in zip(layers, encoded):
        section, stats = _layer_section(layer, pe_columns, config)
        sections.append(section)
        layer_stats.append(stats)
    header = zlib.compress(_header_json(model, config, encoded), 9)
    body = encode_varint(len(header)) + header + b"".join(sections)
    ident = _model_id(body)
    head = MAGIC + bytes([CONTAINER_FORMAT_VERSION]) + ident + encode_varint(len(body))
    data = head + body
    data += zlib.crc32(data).to_bytes(_CRC_BYTES, "little")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise EIEError(f"cannot write {path}: {exc.strerror}") from None
    return ContainerStats(total_bytes=len(data), layers=layer_stats, model_id=ident.hex())


def _model_id(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()[:_ID_BYTES]


def _check_encoded(layers: list[CompressedLayer], encoded, config: EIEConfig) -> None:
    if len(encoded) != len(layers) or any(len(e) != config.n_pes for e in encoded):
        raise EIEError(f"write_container: `encoded` must hold {config.n_pes} PEColumns for "
                       f"each of the {len(layers)} layers (pass encoded=None to encode here)")
    for layer in layers:
        if len(layer.codebook) != config.codebook_size:
            raise EIEError(f"layer {layer.name}: codebook has {len(layer.codebook)} entries, "
                           f"code_bits={config.code_bits} needs {config.codebook_size}")


def _json_default(value):
    # Layer statistics may carry numpy scalars.
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _header_json(model: CompressedModel, config: EIEConfig, encoded) -> bytes:
    header = {
        "config": config.to_dict(),
        "source": model.source,
        "layers": [{"name": layer.name, "rows": layer.rows, "cols": layer.cols,
                    "weight_frac": int(layer.weight_frac), "relu": bool(layer.relu),
                    "has_bias": layer.bias is not None,
                    "entries": [len(pc.entries) for pc in pe_columns],
                    "dense_weights": int(layer.dense_weights), "stats": layer.stats,
                    # Only for a permuted (load-balanced) layer: compress/balance.py.
                    **({} if layer.row_order is None else
                       {"row_order": [int(i) for i in layer.row_order]})}
                   for layer, pe_columns in zip(model.layers, encoded)],
    }
    return json.dumps(header, separators=(",", ":"), default=_json_default).encode()


def _layer_section(layer: CompressedLayer, pe_columns: list[PEColumns],
                   config: EIEConfig) -> tuple[bytes, dict]:
    entries = np.concatenate([pc.entries for pc in pe_columns])
    v, z = entry_fields(entries, config)
    counts = np.concatenate([pc.col_counts for pc in pe_columns])
    streams = dict(zip(_STREAMS, (huffman_encode(v), huffman_encode(z),
                                  huffman_encode(counts))))
    codebook = np.asarray(layer.codebook, dtype="<f4").tobytes()
    bias = b"" if layer.bias is None else np.asarray(layer.bias, dtype="<f4").tobytes()
    section = codebook + bias + b"".join(s.to_bytes() for s in streams.values())
    stats = {"name": layer.name,
             **{f"{k}_payload_bits": s.payload_bits() for k, s in streams.items()},
             "table_bits": sum(s.code_table_bits() for s in streams.values()),
             "codebook_bits": 8 * len(codebook), "bias_bits": 8 * len(bias),
             "bytes": len(section)}
    return section, stats


# ----------------------------------------------------------------------------- reading

def read_container(path, config: EIEConfig | None = None
                   ) -> tuple[CompressedModel, EIEConfig, list[list[PEColumns]]]:
    """(model, the config it was packed for, per-layer per-PE PEColumns).

    `config` (a design) must agree with the packing: `pack_layers(model.layers, packed,
    encoded=encoded)` rebuilds the images bit for bit. Only the file is checked; for
    the model.eie of a folder, compress.manifest.read_model_dir checks the folder first.
    """
    path = Path(path)
    data = _read_bytes(path)
    _, body = _guarded(path, _checked_body, data)
    header, offset = _guarded(path, _parse_header, body)
    packed = _guarded(path, lambda: EIEConfig.from_dict(header["config"]))
    if config is not None:
        packed.check_packing_compatible(config, what=str(path))
    layers, encoded = _guarded(path, _read_layers, body, offset, header, packed)
    return CompressedModel(layers=layers, source=header.get("source", "")), packed, encoded


def read_model_id(path) -> str:
    """The model id in `path`'s header (hex), after the framing and CRC checks."""
    path = Path(path)
    model_id, _ = _guarded(path, _checked_body, _read_bytes(path))
    return model_id


def _guarded(path: Path, parse, *args):
    """Run one parsing step; anything it trips over means the file is damaged."""
    try:
        return parse(*args)
    except (_Corrupt, EIEError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise EIEError(f"{path} is not a valid model file ({_reason(exc)}): re-run "
                       f"`eie compress`") from None


def _read_layers(body: bytes, offset: int, header: dict, config: EIEConfig):
    layers, encoded = [], []
    for meta in header["layers"]:
        layer, pe_columns, offset = _read_layer(body, offset, meta, config)
        layers.append(layer)
        encoded.append(pe_columns)
    if offset != len(body):
        raise _Corrupt(f"{len(body) - offset} unexpected bytes after the last layer")
    return layers, encoded


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"header lacks {exc}"
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise EIEError(f"model file {path} does not exist: run `eie compress` to make "
                       f"it") from None
    except OSError as exc:
        raise EIEError(f"cannot read {path}: {exc.strerror}; re-run `eie compress`") from None


def _checked_body(data: bytes) -> tuple[str, bytes]:
    """(model id, body) after the magic, version, length, CRC and id checks, in the order
    that best names the problem."""
    if data[:len(MAGIC)] != MAGIC:
        raise _Corrupt(f"it does not start with {MAGIC!r}; not a model.eie file")
    if len(data) <= len(MAGIC):
        raise _Corrupt("truncated")
    version = data[len(MAGIC)]
    if version != CONTAINER_FORMAT_VERSION:
        raise _Corrupt(f"format version {version}, this eie reads version "
                       f"{CONTAINER_FORMAT_VERSION}")
    id_start = len(MAGIC) + 1
    if len(data) < id_start + _ID_BYTES:
        raise _Corrupt("truncated in the file header")
    body_len, start = read_varint(data, id_start + _ID_BYTES, "file header")
    end = start + body_len
    if len(data) < end + _CRC_BYTES:
        raise _Corrupt(f"truncated: {len(data):,} bytes, the header announces "
                       f"{end + _CRC_BYTES:,}")
    if len(data) > end + _CRC_BYTES:
        raise _Corrupt(f"{len(data) - end - _CRC_BYTES} unexpected bytes at the end")
    if zlib.crc32(data[:end]) != int.from_bytes(data[end:], "little"):
        raise _Corrupt("CRC32 mismatch: the file is corrupt")
    ident, body = data[id_start:id_start + _ID_BYTES], data[start:end]
    if _model_id(body) != ident:
        raise _Corrupt("the model id in the header does not match the content")
    return ident.hex(), body


def _parse_header(body: bytes) -> tuple[dict, int]:
    size, offset = read_varint(body, 0, "file header")
    try:
        header = json.loads(zlib.decompress(body[offset:offset + size]))
    except (zlib.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Corrupt(f"unreadable header: {exc}") from None
    if not isinstance(header, dict):
        raise _Corrupt("the header is not a JSON object")
    return header, offset + size


def _read_floats(body: bytes, offset: int, n: int, what: str) -> tuple[np.ndarray, int]:
    end = offset + 4 * n
    if end > len(body):
        raise _Corrupt(f"truncated {what}")
    return np.frombuffer(body[offset:end], dtype="<f4").astype(np.float32), end


def _read_layer(body: bytes, offset: int, meta: dict, config: EIEConfig):
    name, rows, cols = meta["name"], int(meta["rows"]), int(meta["cols"])
    codebook, offset = _read_floats(body, offset, config.codebook_size, f"{name} codebook")
    bias = None
    if meta["has_bias"]:
        bias, offset = _read_floats(body, offset, rows, f"{name} bias")
    streams = {}
    for key in _STREAMS:
        streams[key], offset = HuffmanStream.from_bytes(body, offset)
    pe_columns = _pe_columns(streams, meta["entries"], cols, config, name)
    layer = CompressedLayer(
        name=name, codes=decode_layer(pe_columns, rows, cols, config), codebook=codebook,
        weight_frac=int(meta["weight_frac"]), relu=bool(meta["relu"]), bias=bias,
        dense_weights=int(meta.get("dense_weights", 0)), stats=dict(meta.get("stats", {})),
        row_order=check_row_order(meta.get("row_order"), rows, f"layer {name}"))
    return layer, pe_columns, offset


def _decoded(stream: HuffmanStream, expected: int, what: str) -> np.ndarray:
    # Checked before decoding, so that a bad header cannot make us allocate garbage.
    if stream.n_symbols != expected:
        raise _Corrupt(f"{what}: {stream.n_symbols} symbols, the header says {expected}")
    return huffman_decode(stream)


def _pe_columns(streams: dict, entries: list[int], cols: int, config: EIEConfig,
                name: str) -> list[PEColumns]:
    if len(entries) != config.n_pes:
        raise _Corrupt(f"layer {name}: entry counts for {len(entries)} PEs, n_pes is "
                       f"{config.n_pes}")
    total = sum(entries)
    v = _decoded(streams["v"], total, f"layer {name} v")
    z = _decoded(streams["z"], total, f"layer {name} z")
    counts = _decoded(streams["counts"], config.n_pes * cols, f"layer {name} counts")
    if np.any(v >= config.codebook_size) or np.any(z > config.max_skip):
        raise _Corrupt(f"layer {name}: entry fields out of range")
    words = ((z << config.code_bits) | v).astype(np.uint16)
    counts = counts.reshape(config.n_pes, cols)
    if not np.array_equal(counts.sum(axis=1), entries):
        raise _Corrupt(f"layer {name}: column counts disagree with the entry counts")
    bounds = np.concatenate(([0], np.cumsum(entries)))
    return [PEColumns(entries=words[bounds[pe]:bounds[pe + 1]].copy(),
                      col_counts=counts[pe].astype(np.int64),
                      fillers=int(np.count_nonzero(v[bounds[pe]:bounds[pe + 1]] == 0)))
            for pe in range(config.n_pes)]
