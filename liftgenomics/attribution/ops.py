"""Which rule each torch operation gets: the op registry.

The engine intercepts every torch function, tensor method and ``torch.nn.functional`` call as
the model runs (:mod:`liftgenomics.attribution.tracer`); this module says what each one is.
Only calls that receive a tensor depending on the one-hot sequence matter; for those:

- ``linear``: affine in its sequence-dependent inputs (convolutions, dense layers, sums,
  reshapes, eval-mode batch norm, inert dropout, ...): the gradient is the DeepLIFT multiplier.
- ``elementwise``: y = f(z) elementwise in one sequence-dependent input (relu, gelu, exp, ...):
  Rescale, or RevealCancel after a weighted layer. :func:`register_elementwise` adds one.
- ``shapley``: elementwise in two sequence-dependent inputs (a product, ``maximum``, a quotient):
  the exact two-player Shapley split (DeepSHAP's rule).
- ``reduce``: ``logsumexp``/``amax``/``amin`` over a short axis of sequence-dependent values:
  the exact Shapley split between the (few) reduced slices.
- ``maxpool``, ``layer_norm``, ``rms_norm``: their own rules; ``detach``: a constant taken at
  the real input.
- anything else that sees the sequence is refused when it lies on the path to the explained
  output, with the reason and the methods that can score the model instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from liftgenomics.attribution import kernels
from liftgenomics.errors import LiftGenomicsError

_NAMESPACES = (torch, torch.Tensor, F, torch.special)


def _collect(*names: str) -> set:
    """The callables with these names in torch, torch.Tensor, torch.nn.functional, special."""
    found = set()
    for namespace in _NAMESPACES:
        for name in names:
            candidate = getattr(namespace, name, None)
            if candidate is not None and callable(candidate):
                found.add(candidate)
    return found


# Affine in all sequence-dependent inputs together.
LINEAR = _collect(
    "add", "sub", "subtract", "rsub", "__add__", "__radd__", "__iadd__", "add_",
    "__sub__", "__rsub__", "__isub__", "sub_", "neg", "negative", "__neg__", "positive",
    "__pos__", "cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "sum",
    "mean", "cumsum", "diff", "reshape", "view", "view_as", "reshape_as", "flatten",
    "unflatten", "squeeze", "unsqueeze", "permute", "transpose", "swapaxes", "swapdims",
    "movedim", "moveaxis", "t", "contiguous", "clone", "expand", "expand_as", "broadcast_to",
    "repeat", "tile", "repeat_interleave", "flip", "fliplr", "flipud", "roll", "narrow",
    "select", "split", "chunk", "unbind", "tensor_split", "to", "float", "double", "half",
    "bfloat16", "type", "type_as", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "pad", "copy_", "unfold", "__setitem__", "zero_", "fill_diagonal_",
    "interpolate", "upsample", "upsample_nearest", "upsample_bilinear",
)  # fmt: skip
# Linear in the data when the mask is a constant.
MASKED = _collect("masked_fill", "masked_fill_")
# Linear in the data, with index arguments that must not depend on the sequence.
INDEXING = _collect("__getitem__", "index_select", "gather", "take_along_dim", "where")
# Linear when at most one argument depends on the sequence; a product of two otherwise.
PRODUCTS = _collect("mul", "multiply", "__mul__", "__rmul__", "__imul__", "mul_")
QUOTIENTS = _collect("div", "divide", "true_divide", "__truediv__", "__itruediv__", "div_")
BILINEAR = _collect(
    "matmul", "__matmul__", "__rmatmul__", "mm", "bmm", "einsum", "linear", "conv1d",
    "conv2d", "conv_transpose1d", "bilinear", "outer", "dot", "tensordot",
)  # fmt: skip
#: Weighted layers whose positive and negative parts the Linear rule splits (RevealCancel).
WEIGHTED = {F.linear, torch.conv1d, F.conv1d}
DENSE = {F.linear}
BATCH_NORM = {F.batch_norm}
DROPOUT = _collect("dropout", "dropout1d", "dropout2d", "alpha_dropout", "feature_alpha_dropout")
LAYER_NORM = {F.layer_norm}
RMS_NORM = {F.rms_norm} if hasattr(F, "rms_norm") else set()
MAXPOOL = {F.max_pool1d, F.max_pool1d_with_indices}
DETACH = _collect("detach")
#: New tensors shaped like their argument but not computed from its values: constants.
CONSTANT_RESULT = _collect(
    "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like",
    "randint_like", "new_zeros", "new_ones", "new_full", "new_empty", "new_tensor",
)  # fmt: skip
SHAPLEY_BINARY = _collect("maximum", "minimum", "fmax", "fmin", "atan2", "hypot", "logaddexp")
TWO_TENSOR_MAX = _collect("max", "min")
REDUCE = _collect("logsumexp", "amax", "amin")
#: Global max pooling (over one whole axis): the max-pool rule with one window.
ADAPTIVE_MAX = {F.adaptive_max_pool1d, F.adaptive_max_pool1d_with_indices}
#: Players beyond this make the exact Shapley split of a reduction too costly (2^n passes).
MAX_REDUCE_PLAYERS = 6

NO_RULE_HINT = "score this model with ism or integrated_gradients (grad_input also works)"
REFUSED: dict[Callable, str] = {}
for _name in ("softmax", "log_softmax", "softmin", "gumbel_softmax"):
    for _func in _collect(_name):
        REFUSED[_func] = (
            "softmax over a sequence-dependent axis has no exact DeepLIFT rule (score the "
            "logits, or detach the softmax weights as the BPNet profile target does)"
        )
for _name in ("lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell"):
    for _func in _collect(_name):
        REFUSED[_func] = "recurrent layers have no exact DeepLIFT rule"
for _name in ("scaled_dot_product_attention", "multi_head_attention_forward"):
    for _func in _collect(_name):
        REFUSED[_func] = "attention (a product of two sequence-dependent tensors) has no rule"
for _func in _collect("group_norm", "instance_norm", "local_response_norm"):
    REFUSED[_func] = "this normalisation has no exact DeepLIFT rule here"


@dataclass(frozen=True)
class Elementwise:
    """An elementwise nonlinearity: its name, f'(z) if known in closed form, guided or not."""

    name: str
    derivative: Callable[[torch.Tensor], torch.Tensor] | None = None
    guided: bool = True


_leaky_slope = inspect.signature(F.leaky_relu).parameters["negative_slope"].default
ELEMENTWISE: dict[Callable, Elementwise] = {}


def _register(names: tuple[str, ...], rule: Elementwise) -> None:
    for func in _collect(*names):
        ELEMENTWISE[func] = rule


_register(("relu",), Elementwise("relu", kernels.relu_limit))
_register(("sigmoid", "expit"), Elementwise("sigmoid", kernels.sigmoid_limit))
_register(("tanh",), Elementwise("tanh", kernels.tanh_limit))
_register(("exp",), Elementwise("exp", torch.exp, guided=False))
_register(("prelu",), Elementwise("prelu"))
for _name in (
    "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus", "relu6",
    "hardtanh", "hardsigmoid", "hardswish", "logsigmoid", "softsign", "tanhshrink",
    "threshold", "softshrink", "hardshrink",
):  # fmt: skip
    _register((_name,), Elementwise(_name))
for _name in (
    "exp2", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt", "square",
    "reciprocal", "abs", "sin", "cos", "erf", "clamp", "clip", "clamp_min", "clamp_max",
    "pow", "__pow__", "__rpow__", "__rtruediv__", "logit",
):  # fmt: skip
    _register((_name,), Elementwise(_name, guided=False))



def _glu(input: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """F.glu written out: a · sigmoid(b) over the two halves (a product and a sigmoid)."""
    a, b = input.chunk(2, dim=dim)
    return a * torch.sigmoid(b)


#: Ops computed as their parts, each intercepted with its own rule.
DECOMPOSED: dict[Callable, Callable] = {F.glu: _glu}

#: Functions whose ``inplace`` argument the engine turns off (it records their input).
_INPLACE_PARAMETER: dict[Callable, int] = {}
for _func in list(ELEMENTWISE) + list(DROPOUT):
    try:
        _parameters = list(inspect.signature(_func).parameters)
    except (TypeError, ValueError):
        continue
    if "inplace" in _parameters:
        _INPLACE_PARAMETER[_func] = _parameters.index("inplace")

MODULE_RULES: dict[type, Elementwise] = {}


def register_elementwise(
    fn_or_module: Callable | type[nn.Module] | nn.Module,
    name: str | None = None,
    derivative: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> None:
    """Give one more elementwise nonlinearity the Rescale/RevealCancel rules.

    Args:
        fn_or_module: A torch function (``torch.special.erfc``), a module class or instance
            whose ``forward`` maps one tensor elementwise to one tensor.
        name: How messages call it (its ``__name__`` by default).
        derivative: f'(z) in closed form; by default autograd on the function.
    """
    if isinstance(fn_or_module, nn.Module):
        fn_or_module = type(fn_or_module)
    label = name or getattr(fn_or_module, "__name__", str(fn_or_module))
    rule = Elementwise(label, derivative, guided=False)
    if isinstance(fn_or_module, type) and issubclass(fn_or_module, nn.Module):
        MODULE_RULES[fn_or_module] = rule
    elif callable(fn_or_module):
        ELEMENTWISE[fn_or_module] = rule
    else:
        raise LiftGenomicsError(f"register_elementwise: {fn_or_module!r} is not callable")


def module_rule(module: nn.Module) -> Elementwise | None:
    """The rule registered for ``module``'s class (or a base class), if any."""
    for cls in type(module).__mro__:
        if cls in MODULE_RULES:
            return MODULE_RULES[cls]
    return None


def without_inplace(func: Callable, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """``args``/``kwargs`` with ``inplace`` turned off for functions that have it."""
    position = _INPLACE_PARAMETER.get(func)
    if position is None:
        return args, kwargs
    if "inplace" in kwargs:
        kwargs = dict(kwargs, inplace=False)
    elif len(args) > position:
        args = args[:position] + (False,) + args[position + 1 :]
    return args, kwargs


def op_name(func: Callable) -> str:
    """A readable name: ``torch.relu``, ``Tensor.exp``, ``F.gelu``."""
    name = getattr(func, "__name__", None) or str(func)
    if name == "__get__":
        owner = getattr(func, "__self__", None)
        return f"Tensor.{getattr(owner, '__name__', '?')}"
    qualname = getattr(func, "__qualname__", name)
    if qualname.startswith(("TensorBase.", "Tensor.")):
        return "Tensor." + qualname.split(".", 1)[1]
    module = getattr(func, "__module__", None) or ""
    if module.startswith("torch.nn.functional") or module == "torch._C._nn":
        return f"F.{name}"
    if name == "fn" and "boolean_dispatch" in qualname:
        return "F.max_pool1d"
    return f"torch.{name}" if module.startswith("torch") or not module else f"{module}.{name}"


def is_inplace_method(func: Callable) -> bool:
    """A tensor method that writes into its first argument (``x.add_``, ``x += y``)."""
    name = getattr(func, "__name__", "")
    return name.startswith("__i") or (name.endswith("_") and not name.startswith("__"))
