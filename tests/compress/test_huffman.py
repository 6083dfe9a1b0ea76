"""Canonical Huffman coding: exact round trips, real savings, robust deserialization."""

import numpy as np
import pytest
from bitarray import bitarray
from hypothesis import given, settings, strategies as st

from compress.huffman import (MAX_CODE_BITS, HuffmanStream, _canonical, _code_lengths,
                              huffman_bits, huffman_decode, huffman_encode)
from eie_hw.errors import EIEError

streams = st.one_of(
    st.lists(st.integers(0, 3), max_size=200),
    st.lists(st.integers(0, 15), max_size=400),
    st.lists(st.integers(0, 10**6), max_size=200),                       # many distinct
    st.lists(st.sampled_from([0, 7, 10**6, 2**40, 2**63 - 1]), max_size=100),
    st.integers(0, 50).map(lambda n: [42] * n),                           # single symbol
)


def round_trip(symbols):
    stream = huffman_encode(np.asarray(symbols, dtype=np.int64))
    out = huffman_decode(stream)
    assert out.dtype == np.int64
    assert np.array_equal(out, np.asarray(symbols, dtype=np.int64).reshape(-1))
    return stream


@settings(max_examples=150, deadline=None)
@given(streams)
def test_round_trip(symbols):
    stream = round_trip(symbols)
    assert stream.payload_bits() == huffman_bits(np.asarray(symbols, dtype=np.int64))


@settings(max_examples=60, deadline=None)
@given(streams, st.binary(max_size=5), st.binary(max_size=5))
def test_bytes_round_trip_inside_a_larger_buffer(symbols, before, after):
    stream = huffman_encode(np.asarray(symbols, dtype=np.int64))
    data = stream.to_bytes()
    back, end = HuffmanStream.from_bytes(before + data + after, len(before))
    assert end == len(before) + len(data)
    assert (back.n_symbols, back.count, back.symbol, back.bits) == \
        (stream.n_symbols, stream.count, stream.symbol, stream.bits)
    assert np.array_equal(huffman_decode(back), np.asarray(symbols, dtype=np.int64))
    # The table size is honest: table + payload bytes are the whole serialization.
    assert stream.code_table_bits() // 8 + -(-stream.payload_bits() // 8) == len(data)


def test_empty_stream():
    stream = round_trip([])
    assert stream.n_symbols == 0 and stream.payload_bits() == 0
    assert huffman_bits([]) == 0


def test_single_symbol_stream_needs_no_payload():
    stream = round_trip([5] * 1000)
    assert stream.payload_bits() == 0
    assert stream.symbol == [5]


def test_many_distinct_large_symbols():
    rng = np.random.default_rng(0)
    symbols = rng.permutation(np.arange(10**6, 10**6 + 5000))
    symbols = np.concatenate([symbols, symbols[:100]])
    stream = round_trip(symbols)
    assert len(stream.symbol) == 5000


def test_accepts_unsigned_and_narrow_dtypes():
    symbols = np.array([1, 2, 2, 3, 3, 3], dtype=np.uint8)
    assert np.array_equal(huffman_decode(huffman_encode(symbols)), symbols)


def test_skewed_stream_beats_fixed_width():
    rng = np.random.default_rng(1)
    p = 0.5 ** np.arange(1, 17)
    symbols = rng.choice(16, size=20000, p=p / p.sum())
    stream = round_trip(symbols)
    assert stream.payload_bits() < 0.6 * 4 * len(symbols)
    freq = np.bincount(symbols) / len(symbols)
    entropy = -np.sum(freq[freq > 0] * np.log2(freq[freq > 0]))
    assert stream.payload_bits() <= len(symbols) * (entropy + 1)


def test_uniform_stream_costs_fixed_width():
    symbols = np.tile(np.arange(16), 100)
    assert huffman_encode(symbols).payload_bits() == 4 * len(symbols)


def test_large_stream_round_trip():
    rng = np.random.default_rng(2)
    round_trip(rng.geometric(0.3, size=1_000_000))


def test_code_lengths_are_limited_for_pathological_frequencies():
    fib = [1, 1]
    while len(fib) < 45:
        fib.append(fib[-1] + fib[-2])
    lengths = _code_lengths(np.array(fib))
    assert lengths.max() <= MAX_CODE_BITS
    assert sum(2.0 ** -lengths) <= 1.0
    _, count, codes = _canonical(np.arange(len(fib)), lengths)
    assert len(count) - 1 <= MAX_CODE_BITS
    assert len(set(codes.tolist())) == len(fib)


@pytest.mark.parametrize("symbols", [[], [9] * 10, [1, 2, 2, 3, 3, 3, 4, 10**6]])
def test_every_truncation_is_an_error(symbols):
    data = huffman_encode(np.asarray(symbols, dtype=np.int64)).to_bytes()
    for cut in range(len(data)):
        with pytest.raises(EIEError, match="truncated"):
            HuffmanStream.from_bytes(data[:cut])


def test_corrupt_table_is_an_error():
    # n_symbols 4, max_len 1, count[1] = 3 (three 1-bit codes cannot exist)
    with pytest.raises(EIEError, match="corrupt"):
        HuffmanStream.from_bytes(bytes([4, 1, 3, 1, 2, 3, 4, 0]))
    # count = [0, 1, 1]: codes 0 and 10 leave 11 unused, which Huffman never does
    with pytest.raises(EIEError, match="inconsistent"):
        HuffmanStream.from_bytes(bytes([3, 2, 1, 1, 5, 6, 4, 0b01000000]))


def test_corrupt_payload_is_an_error():
    stream = huffman_encode(np.array([0, 1, 1, 2, 2, 2, 2]))
    short = HuffmanStream(stream.n_symbols + 5, stream.count, stream.symbol, stream.bits)
    with pytest.raises(EIEError, match="corrupt or truncated"):
        huffman_decode(short)
    extra = HuffmanStream(stream.n_symbols, stream.count, stream.symbol,
                          stream.bits + bitarray("0"))
    with pytest.raises(EIEError, match="corrupt"):
        huffman_decode(extra)


@pytest.mark.parametrize("bad", [np.array([1.5, 2.0]), np.array([-1, 2]),
                                 np.zeros((2, 2), dtype=np.int64)])
def test_bad_symbols_are_an_error(bad):
    with pytest.raises(EIEError):
        huffman_encode(bad)
