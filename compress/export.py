"""`eie export DIR -o model.npz|model.onnx` (issue 15): the compressed network as dense
float weights, what the hardware computes before fixed-point rounding, in the original
row order, for a user to check it in their own framework.

- `.npz`: `<layer>.weight` (out x in, float32: each weight its codebook value, pruned
  weights 0), `<layer>.bias`, `<layer>.relu`, the form `eie compress` reads;
- `.onnx`: one Gemm (transB = 1) per layer and a Relu where the layer has one (the `onnx`
  extra).

Each layer's codebook goes with it (`<layer>.codebook` in the .npz, the model's
`eie.codebooks` metadata in the ONNX file), so compressing the export again takes its
layers as already pruned and shared and gives the same images; without the codebooks
(a framework's own re-export) the weights are pruned and shared anew.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eie_hw.errors import EIEError
from eie_hw.output import write_file

EXPORT_SUFFIXES = (".npz", ".onnx")
CODEBOOKS_KEY = "eie.codebooks"     # ONNX metadata: {layer: codebook}


def dense_layers(directory) -> list[dict]:
    """The model in `directory` (`eie compress -o DIR`): per layer its name, dense float
    weight (out x in, original order), bias and ReLU."""
    from .balance import original_layers
    from .manifest import read_model_dir
    model, _, _ = read_model_dir(Path(directory))
    return [{"name": layer.name,
             "weight": layer.shared_weights().astype(np.float32),
             "bias": None if layer.bias is None else np.asarray(layer.bias, np.float32),
             "relu": bool(layer.relu), "codebook": np.asarray(layer.codebook, np.float32)}
            for layer in original_layers(model.layers)]


def npz_bytes(layers: list[dict]) -> bytes:
    import io
    arrays = {}
    for layer in layers:
        arrays[f"{layer['name']}.weight"] = layer["weight"]
        if layer["bias"] is not None:
            arrays[f"{layer['name']}.bias"] = layer["bias"]
        arrays[f"{layer['name']}.relu"] = np.array(int(layer["relu"]))
        arrays[f"{layer['name']}.codebook"] = layer["codebook"]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def onnx_model(layers: list[dict]):
    """An ONNX ModelProto of the layers: x (1 x in) -> Gemm [-> Relu] ... -> y."""
    from .model_onnx import _onnx
    onnx, numpy_helper = _onnx()
    helper, tensor = onnx.helper, onnx.TensorProto
    nodes, inits, current = [], [], "x"
    for k, layer in enumerate(layers):
        name = layer["name"]
        inputs = [current, f"{name}.weight"]
        inits.append(numpy_helper.from_array(layer["weight"], f"{name}.weight"))
        if layer["bias"] is not None:
            inputs.append(f"{name}.bias")
            inits.append(numpy_helper.from_array(layer["bias"], f"{name}.bias"))
        last = k == len(layers) - 1
        out = "y" if last and not layer["relu"] else f"{name}.out"
        nodes.append(helper.make_node("Gemm", inputs, [out], name=name, transB=1))
        if layer["relu"]:
            relu_out = "y" if last else f"{name}.relu"
            nodes.append(helper.make_node("Relu", [out], [relu_out], name=f"{name}_relu"))
            out = relu_out
        current = out
    cols, rows = layers[0]["weight"].shape[1], layers[-1]["weight"].shape[0]
    graph = helper.make_graph(
        nodes, "eie_compressed_mlp",
        [helper.make_tensor_value_info("x", tensor.FLOAT, ["batch", cols])],
        [helper.make_tensor_value_info("y", tensor.FLOAT, ["batch", rows])], inits)
    model = helper.make_model(graph, producer_name="eie-hw")
    # The codebooks, so that `eie compress` takes the layers as shared already (exactly).
    helper.set_model_props(model, {CODEBOOKS_KEY: json.dumps(
        {layer["name"]: [float(v) for v in layer["codebook"]] for layer in layers})})
    return model


def export(directory, out) -> Path:
    """Write the model in `directory` to `out` (.npz or .onnx, by its suffix)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise EIEError(f"-o {out}: name the file .npz or .onnx (the format follows the "
                       f"suffix)")
    layers = dense_layers(directory)
    if suffix == ".npz":
        return write_file(out, npz_bytes(layers), flag="-o")
    return write_file(out, onnx_model(layers).SerializeToString(), flag="-o")
