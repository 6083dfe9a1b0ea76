"""Load-balanced row-to-PE assignment (compress/balance.py): the network computes the same
outputs as with the paper's interleaving, bit for bit, on the golden model and the RTL,
while the busiest PE gets fewer entries on skewed layers."""

import json

import numpy as np
import pytest

from compress.balance import (assign_rows, balanced_row_order, check_mode, inverse,
                              original_layers, row_order)
from compress.container import read_container, write_container
from compress.encode import local_rows
from compress.images import pack_layers
from compress.manifest import read_images, write_images
from compress.model import CompressedLayer, CompressedModel
from compress.pipeline import CompressOptions, compress_file
from eie_hw.errors import EIEError
from sim.golden import GoldenModel

from helpers import random_codebook, random_inputs, small_config

CONFIG = small_config(spmat_words=512, act_entries=16)


def skewed_codes(rng, rows, cols, n_pes, dense_pe=0):
    """Rows of PE `dense_pe` (under interleaving) are 6x denser than the others."""
    density = np.where(np.arange(rows) % n_pes == dense_pe, 0.6, 0.1)[:, None]
    return np.where(rng.random((rows, cols)) < density, rng.integers(1, 16, (rows, cols)),
                    0).astype(np.uint8)


def network(rng, dims, n_pes, skew=True):
    layers = []
    for k, (n_in, n_out) in enumerate(zip(dims, dims[1:])):
        codes = skewed_codes(rng, n_out, n_in, n_pes, dense_pe=k % n_pes) if skew else \
            np.where(rng.random((n_out, n_in)) < 0.3, rng.integers(1, 16, (n_out, n_in)),
                     0).astype(np.uint8)
        bias = rng.normal(0, 0.3, n_out).astype(np.float32) if k != 1 else None
        layers.append(CompressedLayer(name=f"fc{k}", codes=codes, codebook=random_codebook(rng),
                                      weight_frac=10, relu=k < len(dims) - 2, bias=bias,
                                      dense_weights=n_in * n_out))
    return layers


def test_order_is_a_permutation_with_the_interleaved_row_counts():
    rng = np.random.default_rng(0)
    for rows, n in ((37, 4), (8, 16), (64, 8), (1, 3)):
        codes = skewed_codes(rng, rows, 23, n)
        order = balanced_row_order(codes, n)
        assert sorted(order.tolist()) == list(range(rows))
        # Position q is PE q mod N, so the row counts per PE are the interleaved ones;
        # each PE's rows are stored in ascending original order.
        for p in range(n):
            mine = order[p::n]
            assert len(mine) == local_rows(rows, n, p)
            assert list(mine) == sorted(mine)


def test_balanced_lowers_the_busiest_pe_on_skewed_layers():
    rng = np.random.default_rng(1)
    for rows, cols, n in ((64, 48, 4), (100, 60, 8), (37, 80, 4)):
        codes = skewed_codes(rng, rows, cols, n)
        per_row = np.count_nonzero(codes, axis=1)

        def per_pe(order):
            return np.bincount(np.arange(rows) % n, weights=per_row[order], minlength=n)

        interleaved = per_pe(np.arange(rows))
        balanced = per_pe(balanced_row_order(codes, n))
        assert balanced.sum() == interleaved.sum()
        assert balanced.max() < 0.8 * interleaved.max()
        # Close to the perfect split (a row is the unit of work).
        assert balanced.max() - per_row.sum() / n <= per_row.max()


def test_balanced_packs_fewer_entries_into_the_busiest_pe():
    rng = np.random.default_rng(2)
    layers = network(rng, [30, 40, 24], CONFIG.n_pes)
    plain = pack_layers(layers, CONFIG)
    balanced = pack_layers(assign_rows(layers, CONFIG.n_pes, "balanced"), CONFIG)
    for a, b in zip(plain.layers, balanced.layers):
        assert max(b.entries) < max(a.entries)


def test_golden_outputs_are_bit_exact_with_interleaving():
    rng = np.random.default_rng(3)
    layers = network(rng, [30, 40, 24, 13], CONFIG.n_pes)
    x = random_inputs(rng, 9, 30, 0.3)
    plain = GoldenModel(pack_layers(layers, CONFIG)).run(inputs_float=x)
    stored = assign_rows(layers, CONFIG.n_pes, "balanced")
    balanced = GoldenModel(pack_layers(stored, CONFIG)).run(inputs_float=x)
    assert np.array_equal(balanced.outputs, plain.outputs)
    np.testing.assert_allclose(balanced.outputs_float, plain.outputs_float, rtol=1e-9,
                               atol=1e-9)
    # Intermediate layers stay in the stored order the next layer reads.
    for k in range(len(layers) - 1):
        order = stored[k].row_order
        assert np.array_equal(balanced.layers[k].outputs, plain.layers[k].outputs[:, order])
    assert np.array_equal(balanced.layers[-1].outputs, plain.layers[-1].outputs)


def test_interleave_changes_nothing():
    rng = np.random.default_rng(4)
    layers = network(rng, [12, 10], CONFIG.n_pes)
    same = assign_rows(layers, CONFIG.n_pes, "interleave")
    assert all(a is b for a, b in zip(same, layers))
    assert row_order(layers[0].codes, 4, "interleave") is None
    assert "row_order" not in pack_layers(layers, CONFIG).layers[0].to_dict()


def test_original_layers_undoes_the_permutation():
    rng = np.random.default_rng(5)
    layers = network(rng, [20, 30, 11], CONFIG.n_pes)
    back = original_layers(assign_rows(layers, CONFIG.n_pes, "balanced"))
    for a, b in zip(layers, back):
        assert np.array_equal(a.codes, b.codes) and b.row_order is None
        assert (a.bias is None and b.bias is None) or np.array_equal(a.bias, b.bias)
    order = np.array([2, 0, 3, 1])
    assert np.array_equal(order[inverse(order)], np.arange(4))


def test_row_order_survives_the_container_and_the_manifest(tmp_path):
    rng = np.random.default_rng(6)
    stored = assign_rows(network(rng, [20, 30, 11], CONFIG.n_pes), CONFIG.n_pes, "balanced")
    write_container(tmp_path / "model.eie", CompressedModel(stored), CONFIG)
    model, packed, encoded = read_container(tmp_path / "model.eie")
    for a, b in zip(stored, model.layers):
        assert np.array_equal(a.row_order, b.row_order)
        assert np.array_equal(a.codes, b.codes)
    images = pack_layers(model.layers, packed, encoded=encoded)
    write_images(images, tmp_path)
    assert read_images(tmp_path).equals(images)
    assert read_images(tmp_path).layers[1].row_order == [int(i) for i in stored[1].row_order]

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["layers"][0]["row_order"][0] = manifest["layers"][0]["row_order"][1]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EIEError, match="not a permutation"):
        read_images(tmp_path)


def test_amaranth_rtl_with_a_balanced_model_matches_golden_and_the_model():
    from sim.amaranth_backend import run_amaranth
    from sim.perf_model import run_model
    rng = np.random.default_rng(7)
    stored = assign_rows(network(rng, [14, 18, 9], CONFIG.n_pes), CONFIG.n_pes, "balanced")
    images = pack_layers(stored, CONFIG)
    golden = GoldenModel(images).run(inputs_float=random_inputs(rng, 2, 14, 0.3))
    hw = run_amaranth(images, golden.inputs)
    for k, layer in enumerate(golden.layers):
        assert np.array_equal(np.array([s[k] for s in hw.layer_outputs]), layer.outputs)
    assert np.array_equal(hw.outputs, golden.outputs)
    model = run_model(images, golden)
    assert hw.total_cycles == model.total_cycles
    assert hw.layer_cycles == model.layer_cycles
    assert hw.pe_busy == model.pe_busy


def test_compress_file_with_balance(tmp_path):
    rng = np.random.default_rng(8)
    w1 = rng.normal(0, 1, (24, 16)) * np.where(np.arange(24) % 4 == 0, 3.0, 0.2)[:, None]
    np.savez(tmp_path / "m.npz", **{"fc1.weight": w1.astype(np.float32),
                                    "fc1.bias": rng.normal(0, 0.1, 24).astype(np.float32),
                                    "fc2.weight": rng.normal(0, 1, (6, 24)).astype(np.float32)})
    options = CompressOptions(density=0.3, kmeans_iterations=20, balance="balanced")
    result = compress_file(tmp_path / "m.npz", tmp_path / "out", CONFIG, options)
    assert result.report["row_assignment"] == "balanced"
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert all("row_order" in layer for layer in manifest["layers"])
    plain = compress_file(tmp_path / "m.npz", tmp_path / "plain", CONFIG,
                          CompressOptions(density=0.3, kmeans_iterations=20))
    x = random_inputs(rng, 5, 16, 0.3)
    a = GoldenModel(read_images(tmp_path / "out")).run(inputs_float=x)
    b = GoldenModel(read_images(tmp_path / "plain")).run(inputs_float=x)
    assert np.array_equal(a.outputs, b.outputs)
    assert max(result.images.layers[0].entries) < max(plain.images.layers[0].entries)
    with pytest.raises(EIEError, match="unknown row assignment"):
        compress_file(tmp_path / "m.npz", tmp_path / "bad", CONFIG,
                      CompressOptions(balance="random"))
    with pytest.raises(EIEError, match="interleave, balanced"):
        check_mode("lpt")
