"""One lowering rule per Keras layer class: :data:`RULES`.

Each rule reads a layer's (Keras 2 spelled) config and the :class:`Shape` of its inputs, checks
that the layer has an exact channels-first equivalent, converts its Keras arrays to the
PyTorch layout, and adds one node to the :class:`Lowering` (or aliases the layer to its input).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from liftgenomics.models.keras.config import KerasLayer
from liftgenomics.models.keras.layout import (
    MERGES,
    Lowering,
    Shape,
    as_int,
    as_pair,
    as_positive,
    out_length,
    with_length,
)

Rule = Callable[[Lowering, KerasLayer, list[Shape]], None]


def _positive_pair(value: object) -> tuple[int, int]:
    """Two ints of at least 1 (a 2-D kernel size, stride or dilation)."""
    first, second = as_pair(value)
    if first < 1 or second < 1:
        raise ValueError(f"{value!r} is not a pair of positive integers")
    return first, second


def _padding(state: Lowering, layer: KerasLayer, allowed: tuple[str, ...]) -> str:
    padding = str(layer.config.get("padding", "valid")).lower()
    if padding not in allowed:
        raise state.fail(layer, f"padding {padding!r} is not supported")
    return padding


def _conv_node(
    state: Lowering,
    layer: KerasLayer,
    shape: Shape,
    weight: np.ndarray,
    bias: np.ndarray | None,
    stride: int,
    dilation: int,
    padding: str,
) -> None:
    out_channels, in_channels, size = weight.shape
    if in_channels != shape.channels * shape.other:
        raise state.fail(
            layer, f"kernel takes {in_channels} input channels, the layer gets "
            f"{shape.channels * shape.other}"
        )  # fmt: skip
    node = {"op": "conv", "in": int(in_channels), "out": int(out_channels), "kernel": int(size),
            "stride": stride, "dilation": dilation, "padding": padding, "bias": bias is not None,
            "activation": state.activation(layer, shape)}  # fmt: skip
    arrays = {"conv.weight": np.ascontiguousarray(weight)}
    if bias is not None:
        arrays["conv.bias"] = bias.reshape(-1)
    span = (size - 1) * dilation + 1
    length = out_length(shape.length, span, stride, padding)
    if length is not None and length < 1:
        raise state.fail(layer, f"the input of length {shape.length} is shorter than the kernel")
    state.add(layer, node, with_length(shape, length, int(out_channels)), arrays)


def _conv_arrays(state: Lowering, layer: KerasLayer) -> tuple[np.ndarray, np.ndarray | None]:
    use_bias = bool(layer.config.get("use_bias", True))
    arrays = state.arrays(layer, 2 if use_bias else 1)
    return arrays[0], (arrays[1] if use_bias else None)


def conv1d(state: Lowering, layer: KerasLayer, inputs: list[Shape]) -> None:
    """Conv1D / Convolution1D on a channels-last sequence."""
    (shape,) = inputs
    config = layer.config
    if shape.kind != "1d":
        raise state.fail(layer, "a 1-D convolution needs a (length, channels) input")
    if config.get("data_format", "channels_last") != "channels_last":
        raise state.fail(layer, f"data_format {config['data_format']!r} is not supported")
    if as_int(config.get("groups", 1)) != 1:
        raise state.fail(layer, "grouped convolutions are not supported")
    size = as_positive(config["kernel_size"])
    filters = as_positive(config["filters"])
    kernel, bias = _conv_arrays(state, layer)
    if kernel.shape == (size, shape.channels, filters):  # Keras 2: (k, in, out)
        weight = kernel.transpose(2, 1, 0)
    elif kernel.shape == (size, 1, shape.channels, filters):  # Keras 1.1+: (k, 1, in, out)
        weight = kernel[:, 0].transpose(2, 1, 0)
    elif kernel.shape == (filters, shape.channels, size, 1):  # Keras 0.x/1.0: (out, in, k, 1)
        weight = kernel[..., 0]
    else:
        raise state.fail(
            layer, f"kernel of shape {kernel.shape} does not fit {filters} filters of width "
            f"{size} over {shape.channels} channels"
        )  # fmt: skip
    if state.flip:
        weight = weight[:, :, ::-1]
    padding = _padding(state, layer, ("valid", "same", "causal"))
    _conv_node(state, layer, shape, weight, bias, as_positive(config.get("strides", 1)),
               as_positive(config.get("dilation_rate", 1)), padding)  # fmt: skip


def conv2d(state: Lowering, layer: KerasLayer, inputs: list[Shape]) -> None:
    """Conv2D / Convolution2D with a kernel spanning the folded axis (or a 1-wide one)."""
    (shape,) = inputs
    config = layer.config
    if not shape.two_d:
        raise state.fail(layer, "a 2-D convolution needs a 2-D input")
    data_format = config.get("data_format", "channels_first" if shape.theano else "channels_last")
    if (data_format == "channels_first") != shape.theano:
        raise state.fail(layer, f"data_format {data_format!r} differs from the input's layout")
    filters = as_positive(config["filters"])
    kh, kw = _positive_pair(config["kernel_size"])
    sh, sw = _positive_pair(config.get("strides", 1))
    dh, dw = _positive_pair(config.get("dilation_rate", 1))
    padding = _padding(state, layer, ("valid", "same"))
    kernel, bias = _conv_arrays(state, layer)
    channels = shape.channels
    if state.model.major >= 2 or not shape.theano:  # (kh, kw, in, out)
        expected = (kh, kw, channels, filters)
        canonical = kernel.transpose(3, 2, 0, 1) if kernel.shape == expected else None
    else:  # Keras 0.x/1.x Theano ordering: (out, in, kh, kw)
        expected = (filters, channels, kh, kw)
        canonical = kernel if kernel.shape == expected else None
    if canonical is None:
        raise state.fail(layer, f"kernel of shape {kernel.shape} does not fit {expected}")
    k_other, k_length, s_length, d_other, d_length = kh, kw, sw, dh, dw
    if shape.length_first:
        canonical = canonical.transpose(0, 1, 3, 2)
        k_other, k_length, s_length, d_other, d_length = kw, kh, sh, dw, dh
    if k_other != shape.other or (k_other > 1 and (padding != "valid" or d_other != 1)):
        raise state.fail(
            layer, f"the kernel is {k_other} wide across an axis of {shape.other} (only kernels "
            "spanning that whole axis, unpadded, or 1-wide ones map to a 1-D convolution)"
        )  # fmt: skip
    if state.flip:
        canonical = canonical[:, :, ::-1, ::-1]
    if shape.theano:  # channel index c * O + o
        weight = canonical.reshape(filters, channels * shape.other, k_length)
    else:  # channel index o * C + c
        weight = canonical.transpose(0, 2, 1, 3).reshape(filters, shape.other * channels,
                                                        k_length)  # fmt: skip
    _conv_node(state, layer, shape, weight, bias, s_length, d_length, padding)


def dense(state: Lowering, layer: KerasLayer, inputs: list[Shape]) -> None:
    """Dense on a vector (or on every position of a channels-last sequence)."""
    (shape,) = inputs
    if shape.kind not in ("flat", "1d"):
        raise state.fail(layer, "Dense on a 2-D tensor is not supported (Flatten it first)")
    units = as_positive(layer.config["units"])
    use_bias = bool(layer.config.get("use_bias", True))
    arrays = state.arrays(layer, 2 if use_bias else 1)
    kernel = arrays[0]
    if kernel.shape != (shape.channels, units):
        raise state.fail(
            layer, f"kernel of shape {kernel.shape} does not fit {shape.channels} inputs and "
            f"{units} units"
        )  # fmt: skip
    node = {"op": "dense", "in": shape.channels, "out": units, "bias": use_bias,
            "activation": state.activation(layer, shape)}  # fmt: skip
    weights = {"linear.weight": np.ascontiguousarray(kernel.T)}
    if use_bias:
        weights["linear.bias"] = arrays[1].reshape(-1)
    state.add(layer, node, Shape(shape.kind, units, 1, shape.length), weights)


def activation(state: Lowering, layer: KerasLayer, inputs: list[Shape]) -> None:
    """Activation, ReLU, LeakyReLU, ELU and Softmax layers."""
    (shape,) = inputs
    config = layer.config
    slope = None
    if layer.cls == "Activation":
        name = state.activation(layer, shape)
    elif layer.cls == "ReLU":
        if config.get("max_value") is not None or float(config.get("threshold", 0) or 0) != 0:
            raise state.fail(layer, "max_value/threshold are not supported")
        slope = float(config.get("negative_slope", 0) or 0) or None
        name = "relu"
    elif layer.cls == "LeakyReLU":
        slope = float(config.get("negative_slope", config.get("alpha", 0.3)))
        name = "relu"
    elif layer.cls == "ELU":
        if float(config.get("alpha", 1.0)) != 1.0:
            raise state.fail(layer, "alpha other than 1 is not supported")
        name = "elu"
    else:  # Softmax
        if as_int(config.get("axis", -1)) not in (-1, 2 if shape.kind == "1d" else 1):
            raise state.fail(layer, "softmax over an axis other than the channels")
        name = state.activation(layer, shape, "softmax")
    if name == "linear":
        state.same(layer, shape)
        return
    node = {"op": "activation", "activation": name}
    if slope is not None:
        node["negative_slope"] = slope
    state.add(layer, node, shape)


def pooling(state: Lowering, layer: KerasLayer, inputs: list[Shape]) -> None:
    """Max/Average pooling, 1-D or 2-D with a 1-wide folded axis."""
    (shape,) = inputs
    config = layer.config
    op = "maxpool" if layer.cls.startswith("Max") else "avgpool"
    if layer.cls.endswith("1D"):
        if shape.kind != "1d" or config.get("data_format", "channels_last") != "channels_last":
            raise state.fail(layer, "1-D pooling needs a channels-last (length, channels) input")
        size = as_positive(config["pool_size"])
        stride = as_positive(config.get("strides") or size)
    else:
        if not shape.two_d or shape.other != 1:
            raise state.fail(layer, "2-D pooling needs a 2-D input with a 1-wide axis")
        ph, pw = _positive_pair(config.get("pool_size", 2))
        sh, sw = _positive_pair(config.get("strides") or (ph, pw))
        p_other, size, stride = (pw, ph, sh) if shape.length_first else (ph, pw, sw)
        if p_other != 1:
            raise state.fail(layer, f"pooling {p_other} wide across a 1-wide axis")
    padding = _padding(state, layer, ("valid", "same"))
    length = out_length(shape.length, size, stride, padding)
    if length is not None and length < 1:
        raise state.fail(layer, f"the input of length {shape.length} is shorter than the pool")
    state.add(layer, {"op": op, "size": size, "stride": stride, "padding": padding},
              with_length(shape, length))  # fmt: skip


def global_pooling(state: Lowering, layer: KerasLayer, inputs: list[Shape]) -> None:
    """GlobalAveragePooling1D/2D, GlobalMaxPooling1D/2D: (N, C, L) -> (N, C)."""
    (shape,) = inputs
    if shape.kind == "flat" or shape.other != 1:
        raise state.fail(layer, "needs a sequence input with a 1-wide folded axis")
    if layer.config.get("keepdims"):
        raise state.fail(layer, "keepdims is not supported")
    op = "gap" if "Average" in layer.cls else "gmp"
    state.add(layer, {"op": op}, Shape("flat", shape.channels))


def _flatten_order(state: Lowering, layer: KerasLayer, shape: Shape) -> str:
    """The order Keras flattens a sequence tensor in: "length"-major or "channel"-major."""
    if shape.length is None:
        raise state.fail(layer, "needs a fixed input length")
    if shape.other != 1 and shape.kind != "th":
        raise state.fail(layer, "flattens a 2-D tensor with two axes wider than 1")
    if shape.theano and layer.config.get("data_format") == "channels_first":
        if shape.other != 1:
            raise state.fail(layer, "Flatten(data_format='channels_first') of a 2-D tensor")
        return "length"  # Keras 2 moves the channels last first
    return "channel" if shape.theano else "length"


def flatten(state: Lowering, layer: KerasLayer, inputs: list[Shape]) -> None:
    """Flatten in Keras's order (length-major for channels-last tensors)."""
    (shape,) = inputs
    if shape.kind == "flat":
        state.same(layer, shape)
        return
    order = _flatten_order(state, layer, shape)
    features = shape.channels * shape.other * shape.length
    state.add(layer, {"op": "flatten", "order": order}, Shape("flat", features))


def reshape(state: Lowering, layer: KerasLayer, inputs: list[Shape]) -> None:
    """Reshape to a vector (a Flatten) or to (length, channels)."""
    (shape,) = inputs
    target = [int(d) for d in layer.config.get("target_shape") or layer.config["dims"]]
    if len(target) == 1:
        flatten(state, layer, inputs)
        return
    if len(target) != 2:
        raise state.fail(layer, f"Reshape to {tuple(target)} is not supported")
    if shape.kind == "1d" and target == [shape.length, shape.channels]:
        state.same(layer, shape)
        return
    size = shape.channels if shape.kind == "flat" else None
    order = "channel"
    if shape.kind != "flat":
        order = _flatten_order(state, layer, shape)
        size = shape.channels * shape.other * shape.length
    if target[0] * target[1] != size:
        raise state.fail(layer, f"Reshape of {size} values to {tuple(target)}")
    state.add(layer, {"op": "to_sequence", "length": target[0], "channels": target[1],
                      "order": order}, Shape("1d", target[1], 1, target[0]))  # fmt: skip


def batch_norm(state: Lowering, layer: KerasLayer, inputs: list[Shape]) -> None:
    """BatchNormalization over the channel axis, with its running statistics."""
    (shape,) = inputs
    config = layer.config
    if state.model.major == 0:
        raise state.fail(layer, "Keras 0.x batch normalisation (running std) is not supported")
    if as_int(config.get("mode", 0)) != 0:
        raise state.fail(layer, "only mode 0 (feature-wise, running statistics) is supported")
    axis = config.get("axis", -1)
    axis = as_int(axis) if not isinstance(axis, list) or len(axis) == 1 else None
    rank = {"flat": 1, "1d": 2}.get(shape.kind, 3)
    if axis is not None and axis < 0:
        axis += rank + 1
    channel_axis = {"flat": 1, "1d": 2, "th": 1, "thh": 1}.get(shape.kind, 3)
    if axis != channel_axis or shape.other != 1:
        raise state.fail(layer, f"normalising axis {config.get('axis')} (not the channels)")
    scale = bool(config.get("scale", True))
    center = bool(config.get("center", True))
    arrays = state.arrays(layer, int(scale) + int(center) + 2)
    gamma = arrays.pop(0) if scale else np.ones(shape.channels, np.float32)
    beta = arrays.pop(0) if center else np.zeros(shape.channels, np.float32)
    mean, variance = arrays
    for array in (gamma, beta, mean, variance):
        if array.shape != (shape.channels,):
            raise state.fail(layer, f"statistics of shape {array.shape}, expected "
                             f"({shape.channels},)")  # fmt: skip
    state.add(
        layer, {"op": "batchnorm", "channels": shape.channels,
                "eps": float(config.get("epsilon", 1e-3))}, shape,
        {"weight": gamma, "bias": beta, "running_mean": mean, "running_var": variance},
    )  # fmt: skip


def merge(state: Lowering, layer: KerasLayer, inputs: list[Shape]) -> None:
    """Add, Subtract, Multiply, Average, Concatenate of same-layout tensors."""
    op = MERGES[layer.cls]
    first = inputs[0]
    if len(inputs) < 2 or (op == "subtract" and len(inputs) != 2):
        raise state.fail(layer, f"reads {len(inputs)} tensors")
    if any(s.kind != first.kind or s.other != 1 for s in inputs):
        raise state.fail(layer, "merges tensors of different layouts")
    if op != "concat":
        if any(s != first for s in inputs):
            raise state.fail(layer, "merges tensors of different shapes")
        state.add(layer, {"op": op}, first)
        return
    rank = {"flat": 1, "1d": 2}.get(first.kind, 3)
    axis = as_int(layer.config.get("axis", -1))
    axis = axis + rank + 1 if axis < 0 else axis
    channel_axis = {"flat": 1, "1d": 2, "th": 1, "thh": 1}.get(first.kind, 3)
    length_axis = {"1d": 1, "th": 3, "thh": 2, "tfw": 2, "tfh": 1}.get(first.kind)
    if axis == channel_axis:
        total = sum(s.channels for s in inputs)
        state.add(layer, {"op": "concat", "dim": 1}, replace_channels(first, total))
    elif axis == length_axis:
        lengths = [s.length for s in inputs]
        total_length = None if None in lengths else sum(lengths)
        state.add(layer, {"op": "concat", "dim": 2}, with_length(first, total_length))
    else:
        raise state.fail(layer, f"concatenating along axis {layer.config.get('axis')}")


def replace_channels(shape: Shape, channels: int) -> Shape:
    """``shape`` with another channel count."""
    return Shape(shape.kind, channels, shape.other, shape.length)


def crop_or_pad(state: Lowering, layer: KerasLayer, inputs: list[Shape]) -> None:
    """Cropping1D and ZeroPadding1D on the length axis."""
    (shape,) = inputs
    if shape.kind != "1d":
        raise state.fail(layer, "needs a (length, channels) input")
    crop = layer.cls == "Cropping1D"
    left, right = as_pair(layer.config.get("cropping" if crop else "padding", 1))
    if left < 0 or right < 0:
        raise state.fail(layer, f"negative {'cropping' if crop else 'padding'} {(left, right)}")
    length = shape.length
    if length is not None:
        length = length - left - right if crop else length + left + right
        if length < 1:
            raise state.fail(layer, f"crops all {shape.length} positions")
    state.add(layer, {"op": "crop" if crop else "pad", "left": left, "right": right},
              with_length(shape, length))  # fmt: skip


RULES: dict[str, Rule] = {
    "Conv1D": conv1d,
    "Conv2D": conv2d,
    "Dense": dense,
    "Activation": activation,
    "ReLU": activation,
    "LeakyReLU": activation,
    "ELU": activation,
    "Softmax": activation,
    "MaxPooling1D": pooling,
    "AveragePooling1D": pooling,
    "MaxPooling2D": pooling,
    "AveragePooling2D": pooling,
    "GlobalAveragePooling1D": global_pooling,
    "GlobalMaxPooling1D": global_pooling,
    "GlobalAveragePooling2D": global_pooling,
    "GlobalMaxPooling2D": global_pooling,
    "Flatten": flatten,
    "Reshape": reshape,
    "BatchNormalization": batch_norm,
    "Cropping1D": crop_or_pad,
    "ZeroPadding1D": crop_or_pad,
    **{name: merge for name in MERGES},
}
