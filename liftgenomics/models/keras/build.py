"""Lower a :class:`~liftgenomics.models.keras.config.KerasModel` to graph nodes and weights.

:func:`lower` follows each tensor's Keras layout through the graph (:class:`Shape`) and turns
every layer into a node of :mod:`liftgenomics.models.keras.graph` plus its PyTorch weights:

- tensors are kept channels-first: a channels-last sequence (L, C) is (N, C, L); a 2-D
  genomics tensor (Theano ``(C, H, L)`` or TensorFlow ``(H, L, C)``, the length on either
  spatial axis) is (N, C·H, L), its other spatial axis folded into the channels. A Conv2D
  whose kernel spans that whole axis (the 4 bases of a ``(1, 4, L)`` input) is a Conv1d over
  C·H channels; every other 2-D op needs that axis 1-wide.
- kernels: Keras 2 (k, in, out) and (kh, kw, in, out); Keras 0.x/1.x Theano ordering
  (out, in, kh, kw). Models trained with the Theano backend (the ``backend`` attribute; without
  one, Keras 0.x or ``dim_ordering: "th"``) ran a true convolution: their kernels are flipped
  in both spatial axes.
- ``Flatten`` of a channels-last tensor flattens length-major, as Keras does.
- Dropout and noise layers, InputLayer and linear activations vanish.

Layers or options without an exact equivalent are refused naming the file, layer and class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.keras.config import KerasLayer, KerasModel
from liftgenomics.models.keras.layers import RULES
from liftgenomics.models.keras.layout import (
    INERT,
    MERGES,
    SPLITTABLE,
    WEIGHTED,
    Lowering,
    Shape,
)


@dataclass
class Lowered:
    """The lowered graph: nodes for :func:`~liftgenomics.models.keras.graph.keras_model`.

    Attributes:
        nodes: The node dicts, in execution order.
        input: The input layer's name.
        outputs: The output node names.
        split: The final activation split off, or None.
        input_length: The fixed input length, or None.
        state: Node name -> {parameter name within the node's module: array}.
    """

    nodes: list[dict[str, Any]]
    input: str
    outputs: list[str]
    split: str | None
    input_length: int | None
    state: dict[str, dict[str, np.ndarray]]

    def architecture(self) -> dict[str, Any]:
        """The registry architecture dict (``{"name": "keras", ...}``)."""
        return {"name": "keras", "nodes": self.nodes, "input": self.input,
                "outputs": self.outputs, "split": self.split,
                "input_length": self.input_length}  # fmt: skip


def input_shape(model: KerasModel, layer: KerasLayer, where: str) -> Shape:
    """The :class:`Shape` of the model's input, checked to take (N, 4, L) one-hot sequences."""
    shape = layer.config.get("batch_input_shape")
    if not isinstance(shape, list | tuple) or len(shape) < 2:
        raise LiftGenomicsError(f"{where}: {layer.label}: the input shape is not given")
    dims = list(shape)[1:]
    if any(d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1)
           for d in dims):  # fmt: skip
        raise LiftGenomicsError(
            f"{where}: {layer.label}: input shape {tuple(dims)} is not a list of positive integers"
        )
    formats = [item.config.get("data_format") for item in model.layers
               if item.config.get("data_format")]  # fmt: skip
    first = formats[0] if formats else ("channels_first" if model.major <= 1 else "channels_last")
    bad = LiftGenomicsError(
        f"{where}: {layer.label}: input shape {tuple(dims)} is not a one-hot sequence "
        "((L, 4), (1, 4, L) or (1, L, 4))"
    )
    if len(dims) == 2:
        if dims[1] != 4:
            raise bad
        return Shape("1d", 4, 1, dims[0])
    if len(dims) != 3:
        raise bad
    if first == "channels_first":
        channels, height, width = dims
        length_first = width is not None and (height is None or height > width)
        kind, other, length = ("thh", width, height) if length_first else ("th", height, width)
    else:
        height, width, channels = dims
        length_first = width is not None and (height is None or height > width)
        kind, other, length = ("tfh", width, height) if length_first else ("tfw", height, width)
    if channels is None or other is None or channels * other != 4:
        raise bad
    return Shape(kind, channels, other, length)


def lower(model: KerasModel, weights: dict[str, list[np.ndarray]], where: str, flip: bool
          ) -> Lowered:  # fmt: skip
    """Lower a Keras graph to graph nodes and their weights.

    Args:
        model: The graph (:func:`~liftgenomics.models.keras.config.parse_config`).
        weights: Layer name -> its Keras arrays (already matched to the graph's names).
        where: The file(s), for messages.
        flip: Whether convolution kernels are flipped (a Theano-trained model).

    Raises:
        LiftGenomicsError: one line naming the file, layer and class, for anything refused.
    """
    if len(model.inputs) != 1:
        raise LiftGenomicsError(
            f"{where}: the model has {len(model.inputs)} inputs; only one-input models are read"
        )
    state = Lowering(model, weights, where, flip)
    input_name = model.inputs[0]
    for layer in model.layers:
        if layer.cls == "InputLayer":
            if layer.name != input_name:
                raise state.fail(layer, "a second input")
            state.shapes[layer.name] = input_shape(model, layer, where)
            continue
        if not layer.inbound:
            raise state.fail(layer, "the layer reads no input")
        inputs = [state.shapes[name] for name in layer.inbound]
        if layer.cls in INERT:
            state.same(layer, inputs[0])
            continue
        rule = RULES.get(layer.cls)
        if rule is None:
            why = ("Lambda layers run arbitrary code and are never read" if layer.cls == "Lambda"
                   else "this layer class is not supported")  # fmt: skip
            raise state.fail(layer, why)
        if layer.cls not in MERGES and len(inputs) != 1:
            raise state.fail(layer, f"reads {len(inputs)} tensors, expected one")
        if layer.cls not in WEIGHTED and weights.get(layer.name):
            raise state.fail(layer, "the weights file has weights for a layer that has none")
        try:
            rule(state, layer, inputs)
        except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as error:
            raise state.fail(layer, f"unsupported configuration ({error})") from None
    outputs = [state.source(name) for name in model.outputs]
    split = _split(state, outputs)
    if split is not None:
        outputs = split[1]
    nodes = _prune(state.nodes, outputs)
    _fold_flatten_order(state, nodes, outputs)
    if not nodes:
        raise LiftGenomicsError(f"{where}: the model computes nothing")
    input_shape_ = state.shapes[input_name]
    return Lowered(nodes, input_name, outputs, split[0] if split else None,
                   input_shape_.length, state.state)  # fmt: skip


def _split(state: Lowering, outputs: list[str]) -> tuple[str, list[str]] | None:
    """Split a final sigmoid/softmax off a single output: (activation, new outputs)."""
    if len(outputs) != 1 or outputs[0] not in state.producer:
        return None
    node = state.producer[outputs[0]]
    if state.shapes[outputs[0]].theano:
        return None
    users = [other for other in state.nodes if outputs[0] in other["inputs"]]
    if node["op"] == "activation" and node["activation"] in SPLITTABLE \
            and node.get("negative_slope") is None:  # fmt: skip
        return node["activation"], [node["inputs"][0]]
    if node["op"] in ("dense", "conv") and node["activation"] in SPLITTABLE and not users:
        activation = node["activation"]
        node["activation"] = "linear"
        return activation, outputs
    return None


def _fold_flatten_order(state: Lowering, nodes: list[dict[str, Any]], outputs: list[str]
                        ) -> None:  # fmt: skip
    """Fold a length-major Flatten's transpose into the one Dense that reads it.

    Keras flattens (L, C) as ``l * C + c``; a channel-major flatten of (N, C, L) gives
    ``c * L + l``. Permuting the Dense kernel's columns once here spares a transpose and copy
    on every forward call.
    """
    for flat in nodes:
        if flat["op"] != "flatten" or flat["order"] != "length" or flat["name"] in outputs:
            continue
        users = [node for node in nodes if flat["name"] in node["inputs"]]
        if len(users) != 1 or users[0]["op"] != "dense":
            continue
        shape = state.shapes[flat["inputs"][0]]
        length, channels = shape.length, shape.channels * shape.other
        weight = state.state[users[0]["name"]]["linear.weight"]
        state.state[users[0]["name"]]["linear.weight"] = np.ascontiguousarray(
            weight.reshape(-1, length, channels).transpose(0, 2, 1).reshape(weight.shape[0], -1)
        )
        flat["order"] = "channel"


def _prune(nodes: list[dict[str, Any]], outputs: list[str]) -> list[dict[str, Any]]:
    """The nodes that the outputs need, in order."""
    needed = set(outputs)
    for node in reversed(nodes):
        if node["name"] in needed:
            needed.update(node["inputs"])
    return [node for node in nodes if node["name"] in needed]
