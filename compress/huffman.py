"""Canonical Huffman coding of non-negative integer streams (Deep Compression's last step).

The code lengths come from `bitarray.util.canonical_huffman`; the canonical order is
ours: symbols sorted by (code length, symbol), so that the serialized table needs only
the count of codes of each length and the symbol list, and the code values follow
(DEFLATE convention, the one `bitarray.util.canonical_decode` reads). Encoding is
vectorized with numpy; decoding uses bitarray's C decoder.

A stream with a single distinct symbol has an empty payload: the table already says
which symbol it is, and `n_symbols` how often.

Serialized form (all integers unsigned LEB128 varints):
    n_symbols, max_len, count[1..max_len], symbol[0..sum(count)-1] (canonical order),
    payload_bits, payload bytes (ceil(payload_bits / 8), first code bit in the MSB of
    the first byte, zero padded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from bitarray import bitarray
from bitarray.util import canonical_decode, canonical_huffman

from eie_hw.errors import EIEError

# canonical_decode accepts at most 32 entries in `count`, i.e. codes of up to 31 bits.
MAX_CODE_BITS = 31
# Symbols below this are counted with bincount (one table slot per value) instead of a sort.
_DENSE_ALPHABET = 1 << 20
_MAX_VARINT_BYTES = 10


# ----------------------------------------------------------------------------- varints

def encode_varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant group first."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_varints(values) -> bytes:
    return b"".join(encode_varint(int(v)) for v in values)


def read_varint(data: bytes, offset: int,
                what: str = "Huffman stream") -> tuple[int, int]:
    """(value, new offset); a varint running off the end or too long is corrupt data."""
    value = shift = 0
    for i in range(_MAX_VARINT_BYTES):
        if offset + i >= len(data):
            raise EIEError(f"{what} is truncated")
        byte = data[offset + i]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset + i + 1
    raise EIEError(f"{what} is corrupt (a number is longer than {_MAX_VARINT_BYTES} bytes)")


# ----------------------------------------------------------------------------- the stream

@dataclass
class HuffmanStream:
    n_symbols: int
    count: list[int]     # count[L]: codes of length L; count[0] == 0
    symbol: list[int]    # symbols sorted by (code length, value)
    bits: bitarray       # payload, big endian

    def _table_bytes(self) -> bytes:
        max_len = len(self.count) - 1
        return (encode_varints([self.n_symbols, max_len]) + encode_varints(self.count[1:])
                + encode_varints(self.symbol) + encode_varint(len(self.bits)))

    def code_table_bits(self) -> int:
        """Everything serialized besides the payload bytes (counts, symbols, lengths)."""
        return 8 * len(self._table_bytes())

    def payload_bits(self) -> int:
        return len(self.bits)

    def to_bytes(self) -> bytes:
        return self._table_bytes() + self.bits.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, offset: int = 0) -> tuple["HuffmanStream", int]:
        data = bytes(data)
        n_symbols, offset = read_varint(data, offset)
        max_len, offset = read_varint(data, offset)
        if max_len > MAX_CODE_BITS:
            raise EIEError(f"Huffman stream is corrupt (code length {max_len} > "
                           f"{MAX_CODE_BITS})")
        count, offset = _read_many(data, offset, max_len)
        count = [0] + count
        symbol, offset = _read_many(data, offset, _checked_distinct(count, n_symbols))
        payload_bits, offset = read_varint(data, offset)
        end = offset + -(-payload_bits // 8)
        if end > len(data):
            raise EIEError(f"Huffman stream is truncated: its payload needs {end - offset} "
                           f"bytes, {len(data) - offset} are left")
        bits = bitarray(endian="big")
        bits.frombytes(data[offset:end])
        if bits[payload_bits:].any():
            raise EIEError("Huffman stream is corrupt (non-zero padding bits)")
        del bits[payload_bits:]
        stream = cls(n_symbols=n_symbols, count=count, symbol=symbol, bits=bits)
        _check_table(stream)
        return stream, end


def _read_many(data: bytes, offset: int, n: int) -> tuple[list[int], int]:
    values = []
    for _ in range(n):
        value, offset = read_varint(data, offset)
        values.append(value)
    return values, offset


def _checked_distinct(count: list[int], n_symbols: int) -> int:
    # Every table symbol occurs in the stream, so a larger table is corrupt (and reading
    # it could otherwise run for a long time on garbage).
    distinct = sum(count)
    too_many = any(c > (1 << length) for length, c in enumerate(count))
    if distinct > n_symbols or too_many:
        raise EIEError("Huffman stream is corrupt (impossible code table)")
    return distinct


def _check_table(stream: HuffmanStream) -> None:
    count, distinct = stream.count, len(stream.symbol)
    if len(set(stream.symbol)) != distinct:
        raise EIEError("Huffman stream is corrupt (a symbol appears twice in the table)")
    if distinct == 0:
        ok = stream.n_symbols == 0 and len(count) == 1 and not stream.bits
    elif distinct == 1:
        ok = count == [0, 1] and not stream.bits
    else:
        # Huffman codes are complete: the Kraft sum is exactly 1.
        max_len = len(count) - 1
        kraft = sum(c << (max_len - length) for length, c in enumerate(count))
        ok = kraft == 1 << max_len and count[-1] > 0 and stream.n_symbols <= len(stream.bits)
    if not ok:
        raise EIEError("Huffman stream is corrupt (inconsistent code table)")


# ----------------------------------------------------------------------------- encoding

def _as_symbols(symbols) -> np.ndarray:
    array = np.asarray(symbols)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise EIEError(f"Huffman coding takes integer symbols, got dtype {array.dtype}")
    if array.ndim != 1:
        raise EIEError(f"Huffman coding takes a 1-D symbol stream, got shape {array.shape}")
    if array.min() < 0 or (array.dtype == np.uint64 and array.max() >= 1 << 63):
        raise EIEError("Huffman coding takes symbols in 0..2**63-1")
    return array.astype(np.int64, copy=False)


def _alphabet(symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct symbols ascending, their frequencies, index of each stream symbol)."""
    if symbols.max() < _DENSE_ALPHABET:
        freq = np.bincount(symbols)
        present = np.flatnonzero(freq)
        slot = np.zeros(len(freq), dtype=np.int64)
        slot[present] = np.arange(len(present))
        return present.astype(np.int64), freq[present], slot[symbols]
    distinct, index, freq = np.unique(symbols, return_inverse=True, return_counts=True)
    return distinct, freq, index.reshape(-1)


def _frequencies(symbols: np.ndarray) -> np.ndarray:
    if symbols.max() < _DENSE_ALPHABET:
        freq = np.bincount(symbols)
        return freq[freq > 0]
    return np.unique(symbols, return_counts=True)[1]


def _code_lengths(freq: np.ndarray) -> np.ndarray:
    """Huffman code length of each symbol, at most MAX_CODE_BITS."""
    freq = freq.astype(np.int64)
    while True:
        codes = canonical_huffman({i: int(f) for i, f in enumerate(freq)})[0]
        lengths = np.array([len(codes[i]) for i in range(len(freq))], dtype=np.int64)
        if lengths.max() <= MAX_CODE_BITS:
            return lengths
        # Flattening the distribution shortens the longest codes; costs a little
        # optimality on pathological (Fibonacci-like) frequencies only.
        freq = (freq + 1) // 2


def _canonical(distinct: np.ndarray, lengths: np.ndarray):
    """(order, count, code values in canonical order) for symbols sorted by (len, value)."""
    order = np.lexsort((distinct, lengths))
    sorted_lengths = lengths[order]
    count = np.bincount(sorted_lengths, minlength=int(sorted_lengths.max()) + 1)
    first, code = np.zeros(len(count), dtype=np.int64), 0
    for length in range(1, len(count)):
        first[length] = code
        code = (code + int(count[length])) << 1
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    rank = np.arange(len(order)) - start[sorted_lengths]
    return order, [int(c) for c in count], first[sorted_lengths] + rank


def _pack_codes(codes: np.ndarray, lengths: np.ndarray) -> bitarray:
    """Concatenate codes[i] (lengths[i] bits, MSB first) into one bitarray."""
    ends = np.cumsum(lengths)
    total = int(ends[-1])
    out = np.zeros(total, dtype=np.uint8)
    codes = codes.astype(np.uint32)   # codes have at most MAX_CODE_BITS bits
    # Bit b (from the LSB) of a code sits at ends - 1 - b; the bits above a code's length
    # are zero, so setting only the one bits needs no per-length mask.
    for bit in range(int(lengths.max())):
        ones = np.flatnonzero((codes >> np.uint32(bit)) & np.uint32(1))
        out[ends[ones] - (1 + bit)] = 1
    bits = bitarray(endian="big")
    bits.frombytes(np.packbits(out).tobytes())
    del bits[total:]
    return bits


def huffman_encode(symbols) -> HuffmanStream:
    """Canonical Huffman code of a stream of non-negative integers."""
    symbols = _as_symbols(symbols)
    if len(symbols) == 0:
        return HuffmanStream(0, [0], [], bitarray(endian="big"))
    distinct, freq, index = _alphabet(symbols)
    if len(distinct) == 1:
        return HuffmanStream(len(symbols), [0, 1], [int(distinct[0])], bitarray(endian="big"))
    lengths = _code_lengths(freq)
    order, count, canonical_codes = _canonical(distinct, lengths)
    code_of = np.empty(len(distinct), dtype=np.int64)
    code_of[order] = canonical_codes
    bits = _pack_codes(code_of[index], lengths[index])
    return HuffmanStream(len(symbols), count, [int(s) for s in distinct[order]], bits)


def huffman_decode(stream: HuffmanStream) -> np.ndarray:
    """The int64 symbol stream; a payload that does not decode to n_symbols is corrupt."""
    if len(stream.symbol) <= 1:
        fill = stream.symbol[0] if stream.symbol else 0
        return np.full(stream.n_symbols, fill, dtype=np.int64)
    try:
        decoded = canonical_decode(stream.bits, stream.count, stream.symbol)
        out = np.fromiter(decoded, dtype=np.int64, count=stream.n_symbols)
        extra = next(decoded, None)
    except ValueError as exc:
        raise EIEError(f"Huffman payload is corrupt or truncated ({exc})") from None
    if extra is not None:
        raise EIEError("Huffman payload is corrupt (more symbols than the stream holds)")
    return out


def huffman_bits(symbols) -> int:
    """Payload bits of the Huffman-coded stream (no table), without building the payload."""
    symbols = _as_symbols(symbols)
    if len(symbols) == 0:
        return 0
    freq = _frequencies(symbols)
    if len(freq) == 1:
        return 0
    return int(np.dot(freq, _code_lengths(freq)))
