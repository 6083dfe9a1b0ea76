"""Model import (issue 15): safetensors and ONNX MLPs give the same packed images as the
same weights in an .npz; every unsupported graph is one clear error; formats are named
by content."""

from pathlib import Path

import numpy as np
import pytest

from eie_hw.cli import main
from helpers import images_digest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

DIMS = (24, 16, 10)        # in, hidden, out


@pytest.fixture(scope="module")
def weights():
    rng = np.random.default_rng(5)
    return [(rng.normal(0, 0.5, (o, i)).astype(np.float32),
             rng.normal(0, 0.1, o).astype(np.float32)) for i, o in zip(DIMS, DIMS[1:])]


def compress(tmp_path, model: Path, *flags) -> str:
    out = tmp_path / f"out-{model.name}"
    assert main(["compress", str(model), "-o", str(out), "--pes", "4", "--density", "0.5",
                 *flags]) == 0
    return images_digest(out)


def npz_model(tmp_path, weights, names=("fc1", "fc2")) -> Path:
    path = tmp_path / "m.npz"
    arrays = {}
    for name, (w, b) in zip(names, weights):
        arrays[f"{name}.weight"], arrays[f"{name}.bias"] = w, b
    np.savez(path, **arrays)
    return path


def onnx_model(path: Path, nodes, inits, out_dim=DIMS[-1], in_shape=(1, DIMS[0])) -> Path:
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out_dim])],
        [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits.items()])
    onnx.save(helper.make_model(graph), str(path))
    return path


def gemm_mlp(path: Path, weights, trans_b=1, softmax=True, flatten=True) -> Path:
    (w1, b1), (w2, b2) = weights
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flat")] if flatten else []
    src = "f" if flatten else "x"
    nodes += [helper.make_node("Gemm", [src, "W1", "B1"], ["h"], name="fc1", transB=trans_b),
              helper.make_node("Relu", ["h"], ["r"], name="relu1"),
              helper.make_node("Gemm", ["r", "W2", "B2"], ["z"], name="fc2", transB=trans_b)]
    nodes.append(helper.make_node("Softmax", ["z"], ["y"], name="sm") if softmax
                 else helper.make_node("Identity", ["z"], ["y"], name="id"))
    t = (lambda w: w) if trans_b else (lambda w: w.T)
    return onnx_model(path, nodes, {"W1": t(w1), "B1": b1, "W2": t(w2), "B2": b2})


def test_safetensors_and_onnx_give_the_npz_images(tmp_path, weights):
    reference = compress(tmp_path, npz_model(tmp_path, weights))
    st = tmp_path / "m.safetensors"
    save_file({"fc1.weight": weights[0][0], "fc1.bias": weights[0][1],
               "fc2.weight": weights[1][0], "fc2.bias": weights[1][1]}, str(st))
    assert compress(tmp_path, st) == reference
    assert compress(tmp_path, gemm_mlp(tmp_path / "a.onnx", weights)) == reference
    assert compress(tmp_path, gemm_mlp(tmp_path / "b.onnx", weights, trans_b=0,
                                       softmax=False, flatten=False)) == reference


def test_onnx_matmul_add_and_folded_batch_norm(tmp_path, weights):
    (w1, b1), (w2, b2) = weights
    reference = compress(tmp_path, npz_model(tmp_path, weights))
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["m"], name="fc1"),
             helper.make_node("Add", ["m", "B1"], ["h"], name="add1"),
             helper.make_node("Relu", ["h"], ["r"], name="relu1"),
             helper.make_node("MatMul", ["r", "W2"], ["m2"], name="fc2"),
             helper.make_node("Add", ["B2", "m2"], ["y"], name="add2")]
    path = onnx_model(tmp_path / "mm.onnx", nodes, {"W1": w1.T, "B1": b1, "W2": w2.T,
                                                   "B2": b2})
    assert compress(tmp_path, path) == reference
    # BatchNorm with gamma 1, beta 0, mean 0, var 1 - eps is the identity.
    eps = 1e-5
    nodes = [helper.make_node("Gemm", ["x", "W1", "B1"], ["g"], name="fc1", transB=1),
             helper.make_node("BatchNormalization", ["g", "s", "t", "mu", "v"], ["h"],
                              name="bn1", epsilon=eps),
             helper.make_node("Relu", ["h"], ["r"], name="relu1"),
             helper.make_node("Gemm", ["r", "W2", "B2"], ["y"], name="fc2", transB=1)]
    n = DIMS[1]
    path = onnx_model(tmp_path / "bn.onnx", nodes, {
        "W1": w1, "B1": b1, "W2": w2, "B2": b2, "s": np.ones(n), "t": np.zeros(n),
        "mu": np.zeros(n), "v": np.full(n, 1 - eps)})
    assert compress(tmp_path, path) == reference


def test_safetensors_layer_order(tmp_path, weights):
    st = tmp_path / "m.safetensors"
    # Saved fc2 first: --layers gives the order, and may pick layers.
    save_file({"fc2.weight": weights[1][0], "fc2.bias": weights[1][1],
               "fc1.weight": weights[0][0], "fc1.bias": weights[0][1]}, str(st))
    reference = compress(tmp_path, npz_model(tmp_path, weights))
    assert compress(tmp_path, st, "--layers", "fc1,fc2") == reference


REJECTED = [
    ("Conv", "is not a fully connected layer"),
    ("Sigmoid", "is not a fully connected layer"),
]


@pytest.mark.parametrize("op, message", REJECTED)
def test_unsupported_nodes_are_one_line(tmp_path, weights, capsys, op, message):
    (w1, b1), _ = weights
    nodes = [helper.make_node("Gemm", ["x", "W1", "B1"], ["h"], name="fc1", transB=1),
             helper.make_node(op, ["h"], ["y"], name="odd")]
    path = onnx_model(tmp_path / "bad.onnx", nodes, {"W1": w1, "B1": b1}, out_dim=DIMS[1])
    assert main(["compress", str(path), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"node odd ({op}) {message}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_skip_connection_and_misplaced_batch_norm(tmp_path, weights, capsys):
    (w1, b1), _ = weights
    n = DIMS[1]
    skip = [helper.make_node("Gemm", ["x", "W1", "B1"], ["h"], name="fc1", transB=1),
            helper.make_node("Relu", ["h"], ["r"], name="relu1"),
            helper.make_node("Add", ["r", "h"], ["y"], name="skip")]
    path = onnx_model(tmp_path / "skip.onnx", skip, {"W1": w1, "B1": b1}, out_dim=n)
    assert main(["compress", str(path), "-o", str(tmp_path / "o")]) == 2
    assert "skip connection" in capsys.readouterr().err
    late = [helper.make_node("Gemm", ["x", "W1", "B1"], ["h"], name="fc1", transB=1),
            helper.make_node("Relu", ["h"], ["r"], name="relu1"),
            helper.make_node("BatchNormalization", ["r", "s", "t", "mu", "v"], ["y"],
                             name="bn")]
    path = onnx_model(tmp_path / "late.onnx", late, {
        "W1": w1, "B1": b1, "s": np.ones(n), "t": np.zeros(n), "mu": np.zeros(n),
        "v": np.ones(n)}, out_dim=n)
    assert main(["compress", str(path), "-o", str(tmp_path / "o")]) == 2
    assert "follows a ReLU" in capsys.readouterr().err


def test_format_is_named_by_content(tmp_path, weights, capsys):
    npz = npz_model(tmp_path, weights)
    wrong = tmp_path / "model.onnx"
    wrong.write_bytes(npz.read_bytes())
    assert main(["compress", str(wrong), "-o", str(tmp_path / "o")]) == 2
    assert "holds an .npz model under a .onnx name" in capsys.readouterr().err
    onnx_file = gemm_mlp(tmp_path / "a.onnx", weights)
    renamed = tmp_path / "a.safetensors"
    renamed.write_bytes(onnx_file.read_bytes())
    assert main(["compress", str(renamed), "-o", str(tmp_path / "o")]) == 2
    assert "holds an ONNX model under a .safetensors name" in capsys.readouterr().err
    assert main(["compress", str(npz), "-o", str(tmp_path / "o"), "--layers", "fc1"]) == 2
    assert "--layers orders the layers of a .safetensors file" in capsys.readouterr().err


def test_export_round_trip_gives_the_same_images(tmp_path, capsys):
    """compress -> export (.npz and .onnx, dense floats with their codebooks) -> compress:
    identical images, even where k-means left a codebook entry unused."""
    rng = np.random.default_rng(9)
    weights = [(rng.normal(0, 0.5, (o, i)).astype(np.float32),
                rng.normal(0, 0.1, o).astype(np.float32)) for i, o in ((24, 96), (96, 64))]
    first = tmp_path / "first"
    assert main(["compress", str(npz_model(tmp_path, weights)), "-o", str(first), "--pes",
                 "4", "--density", "0.5"]) == 0
    reference = images_digest(first)
    for name in ("back.npz", "back.onnx"):
        assert main(["export", str(first), "-o", str(tmp_path / name)]) == 0
        assert compress(tmp_path, tmp_path / name) == reference
    # The export is what the hardware computes: codebook values, pruned weights 0.
    exported = np.load(tmp_path / "back.npz")
    assert np.count_nonzero(exported["fc1.weight"]) == round(0.5 * weights[0][0].size)
    assert len(np.unique(exported["fc1.weight"])) <= 16
    assert exported["fc1.relu"] == 1 and exported["fc2.relu"] == 0
    capsys.readouterr()
    assert main(["export", str(first), "-o", str(tmp_path / "x.txt")]) == 2
    assert "name the file .npz or .onnx" in capsys.readouterr().err


def test_a_codebook_that_does_not_hold_the_weights_is_refused(tmp_path, capsys):
    book = np.linspace(-1, 1, 16).astype(np.float32)
    book[0] = 0
    weight = np.array([[book[3], 0.0], [0.123, book[5]]], dtype=np.float32)
    np.savez(tmp_path / "s.npz", **{"a.weight": weight, "a.codebook": book})
    assert main(["compress", str(tmp_path / "s.npz"), "-o", str(tmp_path / "o")]) == 2
    assert "a.weight holds values that are not entries of a.codebook" in \
        capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_scikit_learn_mlp_gives_the_npz_images(tmp_path):
    """scikit-learn's coefs_ (in x out) transposed, as a dict or an .npz: the same."""
    from sklearn.neural_network import MLPClassifier

    from eie_hw import api
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 12)), rng.integers(0, 3, 60)
    mlp = MLPClassifier(hidden_layer_sizes=(20,), max_iter=20, random_state=0).fit(x, y)
    arrays = {}
    for k, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_), start=1):
        arrays[f"fc{k}.weight"], arrays[f"fc{k}.bias"] = w.T.astype(np.float32), b
    np.savez(tmp_path / "sk.npz", **arrays)
    api.compress(arrays, tmp_path / "a", pes=4, density=0.5)
    assert compress(tmp_path, tmp_path / "sk.npz") == images_digest(tmp_path / "a")


@pytest.mark.parametrize("case, message", [
    ("trans_a", "has transA=1"),
    ("two_inputs", "the graph has 2 inputs"),
    ("no_layer", "has no Gemm or MatMul layer"),
    ("softmax_not_last", "is not the last node"),
])
def test_more_rejected_graphs(tmp_path, weights, capsys, case, message):
    (w1, b1), _ = weights
    inits = {"W1": w1, "B1": b1}
    extra_inputs = []
    if case == "trans_a":
        nodes = [helper.make_node("Gemm", ["x", "W1", "B1"], ["y"], name="fc1", transA=1,
                                  transB=1)]
    elif case == "two_inputs":
        nodes = [helper.make_node("Gemm", ["x", "W1", "B1"], ["h"], name="fc1", transB=1),
                 helper.make_node("Add", ["h", "x2"], ["y"], name="add")]
        extra_inputs = [helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, DIMS[1]])]
    elif case == "no_layer":
        nodes, inits = [helper.make_node("Identity", ["x"], ["y"], name="i")], {}
    else:
        nodes = [helper.make_node("Gemm", ["x", "W1", "B1"], ["h"], name="fc1", transB=1),
                 helper.make_node("Softmax", ["h"], ["s"], name="sm"),
                 helper.make_node("Relu", ["s"], ["y"], name="r")]
    path = onnx_model(tmp_path / f"{case}.onnx", nodes, inits, out_dim=DIMS[1])
    if extra_inputs:
        model = onnx.load(str(path))
        model.graph.input.extend(extra_inputs)
        onnx.save(model, str(path))
    assert main(["compress", str(path), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
