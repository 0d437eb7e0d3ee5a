"""Model check: can DeepLIFT score this model exactly?

DeepLIFT's rules act on the model's nonlinearities, which the engine reaches through module
hooks. A nonlinearity the hooks cannot see (a functional call such as ``F.relu`` or
``torch.sigmoid``), a nonlinear module called twice (one stash, two activations) or a layer
without a rule would make the scores silently wrong, so :func:`check_model` traces the model
with ``torch.fx`` and refuses, naming the op and the source line, before anything is scored.

It also returns the plan the engine follows: which module gets which rule, and for RevealCancel
the linear layer (optionally followed by a BatchNorm) whose positive and negative parts feed it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
import torch.fx
from torch import nn

from liftgenomics.errors import LiftGenomicsError

#: Elementwise nonlinearities with a Rescale and a RevealCancel rule.
NONLINEAR_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
)
#: Layers whose positive and negative parts the Linear rule splits.
WEIGHTED_MODULES: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Linear)
#: Layers that are linear in eval mode, so the gradient is their DeepLIFT multiplier.
LINEAR_MODULES: tuple[type[nn.Module], ...] = WEIGHTED_MODULES + (
    nn.BatchNorm1d,
    nn.AvgPool1d,
    nn.AdaptiveAvgPool1d,
    nn.Dropout,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
)
MAXPOOL_MODULES: tuple[type[nn.Module], ...] = (nn.MaxPool1d,)

# Linear tensor functions and methods a traced model may call.
_LINEAR_FUNCTIONS = {
    operator.add,
    operator.sub,
    operator.neg,
    operator.pos,
    operator.getitem,
    getattr,
    torch.cat,
    torch.concat,
    torch.stack,
    torch.flatten,
    torch.reshape,
    torch.squeeze,
    torch.unsqueeze,
    torch.transpose,
    torch.permute,
    torch.add,
    torch.sub,
    torch.mean,
    torch.sum,
    torch.nn.functional.avg_pool1d,
    torch.nn.functional.adaptive_avg_pool1d,
    torch.nn.functional.dropout,
}
_LINEAR_METHODS = {
    "view",
    "reshape",
    "flatten",
    "squeeze",
    "unsqueeze",
    "permute",
    "transpose",
    "contiguous",
    "size",
    "dim",
    "mean",
    "sum",
    "add",
    "sub",
    "neg",
    "expand",
    "expand_as",
    "view_as",
    "reshape_as",
    "chunk",
    "split",
    "narrow",
    "float",
    "type_as",
}
# Scaling by a constant is linear; multiplying two activations is not.
_SCALING_FUNCTIONS = {operator.mul, operator.truediv, torch.mul, torch.div}
_SCALING_METHODS = {"mul", "div"}

#: The attribution methods whose rules depend on the model's structure.
RULE_MODES = ("rescale", "revealcancel", "genomics", "guided")


@dataclass
class RevealCancelChain:
    """A weighted layer, optionally followed by BatchNorm1d, feeding one nonlinearity."""

    weighted: nn.Module
    batchnorm: nn.BatchNorm1d | None = None

    @property
    def last(self) -> nn.Module:
        """The module whose output is the nonlinearity's input."""
        return self.batchnorm if self.batchnorm is not None else self.weighted


@dataclass
class ModelPlan:
    """What the engine hooks: rules per nonlinearity, the max-pool layers, the RC chains."""

    rescale: list[nn.Module] = field(default_factory=list)
    revealcancel: dict[nn.Module, RevealCancelChain] = field(default_factory=dict)
    maxpool: list[nn.Module] = field(default_factory=list)
    names: dict[nn.Module, str] = field(default_factory=dict)


def _where(node: torch.fx.Node) -> str:
    """The user's source line of a traced node, or its graph name."""
    trace = node.meta.get("stack_trace") or ""
    for line in trace.splitlines():
        line = line.strip()
        if line.startswith("File") and "torch/" not in line:
            return line
    return f"graph node {node.name!r}"


def _op_name(node: torch.fx.Node) -> str:
    if node.op == "call_function":
        module = getattr(node.target, "__module__", "") or ""
        name = getattr(node.target, "__name__", str(node.target))
        return f"{module}.{name}" if module else name
    return f"Tensor.{node.target}"


def _is_tensor_node(value) -> bool:
    return isinstance(value, torch.fx.Node) and value.op not in ("get_attr",)


def trace_model(model: nn.Module) -> torch.fx.Graph:
    """Trace ``model`` with torch.fx, recording source lines.

    Raises:
        LiftGenomicsError: if the model cannot be traced (data-dependent control flow).
    """
    tracer = torch.fx.Tracer()
    tracer.record_stack_traces = True
    try:
        return tracer.trace(model)
    except Exception as error:  # fx raises many types; all mean the same to the user
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LiftGenomicsError(
            f"model {type(model).__name__} cannot be traced by torch.fx ({message}); DeepLIFT "
            "needs a traceable model to prove every nonlinearity is covered"
        ) from None


def _check_function(node: torch.fx.Node) -> None:
    target = node.target
    if target in _LINEAR_FUNCTIONS:
        return
    if target in _SCALING_FUNCTIONS:
        tensors = [a for a in node.args if _is_tensor_node(a)]
        divisor_is_tensor = target in (operator.truediv, torch.div) and _is_tensor_node(
            node.args[1] if len(node.args) > 1 else None
        )
        if len(tensors) <= 1 and not divisor_is_tensor:
            return
        raise LiftGenomicsError(
            f"unsupported op {_op_name(node)} of two activations at {_where(node)}: a product of "
            "activations is nonlinear and has no DeepLIFT rule here"
        )
    raise LiftGenomicsError(
        f"unsupported op {_op_name(node)} at {_where(node)}: only nn modules "
        f"({', '.join(m.__name__ for m in NONLINEAR_MODULES)}) may be nonlinear; replace a "
        "functional call such as F.relu or torch.sigmoid with its module, one instance per call"
    )


def _check_method(node: torch.fx.Node) -> None:
    if node.target in _LINEAR_METHODS:
        return
    if node.target in _SCALING_METHODS:
        others = [a for a in node.args[1:] if _is_tensor_node(a)]
        if not others:
            return
        raise LiftGenomicsError(
            f"unsupported op {_op_name(node)} of two activations at {_where(node)}: a product of "
            "activations is nonlinear and has no DeepLIFT rule here"
        )
    raise LiftGenomicsError(
        f"unsupported op {_op_name(node)} at {_where(node)}: only nn modules may be nonlinear; "
        "replace the call with its module (e.g. x.relu() -> nn.ReLU()), one instance per call"
    )


def _chain_for(node: torch.fx.Node, modules: dict[str, nn.Module]) -> RevealCancelChain | None:
    """The weighted layer (+ BatchNorm1d) whose output feeds only this nonlinearity, if any."""
    source = node.args[0] if node.args else None
    if not isinstance(source, torch.fx.Node) or source.op != "call_module":
        return None
    if len(source.users) != 1:
        return None
    layer = modules[source.target]
    if isinstance(layer, nn.BatchNorm1d):
        inner = source.args[0] if source.args else None
        if (
            isinstance(inner, torch.fx.Node)
            and inner.op == "call_module"
            and len(inner.users) == 1
            and isinstance(modules[inner.target], WEIGHTED_MODULES)
        ):
            return RevealCancelChain(modules[inner.target], layer)
        return None
    if isinstance(layer, WEIGHTED_MODULES):
        return RevealCancelChain(layer)
    return None


def check_model(model: nn.Module, mode: str = "rescale") -> ModelPlan:
    """Check that DeepLIFT can score ``model`` exactly and plan the rule of every layer.

    Args:
        model: The model; it must return logits of shape (N, T).
        mode: ``"rescale"`` (Rescale everywhere), ``"revealcancel"`` (RevealCancel everywhere),
            ``"genomics"`` (RevealCancel after fully connected layers, Rescale elsewhere) or
            ``"guided"`` (guided backpropagation, which also needs every nonlinearity hooked).

    Returns:
        The plan: the modules that get Rescale, RevealCancel (with their weighted layer) and the
        max-pool rule.

    Raises:
        LiftGenomicsError: naming the op and its source line for a functional nonlinearity, a
            nonlinear module called more than once, an unsupported layer, a sigmoid/softmax
            output, or (RevealCancel) a nonlinearity not fed directly by a weighted layer.
    """
    if mode not in RULE_MODES:
        raise LiftGenomicsError(f"unknown rule mode {mode!r}; expected one of {RULE_MODES}")
    graph = trace_model(model)
    modules = dict(model.named_modules())
    plan = ModelPlan()
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_function":
            _check_function(node)
        elif node.op == "call_method":
            _check_method(node)
        elif node.op == "call_module":
            layer = modules[node.target]
            calls[node.target] = calls.get(node.target, 0) + 1
            if isinstance(layer, NONLINEAR_MODULES + MAXPOOL_MODULES):
                if calls[node.target] > 1:
                    raise LiftGenomicsError(
                        f"module {node.target!r} ({type(layer).__name__}) is called more than "
                        f"once per forward pass (again at {_where(node)}); give each call its "
                        "own instance"
                    )
                plan.names[layer] = node.target
                if isinstance(layer, MAXPOOL_MODULES):
                    if layer.return_indices:
                        raise LiftGenomicsError(
                            f"module {node.target!r}: MaxPool1d with return_indices=True is "
                            "not supported"
                        )
                    plan.maxpool.append(layer)
                    continue
                chain = _chain_for(node, modules)
                wants_rc = mode == "revealcancel" or (
                    mode == "genomics"
                    and chain is not None
                    and isinstance(chain.weighted, nn.Linear)
                )
                if wants_rc:
                    if chain is None:
                        raise LiftGenomicsError(
                            f"RevealCancel needs {node.target!r} ({type(layer).__name__}) to "
                            "be fed only by a Linear or Conv1d layer (optionally through "
                            "BatchNorm1d); use deeplift_rescale or deeplift_genomics"
                        )
                    plan.revealcancel[layer] = chain
                    plan.names.setdefault(chain.weighted, _name_of(modules, chain.weighted))
                else:
                    plan.rescale.append(layer)
            elif isinstance(layer, nn.Softmax | nn.LogSoftmax):
                raise LiftGenomicsError(
                    f"unsupported layer {node.target!r} ({type(layer).__name__}): score the "
                    "logits instead (drop the softmax) with mean_center_logits=True, as the "
                    "paper does for softmax outputs"
                )
            elif not isinstance(layer, LINEAR_MODULES):
                raise LiftGenomicsError(
                    f"unsupported layer {node.target!r} ({type(layer).__name__}) at "
                    f"{_where(node)}: no exact DeepLIFT rule"
                )
        elif node.op == "output":
            _check_output(node, modules)
    return plan


def _name_of(modules: dict[str, nn.Module], layer: nn.Module) -> str:
    for name, candidate in modules.items():
        if candidate is layer:
            return name
    return type(layer).__name__


def _check_output(node: torch.fx.Node, modules: dict[str, nn.Module]) -> None:
    result = node.args[0]
    if isinstance(result, torch.fx.Node) and result.op == "call_module":
        layer = modules[result.target]
        if isinstance(layer, nn.Sigmoid | nn.Tanh):
            raise LiftGenomicsError(
                f"the model ends in {type(layer).__name__} ({result.target!r}); attribution "
                "targets the logit: pass a model that returns logits (e.g. drop the last module)"
            )
