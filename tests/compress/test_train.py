"""The numpy MLP trainer: it learns, is deterministic, keeps masks, writes `eie compress` models."""

import argparse
import json

import numpy as np
import pytest

from compress.cli_train import add_train_parser, cmd_train, parse_densities
from compress.datasets import load_dataset, make_dataset
from compress.model_io import load_model
from compress.prune import prune_mask
from compress.train import (MLP, accuracy, import_state_dict, load_npz, save_npz,
                            state_dict_to_mlp, train)
from eie_hw.errors import EIEError


@pytest.fixture(scope="module")
def digits():
    return load_dataset()


@pytest.fixture(scope="module")
def blobs():
    """Three well separated Gaussian classes in 8 dimensions (fast to learn)."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 1.0, (3, 8))
    y = rng.integers(0, 3, 240)
    x = (centers[y] + rng.normal(0, 0.4, (240, 8))).astype(np.float32)
    return make_dataset(x[:180], y[:180], x[180:], y[180:], name="blobs")


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_trainer_learns_digits(digits, optimizer):
    model = MLP([64, 64, 10], seed=0)
    assert accuracy(model, digits.x_test, digits.y_test) < 0.4
    history = train(model, digits, epochs=5, optimizer=optimizer, batch_size=32)
    assert history[-1]["loss"] < history[0]["loss"]
    assert accuracy(model, digits.x_test, digits.y_test) > 0.85     # chance is 0.1


def test_he_init_and_layout():
    model = MLP([64, 300, 100, 10], seed=3)
    assert [w.shape for w in model.weights] == [(300, 64), (100, 300), (10, 100)]
    assert all(w.dtype == np.float32 for w in model.weights + model.biases)
    assert model.names == ["fc1", "fc2", "fc3"] and model.relu == [True, True, False]
    assert np.std(model.weights[1]) == pytest.approx(np.sqrt(2 / 300), rel=0.05)
    assert not np.any(model.biases[0])


def test_gradients_match_finite_differences(blobs):
    model = MLP([8, 6, 3], seed=1)
    model.weights = [w.astype(np.float64) for w in model.weights]
    model.biases = [b.astype(np.float64) + 0.1 for b in model.biases]
    x = blobs.x_train[:10].astype(np.float64)
    y = blobs.y_train[:10]
    model._input = lambda data: np.asarray(data, dtype=np.float64)
    _, gw, gb = model.loss_and_grads(x, y)
    eps = 1e-6
    for params, grads in ((model.weights, gw), (model.biases, gb)):
        for p, g in zip(params, grads):
            for index in [(0,) * p.ndim, tuple(s - 1 for s in p.shape)]:
                old = p[index]
                p[index] = old + eps
                up = model.loss_and_grads(x, y)[0]
                p[index] = old - eps
                down = model.loss_and_grads(x, y)[0]
                p[index] = old
                assert g[index] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-8)


def test_fixed_seed_is_deterministic(blobs):
    runs = []
    for _ in range(2):
        model = MLP([8, 16, 3], seed=7)
        train(model, blobs, epochs=2, batch_size=16)
        runs.append(model)
    for a, b in zip(runs[0].weights + runs[0].biases, runs[1].weights + runs[1].biases):
        assert np.array_equal(a, b)
    other = MLP([8, 16, 3], seed=8)
    train(other, blobs, epochs=2, batch_size=16)
    assert not np.array_equal(other.weights[0], runs[0].weights[0])


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_masked_weights_stay_exactly_zero(blobs, optimizer):
    model = MLP([8, 16, 3], seed=0)
    masks = [prune_mask(w, 0.3) for w in model.weights]
    train(model, blobs, epochs=3, lr=0.01, optimizer=optimizer, masks=masks, batch_size=16)
    for w, m in zip(model.weights, masks):
        assert np.all(w[~m] == 0)
        assert np.count_nonzero(w) == np.count_nonzero(m)
    # Masks by layer name; a dense layer is left out.
    train(model, blobs, epochs=1, masks={"fc1": masks[0]})
    assert np.all(model.weights[0][~masks[0]] == 0)
    assert np.count_nonzero(model.weights[1]) > np.count_nonzero(masks[1])


def test_bad_training_arguments(blobs):
    model = MLP([8, 4, 3])
    with pytest.raises(EIEError, match="mask of fc1 has shape"):
        train(model, blobs, 1, masks=[np.ones((3, 3), bool), None])
    with pytest.raises(EIEError, match="2 layers"):
        train(model, blobs, 1, masks=[None])
    with pytest.raises(EIEError, match="does not have"):
        train(model, blobs, 1, masks={"conv1": np.ones((4, 8), bool)})
    with pytest.raises(EIEError, match="unknown optimizer"):
        train(model, blobs, 1, optimizer="rmsprop")
    with pytest.raises(EIEError, match="does not fit data set"):
        train(MLP([5, 4, 3]), blobs, 1)
    with pytest.raises(EIEError, match="takes 8 features"):
        model.predict(np.zeros((2, 5)))
    with pytest.raises(EIEError, match="sizes"):
        MLP([8])


def test_npz_is_the_eie_compress_format(tmp_path, blobs):
    model = MLP([8, 16, 3], seed=0)
    train(model, blobs, epochs=1)
    path = save_npz(model, tmp_path / "m.npz")
    with np.load(path) as data:
        assert list(data.files) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    layers = load_model(path, code_bits=4)
    assert [l.name for l in layers] == ["fc1", "fc2"] and [l.relu for l in layers] == [True,
                                                                                       False]
    assert np.array_equal(layers[0].weight, model.weights[0])
    again = load_npz(path)
    assert np.array_equal(again.predict(blobs.x_test), model.predict(blobs.x_test))
    # A non-default ReLU pattern is written as flags and read back.
    model.relu = [False, False]
    save_npz(model, tmp_path / "r.npz")
    assert load_npz(tmp_path / "r.npz").relu == [False, False]


def test_pytorch_import():
    try:
        import torch  # noqa: F401  (only whether it imports)
    except ImportError:
        with pytest.raises(EIEError, match="torch, which is not installed"):
            import_state_dict("model.pt")
    arrays = {"net.0.weight": np.ones((4, 3)), "net.0.bias": np.zeros(4),
              "net.2.weight": np.ones((2, 4))}
    model = state_dict_to_mlp(arrays)
    assert model.names == ["net.0", "net.2"] and model.sizes == [3, 4, 2]
    with pytest.raises(EIEError, match="only Linear layers"):
        state_dict_to_mlp({"conv.weight": np.ones((4, 3, 3, 3))})
    with pytest.raises(EIEError, match="do not chain"):
        state_dict_to_mlp({"a.weight": np.ones((4, 3)), "b.weight": np.ones((2, 5))})


def _parse(argv):
    parser = argparse.ArgumentParser(prog="eie")
    sub = parser.add_subparsers(dest="command")
    add_train_parser(sub)
    return parser.parse_args(argv)


def test_cli_train_with_deep_compression(tmp_path, blobs, capsys):
    data = tmp_path / "blobs.npz"
    np.savez(data, x_train=blobs.x_train, y_train=blobs.y_train, x_test=blobs.x_test,
             y_test=blobs.y_test)
    out = tmp_path / "out" / "m.npz"
    args = _parse(["train", "--dataset", str(data), "--hidden", "32", "--epochs", "5",
                   "--lr", "0.01",
                   "--deep-compression", "--density", "0.5,0.6", "--prune-rounds", "1",
                   "--retrain-epochs", "1", "--finetune-epochs", "1", "-o", str(out)])
    assert cmd_train(args) == 0
    report = json.loads((tmp_path / "out" / "m.json").read_text())
    assert set(report["accuracy"]) == {"dense", "pruned", "quantized_before_finetune",
                                       "quantized"}
    assert report["accuracy"]["quantized"] > 0.8
    assert report["densities"] == {"fc1": 0.5, "fc2": pytest.approx(0.6, abs=0.02)}
    layers = load_model(tmp_path / "out" / "m.quantized.npz", code_bits=4)
    assert all(l.prequantized for l in layers)
    assert "test accuracy" in capsys.readouterr().out
    # Starting from the written model skips training.
    args = _parse(["train", "--dataset", str(data), "--from", str(out), "-o",
                   str(tmp_path / "again.npz")])
    assert cmd_train(args) == 0
    assert json.loads((tmp_path / "again.json").read_text())["accuracy"]["dense"] == \
        report["accuracy"]["dense"]


def test_cli_density_parsing():
    names = ["fc1", "fc2", "fc3"]
    assert parse_densities(None, names) is None
    assert parse_densities(["0.1"], names) == 0.1
    assert parse_densities(["0.08,0.09,0.26"], names) == [0.08, 0.09, 0.26]
    assert parse_densities(["fc1=0.05", "fc3=0.3"], names) == {"fc1": 0.05, "fc3": 0.3}
    with pytest.raises(EIEError, match="one per layer"):
        parse_densities(["0.1,0.2"], names)
    with pytest.raises(EIEError, match="not a number"):
        parse_densities(["lots"], names)


def test_cli_train_errors(tmp_path):
    args = _parse(["train", "--dataset", str(tmp_path / "nope.npz"), "-o",
                   str(tmp_path / "m.npz")])
    with pytest.raises(EIEError, match="does not exist"):
        cmd_train(args)
    args = _parse(["train", "--hidden", "3x", "-o", str(tmp_path / "m.npz")])
    with pytest.raises(EIEError, match="comma-separated integers"):
        cmd_train(args)
