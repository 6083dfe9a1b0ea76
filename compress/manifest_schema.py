"""The structure of manifest.json: the layer descriptor, what the folder holds, and the
validator that turns a malformed manifest into one line naming what is wrong.

Validation comes before anything uses the manifest (and before its seal is checked, so
that a malformed one says what is malformed rather than only "edited"). The layer entries
are checked against the `LayerDescriptor` fields and types, so a new field is validated
too. compress/manifest.py reads and writes the file; docs/formats.md describes it.

This is the lowest layer of the folder format: it imports only eie_hw (the
configuration and the memory map). compress/images.py builds its `MemoryImages` from
`LayerDescriptor`; compress/manifest.py, above both, reads and checks a folder.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from dataclasses import dataclass, field

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from eie_hw.memory_map import (CODEBOOK_FILE, LAYERS_FILE, MODEL_FILE, PE_FILES,
                               descriptor_fields, pe_image_dir)

SEAL = "manifest_sha256"
# Everything `eie compress` writes beside the images and the manifest.
MODEL_FILES = (MODEL_FILE, "config.json", "report.json", "report.txt")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MODEL_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class LayerDescriptor:
    name: str
    rows: int
    cols: int
    weight_frac: int
    relu: bool
    ptr_base: int
    bias_base: int
    last: bool
    spmat_base: list[int] = field(default_factory=list)   # per PE, in words
    entries: list[int] = field(default_factory=list)      # per PE, fillers included
    fillers: list[int] = field(default_factory=list)      # per PE
    codebook_float: list[float] = field(default_factory=list)
    bias_float: list[float] | None = None
    # Row-to-PE assignment (compress/balance.py): row_order[q] = the original row stored
    # at position q; None (and absent from the manifest) = interleaved, the identity.
    row_order: list[int] | None = None

    def word(self, config: EIEConfig) -> int:
        value, shift = 0, 0
        for name, width in descriptor_fields(config):
            value |= int(getattr(self, name)) << shift
            shift += width
        return value

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        if d.get("row_order") is None:
            d.pop("row_order", None)
        return d


# The manifest validator is driven by the dataclass, so a new field is validated too.
_LAYER_TYPES = typing.get_type_hints(LayerDescriptor)
_LAYER_OPTIONAL = {f.name for f in dataclasses.fields(LayerDescriptor) if f.default is None}
_TOP_TYPES = {"format": str, "version": int, "model_id": str | None, "config": dict,
              "descriptor_fields": list, "layers": list, "pes": list, "files": dict,
              SEAL: str}
_PE_KEYS = ("spmat_words", "ptr_entries", "bias_entries")


def image_file_names(n_pes: int) -> list[str]:
    """Folder-relative paths of every image file, in the order they are written."""
    names = [CODEBOOK_FILE, LAYERS_FILE]
    for pe in range(n_pes):
        names += [f"{pe_image_dir(pe)}/{name}" for name in PE_FILES]
    return [f"images/{name}" for name in names]


class MalformedManifest(Exception):
    """What is wrong with a manifest's structure; read_manifest adds the file name."""


def _require(ok: bool, reason: str) -> None:
    if not ok:
        raise MalformedManifest(reason)


def validate_manifest(manifest: dict) -> None:
    """Raise MalformedManifest naming the first thing wrong with `manifest`."""
    _check_keys(manifest, _TOP_TYPES, "")
    config = _config(manifest["config"])
    expected = [[name, width] for name, width in descriptor_fields(config)]
    _require(manifest["descriptor_fields"] == expected,
             f"descriptor_fields {_show(manifest['descriptor_fields'])} differ from this "
             f"version's descriptor layout {_show(expected)}")
    model_id = manifest["model_id"]
    _require(model_id is None or _MODEL_ID.fullmatch(model_id) is not None,
             f"model_id must be 32 hex digits or null, got {_show(model_id)}")
    _require(_SHA256.fullmatch(manifest[SEAL]) is not None,
             f"{SEAL} must be a sha256 hex digest, got {_show(manifest[SEAL])}")
    pes = manifest["pes"]
    _check_pes(pes, config)
    layers = manifest["layers"]
    _require(1 <= len(layers) <= config.max_layers,
             f"layers lists {len(layers)} layers; the configuration holds 1 to "
             f"{config.max_layers}")
    for index, layer in enumerate(layers):
        _check_layer(layer, index, len(layers), config, pes)
    for k, (prev, nxt) in enumerate(zip(layers, layers[1:])):
        _require(prev["rows"] == nxt["cols"],
                 f"layers[{k}] has {prev['rows']} rows but layers[{k + 1}] takes "
                 f"{nxt['cols']} columns")
    _check_files(manifest["files"], image_file_names(config.n_pes)
                 + (list(MODEL_FILES) if model_id is not None else []))


def _config(values: dict) -> EIEConfig:
    missing = [f.name for f in dataclasses.fields(EIEConfig) if f.name not in values]
    _require(not missing, f"config lacks {', '.join(missing)}")
    try:
        return EIEConfig.from_dict(values)
    except (EIEError, TypeError) as exc:
        one_line = str(exc).replace(":\n  - ", ": ").replace("\n  - ", "; ")
        raise MalformedManifest(f"config: {one_line}") from None


def _check_pes(pes: list, config: EIEConfig) -> None:
    _require(len(pes) == config.n_pes,
             f"pes lists {len(pes)} PEs, config.n_pes is {config.n_pes}")
    limits = {"spmat_words": config.spmat_words, "ptr_entries": config.ptr_entries,
              "bias_entries": config.bias_entries}
    for pe, entry in enumerate(pes):
        _check_keys(entry, dict.fromkeys(_PE_KEYS, int), f"pes[{pe}].")
        for key, limit in limits.items():
            _require(0 <= entry[key] <= limit,
                     f"pes[{pe}].{key} = {entry[key]} is outside 0..{limit}")
        _require(entry["ptr_entries"] % (2 * config.bcast_width) == 0,
                 f"pes[{pe}].ptr_entries = {entry['ptr_entries']} is not whole pointer "
                 f"word pairs of {config.bcast_width}")


def _check_layer(d: dict, index: int, count: int, config: EIEConfig, pes: list) -> None:
    where = f"layers[{index}]"
    _check_keys(d, _LAYER_TYPES, f"{where}.", optional=_LAYER_OPTIONAL)
    n = config.n_pes
    for key in ("spmat_base", "entries", "fillers"):
        _require(len(d[key]) == n, f"{where}.{key} has {len(d[key])} values, n_pes is {n}")
        _require(min(d[key]) >= 0, f"{where}.{key} has a negative value")
    _require(len(d["codebook_float"]) == config.codebook_size,
             f"{where}.codebook_float has {len(d['codebook_float'])} values, code_bits="
             f"{config.code_bits} needs {config.codebook_size}")
    bias = d.get("bias_float")
    _require(bias is None or len(bias) == d["rows"],
             f"{where}.bias_float has {0 if bias is None else len(bias)} values for "
             f"{d['rows']} rows")
    order = d.get("row_order")
    _require(order is None or sorted(order) == list(range(d["rows"])),
             f"{where}.row_order is not a permutation of the layer's {d['rows']} rows")
    _require(d["last"] == (index == count - 1),
             f"{where}.last is {_show(d['last'])}; only the final layer is last")
    for name, width in descriptor_fields(config):
        _require(0 <= int(d[name]) < 1 << width,
                 f"{where}.{name} = {d[name]} does not fit its {width}-bit descriptor field")
    _require(d["rows"] >= 1 and d["cols"] >= 1, f"{where} has no rows or no columns")
    _require(d["weight_frac"] <= config.max_weight_frac,
             f"{where}.weight_frac = {d['weight_frac']} is more than acc_bits - 1")
    _check_layer_bounds(d, where, config, pes)


def _check_layer_bounds(d: dict, where: str, config: EIEConfig, pes: list) -> None:
    # Numpy slices past the end would silently be short, not fail.
    epw, rows_per_pe = config.entries_per_word, -(-d["rows"] // config.n_pes)
    for pe, sizes in enumerate(pes):
        _require(d["fillers"][pe] <= d["entries"][pe],
                 f"{where}: PE {pe} has more fillers than entries")
        _require(d["spmat_base"][pe] + -(-d["entries"][pe] // epw) <= sizes["spmat_words"],
                 f"{where}: PE {pe}'s entries end past its {sizes['spmat_words']} "
                 f"spmat words")
        _require(d["ptr_base"] + d["cols"] + 1 <= sizes["ptr_entries"],
                 f"{where}: pointers end past PE {pe}'s {sizes['ptr_entries']} pointers")
        _require(d["bias_base"] + rows_per_pe <= sizes["bias_entries"],
                 f"{where}: bias ends past PE {pe}'s {sizes['bias_entries']} bias entries")


def _check_files(files: dict, expected: list[str]) -> None:
    for rel, digest in files.items():
        _require(isinstance(digest, str) and _SHA256.fullmatch(digest) is not None,
                 f"files[{rel!r}] must be a sha256 hex digest, got {_show(digest)}")
    missing = [rel for rel in expected if rel not in files]
    if missing:
        raise MalformedManifest(f"files lists no checksum for {missing[0]}"
                         + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    extra = sorted(set(files) - set(expected))
    if extra:
        raise MalformedManifest(f"files lists {extra[0]!r}, which is not part of the folder")


def _check_keys(obj, types_: dict, where: str, optional=frozenset()) -> None:
    _require(isinstance(obj, dict),
             f"{where.rstrip('.') or 'the manifest'} must be a JSON object, got "
             f"{_show(obj)}")
    missing = [key for key in types_ if key not in obj and key not in optional]
    if missing:
        raise MalformedManifest(f"{where}{missing[0]} is missing")
    extra = sorted(set(obj) - set(types_))
    if extra:
        raise MalformedManifest(f"{where}{extra[0]} is not a known key")
    for key, expected in types_.items():
        if key in obj:
            _require(_matches(obj[key], expected),
                     f"{where}{key} must be {_describe(expected)}, got {_show(obj[key])}")


def _matches(value, expected) -> bool:
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if expected is type(None):
        return value is None
    if expected in (int, float) and isinstance(value, bool):
        return False                 # JSON true is not a number
    if expected is float:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


_NAMES = {int: ("an integer", "integers"), bool: ("true or false", "booleans"),
          float: ("a number", "numbers"), str: ("a string", "strings"),
          dict: ("a JSON object", "objects"), list: ("a list", "lists"),
          type(None): ("null", "nulls")}


def _describe(expected, plural: bool = False) -> str:
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg, plural) for arg in args)
    if origin is list:
        return f"a list of {_describe(args[0], plural=True)}"
    return _NAMES[expected][int(plural)]


def _show(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
