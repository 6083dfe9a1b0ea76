"""A small numpy trainer for multilayer perceptrons (the training front end).

`MLP(sizes, seed)` is a stack of fully connected layers `fc1`, `fc2`, ... with float32
weights (out x in, the layout `eie compress` reads) and biases, He-initialized from the
seed; ReLU follows every layer but the last, whose outputs are the logits of a softmax
cross-entropy loss. `train` runs mini-batch SGD with momentum or Adam; with a fixed seed
the whole run is deterministic (same shuffles, same float32 arithmetic). Optional
per-layer masks keep pruned weights exactly zero: they are applied to the gradients
before and to the weights after every step.

`MLP.save_npz` writes exactly the `.npz` model format of `eie compress`
(`fc1.weight`, `fc1.bias`, ...); `MLP.load_npz` reads it back (pre-quantized layers
come back as their shared weights `codebook[codes]`).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np

from eie_hw.errors import EIEError

OPTIMIZERS = ("adam", "sgd")
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.05}
_DT = np.float32


class MLP:
    """Fully connected network; `weights[i]` is (out x in) float32, `biases[i]` (out,)."""

    def __init__(self, sizes, seed: int = 0):
        sizes = [int(n) for n in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise EIEError(f"network sizes {sizes} are invalid: give the input width, the "
                           f"hidden widths and the number of classes, all >= 1 "
                           f"(e.g. 64,300,100,10)")
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        self.weights = [(rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(_DT)
                        for n_in, n_out in zip(sizes, sizes[1:])]
        self.biases = [np.zeros(n_out, dtype=_DT) for n_out in sizes[1:]]
        self.names = [f"fc{i + 1}" for i in range(len(sizes) - 1)]
        self.relu = [True] * (len(sizes) - 2) + [False]

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_arrays(cls, weights, biases=None, names=None, relu=None, seed: int = 0) -> "MLP":
        weights = [np.asarray(w, dtype=_DT).copy() for w in weights]
        if not weights:
            raise EIEError("a network needs at least one layer")
        for i, w in enumerate(weights):
            if w.ndim != 2:
                raise EIEError(f"layer {i}: weight must be 2-D (out x in), got {w.shape}")
        for i, (a, b) in enumerate(zip(weights, weights[1:])):
            if a.shape[0] != b.shape[1]:
                raise EIEError(f"layer shapes do not chain: layer {i} has {a.shape[0]} "
                               f"outputs but layer {i + 1} takes {b.shape[1]} inputs")
        model = cls.__new__(cls)
        model.seed = int(seed)
        model.weights = weights
        model.biases = ([np.zeros(w.shape[0], _DT) for w in weights] if biases is None else
                        [np.zeros(w.shape[0], _DT) if b is None else
                         np.asarray(b, dtype=_DT).reshape(w.shape[0]).copy()
                         for w, b in zip(weights, biases)])
        model.names = list(names) if names is not None else [f"fc{i + 1}"
                                                              for i in range(len(weights))]
        model.relu = (list(relu) if relu is not None else
                      [True] * (len(weights) - 1) + [False])
        return model

    def copy(self) -> "MLP":
        return MLP.from_arrays(self.weights, self.biases, self.names, self.relu, self.seed)

    @property
    def sizes(self) -> list[int]:
        return [int(self.weights[0].shape[1])] + [int(w.shape[0]) for w in self.weights]

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    def densities(self) -> list[float]:
        return [float(np.count_nonzero(w)) / w.size for w in self.weights]

    # ------------------------------------------------------------------ arithmetic

    def forward(self, x) -> np.ndarray:
        """Logits (float32) for a batch `x` of shape (n, inputs)."""
        a = self._input(x)
        for w, b, relu in zip(self.weights, self.biases, self.relu):
            a = a @ w.T + b
            if relu:
                np.maximum(a, 0, out=a)
        return a

    def predict(self, x) -> np.ndarray:
        return np.argmax(self.forward(x), axis=1)

    def loss_and_grads(self, x, y) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """Mean softmax cross-entropy over the batch and its gradients (weights, biases)."""
        a = self._input(x)
        acts = [a]
        for w, b, relu in zip(self.weights, self.biases, self.relu):
            a = a @ w.T + b
            if relu:
                np.maximum(a, 0, out=a)
            acts.append(a)
        logits = acts[-1]
        n = logits.shape[0]
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, y]))
        delta = exp / total
        delta[rows, y] -= 1
        delta /= n
        grads_w = [None] * self.n_layers
        grads_b = [None] * self.n_layers
        for i in range(self.n_layers - 1, -1, -1):
            if self.relu[i]:
                delta = delta * (acts[i + 1] > 0)
            grads_w[i] = delta.T @ acts[i]
            grads_b[i] = delta.sum(axis=0)
            if i:
                delta = delta @ self.weights[i]
        return loss, grads_w, grads_b

    def _input(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=_DT)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise EIEError(f"the network takes {self.sizes[0]} features per sample, got "
                           f"input of shape {x.shape}; the data set and the model do not "
                           f"match")
        return x

    # ------------------------------------------------------------------ files

    def arrays(self, relu_flags: bool = False) -> dict[str, np.ndarray]:
        out = {}
        for name, w, b, relu in zip(self.names, self.weights, self.biases, self.relu):
            out[f"{name}.weight"] = w
            out[f"{name}.bias"] = b
            if relu_flags:
                out[f"{name}.relu"] = np.array(int(relu), dtype=np.uint8)
        return out

    def save_npz(self, path) -> Path:
        """The `.npz` model format of `eie compress`: `<layer>.weight` (out x in), `.bias`."""
        path = Path(path)
        default_relu = [True] * (self.n_layers - 1) + [False]
        _savez(path, self.arrays(relu_flags=self.relu != default_relu))
        return path

    @classmethod
    def load_npz(cls, path, code_bits: int = 4) -> "MLP":
        """Any model `eie compress` reads; pre-quantized layers as `codebook[codes]`."""
        from .model_io import load_model
        layers = load_model(path, code_bits)
        weights = [layer.weight if layer.weight is not None else
                   layer.codebook[layer.codes] for layer in layers]
        return cls.from_arrays(weights, [layer.bias for layer in layers],
                               [layer.name for layer in layers],
                               [layer.relu for layer in layers])


def _savez(path: Path, arrays: dict) -> None:
    """numpy.savez through eie_hw.output.write_file: a crash never leaves half a model."""
    import io

    from eie_hw.output import write_file
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_file(path, buffer.getvalue())


# ---------------------------------------------------------------------- optimizers

class SGD:
    """SGD with (heavy-ball) momentum: v = m v + g; p -= lr v."""

    def __init__(self, params, lr: float, momentum: float = 0.9):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.velocity = [np.zeros_like(p) for p in params]

    def step(self, grads) -> None:
        for p, g, v in zip(self.params, grads, self.velocity):
            v *= self.momentum
            v += g
            p -= self.lr * v


class Adam:
    """Adam (Kingma & Ba) with bias correction."""

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.eps = params, lr, eps
        self.b1, self.b2 = betas
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads) -> None:
        self.t += 1
        # Python floats, so that float32 parameters stay float32 (NEP 50).
        scale = float(self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t))
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * np.square(g)
            denom = np.sqrt(v)
            denom += self.eps
            np.divide(m, denom, out=denom)
            denom *= scale
            p -= denom


def make_optimizer(name: str, params, lr: float | None = None):
    if name not in OPTIMIZERS:
        raise EIEError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")
    lr = DEFAULT_LR[name] if lr is None else float(lr)
    if not np.isfinite(lr) or lr <= 0:
        raise EIEError(f"learning rate {lr} must be a positive number")
    return Adam(params, lr) if name == "adam" else SGD(params, lr)


# ---------------------------------------------------------------------- training

def check_masks(model: MLP, masks) -> list[np.ndarray | None] | None:
    """Masks as a list aligned with the layers (None = dense); a dict by layer name works."""
    if masks is None:
        return None
    if isinstance(masks, dict):
        unknown = sorted(set(masks) - set(model.names))
        if unknown:
            raise EIEError(f"masks name layer(s) {', '.join(unknown)} that the model does not "
                           f"have; its layers are {', '.join(model.names)}")
        masks = [masks.get(name) for name in model.names]
    masks = list(masks)
    if len(masks) != model.n_layers:
        raise EIEError(f"got {len(masks)} masks for a network of {model.n_layers} layers: "
                       f"give one per layer (None for a dense layer)")
    out = []
    for name, w, m in zip(model.names, model.weights, masks):
        if m is None:
            out.append(None)
            continue
        m = np.asarray(m)
        if m.shape != w.shape:
            raise EIEError(f"mask of {name} has shape {m.shape} but its weight is {w.shape}")
        out.append(m.astype(bool))
    return out


def apply_masks(model: MLP, masks) -> None:
    for w, m in zip(model.weights, masks or ()):
        if m is not None:
            w[~m] = 0


def blas_single_thread():
    """Context: BLAS on one thread while training.

    The matrices are small (batch 32 x 300): a second BLAS thread gains nothing on them
    but doubles the CPU time, and on a shared machine a busy second core makes it
    slower. Needs threadpoolctl (installed with scikit-learn); a no-op without it.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def iterate_batches(n: int, batch_size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def train(model: MLP, dataset, epochs: int, lr: float | None = None, batch_size: int = 64,
          optimizer: str = "adam", masks=None, progress=None, seed: int | None = None,
          weight_decay: float = 0.0, label: str = "train",
          progress_every: int = 1) -> list[dict]:
    """Train `model` in place; returns one record per epoch (loss, train/test accuracy).

    `masks` (one boolean array per layer, or None for a dense layer; or a dict by layer
    name) pins pruned weights at exactly zero. `seed` (default: the model's) drives the
    mini-batch shuffles. `weight_decay` adds L2 regularization `wd * w` to the weight
    gradients. `progress(message)` is called every `progress_every` epochs and after the
    last.
    """
    epochs = int(epochs)
    batch_size = int(batch_size)
    if epochs < 0:
        raise EIEError(f"epochs must be >= 0, got {epochs}")
    if batch_size < 1:
        raise EIEError(f"batch size must be >= 1, got {batch_size}")
    if dataset.n_features != model.sizes[0] or dataset.n_classes > model.sizes[-1]:
        raise EIEError(f"network {'-'.join(map(str, model.sizes))} does not fit data set "
                       f"{dataset.name} ({dataset.n_features} features, "
                       f"{dataset.n_classes} classes)")
    masks = check_masks(model, masks)
    apply_masks(model, masks)
    params = model.weights + model.biases
    opt = make_optimizer(optimizer, params, lr)
    rng = np.random.default_rng([model.seed if seed is None else int(seed), 0x7EA1])
    with blas_single_thread():
        return _train_epochs(model, dataset, epochs, batch_size, masks, opt, rng,
                             weight_decay, progress, label, max(1, int(progress_every)))


def _train_epochs(model, dataset, epochs, batch_size, masks, opt, rng, weight_decay,
                  progress, label, every) -> list[dict]:
    x, y = dataset.x_train, dataset.y_train
    history = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        losses = []
        for idx in iterate_batches(len(y), batch_size, rng):
            loss, gw, gb = model.loss_and_grads(x[idx], y[idx])
            if weight_decay:
                gw = [g + weight_decay * w for g, w in zip(gw, model.weights)]
            if masks is not None:
                for g, m in zip(gw, masks):
                    if m is not None:
                        g[~m] = 0
            if not np.isfinite(loss):
                raise EIEError(f"training diverged (loss {loss}) at epoch {epoch + 1}: "
                               f"lower the learning rate")
            opt.step(gw + gb)
            apply_masks(model, masks)
            losses.append(loss)
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)),
                  "test_accuracy": accuracy(model, dataset.x_test, dataset.y_test)}
        history.append(record)
        if progress and ((epoch + 1) % every == 0 or epoch + 1 == epochs):
            progress(f"{label} epoch {epoch + 1}/{epochs}: loss {record['loss']:.4f}, "
                     f"test accuracy {100 * record['test_accuracy']:.2f} % "
                     f"({time.perf_counter() - t0:.1f} s)")
    return history


def accuracy(model: MLP, x, y) -> float:
    """Fraction of samples whose arg-max logit is the label."""
    y = np.asarray(y)
    if len(y) == 0:
        return 0.0
    return float(np.mean(model.predict(x) == y))


def predict(model: MLP, x) -> np.ndarray:
    return model.predict(x)


def save_npz(model: MLP, path) -> Path:
    return model.save_npz(path)


def load_npz(path, code_bits: int = 4) -> MLP:
    return MLP.load_npz(path, code_bits)


# ---------------------------------------------------------------------- PyTorch import

def import_state_dict(path) -> MLP:
    """An MLP from a PyTorch `state_dict` of `nn.Linear` layers (needs torch installed).

    Layers are the 2-D `<name>.weight` tensors in the state_dict's order, each with its
    optional `<name>.bias`; ReLU is assumed after every layer but the last.
    """
    try:
        import torch
    except ImportError:
        raise EIEError("importing a PyTorch state_dict needs torch, which is not installed: "
                       "install it (pip install torch), or export the weights with "
                       "numpy.savez(path, **{'fc1.weight': W1, 'fc1.bias': b1, ...})") from None
    path = Path(path)
    if not path.is_file():
        raise EIEError(f"state_dict file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise EIEError(f"cannot read {path} as a PyTorch state_dict ({exc})") from None
    if hasattr(state, "state_dict"):
        state = state.state_dict()
    if not isinstance(state, dict):
        raise EIEError(f"{path} holds a {type(state).__name__}, not a state_dict: save "
                       f"model.state_dict()")
    arrays = {key: value.detach().cpu().numpy() for key, value in state.items()
              if hasattr(value, "detach")}
    return state_dict_to_mlp(arrays, str(path))


def state_dict_to_mlp(arrays: dict[str, np.ndarray], where: str = "state_dict") -> MLP:
    names, weights, biases = [], [], []
    for key, value in arrays.items():
        name, dot, kind = key.rpartition(".")
        if kind != "weight":
            continue
        if value.ndim != 2:
            raise EIEError(f"{where}: {key} has shape {tuple(value.shape)}; only Linear "
                           f"layers (2-D weights) can be imported, not convolutions or norms")
        names.append(name)
        weights.append(value)
        biases.append(arrays.get(f"{name}.bias"))
    if not weights:
        raise EIEError(f"{where} holds no 2-D <layer>.weight tensors (Linear layers)")
    return MLP.from_arrays(weights, biases, names)
