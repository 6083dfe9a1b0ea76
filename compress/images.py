"""Per-PE memory images: the contents of every on-chip memory for a packed network.

Several layers share each PE's memories. Layer `l` owns, in every PE:
- Spmat words `spmat_base[pe] ..`, starting on a word boundary; its pointers are
  absolute entry addresses (`word * entries_per_word + slot`) into that PE's Spmat.
- pointer addresses `ptr_base .. ptr_base + cols` (the same in every PE). Pointers are
  stored in words of `W = bcast_width` (address `a` is slot `a % W` of word `a // W`),
  even words in the even bank and odd ones in the odd bank, at `word // 2`; so the W+1
  pointers of a broadcast (columns `kW .. kW+W-1`: word `k`, plus slot 0 of word `k+1`)
  always come from the two banks in one read each. `ptr_base` is a multiple of 2W, and
  a layer's region is padded with its last pointer up to whole word pairs covering
  word `ceil(cols / W)` (empty ranges past the last column).
- bias entries `bias_base .. bias_base + local_rows` (the same base in every PE).
- codebook row `l` (the codebook is the same for every PE).
- descriptor `l` of the layer table.

This module packs and encodes: `MemoryImages`, `pack_layers`, the hex codecs, and
`image_files` (every `$readmemh` file's contents, in memory). It reads and writes no
folder: compress/manifest.py, above it, writes and reads `images/` with manifest.json and
runs the integrity checks of a folder. The on-disk form is documented in docs/formats.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from eie_hw.memory_map import (BIAS_FILE, CODEBOOK_FILE, LAYERS_FILE, PTR_EVEN_FILE,
                               PTR_ODD_FILE, SPMAT_FILE, descriptor_bits, pe_image_dir)

from .balance import check_row_order
from .encode import PEColumns, encode_layer, local_rows
from .fixedpoint import quantize_bias, quantize_codebook
from .manifest_schema import LayerDescriptor
from .model import CompressedLayer


@dataclass
class MemoryImages:
    config: EIEConfig
    layers: list[LayerDescriptor]
    spmat: list[np.ndarray]    # per PE: entry words, whole words (zero padded)
    ptr: list[np.ndarray]      # per PE: pointer memory by address (both banks interleaved)
    bias: list[np.ndarray]     # per PE: bias memory, accumulator format
    codebook: np.ndarray       # (layers, codebook_size) fixed point

    def spmat_words(self, pe: int) -> int:
        return len(self.spmat[pe]) // self.config.entries_per_word

    def ptr_bank(self, pe: int, odd: bool) -> list[int]:
        """Bank words, `bcast_width` pointers each (slot 0 in the least significant bits)."""
        return ptr_bank_words(self.ptr[pe], self.config, odd)

    def layer_pointers(self, pe: int, layer: int) -> np.ndarray:
        d = self.layers[layer]
        return self.ptr[pe][d.ptr_base:d.ptr_base + d.cols + 1]

    def layer_bias(self, pe: int, layer: int) -> np.ndarray:
        d = self.layers[layer]
        n = local_rows(d.rows, self.config.n_pes, pe)
        return self.bias[pe][d.bias_base:d.bias_base + n]

    def equals(self, other: "MemoryImages") -> bool:
        return (self.config == other.config
                and [d.word(self.config) for d in self.layers]
                == [d.word(other.config) for d in other.layers]
                and all(np.array_equal(a, b) for a, b in zip(self.spmat, other.spmat))
                and all(np.array_equal(a, b) for a, b in zip(self.ptr, other.ptr))
                and all(np.array_equal(a, b) for a, b in zip(self.bias, other.bias))
                and np.array_equal(self.codebook, other.codebook)
                and [d.row_order for d in self.layers] == [d.row_order for d in other.layers])


# ----------------------------------------------------------------------------- packing

def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def check_layer_shapes(layers: list[CompressedLayer]) -> None:
    for prev, nxt in zip(layers, layers[1:]):
        if prev.rows != nxt.cols:
            raise EIEError(
                f"layer shapes do not chain: {prev.name} has {prev.rows} outputs but "
                f"{nxt.name} takes {nxt.cols} inputs (weights are out x in)")


class _Capacity:
    """Running use of one PE memory kind, for errors that say what would fit."""

    def __init__(self, config: EIEConfig):
        self.config = config

    def check(self, what: str, flag: str, needed: int, capacity: int, layer: str,
              hint: str) -> None:
        if needed > capacity:
            raise EIEError(
                f"layer {layer} does not fit: it needs {needed:,} {what} per PE (with the "
                f"layers before it) but the configuration has {capacity:,}. Use {flag} "
                f"{needed} or more{hint}")


def pack_layers(layers: list[CompressedLayer], config: EIEConfig,
                encoded: list[list[PEColumns]] | None = None) -> MemoryImages:
    """Encode and place every layer in every PE's memories; errors say what would fit."""
    if not layers:
        raise EIEError("the model has no layers")
    check_layer_shapes(layers)
    cap = _Capacity(config)
    n = config.n_pes
    epw = config.entries_per_word
    more_pes = f", or spread the work with more PEs (--pes {2 * n})"
    cap.check("layers", "--max-layers", len(layers), config.max_layers, layers[-1].name, "")

    if encoded is None:
        encoded = [encode_layer(layer.codes, config) for layer in layers]

    spmat_chunks = [[] for _ in range(n)]
    spmat_used = [0] * n
    ptr = [np.zeros(0, dtype=np.int64) for _ in range(n)]
    descriptors, codebooks = [], []
    ptr_base = bias_base = 0
    for index, (layer, pe_columns) in enumerate(zip(layers, encoded)):
        for dim, what in ((layer.cols, "input"), (layer.rows, "output")):
            cap.check(f"{what} activations", "--act-entries", _ceil_div(dim, n),
                      config.act_entries, layer.name, more_pes)
        ptr_len = layer.cols + 1
        ptr_region = ptr_region_length(layer.cols, config)
        cap.check("pointer entries", "--ptr-entries", ptr_base + ptr_region,
                  config.ptr_entries, layer.name, "")
        rows_per_pe = _ceil_div(layer.rows, n)
        cap.check("bias entries", "--bias-entries", bias_base + rows_per_pe,
                  config.bias_entries, layer.name, more_pes)

        codebook = quantize_codebook(layer.codebook, layer.weight_frac, config, layer.name)
        codebooks.append(codebook)
        desc = LayerDescriptor(
            name=layer.name, rows=layer.rows, cols=layer.cols, weight_frac=layer.weight_frac,
            relu=bool(layer.relu), ptr_base=ptr_base, bias_base=bias_base,
            last=index == len(layers) - 1,
            codebook_float=[float(c) for c in layer.codebook],
            bias_float=None if layer.bias is None else [float(b) for b in layer.bias],
            row_order=None if layer.row_order is None
            else [int(i) for i in check_row_order(
                layer.row_order, layer.rows, f"layer {layer.name}",
                "build it with compress.balance.assign_rows")])
        for pe, pc in enumerate(pe_columns):
            words = _ceil_div(len(pc.entries), epw)
            cap.check("Spmat words", "--spmat-words", spmat_used[pe] + words,
                      config.spmat_words, layer.name,
                      f" (PE {pe} is the fullest){more_pes}, or prune to a lower density")
            base_entry = spmat_used[pe] * epw
            pointers = base_entry + np.concatenate(([0], np.cumsum(pc.col_counts)))
            padded = np.zeros(words * epw, dtype=np.uint16)
            padded[:len(pc.entries)] = pc.entries
            spmat_chunks[pe].append(padded)
            ptr[pe] = np.concatenate((ptr[pe], pointers.astype(np.int64),
                                      np.full(ptr_region - ptr_len, pointers[-1],
                                              dtype=np.int64)))
            desc.spmat_base.append(spmat_used[pe])
            desc.entries.append(len(pc.entries))
            desc.fillers.append(pc.fillers)
            spmat_used[pe] += words
        descriptors.append(desc)
        ptr_base += ptr_region
        bias_base += rows_per_pe

    bias = [np.zeros(bias_base, dtype=np.int64) for _ in range(n)]
    for layer, desc in zip(layers, descriptors):
        if layer.bias is None:
            continue
        ints = quantize_bias(layer.bias, layer.weight_frac, config, layer.name)
        for pe in range(n):
            local = ints[pe::n]
            bias[pe][desc.bias_base:desc.bias_base + len(local)] = local

    spmat = [np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint16)
             for chunks in spmat_chunks]
    return MemoryImages(config=config, layers=descriptors, spmat=spmat, ptr=ptr, bias=bias,
                        codebook=np.array(codebooks, dtype=np.int64))


def ptr_region_length(cols: int, config: EIEConfig) -> int:
    """Pointer addresses a layer of `cols` columns occupies (see the module docstring)."""
    w = config.bcast_width
    words = _ceil_div(cols, w) + 1          # every block's word and the next one's slot 0
    return _ceil_div(words, 2) * 2 * w      # whole word pairs: the next layer starts even


def ptr_bank_slots(pointers: np.ndarray, config: EIEConfig, odd: bool) -> np.ndarray:
    """(words, bcast_width) pointers of one bank: even or odd words of the address space."""
    return np.asarray(pointers, dtype=np.int64).reshape(-1, config.bcast_width)[int(odd)::2]


def ptr_bank_words(pointers: np.ndarray, config: EIEConfig, odd: bool) -> list[int]:
    """The bank's words as ints, slot 0 in the least significant `ptr_bits`."""
    bits = config.ptr_bits
    return [sum(int(p) << (slot * bits) for slot, p in enumerate(row))
            for row in ptr_bank_slots(pointers, config, odd)]


# ----------------------------------------------------------------------------- hex files

def _hex_digits(bits: int) -> int:
    return _ceil_div(bits, 4)


def words_to_hex(words: np.ndarray, bits: int) -> bytes:
    """Unsigned words (given as LSB-first bit rows or ints < 2**63) to $readmemh lines."""
    digits = _hex_digits(bits)
    words = np.asarray(words, dtype=np.uint64)
    nibbles = (words[:, None] >> (4 * np.arange(digits - 1, -1, -1, dtype=np.uint64))) & 0xF
    return _nibbles_to_text(nibbles)


def _nibbles_to_text(nibbles: np.ndarray) -> bytes:
    chars = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles.astype(np.intp)]
    lines = np.concatenate([chars, np.full((len(chars), 1), ord("\n"), np.uint8)], axis=1)
    return lines.tobytes()


def _text_to_nibbles(text: bytes, digits: int, source: str) -> np.ndarray:
    if not text:
        return np.zeros((0, digits), dtype=np.uint8)
    raw = np.frombuffer(text, dtype=np.uint8)
    if len(raw) % (digits + 1) or raw[digits::digits + 1].tolist().count(ord("\n")) \
            != len(raw) // (digits + 1):
        raise EIEError(f"{source}: expected lines of exactly {digits} hex digits; the file is "
                       f"truncated or corrupt: re-run `eie compress`")
    table = np.full(256, 255, dtype=np.uint8)
    for i, c in enumerate(b"0123456789abcdef"):
        table[c] = i
        table[ord(chr(c).upper())] = i
    nibbles = table[raw.reshape(-1, digits + 1)[:, :digits]]
    if np.any(nibbles == 255):
        raise EIEError(f"{source}: non-hex characters: the file is corrupt: re-run "
                       f"`eie compress`")
    return nibbles


def signed_to_hex(values: np.ndarray, bits: int) -> bytes:
    values = np.asarray(values, dtype=np.int64)
    return words_to_hex((values & ((1 << bits) - 1)).astype(np.uint64), bits)


def hex_to_words(text: bytes, bits: int, source: str) -> np.ndarray:
    nibbles = _text_to_nibbles(text, _hex_digits(bits), source).astype(np.uint64)
    weights = np.uint64(1) << (np.uint64(4) * np.arange(nibbles.shape[1] - 1, -1, -1,
                                                          dtype=np.uint64))
    return (nibbles * weights).sum(axis=1, dtype=np.uint64)


def hex_to_signed(text: bytes, bits: int, source: str) -> np.ndarray:
    words = hex_to_words(text, bits, source).astype(np.int64)
    return np.where(words >= (1 << (bits - 1)), words - (1 << bits), words)


def fields_to_hex(fields: np.ndarray, field_bits: int, word_bits: int) -> bytes:
    """Rows of unsigned `field_bits` fields to `word_bits` words, field 0 of a row in the
    least significant bits (Spmat entries, and pointers W to a word)."""
    if len(fields) == 0:
        return b""
    dtype = np.uint32 if field_bits <= 32 else np.uint64   # uint32 is the fast common case
    fields = np.asarray(fields, dtype=dtype)
    bits = (fields[:, :, None] >> np.arange(field_bits, dtype=dtype)) & dtype(1)
    word_bits_lsb = bits.reshape(len(fields), -1).astype(np.uint32)
    digits = _hex_digits(word_bits)
    pad = digits * 4 - word_bits_lsb.shape[1]
    word_bits_lsb = np.concatenate(
        [word_bits_lsb, np.zeros((len(word_bits_lsb), pad), np.uint32)], axis=1)
    nibbles = (word_bits_lsb.reshape(len(word_bits_lsb), digits, 4)
               * np.array([1, 2, 4, 8], dtype=np.uint32)).sum(axis=2)
    return _nibbles_to_text(nibbles[:, ::-1])


def hex_to_fields(text: bytes, field_bits: int, per_word: int, word_bits: int, source: str,
                  flags: str) -> np.ndarray:
    """Inverse of fields_to_hex: the fields of every word, in order (int64)."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    nibbles = _text_to_nibbles(text, _hex_digits(word_bits), source)[:, ::-1].astype(np.uint32)
    bits = ((nibbles[:, :, None] >> np.arange(4, dtype=np.uint32)) & 1).reshape(len(nibbles), -1)
    if np.any(bits[:, per_word * field_bits:]):
        raise EIEError(f"{source}: bits set above the last field of a word: the file is "
                       f"corrupt or was written for another {flags}")
    used = bits[:, :per_word * field_bits].astype(np.int64)
    per_field = used.reshape(len(bits), per_word, field_bits)
    weights = np.int64(1) << np.arange(field_bits, dtype=np.int64)
    return (per_field * weights).sum(axis=2).reshape(-1)


def spmat_to_hex(entries: np.ndarray, config: EIEConfig) -> bytes:
    """Entries to Spmat words, entry 0 of a word in its least significant bits."""
    return fields_to_hex(np.asarray(entries).reshape(-1, config.entries_per_word),
                         config.entry_bits, config.sram_width)


def hex_to_spmat(text: bytes, config: EIEConfig, source: str) -> np.ndarray:
    return hex_to_fields(text, config.entry_bits, config.entries_per_word, config.sram_width,
                         source, "--sram-width").astype(np.uint16)


def hex_to_ptr(even: bytes, odd: bytes, config: EIEConfig, source: str) -> np.ndarray:
    """Both pointer bank files -> pointers by address (inverse of ptr_bank_slots)."""
    w = config.bcast_width
    banks = [hex_to_fields(text, config.ptr_bits, w, config.ptr_word_bits,
                           f"{source}/ptr_{name}.hex", "--spmat-words or --bcast-width"
                           ).reshape(-1, w) for text, name in ((even, "even"), (odd, "odd"))]
    if len(banks[0]) != len(banks[1]):
        raise EIEError(f"{source}: pointer banks differ in length: re-run `eie compress`")
    return np.stack(banks, axis=1).reshape(-1)


def descriptor_table_hex(layers: list[LayerDescriptor], config: EIEConfig) -> bytes:
    """`layers.hex`: Python-int words, as the descriptor can be wider than 64 bits."""
    digits = _hex_digits(descriptor_bits(config))
    return "".join(f"{d.word(config):0{digits}x}\n" for d in layers).encode()


# ----------------------------------------------------------------------------- files

def image_files(images: MemoryImages) -> dict[str, bytes]:
    """Relative path -> contents of every $readmemh file."""
    cfg = images.config
    files = {
        CODEBOOK_FILE: signed_to_hex(images.codebook.reshape(-1), cfg.weight_bits),
        LAYERS_FILE: descriptor_table_hex(images.layers, cfg),
    }
    for pe in range(cfg.n_pes):
        d = pe_image_dir(pe)
        files[f"{d}/{SPMAT_FILE}"] = spmat_to_hex(images.spmat[pe], cfg)
        for name, odd in ((PTR_EVEN_FILE, False), (PTR_ODD_FILE, True)):
            files[f"{d}/{name}"] = fields_to_hex(
                ptr_bank_slots(images.ptr[pe], cfg, odd), cfg.ptr_bits, cfg.ptr_word_bits)
        files[f"{d}/{BIAS_FILE}"] = signed_to_hex(images.bias[pe], cfg.acc_bits)
    return files
