"""The hardware configuration that every part of the project reads.

One `EIEConfig` describes a generated accelerator: the compressor packs memory images
for it, the golden model decodes them with it, the RTL is elaborated from it. It is
serialized next to every packed model and generated design, so that the two can be
checked against each other (`check_packing_compatible`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import EIEError

CONFIG_FORMAT = "eie-config"
CONFIG_VERSION = 1


def _param(default, help, flag=None, packing=True):
    # `packing` marks the fields that change the memory images; the others (FIFO depth)
    # may differ between the packed model and the design that runs it.
    return field(default=default, metadata={"help": help, "flag": flag, "packing": packing})


@dataclass(frozen=True)
class EIEConfig:
    n_pes: int = _param(64, "number of processing elements", flag="--pes")
    fifo_depth: int = _param(8, "activation FIFO depth per PE", packing=False)
    bcast_width: int = _param(1, "columns per broadcast: the CCU sends W adjacent columns "
                                 "at once, each PE reads their W+1 pointers in one cycle "
                                 "(1 = the paper's design)")
    sram_width: int = _param(64, "Spmat SRAM word width in bits")
    act_bits: int = _param(16, "activation width (signed)")
    act_frac: int = _param(8, "activation fraction bits")
    weight_bits: int = _param(16, "codebook entry width (signed)")
    acc_bits: int = _param(32, "accumulator width (signed, wraps)")
    code_bits: int = _param(4, "codebook index bits per entry (codebook has 2**code_bits entries)")
    index_bits: int = _param(4, "relative row index bits per entry")
    spmat_words: int = _param(16384, "Spmat SRAM words per PE")
    ptr_entries: int = _param(16384, "pointer entries per PE, both banks together "
                                     "(a multiple of 2 x bcast_width)")
    act_entries: int = _param(64, "activations per PE in each of the source/destination stores")
    bias_entries: int = _param(256, "bias entries per PE, all layers together")
    max_layers: int = _param(16, "layers the on-chip descriptor table holds")

    def __post_init__(self):
        problems = self._problems()
        if problems:
            raise EIEError("invalid hardware configuration: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        problems = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(f"{f.name} must be an integer, got {value!r}")
        if problems:
            return problems
        positive = ["n_pes", "fifo_depth", "bcast_width", "sram_width", "act_bits",
                    "weight_bits", "acc_bits", "code_bits", "index_bits", "spmat_words",
                    "act_entries", "bias_entries", "max_layers"]
        for name in positive:
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if problems:
            return problems
        if self.act_bits < 2 or self.weight_bits < 2:
            problems.append("act_bits and weight_bits must be at least 2 (signed values)")
        if not 0 <= self.act_frac < self.act_bits:
            problems.append(f"act_frac must be in 0..act_bits-1 = 0..{self.act_bits - 1}, "
                            f"got {self.act_frac}")
        if self.acc_bits < self.act_bits + self.weight_bits:
            problems.append(
                f"acc_bits={self.acc_bits} cannot hold a product of a {self.act_bits}-bit "
                f"activation and a {self.weight_bits}-bit weight: use acc_bits >= "
                f"{self.act_bits + self.weight_bits}")
        if self.acc_bits > 40:
            # The golden model keeps exact sums in int64; 40 bits leaves room for 2**23
            # products per row.
            problems.append(f"acc_bits={self.acc_bits} is more than 40")
        if self.code_bits > 8:
            problems.append(f"code_bits={self.code_bits} is more than 8 (256-entry codebook)")
        if self.index_bits > 16:
            problems.append(f"index_bits={self.index_bits} is more than 16")
        if self.sram_width % self.entry_bits:
            problems.append(
                f"sram_width={self.sram_width} is not a multiple of the entry width "
                f"code_bits + index_bits = {self.entry_bits}: use e.g. "
                f"{max(1, self.sram_width // self.entry_bits) * self.entry_bits}")
        elif self.entries_per_word & (self.entries_per_word - 1):
            # The hardware splits an entry pointer into word address and slot by bits.
            per_word = self.entries_per_word
            problems.append(
                f"sram_width={self.sram_width} holds {per_word} entries of "
                f"{self.entry_bits} bits; the entries per word must be a power of two: use "
                f"sram_width={(1 << (per_word.bit_length() - 1)) * self.entry_bits}")
        w = self.bcast_width
        if w & (w - 1):
            problems.append(f"bcast_width={w} is not a power of two: use "
                            f"{1 << (w.bit_length() - 1)}")
        elif self.n_pes % w:
            # A broadcast is W adjacent columns of one group (one column per PE).
            fits = min(w, self.n_pes & -self.n_pes)
            problems.append(f"bcast_width={w} does not divide n_pes={self.n_pes}: use "
                            f"bcast_width={fits}, or a PE count that is a multiple of {w}")
        elif self.ptr_entries < 2 * w or self.ptr_entries % (2 * w):
            problems.append(f"ptr_entries must be a positive multiple of 2 x bcast_width = "
                            f"{2 * w} (two banks of {w}-pointer words), got {self.ptr_entries}"
                            f": use {max(1, -(-self.ptr_entries // (2 * w))) * 2 * w}")
        return problems

    # Derived widths and sizes: computed here once so that every part agrees.
    @property
    def entry_bits(self) -> int:
        return self.code_bits + self.index_bits

    @property
    def entries_per_word(self) -> int:
        return self.sram_width // self.entry_bits

    @property
    def slot_bits(self) -> int:
        return (self.entries_per_word - 1).bit_length()

    @property
    def codebook_size(self) -> int:
        return 1 << self.code_bits

    @property
    def max_skip(self) -> int:
        return (1 << self.index_bits) - 1

    @property
    def spmat_entries(self) -> int:
        return self.spmat_words * self.entries_per_word

    @property
    def ptr_bits(self) -> int:
        """Pointers are entry addresses into the PE's Spmat, end pointer included."""
        return max(1, self.spmat_entries.bit_length())

    @property
    def ptr_bank_entries(self) -> int:
        """Words per pointer bank; a word holds `bcast_width` pointers."""
        return self.ptr_entries // (2 * self.bcast_width)

    @property
    def ptr_word_bits(self) -> int:
        return self.bcast_width * self.ptr_bits

    @property
    def bcast_bits(self) -> int:
        """log2 of the columns per broadcast."""
        return (self.bcast_width - 1).bit_length()

    @property
    def block_bits(self) -> int:
        """Width of a broadcast's block index (column // bcast_width)."""
        return max(1, self.col_bits - self.bcast_bits)

    @property
    def col_bits(self) -> int:
        return max(1, (self.n_pes * self.act_entries - 1).bit_length())

    @property
    def shift_bits(self) -> int:
        return max(1, (self.acc_bits - 1).bit_length())

    @property
    def max_weight_frac(self) -> int:
        return self.acc_bits - 1

    # Serialization.
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps({"format": CONFIG_FORMAT, "version": CONFIG_VERSION,
                           "config": self.to_dict()}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, values: dict) -> "EIEConfig":
        if not isinstance(values, dict):
            raise EIEError(f"a configuration is a JSON object of fields, got "
                           f"{type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise EIEError(f"unknown configuration field(s) {', '.join(unknown)}; "
                           f"known fields: {', '.join(sorted(known))}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str, source: str = "configuration") -> "EIEConfig":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EIEError(f"{source} is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise EIEError(f"{source} must hold a JSON object")
        if "config" in doc:  # the wrapped form written by to_json
            if doc.get("format") != CONFIG_FORMAT or doc.get("version") != CONFIG_VERSION:
                raise EIEError(f"{source} is format {doc.get('format')!r} version "
                               f"{doc.get('version')!r}; expected {CONFIG_FORMAT!r} "
                               f"version {CONFIG_VERSION}")
            doc = doc["config"]
        return cls.from_dict(doc)

    @classmethod
    def load(cls, path) -> "EIEConfig":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise EIEError(f"cannot read configuration {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise EIEError(f"configuration {path} is not UTF-8 text: give the config JSON "
                           f"written by `eie generate` (config.json) or by hand") from None
        return cls.from_json(text, source=str(path))

    def replace(self, **changes) -> "EIEConfig":
        return dataclasses.replace(self, **changes)

    # Compatibility between a packed model and a design.
    @classmethod
    def packing_fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.metadata["packing"]]

    def packing_differences(self, other: "EIEConfig") -> list[str]:
        return [f"{name}: packed for {getattr(self, name)}, requested {getattr(other, name)}"
                for name in self.packing_fields() if getattr(self, name) != getattr(other, name)]

    def check_packing_compatible(self, other: "EIEConfig", what: str = "the model") -> None:
        """Raise if `other` (a design) cannot run images packed for `self`."""
        diffs = self.packing_differences(other)
        if diffs:
            raise EIEError(f"{what} was packed for a different hardware configuration ("
                           + "; ".join(diffs) + "): re-run `eie compress` with the new "
                           "configuration, or drop the conflicting flags")


def config_flag(name: str) -> str:
    f = {f.name: f for f in dataclasses.fields(EIEConfig)}[name]
    return f.metadata["flag"] or "--" + name.replace("_", "-")


def add_config_arguments(parser, only_packing: bool | None = None) -> None:
    """Add one flag per config field (default None = keep the base config's value).

    `only_packing=True` adds the fields that change the packing, `False` the others,
    `None` all of them.
    """
    group = parser.add_argument_group("hardware configuration")
    group.add_argument("--config", metavar="FILE", help="start from this config JSON")
    for f in dataclasses.fields(EIEConfig):
        if only_packing is not None and f.metadata["packing"] != only_packing:
            continue
        group.add_argument(config_flag(f.name), dest=f"cfg_{f.name}", type=int, default=None,
                           metavar="N", help=f"{f.metadata['help']} (default {f.default})")


def config_overrides(args) -> dict:
    return {f.name: getattr(args, f"cfg_{f.name}") for f in dataclasses.fields(EIEConfig)
            if getattr(args, f"cfg_{f.name}", None) is not None}


def config_from_args(args, base: EIEConfig | None = None) -> EIEConfig:
    if getattr(args, "config", None):
        base = EIEConfig.load(args.config)
    base = base or EIEConfig()
    return base.replace(**config_overrides(args))
