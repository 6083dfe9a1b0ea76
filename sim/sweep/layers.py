"""What a sweep runs on: the paper's Table III layers, custom synthetic layers, and the
layers of a compressed model directory; and the synthetic layers' codes and inputs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compress.manifest import verify_model_dir
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

PAPER_MHZ = 800


@dataclass(frozen=True)
class LayerSpec:
    """A synthetic layer: `cols` inputs, `rows` outputs (the paper's "in x out")."""
    name: str
    cols: int
    rows: int
    weight_density: float
    act_density: float
    paper_us: float | None = None              # Table IV, EIE actual
    paper_theoretical_us: float | None = None  # Table IV, EIE theoretical

    @property
    def paper_cycles(self) -> int | None:
        return None if self.paper_us is None else round(self.paper_us * PAPER_MHZ)

    @property
    def paper_theoretical_cycles(self) -> int | None:
        return (None if self.paper_theoretical_us is None
                else round(self.paper_theoretical_us * PAPER_MHZ))

    def key(self) -> dict:
        return {"kind": "synthetic", "cols": self.cols, "rows": self.rows,
                "weight_density": self.weight_density, "act_density": self.act_density}


# Spec section 3, Tables III and IV (64 PEs, 800 MHz, batch 1).
TABLE_III = {spec.name: spec for spec in (
    LayerSpec("Alex-6", 9216, 4096, 0.09, 0.351, 30.3, 28.1),
    LayerSpec("Alex-7", 4096, 4096, 0.09, 0.353, 12.2, 11.7),
    LayerSpec("Alex-8", 4096, 1000, 0.25, 0.375, 9.9, 8.9),
    LayerSpec("VGG-6", 25088, 4096, 0.04, 0.183, 34.4, 28.1),
    LayerSpec("VGG-7", 4096, 4096, 0.04, 0.375, 8.7, 7.9),
    LayerSpec("VGG-8", 4096, 1000, 0.23, 0.411, 8.4, 7.3),
    LayerSpec("NT-We", 4096, 600, 0.10, 1.0, 8.0, 5.2),
    LayerSpec("NT-Wd", 600, 8791, 0.11, 1.0, 13.9, 13.0),
    LayerSpec("NT-LSTM", 1201, 2400, 0.10, 1.0, 7.5, 6.5),
)}


@dataclass(frozen=True)
class ModelSource:
    """The layers of a compressed model directory, run on `input` (or random inputs)."""
    directory: str
    input: str | None
    digest: str          # of model.eie and the input file: part of the cache key
    name: str = ""

    def key(self) -> dict:
        return {"kind": "model", "digest": self.digest}


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_source(directory, input_path=None) -> ModelSource:
    """The layers of `directory` (written by `eie compress -o DIR`), on `input_path`."""
    directory = Path(directory)
    container = directory / "model.eie"
    # The whole folder is checked once here (checksums, seal, model id), so a damaged or
    # mixed-up model is refused before any point runs.
    manifest = verify_model_dir(directory)
    if manifest.get("model_id") is None:
        raise EIEError(f"{directory} holds memory images only, no model.eie: point --model "
                       f"at a directory written by `eie compress -o DIR`")
    digest = file_digest(container)
    if input_path is not None:
        if not Path(input_path).is_file():
            raise EIEError(f"input file {input_path} does not exist: give an .npy file of "
                           f"float inputs, or drop --input for random ones")
        digest += ":" + file_digest(Path(input_path))
    return ModelSource(str(directory.resolve()), None if input_path is None
                       else str(Path(input_path).resolve()), digest,
                       name=directory.resolve().name)


def _parse_custom(text: str) -> LayerSpec | None:
    """``INxOUT:WEIGHT_DENSITY:ACT_DENSITY`` (e.g. 1024x256:0.1:0.5), or None."""
    size, _, rest = text.partition(":")
    dims = size.lower().split("x")
    if len(dims) != 2 or not all(d.strip().isdigit() for d in dims):
        return None
    parts = rest.split(":") if rest else []
    if len(parts) != 2:
        raise EIEError(f"custom layer {text!r}: write INxOUT:WEIGHT_DENSITY:ACT_DENSITY, "
                       f"e.g. 1024x256:0.1:0.5")
    try:
        wd, ad = float(parts[0]), float(parts[1])
    except ValueError:
        raise EIEError(f"custom layer {text!r}: the densities must be numbers, e.g. "
                       f"1024x256:0.1:0.5") from None
    cols, rows = int(dims[0]), int(dims[1])
    if cols < 1 or rows < 1 or not (0 < wd <= 1) or not (0 <= ad <= 1):
        raise EIEError(f"custom layer {text!r}: sizes must be at least 1, the weight density "
                       f"in (0, 1] and the activation density in [0, 1]")
    return LayerSpec(text, cols, rows, wd, ad)


def parse_layers(text: str) -> list[LayerSpec]:
    """Comma-separated Table III names (case-insensitive), `all`, or custom layers."""
    lookup = {name.lower(): spec for name, spec in TABLE_III.items()}
    out = []
    for item in (s.strip() for s in (text or "").split(",")):
        if not item:
            continue
        if item.lower() == "all":
            out.extend(TABLE_III.values())
            continue
        if item.lower() in lookup:
            out.append(lookup[item.lower()])
            continue
        custom = _parse_custom(item)
        if custom is None:
            raise EIEError(f"unknown layer {item!r}: use one of the paper's Table III layers "
                           f"({', '.join(TABLE_III)}), `all`, or a custom layer "
                           f"INxOUT:WEIGHT_DENSITY:ACT_DENSITY (e.g. 1024x256:0.1:0.5)")
        out.append(custom)
    if not out:
        raise EIEError("no layers given: use --layers NAME[,NAME...] (Table III names: "
                       f"{', '.join(TABLE_III)}) or --model DIR")
    names = [spec.name for spec in out]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise EIEError(f"layer(s) {', '.join(duplicates)} given more than once: give each "
                       f"layer once")
    return out


# ----------------------------------------------------------------------------- synthetic

# Per-process caches (a worker evaluates many points of the same layer).
_CODES: dict = {}


def remember(cache: dict, key, value, keep: int = 2):
    """Store `value` in a small per-process cache holding the `keep` newest entries."""
    cache[key] = value
    while len(cache) > keep:
        cache.pop(next(iter(cache)))
    return value


def seed_for(*parts) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")


def synthetic_codes(spec: LayerSpec, code_bits: int, seed: int) -> np.ndarray:
    """rows x cols uint8 codes, non-zero (1 .. 2**code_bits - 1) with the layer's density."""
    key = (spec.key().__repr__(), code_bits, seed)
    if key in _CODES:
        return _CODES[key]
    rng = np.random.default_rng(seed_for("codes", spec.cols, spec.rows,
                                         spec.weight_density, seed))
    codes = np.zeros((spec.rows, spec.cols), dtype=np.uint8)
    chunk = max(1, (1 << 22) // spec.cols)
    top = (1 << code_bits) - 1
    for lo in range(0, spec.rows, chunk):
        hi = min(spec.rows, lo + chunk)
        keep = rng.random((hi - lo, spec.cols), dtype=np.float32) < spec.weight_density
        codes[lo:hi][keep] = rng.integers(1, top + 1, int(keep.sum()), dtype=np.uint8)
    return remember(_CODES, key, codes, keep=1)


def synthetic_masks(spec: LayerSpec, samples: int, seed: int) -> list[np.ndarray]:
    """Input non-zero patterns (uniform at the layer's activation density), per sample."""
    rng = np.random.default_rng(seed_for("inputs", spec.cols, spec.act_density, seed))
    return [rng.random(spec.cols) < spec.act_density for _ in range(samples)]


def synthetic_inputs(spec: LayerSpec, config: EIEConfig, samples: int, seed: int):
    """Per sample the non-zero pattern (`synthetic_masks`) and the integer input: random
    values 1 .. 2**(act_frac + 2) - 1 where the pattern is set."""
    masks = synthetic_masks(spec, samples, seed)
    rng = np.random.default_rng(seed_for("values", seed))
    hi = 1 << min(config.act_bits - 1, config.act_frac + 2)
    return masks, np.array([np.where(m, rng.integers(1, hi, len(m)), 0) for m in masks])


def synthetic_layer(spec: LayerSpec, config: EIEConfig, seed: int):
    from compress.fixedpoint import choose_weight_frac
    from compress.model import CompressedLayer
    codes = synthetic_codes(spec, config.code_bits, seed)
    codebook = np.linspace(-1, 1, config.codebook_size).astype(np.float32)
    codebook[0] = 0
    return CompressedLayer(name=spec.name, codes=codes, codebook=codebook,
                           weight_frac=choose_weight_frac(codebook, config), relu=True,
                           dense_weights=spec.rows * spec.cols)
