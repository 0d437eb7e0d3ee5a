"""Write tiny Keras-format files with h5py/json, and NumPy forward passes in Keras's layout.

The writers follow the layouts Keras itself writes (Keras 2 ``model.save``/``save_weights``,
Keras 0.x ``layer_{i}/param_{j}``); the NumPy functions compute layers from the Keras weight
layout directly, with loops, independently of the reader under test. Arrays are channels-last
(L, C) per sequence, as Keras holds them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np


def _strings(names: list[str]) -> np.ndarray:
    return np.array([n.encode() for n in names], dtype="S")


def write_weight_groups(root: h5py.Group, weights: dict[str, list[np.ndarray]],
                        order: list[str], suffixes: dict[str, list[str]]) -> None:  # fmt: skip
    """Keras 2 ``save_weights`` groups: ``{layer}/{layer}/{name}:0`` and the name attributes."""
    root.attrs["layer_names"] = _strings(order)
    root.attrs["backend"] = b"tensorflow"
    root.attrs["keras_version"] = b"2.2.4"
    for layer in order:
        group = root.create_group(layer)
        arrays = weights.get(layer, [])
        names = [f"{layer}/{suffix}:0" for suffix in suffixes.get(layer, [])][: len(arrays)]
        group.attrs["weight_names"] = _strings(names) if names else np.array([], dtype=float)
        for name, array in zip(names, arrays, strict=True):
            group.create_dataset(name, data=np.asarray(array, dtype=np.float32))


def layer_order(config: dict) -> list[str]:
    """The layer names of a Keras 2 model config, in order."""
    inner = config["config"]
    layers = inner if isinstance(inner, list) else inner["layers"]
    return [layer["config"]["name"] for layer in layers]


def write_keras2_model(path: Path, config: dict, weights: dict[str, list[np.ndarray]],
                       suffixes: dict[str, list[str]]) -> Path:  # fmt: skip
    """A full Keras 2 model file (``model_config`` + ``model_weights``)."""
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config).encode()
        h5.attrs["keras_version"] = config.get("keras_version", "2.2.4").encode()
        h5.attrs["backend"] = b"tensorflow"
        write_weight_groups(h5.create_group("model_weights"), weights, layer_order(config),
                            suffixes)  # fmt: skip
    return path


def write_keras2_weights(path: Path, config: dict, weights: dict[str, list[np.ndarray]],
                         suffixes: dict[str, list[str]]) -> Path:  # fmt: skip
    """A Keras 2 weights-only file (``save_weights``)."""
    with h5py.File(path, "w") as h5:
        write_weight_groups(h5, weights, layer_order(config), suffixes)
    return path


def write_keras0_weights(path: Path, params: list[list[np.ndarray]]) -> Path:
    """A Keras 0.x weights file: ``layer_{i}/param_{j}``."""
    with h5py.File(path, "w") as h5:
        h5.attrs["nb_layers"] = len(params)
        for i, arrays in enumerate(params):
            group = h5.create_group(f"layer_{i}")
            group.attrs["nb_params"] = len(arrays)
            for j, array in enumerate(arrays):
                group.create_dataset(f"param_{j}", data=np.asarray(array, dtype=np.float32))
    return path


def layer(cls: str, **config) -> dict:
    """A Keras 2 layer entry."""
    return {"class_name": cls, "config": config}


# --------------------------------------------------------------------- NumPy forward passes


def same_pads(length: int, span: int, stride: int) -> tuple[int, int]:
    out = -(-length // stride)
    total = max((out - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


def np_conv1d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, stride: int = 1,
              dilation: int = 1, padding: str = "valid") -> np.ndarray:  # fmt: skip
    """Keras Conv1D (cross-correlation): x (L, C), kernel (k, C, F) -> (L', F)."""
    size = kernel.shape[0]
    span = (size - 1) * dilation + 1
    left = right = 0
    if padding == "same":
        left, right = same_pads(x.shape[0], span, stride)
    x = np.concatenate([np.zeros((left, x.shape[1])), x, np.zeros((right, x.shape[1]))])
    n_out = (x.shape[0] - span) // stride + 1
    out = np.zeros((n_out, kernel.shape[2]))
    for i in range(n_out):
        for t in range(size):
            out[i] += x[i * stride + t * dilation] @ kernel[t]
    return out + (0 if bias is None else bias)


def np_theano_conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Theano's valid 2-D *convolution*: x (C, H, W), kernel (F, C, kh, kw) -> (F, H', W')."""
    filters, _, kh, kw = kernel.shape
    height, width = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    out = np.zeros((filters, height, width))
    for f in range(filters):
        for i in range(height):
            for j in range(width):
                total = 0.0
                for a in range(kh):
                    for b in range(kw):
                        total += x[:, i + a, j + b] @ kernel[f, :, kh - 1 - a, kw - 1 - b]
                out[f, i, j] = total + bias[f]
    return out


def np_pool(x: np.ndarray, size: int, stride: int, kind: str) -> np.ndarray:
    """Valid max/average pooling along axis 0 of (L, C)."""
    n_out = (x.shape[0] - size) // stride + 1
    windows = [x[i * stride : i * stride + size] for i in range(n_out)]
    reduce = np.max if kind == "max" else np.mean
    return np.stack([reduce(w, axis=0) for w in windows])


def np_batch_norm(x: np.ndarray, gamma, beta, mean, var, eps: float) -> np.ndarray:
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def one_hot_channels_last(n: int, length: int, seed: int) -> np.ndarray:
    """(n, L, 4) random one-hot sequences."""
    codes = np.random.default_rng(seed).integers(0, 4, (n, length))
    return np.eye(4)[codes]


def ceil_div(a: int, b: int) -> int:
    return math.ceil(a / b)


def np_pool_same(x: np.ndarray, size: int, stride: int, kind: str) -> np.ndarray:
    """TensorFlow "same" pooling along axis 0 of (L, C): padded positions are ignored."""
    length = x.shape[0]
    left, _ = same_pads(length, size, stride)
    out = []
    for i in range(-(-length // stride)):
        start = i * stride - left
        window = x[max(start, 0) : min(start + size, length)]
        out.append(window.max(axis=0) if kind == "max" else window.mean(axis=0))
    return np.stack(out)
