"""`eie evaluate`'s figures (sim/evaluate.py): top-k accuracy, when top-5 is reported, and
the reference model's float forward pass."""

import numpy as np
import pytest

from sim.evaluate import accuracies, reference_outputs, topk_accuracy


def test_topk_by_hand():
    outputs = [[0.1, 0.9, 0.0], [0.5, 0.2, 0.3], [0.2, 0.2, 0.6], [1.0, 1.0, 0.0]]
    labels = np.array([1, 2, 0, 1])
    # Sample 4 ties 0 and 1: argmax's lower index wins, so top-1 misses it.
    assert topk_accuracy(outputs, labels, 1) == 0.25
    # Top-2: sample 3's tie between 0 and 1 puts 0 (its label) beside 2.
    assert topk_accuracy(outputs, labels, 2) == 1.0


def test_top5_only_with_more_than_five_classes():
    outputs, labels = np.eye(6), np.arange(6)
    assert set(accuracies(outputs, labels, 6)) == {"top1", "top5"}
    assert set(accuracies(outputs[:5, :5], labels[:5], 5)) == {"top1"}


def test_reference_is_the_float_forward_pass(tmp_path):
    rng = np.random.default_rng(1)
    w1, b1, w2 = rng.normal(size=(6, 4)), rng.normal(size=6), rng.normal(size=(3, 6))
    np.savez(tmp_path / "m.npz", **{"a.weight": w1, "a.bias": b1, "b.weight": w2})
    x = rng.normal(size=(5, 4))
    expected = np.maximum(x @ w1.T.astype(np.float32) + b1.astype(np.float32), 0) \
        @ w2.T.astype(np.float32)
    assert reference_outputs(tmp_path / "m.npz", x, 4) == pytest.approx(expected, rel=1e-5)
