"""The model folder: manifest.json, writing and reading `images/`, and the checks that a
folder is intact.

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
the descriptors the manifest describes (`read_folder`); `read_images` then decodes the
images and checks that they agree with the descriptors, and `read_model_dir` reads
model.eie (compress/container.py) only after the folder checks. Layout and messages:
docs/formats.md.

This is the top of the folder format, and data flows one way: it builds on
compress/manifest_schema.py (structure), compress/images.py (packing and hex codecs, no
files) and compress/container.py (model.eie alone); none of them imports it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from eie_hw.memory_map import (BIAS_FILE, CODEBOOK_FILE, LAYERS_FILE, MANIFEST_FILE,
                               MODEL_FILE, PTR_EVEN_FILE, PTR_ODD_FILE, SPMAT_FILE,
                               descriptor_fields, pe_image_dir)

from .container import read_container, read_model_id
from .encode import PEColumns
from .fixedpoint import quantize_bias, quantize_codebook
from .images import (MemoryImages, descriptor_table_hex, hex_to_ptr, hex_to_signed,
                     hex_to_spmat, image_files)
from .manifest_schema import (MODEL_FILES, SEAL, LayerDescriptor, MalformedManifest,
                              image_file_names, validate_manifest)
from .model import CompressedModel

IMAGES_FORMAT = "eie-images"
IMAGES_VERSION = 2
_RERUN = "re-run `eie compress`"


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


def write_manifest(directory, images: MemoryImages, model_id: str | None = None) -> Path:
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
    path = directory / MANIFEST_FILE
    path.write_text(json.dumps(seal_manifest(manifest), indent=1) + "\n")
    return path


def write_images(images: MemoryImages, directory, model_id: str | None = None) -> Path:
    """Write images/ and then manifest.json into `directory`; returns the manifest path.

    With `model_id` (compress_file) the folder is a whole model: model.eie, config.json,
    report.json and report.txt must already be there, and the manifest covers them too.
    """
    directory = Path(directory)
    for rel, data in image_files(images).items():
        path = directory / "images" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return write_manifest(directory, images, model_id)


# ----------------------------------------------------------------------------- reading

def read_manifest(directory) -> dict:
    """The manifest of `directory`, validated and checked against its seal."""
    directory = Path(directory)
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise EIEError(f"{directory} holds no {MANIFEST_FILE}: point at a directory "
                       f"written by `eie compress -o DIR`")
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


def read_images(directory, config: EIEConfig | None = None) -> MemoryImages:
    """Load images written by write_images; `config` (a design) must match the packing.

    Every check of read_folder comes first: a damaged, edited or mixed-up folder is
    refused before anything is decoded.
    """
    directory = Path(directory)
    manifest, data = read_folder(directory)
    packed = manifest_config(manifest)
    if config is not None:
        packed.check_packing_compatible(config, what=str(directory))
    layers = manifest_layers(manifest)
    source = str(directory / "images" / CODEBOOK_FILE)
    codebook = hex_to_signed(data[f"images/{CODEBOOK_FILE}"], packed.weight_bits, source)
    _check_length(source, len(codebook), len(layers) * packed.codebook_size, "words")
    codebook = codebook.reshape(len(layers), packed.codebook_size)
    spmat, ptr, bias = [], [], []
    for pe, sizes in enumerate(manifest["pes"]):
        d = f"images/{pe_image_dir(pe)}"
        source = str(directory / d)
        spmat.append(hex_to_spmat(data[f"{d}/{SPMAT_FILE}"], packed, f"{source}/{SPMAT_FILE}"))
        _check_length(f"{source}/{SPMAT_FILE}", len(spmat[-1]) // packed.entries_per_word,
                      sizes["spmat_words"], "words")
        ptr.append(hex_to_ptr(data[f"{d}/{PTR_EVEN_FILE}"], data[f"{d}/{PTR_ODD_FILE}"],
                              packed, source))
        _check_length(f"{source}/ptr_*.hex", len(ptr[-1]), sizes["ptr_entries"], "pointers")
        bias.append(hex_to_signed(data[f"{d}/{BIAS_FILE}"], packed.acc_bits,
                                  f"{source}/{BIAS_FILE}"))
        _check_length(f"{source}/{BIAS_FILE}", len(bias[-1]), sizes["bias_entries"], "words")
    images = MemoryImages(config=packed, layers=layers, spmat=spmat, ptr=ptr, bias=bias,
                          codebook=codebook)
    check_images_agree(images, directory)
    return images


def verify_model_dir(directory) -> dict:
    """Check a whole `eie compress -o DIR` folder; returns its manifest.

    Everything `read_images` checks (it decodes the images too), and that the folder is a
    model (model.eie of the manifest's model id), not images only.
    """
    directory = Path(directory)
    manifest = _model_manifest(directory)
    read_images(directory)
    return manifest


def read_model_dir(directory, config: EIEConfig | None = None
                   ) -> tuple[CompressedModel, EIEConfig, list[list[PEColumns]]]:
    """read_container of DIR/model.eie, after the checks that tie it to its folder.

    The folder must be a model, not images only; its manifest, model.eie's id, every
    checksum and layers.hex are checked (read_folder) before model.eie is decoded, so a
    model.eie of another model or a damaged folder is refused. `config` as for
    read_container.
    """
    directory = Path(directory)
    _check_folder(directory, _model_manifest(directory))
    return read_container(directory / MODEL_FILE, config)


def _model_manifest(directory: Path) -> dict:
    manifest = read_manifest(directory)
    if manifest["model_id"] is None:
        raise EIEError(f"{directory / MANIFEST_FILE} describes memory images only (no "
                       f"{MODEL_FILE}): point at a directory written by `eie compress -o "
                       f"DIR`")
    return manifest


def _other_model(directory: Path, found: str, expected: str) -> str:
    return (f"{directory / MODEL_FILE} belongs to another model (id {found}) than "
            f"{directory / MANIFEST_FILE} (id {expected}): re-run "
            f"`eie compress -o {directory}`")


def _check_folder(directory: Path, manifest: dict) -> dict[str, bytes]:
    if manifest["model_id"] is not None:
        # Before the checksums: "another model" says more than "checksum differs".
        path = directory / MODEL_FILE
        if not path.is_file():
            raise EIEError(f"{path} is missing ({directory / MANIFEST_FILE} lists it): "
                           f"re-run `eie compress -o {directory}`")
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
        raise EIEError(f"{path} is missing ({directory / MANIFEST_FILE} lists it): "
                       f"{_RERUN}") from None
    except OSError as exc:
        raise EIEError(f"cannot read {path}: {exc.strerror}; {_RERUN}") from None
    if _sha256(data) != digest:
        raise EIEError(f"{path} does not match its checksum in {MANIFEST_FILE} "
                       f"(truncated, corrupt or edited): {_RERUN}")
    return data


def _check_descriptor_table(directory: Path, manifest: dict, data: bytes) -> None:
    """layers.hex is what the hardware loads: it must say what the manifest says."""
    layers = manifest_layers(manifest)
    expected = descriptor_table_hex(layers, manifest_config(manifest)).splitlines()
    found = data.splitlines()
    path = directory / "images" / LAYERS_FILE
    if len(found) != len(expected):
        raise EIEError(f"{path} holds {len(found)} layer descriptors but "
                       f"{directory / MANIFEST_FILE} describes {len(expected)} layers: "
                       f"{_RERUN}")
    for layer, want, have in zip(layers, expected, found):
        if want != have:
            raise EIEError(f"{path} does not match the layer descriptors in "
                           f"{directory / MANIFEST_FILE} (layer {layer.name}: "
                           f"{have.decode(errors='replace')} in the file, {want.decode()} "
                           f"from the manifest): {_RERUN}")


def check_images_agree(images: MemoryImages, directory: Path) -> None:
    """The descriptors' floats and counts must be what the loaded `images` hold.

    The checksums and the seal pass for a writer whose manifest disagrees with its own
    images; the simulation would then run, and compare against, the wrong numbers.
    """
    for index, d in enumerate(images.layers):
        problem = _disagreement(images, index, d)
        if problem:
            raise EIEError(f"{directory / MANIFEST_FILE} disagrees with the images "
                           f"beside it (layer {d.name}: {problem}): {_RERUN}")


def _disagreement(images: MemoryImages, index: int, d: LayerDescriptor) -> str | None:
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


def _check_length(source: str, found: int, expected: int, what: str) -> None:
    # Only a writer that disagrees with its own manifest gets here: checksums passed.
    if found != expected:
        raise EIEError(f"{source} holds {found} {what}, {MANIFEST_FILE} says {expected}: "
                       f"re-run `eie compress`")


def _kind(value) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null",
            dict: "object"}.get(type(value), "number")
