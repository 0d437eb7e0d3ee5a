"""Read a Keras model description (JSON or an ``.h5`` file's ``model_config``) into one graph.

Keras wrote its architectures four ways over the years; :func:`parse_config` reads them all
into a :class:`KerasModel`: layers in execution order, each with its Keras 2 class name, a
config whose parameters carry their Keras 2 names, and the names of the layers it reads.

- Keras 0.x ``Sequential``: ``{"name": "Sequential", "layers": [{"name": CLASS, ...}]}``; the
  layers have no names, so they are called ``layer_{i}`` like their weights groups.
- Keras 1.x/2.x ``Sequential``: ``{"class_name": "Sequential", "config": [LAYER, ...]}`` (or
  ``{"layers": [...]}`` from Keras 2.2.3 on, Keras 3 too), each ``{"class_name", "config"}``.
- Functional ``Model``/``Functional``: layers with ``inbound_nodes``, either the Keras 1/2 list
  ``[[[name, node, tensor, kwargs], ...]]`` or Keras 3's ``[{"args": [...], "kwargs": {}}]``
  whose tensors are ``{"class_name": "__keras_tensor__", "config": {"keras_history": [...]}}``.

Keras 0.x/1.x parameter names (``nb_filter``, ``filter_length``, ``border_mode``,
``output_dim``, ``dim_ordering``, ...) are renamed to their Keras 2 spelling by
:func:`canonical_config`. Nothing here looks at weights or builds tensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from liftgenomics.errors import LiftGenomicsError, printable

#: Keras 0.x/1.x class names -> their Keras 2 names.
CLASS_ALIASES = {
    "Convolution1D": "Conv1D",
    "Convolution2D": "Conv2D",
    "AtrousConvolution1D": "Conv1D",
    "AtrousConvolution2D": "Conv2D",
    "MaxPool1D": "MaxPooling1D",
    "MaxPool2D": "MaxPooling2D",
    "AvgPool1D": "AveragePooling1D",
    "AvgPool2D": "AveragePooling2D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalMaxPool2D": "GlobalMaxPooling2D",
}
#: Keras 1 ``Merge`` modes -> the Keras 2 merge layer.
MERGE_MODES = {"sum": "Add", "mul": "Multiply", "concat": "Concatenate", "ave": "Average"}
#: Keras 0.x/1.x parameter names -> Keras 2 names (values converted by canonical_config).
_RENAMES = {
    "nb_filter": "filters",
    "subsample": "strides",
    "subsample_length": "strides",
    "border_mode": "padding",
    "output_dim": "units",
    "p": "rate",
    "pool_length": "pool_size",
    "stride": "strides",
    "atrous_rate": "dilation_rate",
    "bias": "use_bias",
    "concat_axis": "axis",
}


@dataclass
class KerasLayer:
    """One layer of a Keras model.

    Attributes:
        name: The layer's name (Keras 0.x: ``layer_{i}``).
        cls: Its class, as Keras 2 spells it (``Conv1D`` for ``Convolution1D``).
        original_cls: Its class as the file spells it (for messages).
        config: Its config with Keras 2 parameter names.
        inbound: The names of the layers whose outputs it reads, in order.
    """

    name: str
    cls: str
    original_cls: str
    config: dict[str, Any]
    inbound: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``layer NAME (CLASS)``, for messages (control characters escaped: one line)."""
        return f"layer {printable(self.name)} ({printable(self.original_cls)})"


@dataclass
class KerasModel:
    """A Keras model's graph.

    Attributes:
        layers: The layers in execution order, inputs (``InputLayer``) included.
        inputs: The input layers' names.
        outputs: The output layers' names, in the model's output order.
        keras_version: The Keras version that wrote the file ("0" when it does not say).
    """

    layers: list[KerasLayer]
    inputs: list[str]
    outputs: list[str]
    keras_version: str = "0"

    @property
    def major(self) -> int:
        """The Keras major version (0, 1, 2 or 3)."""
        head = self.keras_version.split(".")[0]
        return int(head) if head.isdigit() else 2


def parse_json(text: str | bytes, where: str) -> dict[str, Any]:
    """A model description from JSON text, refusing anything that is not a JSON object."""
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise LiftGenomicsError(
            f"{where}: not a Keras model description ({first_line(error)})"
        ) from None
    if not isinstance(document, dict):
        raise LiftGenomicsError(f"{where}: not a Keras model description (not a JSON object)")
    return document


def parse_config(document: dict[str, Any], where: str, keras_version: str | None = None
                 ) -> KerasModel:  # fmt: skip
    """Read a Keras model description into a :class:`KerasModel`.

    Args:
        document: The parsed JSON (``model.to_json()`` or an ``.h5`` file's ``model_config``).
        where: The file, for messages.
        keras_version: The version the weights file records, when the JSON does not.

    Raises:
        LiftGenomicsError: for a description that is neither a Sequential nor a functional
            model, a layer with several inbound nodes (a shared layer), or entries of the
            wrong type (a malformed description).
    """
    try:
        model = _parse(document, where, keras_version)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as error:
        raise LiftGenomicsError(
            f"{where}: malformed Keras model description ({type(error).__name__}: "
            f"{first_line(error)})"
        ) from None
    seen: set[str] = set()
    for layer in model.layers:  # Keras names layers uniquely; the graph is wired by name
        if layer.name in seen:
            raise LiftGenomicsError(f"{where}: two layers named {layer.name!r}")
        seen.add(layer.name)
    return model


def first_line(error: BaseException) -> str:
    """An exception's message cut to its first line, for one-line errors."""
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def _parse(document: dict[str, Any], where: str, keras_version: str | None) -> KerasModel:
    version = str(document.get("keras_version") or keras_version or "")
    if "class_name" not in document and "layers" in document:  # Keras 0.x
        if document.get("name") != "Sequential":
            raise LiftGenomicsError(
                f"{where}: Keras 0.x {document.get('name')!r} models are not supported "
                "(only Sequential)"
            )
        return _sequential(_keras0_layers(document["layers"]), where, version or "0")
    cls = document.get("class_name")
    config = document.get("config")
    if cls == "Sequential":
        items = config if isinstance(config, list) else (config or {}).get("layers")
        if not isinstance(items, list):
            raise LiftGenomicsError(f"{where}: Sequential model without a layer list")
        layers = [_layer(item, where) for item in items]
        build = config.get("build_input_shape") if isinstance(config, dict) else None
        if build is None and isinstance(config, dict):
            build = (config.get("build_config") or {}).get("input_shape")
        return _sequential(layers, where, version or "2", build)
    if cls in ("Model", "Functional"):
        return _functional(config or {}, where, version or "2")
    raise LiftGenomicsError(f"{where}: not a Keras Sequential or functional model (class {cls!r})")


def _keras0_layers(items: list[Any]) -> list[KerasLayer]:
    layers = []
    for index, item in enumerate(items):
        config = {key: value for key, value in item.items() if key != "name"}
        cls = str(item.get("name"))
        layers.append(_make(f"layer_{index}", cls, config))
    return layers


def _layer(item: Any, where: str) -> KerasLayer:
    if not isinstance(item, dict) or "class_name" not in item:
        raise LiftGenomicsError(f"{where}: malformed layer entry {str(item)[:60]!r}")
    config = dict(item.get("config") or {})
    name = str(config.get("name") or item.get("name") or item["class_name"])
    return _make(name, str(item["class_name"]), config)


def _make(name: str, cls: str, config: dict[str, Any]) -> KerasLayer:
    canonical = CLASS_ALIASES.get(cls, cls)
    config = canonical_config(config)
    if cls == "Merge":
        canonical = MERGE_MODES.get(str(config.get("mode")), "Merge")
    if cls.startswith("Atrous") and "dilation_rate" not in config:
        config["dilation_rate"] = 1
    return KerasLayer(name, canonical, cls, config)


def canonical_config(config: dict[str, Any]) -> dict[str, Any]:
    """A layer config with Keras 0.x/1.x parameter names turned into Keras 2 ones."""
    out = dict(config)
    for old, new in _RENAMES.items():
        if old in out and new not in out:
            out[new] = out.pop(old)
    if "filter_length" in out:
        out.setdefault("kernel_size", out.pop("filter_length"))
    if "nb_row" in out or "nb_col" in out:
        out.setdefault("kernel_size", [out.pop("nb_row", 1), out.pop("nb_col", 1)])
    ordering = out.pop("dim_ordering", None)
    if ordering is not None and "data_format" not in out:
        out["data_format"] = {"th": "channels_first", "tf": "channels_last"}.get(ordering, ordering)
    if "batch_shape" in out and "batch_input_shape" not in out:  # Keras 3 InputLayer
        out["batch_input_shape"] = out.pop("batch_shape")
    activation = out.get("activation")
    if isinstance(activation, dict):  # a serialised activation object
        out["activation"] = activation.get("config", {}).get("name", activation.get("class_name"))
    return out


def _input_shape(config: dict[str, Any]) -> list[Any] | None:
    if config.get("batch_input_shape") is not None:
        return list(config["batch_input_shape"])[1:]
    if config.get("input_shape") is not None:
        return list(config["input_shape"])
    if config.get("input_dim") is not None:
        length = config.get("input_length")
        return [length, config["input_dim"]] if length else [config["input_dim"]]
    return None


def _sequential(layers: list[KerasLayer], where: str, version: str,
                build_shape: Any = None) -> KerasModel:  # fmt: skip
    if not layers:
        raise LiftGenomicsError(f"{where}: the Sequential model has no layers")
    if layers[0].cls != "InputLayer":
        shape = _input_shape(layers[0].config)
        if shape is None and build_shape is not None:
            shape = list(build_shape)[1:]
        if shape is None:
            raise LiftGenomicsError(
                f"{where}: {layers[0].label} does not give the model's input shape"
            )
        layers.insert(0, KerasLayer("input", "InputLayer", "InputLayer",
                                    {"batch_input_shape": [None, *shape]}))  # fmt: skip
    for previous, layer in zip(layers, layers[1:], strict=False):
        layer.inbound = [previous.name]
    return KerasModel(layers, [layers[0].name], [layers[-1].name], version)


def _functional(config: dict[str, Any], where: str, version: str) -> KerasModel:
    items = config.get("layers")
    if not isinstance(items, list):
        raise LiftGenomicsError(f"{where}: functional model without a layer list")
    layers = []
    for item in items:
        layer = _layer(item, where)
        nodes = item.get("inbound_nodes") or []
        if len(nodes) > 1:
            raise LiftGenomicsError(
                f"{where}: {layer.label} is called {len(nodes)} times (shared layers are not "
                "supported)"
            )
        layer.inbound = _node_inputs(nodes[0], layer, where) if nodes else []
        layers.append(layer)
    return KerasModel(
        _execution_order(layers, where),
        _endpoints(config.get("input_layers"), where),
        _endpoints(config.get("output_layers"), where),
        version,
    )


def _node_inputs(node: Any, layer: KerasLayer, where: str) -> list[str]:
    """The layer names one inbound node reads (Keras 1/2 list or Keras 3 args format)."""
    if isinstance(node, dict):  # Keras 3
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                found.append(str(value["config"]["keras_history"][0]))
            elif isinstance(value, list | tuple):
                for item in value:
                    walk(item)

        walk(node.get("args", []))
        return found
    if isinstance(node, list):
        names = []
        for entry in node:
            if not isinstance(entry, list) or not entry:
                raise LiftGenomicsError(f"{where}: {layer.label} has a malformed inbound node")
            if len(entry) > 3 and entry[3]:
                raise LiftGenomicsError(
                    f"{where}: {layer.label} is called with keyword arguments {entry[3]}, which "
                    "are not supported"
                )
            names.append(str(entry[0]))
        return names
    raise LiftGenomicsError(f"{where}: {layer.label} has a malformed inbound node")


def _endpoints(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise LiftGenomicsError(f"{where}: functional model without input/output layers")
    if isinstance(value[0], str):  # Keras 3 single endpoint: [name, 0, 0]
        return [value[0]]
    return [str(entry[0]) for entry in value]


def _execution_order(layers: list[KerasLayer], where: str) -> list[KerasLayer]:
    """The layers sorted so each comes after the layers it reads (refusing cycles)."""
    by_name = {layer.name: layer for layer in layers}
    ordered: list[KerasLayer] = []
    state: dict[str, int] = {}

    def visit(layer: KerasLayer) -> None:
        if state.get(layer.name) == 2:
            return
        if state.get(layer.name) == 1:
            raise LiftGenomicsError(f"{where}: {layer.label} is part of a cycle")
        state[layer.name] = 1
        for source in layer.inbound:
            if source not in by_name:
                raise LiftGenomicsError(f"{where}: {layer.label} reads unknown layer {source!r}")
            visit(by_name[source])
        state[layer.name] = 2
        ordered.append(layer)

    for layer in layers:
        visit(layer)
    return ordered
