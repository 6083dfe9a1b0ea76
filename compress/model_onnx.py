"""An ONNX MLP as the arrays of an `.npz` (issue 15): the chain of fully connected layers.

Accepted, from the graph input to its output, one path with no branches:
Flatten / Reshape / Identity / Dropout (passed through), Gemm (any transB, alpha, beta;
transA 0) or MatMul followed by an optional Add of a constant bias, an optional
BatchNormalization right after a layer (folded into it), Relu (the layer's ReLU), and a
final Softmax / LogSoftmax (left to the host). Anything else (a convolution, another
activation, a skip connection, an op between layers) is an error naming the node and
what would make the graph fit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eie_hw.errors import EIEError

PASS_THROUGH = ("Flatten", "Reshape", "Identity", "Dropout")
FINAL = ("Softmax", "LogSoftmax")


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise EIEError("reading .onnx needs the onnx package: pip install 'eie-hw[onnx]' "
                       "(or pip install onnx)") from None
    return onnx, numpy_helper


def load_onnx(path: Path):
    onnx, _ = _onnx()
    try:
        return onnx.load(str(path))
    except Exception as exc:         # protobuf's DecodeError and friends
        raise EIEError(f"{path} is not a readable ONNX model ({type(exc).__name__}): export "
                       f"it again") from None


def onnx_arrays(model, where: str) -> dict[str, np.ndarray]:
    """The layers of an ONNX `ModelProto` as .npz arrays (weight out x in, bias, relu)."""
    _, numpy_helper = _onnx()
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute:
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    inputs = [i.name for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise EIEError(f"{where}: the graph has {len(inputs)} inputs; an MLP has one")
    walk = _Walk(graph, consts, where)
    walk.run(inputs[0])
    arrays = walk.arrays()
    # `eie export` stores each layer's codebook: the layers are shared already.
    props = {p.key: p.value for p in model.metadata_props}
    if "eie.codebooks" in props:
        try:
            books = json.loads(props["eie.codebooks"])
        except json.JSONDecodeError:
            raise EIEError(f"{where}: its eie.codebooks metadata is not JSON: export the "
                           f"model again") from None
        for name, book in books.items():
            if f"{name}.weight" in arrays:
                arrays[f"{name}.codebook"] = np.asarray(book, dtype=np.float32)
    return arrays


class _Walk:
    def __init__(self, graph, consts: dict, where: str):
        self.where, self.consts = where, consts
        self.users: dict[str, list] = {}
        for node in graph.node:
            if node.op_type == "Constant":
                continue
            for name in node.input:
                if name and name not in consts:
                    self.users.setdefault(name, []).append(node)
        self.layers: list[dict] = []

    def fail(self, node, why: str) -> None:
        raise EIEError(f"{self.where}: node {node.name or '?'} ({node.op_type}) {why}")

    def run(self, tensor: str) -> None:
        while True:
            users = self.users.get(tensor, [])
            if not users:
                break
            if len(users) > 1:
                self.fail(users[1], f"reads {tensor!r}, which {users[0].name or '?'} "
                          f"({users[0].op_type}) reads too: a skip connection or branch; "
                          f"the accelerator runs a chain of fully connected layers")
            tensor = self.step(users[0], tensor)
        if not self.layers:
            raise EIEError(f"{self.where}: the graph has no Gemm or MatMul layer")

    def step(self, node, tensor: str) -> str:
        op = node.op_type
        if op in PASS_THROUGH:
            if op in ("Flatten", "Reshape") and self.layers:
                self.fail(node, "reshapes between layers: only the input may be flattened")
            return node.output[0]
        if op == "Gemm":
            return self.gemm(node, tensor)
        if op == "MatMul":
            return self.matmul(node, tensor)
        if op == "Relu":
            self.last(node)["relu"] = True
            return node.output[0]
        if op == "BatchNormalization":
            return self.batch_norm(node)
        if op == "Add":
            return self.add(node, tensor)
        if op in FINAL:
            if self.users.get(node.output[0]):
                self.fail(node, "is not the last node: only a final Softmax is left to "
                          "the host")
            return node.output[0]
        self.fail(node, "is not a fully connected layer, ReLU, folded BatchNormalization or "
                  "final Softmax: the accelerator cannot run it; replace it (e.g. a "
                  "convolution by its unrolled Gemm) or cut the graph before it")
        return ""

    def last(self, node) -> dict:
        if not self.layers:
            self.fail(node, "comes before any fully connected layer")
        return self.layers[-1]

    def const(self, node, name: str) -> np.ndarray:
        if name not in self.consts:
            self.fail(node, f"takes {name!r}, which is not a constant (an initializer)")
        return self.consts[name]

    def new_layer(self, node, weight: np.ndarray, bias) -> None:
        name = node.name or f"layer{len(self.layers)}"
        self.layers.append({"name": name.replace("/", "_").strip("_") or name,
                            "weight": weight, "bias": bias, "relu": False, "node": node})

    def gemm(self, node, tensor: str) -> str:
        attrs = {a.name: (a.f if a.type == 1 else a.i) for a in node.attribute}
        if attrs.get("transA", 0):
            self.fail(node, "has transA=1: export the layer as x @ W.T")
        if node.input[0] != tensor:
            self.fail(node, "takes the activations as its second input")
        w = self.const(node, node.input[1]) * attrs.get("alpha", 1.0)
        weight = w if attrs.get("transB", 0) else w.T
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = np.broadcast_to(self.const(node, node.input[2]) * attrs.get("beta", 1.0),
                                   (weight.shape[0],)).copy()
        self.new_layer(node, weight, bias)
        return node.output[0]

    def matmul(self, node, tensor: str) -> str:
        if node.input[0] != tensor:
            self.fail(node, "takes the activations as its second input")
        self.new_layer(node, self.const(node, node.input[1]).T, None)
        return node.output[0]

    def add(self, node, tensor: str) -> str:
        other = node.input[1] if node.input[0] == tensor else node.input[0]
        layer = self.last(node)
        if layer["bias"] is not None or other not in self.consts or layer["relu"]:
            self.fail(node, "adds something other than a layer's constant bias")
        layer["bias"] = np.broadcast_to(self.consts[other], (layer["weight"].shape[0],)).copy()
        return node.output[0]

    def batch_norm(self, node) -> str:
        layer = self.last(node)
        if layer["relu"]:
            self.fail(node, "follows a ReLU: only a BatchNormalization right after a layer "
                      "folds into it")
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        gamma, beta, mean, var = (self.const(node, n) for n in node.input[1:5])
        scale = gamma / np.sqrt(var + eps)
        bias = layer["bias"] if layer["bias"] is not None else 0.0
        layer["weight"] = layer["weight"] * scale[:, None]
        layer["bias"] = (bias - mean) * scale + beta
        return node.output[0]

    def arrays(self) -> dict[str, np.ndarray]:
        out, seen = {}, set()
        for k, layer in enumerate(self.layers):
            name = layer["name"] if layer["name"] not in seen else f"{layer['name']}_{k}"
            seen.add(name)
            out[f"{name}.weight"] = np.asarray(layer["weight"], dtype=np.float32)
            if layer["bias"] is not None:
                out[f"{name}.bias"] = np.asarray(layer["bias"], dtype=np.float32)
            out[f"{name}.relu"] = np.array(int(layer["relu"]))
        return out
