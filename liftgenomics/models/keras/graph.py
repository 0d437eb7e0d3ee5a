"""The PyTorch module that runs a Keras model's layer graph: :class:`KerasGraph`.

The graph is described by plain JSON-serialisable node dicts (``{"op": "conv", "in": 4, ...}``,
each with ``"name"`` and ``"inputs"``), so :func:`keras_model` rebuilds the same module from a
saved architecture (the registry's ``"keras"`` entry) and the reader
(:mod:`liftgenomics.models.keras.build`) goes through the same constructor.

Every tensor is channels-first: sequences (N, C, L), vectors (N, F). The ops are standard
torch calls the attribution engine has rules for (``F.conv1d``, ``F.linear``,
``F.max_pool1d``, ``F.avg_pool1d``, ``F.batch_norm``, ``torch.cat``, ``+``, ``*``, ``F.pad``,
``narrow``); Keras "same" padding is computed from the input length at run time (a Python
int per call, never per sample).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from liftgenomics.errors import LiftGenomicsError


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=1)


#: Keras activation names -> torch functions (None: identity).
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor] | None] = {
    "linear": None,
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": _softmax,
    "exponential": torch.exp,
    "exp": torch.exp,
    "softplus": F.softplus,
    "elu": F.elu,
    "selu": F.selu,
    "softsign": F.softsign,
    "swish": F.silu,
    "silu": F.silu,
}


def same_padding(length: int, size: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Keras/TensorFlow "same" padding (left, right): an odd total pads more on the right."""
    span = (size - 1) * dilation + 1
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


def _activate(x: torch.Tensor, name: str) -> torch.Tensor:
    function = ACTIVATIONS[name]
    return x if function is None else function(x)


class Conv(nn.Module):
    """A 1-D convolution with Keras padding ("valid", "same", "causal") and an activation."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            spec["in"], spec["out"], spec["kernel"], stride=spec.get("stride", 1),
            dilation=spec.get("dilation", 1), bias=spec.get("bias", True),
        )  # fmt: skip
        self.padding = spec.get("padding", "valid")
        self.activation = spec.get("activation", "linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        size, stride, dilation = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
        if self.padding == "same":
            left, right = same_padding(x.shape[-1], size, stride, dilation)
        elif self.padding == "causal":
            left, right = (size - 1) * dilation, 0
        else:
            left = right = 0
        if left != right:
            x = F.pad(x, (left, right))
            left = 0
        y = F.conv1d(x, conv.weight, conv.bias, stride, left, dilation)
        return _activate(y, self.activation)


class Dense(nn.Module):
    """A dense layer on vectors (N, F), or on every position of a sequence (N, C, L)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.linear = nn.Linear(spec["in"], spec["out"], bias=spec.get("bias", True))
        self.activation = spec.get("activation", "linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            y = F.linear(x, self.linear.weight, self.linear.bias)
        else:
            y = F.conv1d(x, self.linear.weight.unsqueeze(-1), self.linear.bias)
        return _activate(y, self.activation)


class Activation(nn.Module):
    """An activation layer (``negative_slope`` set: LeakyReLU)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.activation = spec["activation"]
        self.negative_slope = spec.get("negative_slope")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.negative_slope is not None:
            return F.leaky_relu(x, self.negative_slope)
        return _activate(x, self.activation)


class Pool(nn.Module):
    """Max or average pooling along the length axis (Keras "valid" or TensorFlow "same")."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.kind = spec["op"]
        self.size = spec["size"]
        self.stride = spec["stride"]
        self.padding = spec.get("padding", "valid")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = right = 0
        if self.padding == "same":
            left, right = same_padding(x.shape[-1], self.size, self.stride)
        if self.kind == "maxpool":
            if left or right:
                # TensorFlow ignores the padding; every padded window also holds the edge
                # value, so padding with copies of it gives the same maxima.
                x = F.pad(x, (left, right), mode="replicate")
            return F.max_pool1d(x, self.size, self.stride)
        if left == right:
            return F.avg_pool1d(x, self.size, self.stride, left, count_include_pad=False)
        # Asymmetric "same": average over the real positions of each window only.
        ones = torch.ones((1, 1, x.shape[-1]), dtype=x.dtype, device=x.device)
        counts = F.avg_pool1d(F.pad(ones, (left, right)), self.size, self.stride)
        return F.avg_pool1d(F.pad(x, (left, right)), self.size, self.stride) / counts


class GlobalPool(nn.Module):
    """Global average or max pooling over the length axis: (N, C, L) -> (N, C)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.kind = spec["op"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "gap":
            return x.mean(dim=2)
        return F.adaptive_max_pool1d(x, 1).squeeze(-1)


class Flatten(nn.Module):
    """Flatten as Keras does: ``order="length"`` for channels-last tensors (L, C)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.order = spec.get("order", "channel")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2 and self.order == "length":
            x = x.transpose(1, 2)
        return x.reshape(x.shape[0], -1)


class ToSequence(nn.Module):
    """Keras ``Reshape((L, C))``: (N, L·C), or a sequence flattened in ``order``, -> (N, C, L)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.length = spec["length"]
        self.channels = spec["channels"]
        self.order = spec.get("order", "channel")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2 and self.order == "length":
            x = x.transpose(1, 2)
        return x.reshape(x.shape[0], self.length, self.channels).transpose(1, 2)


class BatchNorm(nn.Module):
    """Eval-mode batch normalisation over the channel axis (running statistics)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        channels = spec["channels"]
        self.eps = float(spec.get("eps", 1e-3))
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


class Merge(nn.Module):
    """Add, Subtract, Multiply, Average or Concatenate several tensors."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.kind = spec["op"]
        self.dim = spec.get("dim", 1)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.kind == "concat":
            return torch.cat(xs, dim=self.dim)
        if self.kind == "subtract":
            return xs[0] - xs[1]
        out = xs[0]
        for x in xs[1:]:
            out = out * x if self.kind == "mul" else out + x
        return out / len(xs) if self.kind == "average" else out


class Crop(nn.Module):
    """Cropping1D (``left``/``right`` > 0) or ZeroPadding1D (``pad``) on the length axis."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.kind = spec["op"]
        self.left = spec["left"]
        self.right = spec["right"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "pad":
            return F.pad(x, (self.left, self.right))
        return x.narrow(2, self.left, x.shape[2] - self.left - self.right)


OPS: dict[str, type[nn.Module]] = {
    "conv": Conv,
    "dense": Dense,
    "activation": Activation,
    "maxpool": Pool,
    "avgpool": Pool,
    "gap": GlobalPool,
    "gmp": GlobalPool,
    "flatten": Flatten,
    "to_sequence": ToSequence,
    "batchnorm": BatchNorm,
    "add": Merge,
    "subtract": Merge,
    "mul": Merge,
    "average": Merge,
    "concat": Merge,
    "crop": Crop,
    "pad": Crop,
}


_RESERVED = set(dir(nn.ModuleDict()))


def module_key(name: str, taken: set[str]) -> str:
    """A ModuleDict key for a Keras layer name (no dots, unique, not an attribute's name)."""
    key = re.sub(r"\W", "_", name) or "layer"
    while key in taken or key in _RESERVED:
        key += "_"
    taken.add(key)
    return key


class KerasGraph(nn.Module):
    """A Keras layer graph on channels-first tensors.

    Attributes:
        layers: The ops, keyed by (sanitised) Keras layer name.
        keys: Keras layer name -> its key in ``layers``.
        input_length: The sequence length the model takes (None: any).
        default_output: ``"logits"`` when the final sigmoid/softmax is split off.
    """

    def __init__(
        self,
        nodes: list[dict[str, Any]],
        input: str,
        outputs: list[str],
        split: str | None = None,
        input_length: int | None = None,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleDict()
        taken: set[str] = {input}
        self._plan: list[tuple[str, list[str]]] = []
        keys = {input: input}
        for node in nodes:
            if node.get("op") not in OPS:
                raise LiftGenomicsError(f"keras architecture: unknown op {node.get('op')!r}")
            key = module_key(node["name"], taken)
            self.layers[key] = OPS[node["op"]](node)
            self._plan.append((key, [keys[source] for source in node["inputs"]]))
            keys[node["name"]] = key
        self.keys = keys
        self._input = input
        self._outputs = [keys[name] for name in outputs]
        if split is not None and (split not in ("sigmoid", "softmax") or len(outputs) != 1):
            raise LiftGenomicsError(f"keras architecture: cannot split {split!r} off")
        self.split = split
        self.input_length = input_length
        if split is not None:
            self.default_output = "logits"

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple | dict[str, torch.Tensor]:
        """Run the graph on one-hot sequences (N, 4, L)."""
        values = {self._input: x}
        for key, sources in self._plan:
            values[key] = self.layers[key](*[values[source] for source in sources])
        outputs = [values[key] for key in self._outputs]
        if self.split is not None:
            logits = outputs[0]
            return {"logits": logits, "activated": _activate(logits, self.split)}
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def keras_model(
    nodes: list[dict[str, Any]],
    input: str = "input",
    outputs: list[str] | None = None,
    split: str | None = None,
    input_length: int | None = None,
) -> KerasGraph:
    """Build a :class:`KerasGraph` (freshly initialised) from its architecture.

    This is the registry's ``"keras"`` constructor: ``{"name": "keras", "nodes": [...],
    "input": ..., "outputs": [...], "split": ..., "input_length": ...}`` is what
    :func:`liftgenomics.models.keras.load_keras` records as ``model.architecture``.

    Args:
        nodes: The ops in execution order, each ``{"name", "op", "inputs", **hyperparameters}``.
        input: The name the one-hot input goes by.
        outputs: The output nodes' names, in order (default: the last node).
        split: ``"sigmoid"``/``"softmax"``: return ``{"logits", "activated"}``.
        input_length: The fixed input length, if any.
    """
    if not isinstance(nodes, list) or not nodes:
        raise LiftGenomicsError("keras architecture: 'nodes' must be a non-empty list")
    return KerasGraph(nodes, input, outputs or [nodes[-1]["name"]], split, input_length)
