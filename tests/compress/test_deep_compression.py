"""Deep Compression on a trained MLP: fixed masks, fixed codes, moving centroids, a valid file."""

import json

import numpy as np
import pytest

from compress.datasets import load_dataset
from compress.deep_compression import (DeepCompressionOptions, TrainSettings, deep_compress,
                                       finetune_centroids, iterative_prune, layer_densities,
                                       prune_schedule, save_quantized_npz, share_model,
                                       train_and_compress)
from compress.model_io import load_model
from compress.pipeline import CompressOptions, compress_file
from compress.train import MLP, accuracy, train
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

SMALL_HW = EIEConfig(n_pes=4, act_entries=32, bias_entries=64, spmat_words=1024,
                     ptr_entries=512, max_layers=4)


@pytest.fixture(scope="module")
def digits():
    return load_dataset()


@pytest.fixture(scope="module")
def trained(digits):
    model = MLP([64, 48, 24, 10], seed=0)
    train(model, digits, epochs=6, batch_size=32)
    return model


def test_prune_schedule_is_geometric_to_target():
    s = prune_schedule(0.08, 3)
    assert s[-1] == pytest.approx(0.08) and s[0] > s[1] > s[2]
    assert s[1] / s[0] == pytest.approx(s[2] / s[1])
    with pytest.raises(EIEError, match="rounds"):
        prune_schedule(0.1, 0)


def test_pruning_keeps_the_mask_fixed_through_retraining(trained, digits):
    model = trained.copy()
    masks, history = iterative_prune(model, digits, [0.2, 0.3, 0.5], rounds=2, epochs=2)
    for w, m, d in zip(model.weights, masks, [0.2, 0.3, 0.5]):
        assert np.count_nonzero(m) == round(d * w.size)
        assert np.all(w[~m] == 0)                       # exactly zero after retraining
        assert np.count_nonzero(w) == np.count_nonzero(m)
    # Round 2 only prunes what round 1 kept: masks shrink.
    assert len(history) == 2 and history[0]["densities"][0] > history[1]["densities"][0]
    assert accuracy(model, digits.x_test, digits.y_test) > 0.85


def test_centroid_finetuning_keeps_codes_and_moves_centroids(trained, digits):
    model = trained.copy()
    masks, _ = iterative_prune(model, digits, 0.3, rounds=1, epochs=1)
    layers = share_model(model, masks, code_bits=4)
    codes = [l.codes.copy() for l in layers]
    books = [l.codebook.copy() for l in layers]
    history = finetune_centroids(layers, digits, epochs=2, lr=1e-3)
    assert len(history) == 2
    for layer, c, b, m in zip(layers, codes, books, masks):
        assert np.array_equal(layer.codes, c)                 # codes fixed
        assert np.array_equal(layer.codes != 0, m)            # zeros where pruned
        assert layer.codebook[0] == 0.0                       # reserved entry stays 0
        assert layer.codebook.dtype == np.float32 and layer.codebook.shape == (16,)
        assert np.count_nonzero(layer.codebook[1:] != b[1:]) >= 10   # centroids moved


def test_centroid_gradient_is_the_sum_of_member_gradients(trained, digits):
    model = trained.copy()
    masks, _ = iterative_prune(model, digits, 0.5, rounds=1, epochs=0)
    layers = share_model(model, masks, code_bits=4)
    before = [l.codebook.copy() for l in layers]
    x, y = digits.x_train[:32], digits.y_train[:32]
    shared = MLP.from_arrays([l.weight() for l in layers], [l.bias for l in layers])
    _, gw, _ = shared.loss_and_grads(x, y)
    # One SGD step on one full batch (momentum has no effect on the first step): the
    # centroid update is -lr times the summed member gradients.
    one = type(digits)(x, y, digits.x_test, digits.y_test, 10, "one batch")
    finetune_centroids(layers, one, epochs=1, lr=0.5, batch_size=32, optimizer="sgd")
    for layer, b, g, codes in zip(layers, before, gw, [l.codes for l in layers]):
        expect = np.array([g[codes == k].sum() for k in range(16)])
        expect[0] = 0
        assert np.allclose(b - layer.codebook, 0.5 * expect, rtol=1e-3, atol=1e-6)


def test_deep_compression_output_is_accepted_by_eie_compress(trained, digits, tmp_path):
    options = DeepCompressionOptions(densities=[0.2, 0.25, 0.5], rounds=2, retrain_epochs=2,
                                     finetune_epochs=1)
    result = deep_compress(trained, digits, options)
    acc = result.accuracy
    assert set(acc) == {"dense", "pruned", "quantized_before_finetune", "quantized"}
    assert acc["quantized"] > 0.85
    assert result.densities == pytest.approx([0.2, 0.25, 0.5], abs=0.002)
    assert np.count_nonzero(trained.weights[0]) == trained.weights[0].size   # untouched
    path = save_quantized_npz(result.layers, tmp_path / "q.npz")
    layers = load_model(path, code_bits=4)
    assert [l.name for l in layers] == ["fc1", "fc2", "fc3"]
    assert all(l.prequantized for l in layers) and [l.relu for l in layers] == [True, True,
                                                                                False]
    assert np.array_equal(layers[0].codes, result.layers[0].codes)
    # The float model the file stands for has the reported quantized accuracy.
    assert accuracy(result.model(), digits.x_test, digits.y_test) == acc["quantized"]
    report = compress_file(path, tmp_path / "out", SMALL_HW, CompressOptions()).report
    kept = sum(int(np.count_nonzero(l.codes)) for l in result.layers)
    assert report["total"]["kept"] == kept      # eie compress prunes nothing more
    assert report["total"]["deep_compression_ratio"] > 1
    assert report["total"]["on_disk_ratio"] > 1


def test_layer_densities():
    model = MLP([4, 5, 6, 3])
    assert layer_densities(model, None) == [0.08, 0.09, 0.26]
    assert layer_densities(MLP([4, 3]), None) == [0.1]
    assert layer_densities(model, 0.2) == [0.2] * 3
    assert layer_densities(model, {"fc2": 0.3}) == [0.1, 0.3, 0.1]
    with pytest.raises(EIEError, match="one per layer"):
        layer_densities(model, [0.1, 0.2])
    with pytest.raises(EIEError, match="must be in"):
        layer_densities(model, [0.1, 0.2, 1.5])
    with pytest.raises(EIEError, match="does not have"):
        layer_densities(model, {"conv": 0.1})


def test_train_and_compress_small(digits, tmp_path):
    progress = []
    summary = train_and_compress(
        tmp_path / "tc", seed=0, progress=progress.append, dataset=digits,
        settings=TrainSettings(hidden=(64,), epochs=5),
        options=DeepCompressionOptions(densities=[0.3, 0.6], rounds=1, retrain_epochs=2,
                                       finetune_epochs=1), hw_config=SMALL_HW)
    assert summary["accuracy"]["quantized"] > 0.8
    assert load_model(summary["paths"]["quantized"], 4)[0].prequantized
    assert json.loads((tmp_path / "tc" / "training.json").read_text())["sizes"] == [64, 64, 10]
    assert summary["compression"]["kept"] == summary["weights_kept"]
    assert progress and all(isinstance(m, str) for m in progress)
