"""Bring your own model: a scikit-learn MLP on the digits, compressed and run on EIE.

    python examples/sklearn_mlp.py [-o build/example] [--verilator]

Trains `sklearn.neural_network.MLPClassifier` (64-100-10, ReLU), hands its weights to
`eie_hw.api.compress` as a dict of arrays (`<layer>.weight` is out x in: scikit-learn's
`coefs_` transposed; half the weights kept, no retraining: `eie train` fine-tunes after
pruning and keeps a tenth), then measures the accuracy of the compressed model with
`eie_hw.api.evaluate` on the golden model (and with --verilator on the generated RTL,
50 samples), next to scikit-learn's own accuracy on the same test split.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout

from eie_hw import api  # noqa: E402


def train():
    from sklearn.neural_network import MLPClassifier

    from compress.datasets import load_dataset
    data = load_dataset("digits")
    mlp = MLPClassifier(hidden_layer_sizes=(100,), max_iter=600, random_state=0)
    mlp.fit(data.x_train, data.y_train)
    return mlp, float(mlp.score(data.x_test, data.y_test))


def weights_of(mlp) -> dict:
    """scikit-learn's layers as the arrays `eie compress` reads (ReLU between them; the
    final softmax is left to the host, argmax does not need it)."""
    arrays = {}
    for k, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_), start=1):
        arrays[f"fc{k}.weight"] = w.T.astype("float32")
        arrays[f"fc{k}.bias"] = b.astype("float32")
    return arrays


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default="build/example")
    parser.add_argument("--verilator", action="store_true",
                        help="also run 50 test samples on the Verilated RTL")
    args = parser.parse_args(argv)
    mlp, sklearn_accuracy = train()
    out = Path(args.output) / "compressed"
    api.compress(weights_of(mlp), out, density=0.5, pes=4, force=True)
    print(f"scikit-learn (float): top-1 {100 * sklearn_accuracy:.2f} %")
    backends = [("golden", None)] + ([("verilator", 50)] if args.verilator else [])
    for backend, samples in backends:
        figures = api.evaluate(out, "digits", backend=backend, samples=samples)
        acc = figures["accuracy"]
        hardware = acc.get("hardware", acc["golden"])["top1"]
        print(f"compressed on {backend} ({figures['samples']} samples): top-1 "
              f"{100 * hardware:.2f} % (compressed float {100 * acc['compressed_float']['top1']:.2f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
