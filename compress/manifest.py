"""manifest.json: what a compressed-model folder holds, and the checks that it is intact.

A folder written by `eie compress -o DIR` is one model: `model.eie`, `config.json`,
`report.json`, `report.txt`, the memory images under `images/`, and `manifest.json`,
written last. The manifest lists the sha256 of every other file, carries the model id
that `model.eie` also carries in its header (compress/container.py), and seals itself
with `manifest_sha256`, the sha256 of its own canonical JSON without that key, so that
no descriptor can be edited unnoticed. A folder of images only (`write_images` without a
model id, as tests and sweeps write) has `"model_id": null` and lists only the images.

Reading checks, in the order that best names the problem: the manifest's structure
(compress/manifest_schema.py: one line naming what is malformed, never a KeyError), its
seal, model.eie's id, every listed file's checksum, and that `images/layers.hex` holds
the descriptors the manifest describes. Layout and messages: docs/formats.md.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from eie_hw.memory_map import LAYERS_FILE, descriptor_bits, descriptor_fields

from .container import MODEL_FILE, read_model_id
from .fixedpoint import quantize_bias, quantize_codebook
from .manifest_schema import (MODEL_FILES, SEAL, LayerDescriptor,  # noqa: F401 (re-exported)
                              MalformedManifest, image_file_names, validate_manifest)

IMAGES_FORMAT = "eie-images"
IMAGES_VERSION = 2
MANIFEST = "manifest.json"
_RERUN = "re-run `eie compress`"


def descriptor_table_hex(layers: list[LayerDescriptor], config: EIEConfig) -> bytes:
    """`layers.hex`: Python-int words, as the descriptor can be wider than 64 bits."""
    digits = -(-descriptor_bits(config) // 4)
    return "".join(f"{d.word(config):0{digits}x}\n" for d in layers).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- writing

def manifest_digest(manifest: dict) -> str:
    """The seal: sha256 of the canonical JSON of everything but the seal itself."""
    body = {key: value for key, value in manifest.items() if key != SEAL}
    return _sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def seal_manifest(manifest: dict) -> dict:
    manifest[SEAL] = manifest_digest(manifest)
    return manifest


def write_manifest(directory, images, model_id: str | None = None) -> Path:
    """Write manifest.json over the files already in `directory`: call it last.

    `images` is the MemoryImages written there. With `model_id` the folder is a whole
    model and MODEL_FILES must already be written; without, it is images only.
    """
    directory = Path(directory)
    config = images.config
    names = image_file_names(config.n_pes)
    if model_id is not None:
        names += MODEL_FILES
    manifest = {
        "format": IMAGES_FORMAT,
        "version": IMAGES_VERSION,
        "model_id": model_id,
        "config": config.to_dict(),
        "descriptor_fields": descriptor_fields(config),
        "layers": [d.to_dict() for d in images.layers],
        "pes": [{"spmat_words": images.spmat_words(pe),
                 "ptr_entries": len(images.ptr[pe]),
                 "bias_entries": len(images.bias[pe])} for pe in range(config.n_pes)],
        "files": {rel: _sha256((directory / rel).read_bytes()) for rel in names},
    }
    path = directory / MANIFEST
    path.write_text(json.dumps(seal_manifest(manifest), indent=1) + "\n")
    return path


# ----------------------------------------------------------------------------- reading

def read_manifest(directory) -> dict:
    """The manifest of `directory`, validated and checked against its seal."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise EIEError(f"{directory} holds no {MANIFEST}: point at a directory written by "
                       f"`eie compress -o DIR`")
    try:
        manifest = json.loads(path.read_bytes())
    except OSError as exc:
        raise EIEError(f"cannot read {path}: {exc.strerror}; {_RERUN}") from None
    except (ValueError, RecursionError) as exc:
        raise EIEError(f"{path} is corrupt (not JSON: {exc}): {_RERUN}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != IMAGES_FORMAT:
        what = (f"format {manifest.get('format')!r}" if isinstance(manifest, dict)
                else f"a JSON {_kind(manifest)}, not an object")
        raise EIEError(f"{path} is not an EIE image manifest ({what}): point at a "
                       f"directory written by `eie compress -o DIR`")
    if manifest.get("version") != IMAGES_VERSION:
        raise EIEError(f"{path} is format version {manifest.get('version')}; this eie reads "
                       f"version {IMAGES_VERSION}: re-run `eie compress` with this version")
    try:
        validate_manifest(manifest)
    except MalformedManifest as exc:
        raise EIEError(f"{path} is malformed: {exc}; {_RERUN}") from None
    if manifest[SEAL] != manifest_digest(manifest):
        raise EIEError(f"{path} does not match its own checksum ({SEAL}): it was edited "
                       f"or is corrupt; {_RERUN}")
    return manifest


def manifest_config(manifest: dict) -> EIEConfig:
    """The packing configuration of a manifest that read_manifest returned."""
    return EIEConfig.from_dict(manifest["config"])


def manifest_layers(manifest: dict) -> list[LayerDescriptor]:
    """The layer descriptors of a manifest that read_manifest returned."""
    return [LayerDescriptor(**d) for d in manifest["layers"]]


def read_folder(directory) -> tuple[dict, dict[str, bytes]]:
    """(manifest, {relative path: bytes} of every file it lists), all checked."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    return manifest, _check_folder(directory, manifest)


def verify_model_dir(directory) -> dict:
    """Check a whole `eie compress -o DIR` folder; returns its manifest.

    Everything `read_images` checks (it decodes the images too), and that the folder is a
    model (model.eie of the manifest's model id), not images only.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest["model_id"] is None:
        raise EIEError(f"{directory / MANIFEST} describes memory images only (no "
                       f"{MODEL_FILE}): point at a directory written by `eie compress -o "
                       f"DIR`")
    from .images import read_images     # images.py builds on this module
    read_images(directory)
    return manifest


def check_sibling_manifest(model_path: Path, model_id: str) -> None:
    """For read_container: a manifest.json beside model.eie must be of the same model."""
    directory = model_path.parent
    if model_path.name != MODEL_FILE or not (directory / MANIFEST).is_file():
        return
    expected = read_manifest(directory)["model_id"]
    if expected is not None and expected != model_id:
        raise EIEError(_other_model(directory, model_id, expected))


def _other_model(directory: Path, found: str, expected: str) -> str:
    return (f"{directory / MODEL_FILE} belongs to another model (id {found}) than "
            f"{directory / MANIFEST} (id {expected}): re-run `eie compress -o {directory}`")


def _check_folder(directory: Path, manifest: dict) -> dict[str, bytes]:
    if manifest["model_id"] is not None:
        # Before the checksums: "another model" says more than "checksum differs".
        path = directory / MODEL_FILE
        if not path.is_file():
            raise EIEError(f"{path} is missing ({directory / MANIFEST} lists it): re-run "
                           f"`eie compress -o {directory}`")
        found = read_model_id(path)
        if found != manifest["model_id"]:
            raise EIEError(_other_model(directory, found, manifest["model_id"]))
    data = {rel: _read_checked(directory, rel, digest)
            for rel, digest in manifest["files"].items()}
    _check_descriptor_table(directory, manifest, data[f"images/{LAYERS_FILE}"])
    return data


def _read_checked(directory: Path, rel: str, digest: str) -> bytes:
    path = directory / rel
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EIEError(f"{path} is missing ({directory / MANIFEST} lists it): "
                       f"{_RERUN}") from None
    except OSError as exc:
        raise EIEError(f"cannot read {path}: {exc.strerror}; {_RERUN}") from None
    if _sha256(data) != digest:
        raise EIEError(f"{path} does not match its checksum in {MANIFEST} (truncated, "
                       f"corrupt or edited): {_RERUN}")
    return data


def _check_descriptor_table(directory: Path, manifest: dict, data: bytes) -> None:
    """layers.hex is what the hardware loads: it must say what the manifest says."""
    layers = manifest_layers(manifest)
    expected = descriptor_table_hex(layers, manifest_config(manifest)).splitlines()
    found = data.splitlines()
    path = directory / "images" / LAYERS_FILE
    if len(found) != len(expected):
        raise EIEError(f"{path} holds {len(found)} layer descriptors but "
                       f"{directory / MANIFEST} describes {len(expected)} layers: {_RERUN}")
    for layer, want, have in zip(layers, expected, found):
        if want != have:
            raise EIEError(f"{path} does not match the layer descriptors in "
                           f"{directory / MANIFEST} (layer {layer.name}: "
                           f"{have.decode(errors='replace')} in the file, {want.decode()} "
                           f"from the manifest): {_RERUN}")


def check_images_agree(images, directory: Path) -> None:
    """The descriptors' floats and counts must be what the loaded `images` hold.

    The checksums and the seal pass for a writer whose manifest disagrees with its own
    images; the simulation would then run, and compare against, the wrong numbers.
    """
    for index, d in enumerate(images.layers):
        problem = _disagreement(images, index, d)
        if problem:
            raise EIEError(f"{directory / MANIFEST} disagrees with the images beside it "
                           f"(layer {d.name}: {problem}): {_RERUN}")


def _disagreement(images, index: int, d: LayerDescriptor) -> str | None:
    config = images.config
    n, epw = config.n_pes, config.entries_per_word
    try:
        codebook = quantize_codebook(d.codebook_float, d.weight_frac, config, d.name)
        bias = (np.zeros(d.rows, dtype=np.int64) if d.bias_float is None
                else quantize_bias(d.bias_float, d.weight_frac, config, d.name))
    except EIEError:
        return "codebook_float or bias_float does not fit the fixed-point formats"
    if not np.array_equal(codebook, images.codebook[index]):
        return "codebook_float does not quantize to images/codebook.hex"
    for pe in range(n):
        p = images.layer_pointers(pe, index)
        if p[0] != d.spmat_base[pe] * epw or p[-1] - p[0] != d.entries[pe] \
                or np.any(np.diff(p) < 0):
            return f"spmat_base or entries of PE {pe} disagree with its pointers"
        codes = images.spmat[pe][p[0]:p[-1]] & (config.codebook_size - 1)
        if np.count_nonzero(codes == 0) != d.fillers[pe]:
            return f"fillers of PE {pe} disagree with its spmat.hex"
        if not np.array_equal(images.layer_bias(pe, index), bias[pe::n]):
            return f"bias_float does not quantize to PE {pe}'s bias.hex"
    return None


def _kind(value) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null",
            dict: "object"}.get(type(value), "number")
