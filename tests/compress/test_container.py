"""model.eie: the written model rebuilds the exact memory images, and damage is reported."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from compress.container import (CONTAINER_FORMAT_VERSION, MAGIC, read_container,
                                read_model_id, write_container)
from compress.encode import encode_layer, entry_fields
from compress.huffman import huffman_bits
from compress.images import pack_layers
from compress.model import CompressedLayer, CompressedModel
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

CONFIG = EIEConfig(n_pes=3, sram_width=32, spmat_words=4096, ptr_entries=4096,
                   act_entries=64, bias_entries=256)


def random_layer(rng, name, rows, cols, density=0.1, bias=True, relu=True):
    kept = rng.random((rows, cols)) < density
    codes = np.where(kept, rng.integers(1, 16, (rows, cols)), 0).astype(np.uint8)
    codebook = rng.uniform(-1, 1, 16).astype(np.float32)
    codebook[0] = 0
    return CompressedLayer(
        name=name, codes=codes, codebook=codebook, weight_frac=int(rng.integers(6, 14)),
        relu=relu, bias=rng.normal(0, 0.1, rows).astype(np.float32) if bias else None,
        dense_weights=rows * cols, stats={"input_nonzeros": int(kept.sum())})


def random_model(seed=0, shapes=((40, 30), (25, 40), (7, 25)), density=0.1):
    rng = np.random.default_rng(seed)
    layers = [random_layer(rng, f"fc{i}", rows, cols, density, bias=i % 2 == 0,
                           relu=i < len(shapes) - 1)
              for i, (rows, cols) in enumerate(shapes)]
    return CompressedModel(layers=layers, source="random.npz")


def assert_same_model(a, b):
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
    for x, y in zip(a.layers, b.layers):
        assert np.array_equal(x.codes, y.codes) and y.codes.dtype == np.uint8
        assert np.array_equal(x.codebook, y.codebook) and y.codebook.dtype == np.float32
        assert (x.bias is None) == (y.bias is None)
        if x.bias is not None:
            assert np.array_equal(x.bias, y.bias) and y.bias.dtype == np.float32
        assert (x.relu, x.weight_frac) == (y.relu, y.weight_frac)
        assert (x.dense_weights, x.stats) == (y.dense_weights, y.stats)


@pytest.fixture
def written(tmp_path):
    model = random_model()
    path = tmp_path / "model.eie"
    stats = write_container(path, model, CONFIG)
    return model, path, stats


def test_round_trip_rebuilds_the_images(written):
    model, path, stats = written
    back, config, encoded = read_container(path)
    assert config == CONFIG
    assert back.source == model.source
    assert_same_model(model, back)
    assert pack_layers(back.layers, config, encoded=encoded).equals(
        pack_layers(model.layers, CONFIG))
    for layer, pe_columns in zip(model.layers, encoded):
        for mine, theirs in zip(encode_layer(layer.codes, CONFIG), pe_columns):
            assert np.array_equal(mine.entries, theirs.entries)
            assert np.array_equal(mine.col_counts, theirs.col_counts)
            assert mine.fillers == theirs.fillers


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.floats(0.0, 0.6),
       st.lists(st.integers(1, 60), min_size=2, max_size=4))
def test_round_trip_random_configs(tmp_path_factory, seed, n_pes, density, dims):
    config = CONFIG.replace(n_pes=n_pes, index_bits=2, sram_width=48)
    shapes = list(zip(dims[1:], dims[:-1]))
    model = random_model(seed, shapes, density)
    path = tmp_path_factory.mktemp("c") / "model.eie"
    write_container(path, model, config)
    back, packed, encoded = read_container(path, config)
    assert_same_model(model, back)
    assert pack_layers(back.layers, packed, encoded=encoded).equals(
        pack_layers(model.layers, config))


def test_stats_are_real_sizes(written):
    model, path, stats = written
    assert stats.total_bytes == path.stat().st_size
    assert sum(layer["bytes"] for layer in stats.layers) < stats.total_bytes
    for layer, cs in zip(model.layers, stats.layers):
        entries = np.concatenate([pc.entries for pc in encode_layer(layer.codes, CONFIG)])
        v, z = entry_fields(entries, CONFIG)
        assert cs["name"] == layer.name
        assert cs["v_payload_bits"] == huffman_bits(v)
        assert cs["z_payload_bits"] == huffman_bits(z)
        assert cs["codebook_bits"] == 16 * 32
        assert cs["bias_bits"] == (0 if layer.bias is None else 32 * layer.rows)
        payload = cs["v_payload_bits"] + cs["z_payload_bits"] + cs["counts_payload_bits"]
        assert cs["bytes"] * 8 >= payload + cs["table_bits"] + cs["codebook_bits"] \
            + cs["bias_bits"]


def test_precomputed_encoding_gives_the_same_file(tmp_path):
    model = random_model(1)
    encoded = [encode_layer(layer.codes, CONFIG) for layer in model.layers]
    write_container(tmp_path / "a.eie", model, CONFIG)
    write_container(tmp_path / "b.eie", model, CONFIG, encoded=encoded)
    assert (tmp_path / "a.eie").read_bytes() == (tmp_path / "b.eie").read_bytes()


def test_all_zero_layer(tmp_path):
    model = random_model(2, shapes=((10, 8), (6, 10)), density=0.0)
    write_container(tmp_path / "m.eie", model, CONFIG)
    back, _, _ = read_container(tmp_path / "m.eie")
    assert_same_model(model, back)


def test_file_is_much_smaller_than_dense_float32(tmp_path):
    model = random_model(3, shapes=((200, 300),), density=0.1)
    stats = write_container(tmp_path / "m.eie", model, CONFIG)
    dense_bytes = 200 * 300 * 4 + 200 * 4
    assert stats.total_bytes * 15 < dense_bytes


def test_other_packing_config_is_refused(written):
    _, path, _ = written
    with pytest.raises(EIEError, match="sram_width: packed for 32, requested 64"):
        read_container(path, CONFIG.replace(sram_width=64))
    # The FIFO depth does not change the images.
    read_container(path, CONFIG.replace(fifo_depth=2))


def _damaged(path, data):
    path.write_bytes(data)
    with pytest.raises(EIEError) as info:
        read_container(path)
    message = str(info.value)
    assert str(path) in message and "eie compress" in message
    return message


def test_every_flipped_byte_is_detected(written):
    _, path, _ = written
    data = path.read_bytes()
    for position in range(0, len(data), 7):
        damaged = bytearray(data)
        damaged[position] ^= 0x10
        _damaged(path, bytes(damaged))


def test_corrupt_body_names_the_crc(written):
    _, path, _ = written
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    assert "CRC32" in _damaged(path, bytes(data))


def test_truncated_file(written):
    _, path, _ = written
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 7):
        assert "truncated" in _damaged(path, data[:cut])
    _damaged(path, data[:3])
    _damaged(path, b"")


def test_trailing_bytes(written):
    _, path, _ = written
    assert "unexpected bytes" in _damaged(path, path.read_bytes() + b"\0")


def test_wrong_magic(written):
    _, path, _ = written
    assert "EIEZ" in _damaged(path, b"PK\3\4" + path.read_bytes()[4:])


def test_unsupported_version(written):
    _, path, _ = written
    data = bytearray(path.read_bytes())
    data[len(MAGIC)] = CONTAINER_FORMAT_VERSION + 1
    assert "version" in _damaged(path, bytes(data))


def test_model_id_names_the_content(written, tmp_path):
    model, path, stats = written
    assert read_model_id(path) == stats.model_id and len(stats.model_id) == 32
    again = write_container(tmp_path / "again.eie", model, CONFIG)
    assert again.model_id == stats.model_id
    other = write_container(tmp_path / "other.eie", random_model(5), CONFIG)
    assert other.model_id != stats.model_id


def test_model_id_that_is_not_the_contents_hash(written):
    """A forged id (with a CRC to match) is refused too."""
    import zlib
    _, path, _ = written
    data = bytearray(path.read_bytes()[:-4])
    data[len(MAGIC) + 1] ^= 0xFF
    data += zlib.crc32(data).to_bytes(4, "little")
    assert "model id" in _damaged(path, bytes(data))


def test_missing_file(tmp_path):
    with pytest.raises(EIEError, match="nothing.eie does not exist.*eie compress"):
        read_container(tmp_path / "nothing.eie")


def test_codebook_of_the_wrong_size_is_refused(tmp_path):
    model = random_model(4)
    model.layers[0].codebook = model.layers[0].codebook[:8]
    with pytest.raises(EIEError, match="codebook has 8 entries"):
        write_container(tmp_path / "m.eie", model, CONFIG)
