"""Encoding round trips: decode(encode(W)) == W through the packed, written images."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from compress.encode import decode_layer, encode_layer, encode_pe, entry_fields
from compress.images import pack_layers
from compress.manifest import read_images, write_images
from compress.model import CompressedLayer

from helpers import small_config


# Memories far larger than any layer here: capacity never limits what is encoded.
ROOMY = small_config(spmat_words=8192, ptr_entries=8192, act_entries=256, bias_entries=1024)


def layer_of(codes, name="l", bias=None, relu=True, weight_frac=12):
    codebook = np.linspace(-1, 1, 16).astype(np.float32)
    codebook[0] = 0
    return CompressedLayer(name=name, codes=codes, codebook=codebook,
                           weight_frac=weight_frac, relu=relu, bias=bias)


def round_trip(codes, config, tmp_path):
    images = pack_layers([layer_of(codes)], config)
    write_images(images, tmp_path)
    loaded = read_images(tmp_path)
    assert loaded.equals(images)
    return images, loaded


def decode_from_images(images, layer=0):
    from compress.encode import PEColumns
    cfg = images.config
    d = images.layers[layer]
    columns = []
    for pe in range(cfg.n_pes):
        p = images.layer_pointers(pe, layer)
        columns.append(PEColumns(entries=images.spmat[pe][p[0]:p[-1]],
                                 col_counts=np.diff(p), fillers=0))
    return decode_layer(columns, d.rows, d.cols, cfg)


def test_paper_example_column():
    """Spec: [0,0,1,2, 0 x18, 3] stores v=[1,2,0,3], z=[2,0,15,2]."""
    column = np.array([0, 0, 1, 2] + [0] * 18 + [3], dtype=np.uint8)[:, None]
    pc = encode_pe(column, 0, ROOMY.replace(n_pes=1))
    v, z = entry_fields(pc.entries, ROOMY.replace(n_pes=1))
    assert v.tolist() == [1, 2, 0, 3]
    assert z.tolist() == [2, 0, 15, 2]
    assert pc.fillers == 1 and pc.col_counts.tolist() == [4]


@pytest.mark.parametrize("gap,fillers,last_z", [(15, 0, 15), (16, 1, 0), (17, 1, 1),
                                                 (31, 1, 15), (32, 2, 0), (100, 6, 4)])
def test_gap_lengths(gap, fillers, last_z, tmp_path):
    codes = np.zeros((gap + 2, 1), dtype=np.uint8)
    codes[0, 0] = 5
    codes[gap + 1, 0] = 7
    cfg = ROOMY.replace(n_pes=1)
    pc = encode_pe(codes, 0, cfg)
    v, z = entry_fields(pc.entries, cfg)
    assert pc.fillers == fillers
    assert v.tolist() == [5] + [0] * fillers + [7]
    assert z.tolist() == [0] + [15] * fillers + [last_z]
    images, loaded = round_trip(codes, cfg, tmp_path)
    assert np.array_equal(decode_from_images(loaded), codes)


def test_leading_gap_of_16_from_row_zero():
    codes = np.zeros((17, 1), dtype=np.uint8)
    codes[16, 0] = 3
    cfg = ROOMY.replace(n_pes=1)
    v, z = entry_fields(encode_pe(codes, 0, cfg).entries, cfg)
    assert v.tolist() == [0, 3] and z.tolist() == [15, 0]


@st.composite
def layers(draw):
    rows = draw(st.integers(1, 80))
    cols = draw(st.integers(1, 24))
    n_pes = draw(st.integers(1, 12))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    codes = np.where(rng.random((rows, cols)) < density,
                     rng.integers(1, 16, (rows, cols)), 0).astype(np.uint8)
    # Force the named edge cases into some draws.
    edge = draw(st.sampled_from(["none", "empty_col", "empty_row", "gap15", "gap16",
                                 "gap100"]))
    if edge == "empty_col":
        codes[:, draw(st.integers(0, cols - 1))] = 0
    elif edge == "empty_row":
        codes[draw(st.integers(0, rows - 1)), :] = 0
    elif edge.startswith("gap"):
        gap = int(edge[3:])
        tall = np.zeros(((gap + 2) * n_pes, cols), dtype=np.uint8)
        tall[:rows] = codes[: (gap + 2) * n_pes]
        tall[::n_pes][0, 0], tall[::n_pes][gap + 1, 0] = 1, 2
        tall[::n_pes][1:gap + 1, 0] = 0
        codes = tall
    width = draw(st.sampled_from([32, 64, 128]))
    return codes, ROOMY.replace(n_pes=n_pes, sram_width=width)


@settings(max_examples=60, deadline=None)
@given(layers())
def test_encode_decode_round_trip(case):
    codes, cfg = case
    assert np.array_equal(decode_layer(encode_layer(codes, cfg), *codes.shape, cfg), codes)


@settings(max_examples=25, deadline=None)
@given(layers())
def test_round_trip_through_written_images(tmp_path_factory, case):
    codes, cfg = case
    images, loaded = round_trip(codes, cfg, tmp_path_factory.mktemp("img"))
    assert np.array_equal(decode_from_images(loaded), codes)
    # Fillers are the only code-0 entries and every relative index fits its field.
    for pe in range(cfg.n_pes):
        v, z = entry_fields(loaded.spmat[pe], cfg)
        assert z.max(initial=0) <= cfg.max_skip


@pytest.mark.parametrize("shape,n_pes", [((1, 1), 1), ((1, 1), 4), ((3, 5), 8),
                                         ((7, 3), 3), ((10, 2), 16)])
def test_small_shapes_and_more_pes_than_rows(shape, n_pes, tmp_path):
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 16, shape).astype(np.uint8)
    cfg = ROOMY.replace(n_pes=n_pes)
    images, loaded = round_trip(codes, cfg, tmp_path)
    assert np.array_equal(decode_from_images(loaded), codes)


def test_all_zero_layer(tmp_path):
    codes = np.zeros((20, 9), dtype=np.uint8)
    images, loaded = round_trip(codes, ROOMY.replace(n_pes=3), tmp_path)
    assert all(len(s) == 0 for s in loaded.spmat)
    assert np.array_equal(decode_from_images(loaded), codes)


def test_pointers_split_into_even_and_odd_banks():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 16, (8, 5)).astype(np.uint8)    # 6 pointers
    b = rng.integers(0, 16, (4, 8)).astype(np.uint8)    # 9 pointers: padded to 10
    cfg = ROOMY.replace(n_pes=2)
    images = pack_layers([layer_of(a, "a"), layer_of(b, "b")], cfg)
    assert [d.ptr_base for d in images.layers] == [0, 6]
    for pe in range(2):
        ptr = images.ptr[pe]
        assert np.array_equal(images.ptr_bank(pe, False), ptr[0::2])
        assert np.array_equal(images.ptr_bank(pe, True), ptr[1::2])
        # Layer b's pointers are absolute and start where layer a's words end.
        epw = cfg.entries_per_word
        assert images.layer_pointers(pe, 1)[0] == images.layers[1].spmat_base[pe] * epw
        assert images.layers[1].spmat_base[pe] * epw >= images.layer_pointers(pe, 0)[-1]


def test_spmat_word_layout_entry_zero_in_lsbs(tmp_path):
    codes = np.array([[1], [0], [2]], dtype=np.uint8)   # v=1 z=0, v=2 z=1
    cfg = ROOMY.replace(n_pes=1, sram_width=32)
    images, _ = round_trip(codes, cfg, tmp_path)
    line = (tmp_path / "images/pe000/spmat.hex").read_text().splitlines()[0]
    assert line == "00001201"


@pytest.mark.parametrize("bcast_width", [1, 2, 4, 8])
def test_pointer_words_of_bcast_width_round_trip(bcast_width, tmp_path):
    """W pointers to a bank word: every layer's region starts on a word pair, is padded
    with its last pointer, and survives the hex files."""
    from compress.images import ptr_region_length
    rng = np.random.default_rng(bcast_width)
    cfg = ROOMY.replace(n_pes=8, bcast_width=bcast_width)
    layers = [layer_of(rng.integers(0, 16, (rows, cols)).astype(np.uint8), name=f"l{k}")
              for k, (rows, cols) in enumerate([(19, 13), (7, 19), (5, 7)])]
    images = pack_layers(layers, cfg)
    write_images(images, tmp_path)
    loaded = read_images(tmp_path)
    assert loaded.equals(images)
    base = 0
    for k, (layer, desc) in enumerate(zip(layers, images.layers)):
        assert desc.ptr_base == base and base % (2 * bcast_width) == 0
        region = ptr_region_length(layer.cols, cfg)
        # Block k reads words up to ceil(cols / W), inside the region.
        assert region >= bcast_width * (-(-layer.cols // bcast_width) + 1)
        for pe in range(cfg.n_pes):
            p = loaded.ptr[pe][base:base + region]
            assert (p[layer.cols:] == p[layer.cols]).all()      # empty ranges past the end
        base += region
    assert np.array_equal(decode_from_images(loaded, 1), layers[1].codes)
    # Bank words: slot s of word w is pointer w * W + s.
    words = loaded.ptr_bank(0, False)
    assert words[1] & ((1 << cfg.ptr_bits) - 1) == loaded.ptr[0][2 * bcast_width]


def _rewrite(directory, rel, data):
    """Replace an image file and its checksum, as a consistent but wrong writer would."""
    import hashlib
    import json
    from compress.manifest import seal_manifest
    (directory / rel).write_bytes(data)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["files"][rel] = hashlib.sha256(data).hexdigest()
    (directory / "manifest.json").write_text(json.dumps(seal_manifest(manifest)))


def test_pointer_bank_files(tmp_path):
    """W = 1 banks are one pointer a line (as before words of W pointers existed); wider
    words hold W; malformed banks are clear errors."""
    from compress.images import words_to_hex
    from eie_hw.errors import EIEError
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 16, (12, 9)).astype(np.uint8)
    narrow = pack_layers([layer_of(codes)], ROOMY.replace(n_pes=4))
    write_images(narrow, tmp_path / "w1")
    assert (tmp_path / "w1/images/pe001/ptr_odd.hex").read_bytes() == \
        words_to_hex(narrow.ptr[1][1::2].astype(np.uint64), narrow.config.ptr_bits)

    # 2 x 15-bit pointers a word: 30 bits in 8 hex digits, 2 bits to spare.
    wide = pack_layers([layer_of(codes)], ROOMY.replace(n_pes=4, bcast_width=2, spmat_words=4096))
    assert wide.config.ptr_bits == 15
    directory = tmp_path / "w4"
    write_images(wide, directory)
    rel = "images/pe000/ptr_odd.hex"
    lines = (directory / rel).read_bytes().splitlines(keepends=True)
    assert len(lines[0]) - 1 == 8
    _rewrite(directory, rel, b"".join(lines[:-1]))
    with pytest.raises(EIEError, match="pointer banks differ in length"):
        read_images(directory)
    top = "f" + lines[0][1:].decode()          # bits above the second pointer
    _rewrite(directory, rel, top.encode() + b"".join(lines[1:]))
    with pytest.raises(EIEError, match="ptr_odd.hex: bits set above.*--bcast-width"):
        read_images(directory)
