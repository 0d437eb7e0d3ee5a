"""Keras tensor layouts and the state of a lowering pass, shared by the layer rules.

:class:`Shape` is a tensor's Keras layout (which axis is the length, which the channels, which
spatial axis is folded into the channels); :class:`Lowering` collects the nodes, the weights
and each tensor's shape as :func:`liftgenomics.models.keras.build.lower` walks the graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.keras.config import KerasLayer, KerasModel
from liftgenomics.models.keras.graph import ACTIVATIONS

#: Layers that are the identity at inference.
INERT = {
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "ActivityRegularization",
}  # fmt: skip
WEIGHTED = {"Conv1D", "Conv2D", "Dense", "BatchNormalization"}
MERGES = {"Add": "add", "Subtract": "subtract", "Multiply": "mul", "Average": "average",
          "Concatenate": "concat"}  # fmt: skip
SPLITTABLE = ("sigmoid", "softmax")


@dataclass(frozen=True)
class Shape:
    """A tensor's Keras layout.

    Attributes:
        kind: ``"flat"`` (F,), ``"1d"`` (L, C), ``"th"`` (C, O, L), ``"thh"`` (C, L, O),
            ``"tfw"`` (O, L, C) or ``"tfh"`` (L, O, C).
        channels: C (F for ``"flat"``).
        other: O, the spatial axis folded into the channels (1 for ``"flat"``/``"1d"``).
        length: L (None: any).
    """

    kind: str
    channels: int
    other: int = 1
    length: int | None = None

    @property
    def two_d(self) -> bool:
        return self.kind in ("th", "thh", "tfw", "tfh")

    @property
    def theano(self) -> bool:
        return self.kind in ("th", "thh")

    @property
    def length_first(self) -> bool:
        """Whether the length axis comes before the other spatial axis (``thh``, ``tfh``)."""
        return self.kind in ("thh", "tfh")


def integer(value: Any) -> int:
    """A JSON number that is a whole number (``3`` or ``3.0``), else ValueError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise ValueError(f"{value!r} is not an integer")
    return int(value)


def as_int(value: Any, index: int = 0) -> int:
    """An int from a Keras int-or-list parameter."""
    if isinstance(value, list | tuple):
        return integer(value[index])
    return integer(value)


def as_positive(value: Any) -> int:
    """A kernel size, stride, dilation or unit count: an int of at least 1."""
    number = as_int(value)
    if number < 1:
        raise ValueError(f"{value!r} is not a positive integer")
    return number


def as_pair(value: Any) -> tuple[int, int]:
    """Two ints from a Keras int, ``[n]`` or ``[a, b]`` parameter."""
    if isinstance(value, list | tuple):
        if len(value) == 1:
            return integer(value[0]), integer(value[0])
        if len(value) == 2 and isinstance(value[0], list | tuple):
            raise ValueError("nested pair")
        return integer(value[0]), integer(value[1])
    return integer(value), integer(value)


def out_length(length: int | None, span: int, stride: int, padding: str) -> int | None:
    """The output length of a convolution or pooling window (None for any input length)."""
    if length is None:
        return None
    if padding == "same":
        return math.ceil(length / stride)
    if padding == "causal":
        return (length - 1) // stride + 1
    return (length - span) // stride + 1


class Lowering:
    """The state of one lowering pass (see :func:`lower`)."""

    def __init__(self, model: KerasModel, weights: dict[str, list[np.ndarray]],
                 where: str, flip: bool) -> None:  # fmt: skip
        self.model = model
        self.weights = weights
        self.where = where
        self.flip = flip
        self.shapes: dict[str, Shape] = {}
        self.alias: dict[str, str] = {}
        self.nodes: list[dict[str, Any]] = []
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.producer: dict[str, dict[str, Any]] = {}

    def fail(self, layer: KerasLayer, why: str) -> LiftGenomicsError:
        return LiftGenomicsError(f"{self.where}: {layer.label}: {why}")

    def source(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def add(self, layer: KerasLayer, node: dict[str, Any], shape: Shape,
            state: dict[str, np.ndarray] | None = None) -> None:  # fmt: skip
        node = {"name": layer.name, "inputs": [self.source(n) for n in layer.inbound], **node}
        self.nodes.append(node)
        self.producer[layer.name] = node
        self.shapes[layer.name] = shape
        if state:
            self.state[layer.name] = state

    def same(self, layer: KerasLayer, shape: Shape) -> None:
        self.alias[layer.name] = layer.inbound[0]
        self.shapes[layer.name] = shape

    def arrays(self, layer: KerasLayer, count: int) -> list[np.ndarray]:
        arrays = self.weights.get(layer.name)
        if not arrays:
            raise self.fail(layer, "no weights for this layer in the weights file")
        if len(arrays) != count:
            raise self.fail(
                layer, f"the weights file has {len(arrays)} arrays for it, expected {count}"
            )
        return [np.asarray(a, dtype=np.float32) for a in arrays]

    def activation(self, layer: KerasLayer, shape: Shape, name: Any = None) -> str:
        name = str(layer.config.get("activation", "linear") if name is None else name)
        if name not in ACTIVATIONS:
            raise self.fail(layer, f"activation {name!r} is not supported")
        if name == "softmax" and shape.theano:
            raise self.fail(layer, "softmax over a channels-first tensor is not supported")
        return name


def with_length(shape: Shape, length: int | None, channels: int | None = None) -> Shape:
    """``shape`` with a new length (and channel count), the other axis 1-wide."""
    return replace(shape, length=length, channels=shape.channels if channels is None
                   else channels, other=1)  # fmt: skip
