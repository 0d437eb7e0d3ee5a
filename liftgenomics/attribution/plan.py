"""The plan of a model: which DeepLIFT rule each op that sees the sequence gets.

Owns the probe's record of the model (:class:`Step`, :class:`Plan`), what kind of op each call
is (:func:`classify`), and the resolution of a probe into a plan (:func:`resolve_plan`): the
live steps on the path to the explained output, Rescale or RevealCancel at each elementwise
nonlinearity (with the weighted layer it splits), the refusal of ops with no exact rule and
of models that end in a sigmoid. :mod:`liftgenomics.attribution.tracer` records the steps and
replays the plan.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import torch

from liftgenomics.attribution import ops
from liftgenomics.errors import LiftGenomicsError

#: Node id of the one-hot input: (step, output index).
INPUT_NODE = (-1, 0)
#: Rule modes: "rescale", "revealcancel", "genomics" (RC after dense layers), "guided".
RULE_MODES = ("rescale", "revealcancel", "genomics", "guided")
#: The rule of a step off the path to the explained output.
DEAD = "dead"


@dataclass
class Step:
    """One call of an op on sequence-dependent tensors, as the probe pass saw it."""

    index: int
    func: Callable
    name: str
    kind: str
    deps: list[tuple[int, int]]
    where: str
    reason: str = ""
    outputs: int = 1
    inplace_target: tuple[int, int] | None = None
    rule: str = ""  # resolved: "rescale", "revealcancel", "linear", "maxpool", ... or "dead"
    chain: list[int] = field(default_factory=list)  # RevealCancel: weighted [, norm, ...]
    elementwise: ops.Elementwise | None = None
    store: bool = False
    clone: bool = False


@dataclass
class Plan:
    """The steps of the model, each with its rule, resolved once per scoring run."""

    mode: str
    steps: list[Step]
    output_node: tuple[int, int] | tuple
    elements: int = 0  # activation elements per sequence (sizes the batches)

    def count(self, rule: str) -> int:
        """How many steps got ``rule``."""
        return sum(1 for step in self.steps if step.rule == rule)

    @cached_property
    def chain_heads(self) -> set[int]:
        """The weighted steps that head a RevealCancel chain (their calls are kept)."""
        return {s.chain[0] for s in self.steps if s.rule == "revealcancel"}

    def summary(self) -> dict[str, list[str]]:
        """Rule -> the ops that got it (with their lines), for reports and tests."""
        table: dict[str, list[str]] = {}
        for step in self.steps:
            if step.rule not in ("", DEAD, "linear"):
                table.setdefault(step.rule, []).append(f"{step.name} at {step.where}")
        return table


def tensors_in(value, found: list) -> None:
    """Append the tensors in ``value`` (a tensor, or nested lists/tuples) to ``found``."""
    if isinstance(value, torch.Tensor):
        found.append(value)
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, torch.Tensor):
                found.append(item)
            elif isinstance(item, list | tuple):
                tensors_in(item, found)


class Dependence(Protocol):
    """What :func:`classify` asks of the pass that sees a call (a probing ``RuleMode``)."""

    def node(self, tensor) -> tuple[int, int] | None: ...

    def dependent(self, args, kwargs) -> list[torch.Tensor]: ...


class Probe(Dependence, Protocol):
    """What :func:`resolve_plan` reads from a finished probe pass."""

    steps: list[Step]
    elements: int
    sequences: int


_INDEX_ARGUMENT = {"__getitem__": 1, "index_select": 2, "gather": 2, "take_along_dim": 1}


def classify(func, args, kwargs, mode: Dependence) -> tuple[str, str]:
    """(kind, reason) of one call that sees the sequence."""
    dependent = mode.dependent(args, kwargs)
    name = getattr(func, "__name__", "")
    if func in ops.REFUSED:
        return "refuse", ops.REFUSED[func]
    if func in ops.INDEXING:
        if name == "where":
            condition = args[0] if args else kwargs.get("condition")
            if mode.node(condition) is not None:
                return "refuse", "a mask computed from the sequence has no exact rule"
            return "linear", ""
        position = _INDEX_ARGUMENT.get(name, 1)
        index = args[position] if len(args) > position else kwargs.get("index")
        found: list = []
        tensors_in(index if isinstance(index, list | tuple) else [index], found)
        if any(mode.node(t) is not None for t in found):
            return "refuse", "indexing with positions computed from the sequence has no rule"
        return "linear", ""
    if func in ops.LINEAR:
        return "linear", ""
    if func in ops.WEIGHTED and len(dependent) == 1 and mode.node(args[0]) is not None:
        return "weighted", ""
    if func in ops.PRODUCTS:
        return ("linear", "") if len(dependent) <= 1 else ("shapley", "")
    if func in ops.QUOTIENTS:
        denominator = args[1] if len(args) > 1 else kwargs.get("other")
        if mode.node(denominator) is None:
            return "linear", ""
        if mode.node(args[0]) is None:
            return "elementwise_rdiv", ""
        return "shapley", ""
    if func in ops.BILINEAR:
        if len(dependent) <= 1:
            return "linear", ""
        return "refuse", (
            "a matrix product of two sequence-dependent tensors (attention) has no exact rule"
        )
    if func in ops.BATCH_NORM:
        training = args[5] if len(args) > 5 else kwargs.get("training", False)
        if training:
            return "refuse", (
                "BatchNorm in training mode or without running statistics "
                "(track_running_stats=False) normalises by the batch: call model.eval() on a "
                "model with running statistics"
            )
        return "linear", ""
    if func in ops.DROPOUT:
        p = args[1] if len(args) > 1 else kwargs.get("p", 0.5)
        training = args[2] if len(args) > 2 else kwargs.get("training", True)
        if training and p > 0:
            return "refuse", (
                f"{ops.op_name(func)} with training=True drops units at random (F.dropout "
                "defaults to training=True; pass training=self.training)"
            )
        return "linear", ""
    if func in ops.LAYER_NORM:
        return "layer_norm", ""
    if func in ops.RMS_NORM:
        return "rms_norm", ""
    if func in ops.MAXPOOL:
        return "maxpool", ""
    if func in ops.DETACH or (name == "__get__" and ops.op_name(func) == "Tensor.data"):
        return "detach", ""
    if name == "__get__" and ops.op_name(func) in ("Tensor.T", "Tensor.mT", "Tensor.real"):
        return "linear", ""
    if func in ops.ELEMENTWISE:
        if len(dependent) == 1 and ops.is_inplace_method(func):
            return "refuse", f"in-place {ops.op_name(func)}(): use the out-of-place form"
        if len(dependent) == 1:
            return "elementwise", ""
        return "refuse", "an elementwise op of several sequence-dependent tensors has no rule"
    if func in ops.ADAPTIVE_MAX:
        size = args[1] if len(args) > 1 else kwargs.get("output_size")
        if size in (1, (1,), [1]) and not kwargs.get("return_indices"):
            return "max_route", ""
        return "refuse", "adaptive max pooling to more than one window has no rule here"
    if func in ops.TWO_TENSOR_MAX and not _two_tensor_form(args):
        has_dim = len(args) > 1 or "dim" in kwargs
        if getattr(func, "__name__", "") == "max" and has_dim:
            return "max_route", ""
        return "refuse", "min/max over a whole tensor has no rule here (max over one axis has)"
    if getattr(func, "__name__", "") == "amax" and func in ops.REDUCE:
        dim = args[1] if len(args) > 1 else kwargs.get("dim")
        dims = dim if isinstance(dim, list | tuple) else [dim]
        if len(dims) == 1 and dims[0] is not None:
            if dependent[0].shape[dims[0]] > ops.MAX_REDUCE_PLAYERS:
                return "max_route", ""
    if func in ops.SHAPLEY_BINARY or (func in ops.TWO_TENSOR_MAX and _two_tensor_form(args)):
        # Against a constant tensor it is an elementwise function of the one dependent input.
        return ("shapley", "") if len(dependent) == 2 else ("elementwise_other", "")
    if func in ops.MASKED:
        mask = args[1] if len(args) > 1 else kwargs.get("mask")
        if mode.node(mask) is not None:
            return "refuse", "a mask computed from the sequence has no exact rule"
        return "linear", ""
    if func in ops.REDUCE:
        return "reduce", ""
    return "refuse", "no DeepLIFT rule is known for this op"


def _two_tensor_form(args) -> bool:
    return len(args) >= 2 and isinstance(args[1], torch.Tensor)


def resolve_plan(mode_name: str, probed: Probe, output_tensor: torch.Tensor) -> Plan:
    """Each live step's rule, refusing (op and line) where none is exact.

    Live steps are those on a path from the input to ``output_tensor`` that does not pass
    through ``detach`` (whose value is a constant taken at the real input).
    """
    if mode_name not in RULE_MODES:
        raise LiftGenomicsError(f"unknown rule mode {mode_name!r}; expected one of {RULE_MODES}")
    steps = probed.steps
    output_node = probed.node(output_tensor)
    if output_node is None:
        raise LiftGenomicsError("the explained output does not depend on the input sequence")
    live = _live_steps(steps, output_node)
    users: dict[tuple[int, int], int] = {}
    for step in steps:
        if step.index in live:
            for dep in set(step.deps):
                users[dep] = users.get(dep, 0) + 1
    by_index = {step.index: step for step in steps}
    for step in steps:
        if step.kind == "detach":
            # Its value feeds later ops as a constant: the real input's, for every reference.
            step.rule, step.store = "detach", True
            continue
        if step.index not in live:
            step.rule = DEAD
            continue
        if step.kind == "refuse":
            raise LiftGenomicsError(
                f"unsupported op {step.name} at {step.where}: {step.reason}; "
                f"{ops.NO_RULE_HINT}"
            )
        if step.kind in ("elementwise_rdiv", "elementwise_other"):
            step.elementwise = ops.Elementwise(step.name, guided=False)
            step.kind = "elementwise"
        if step.kind == "elementwise":
            step.rule, step.chain = _elementwise_rule(mode_name, step, by_index, users)
        elif step.kind == "weighted":
            step.rule = "linear"
        else:
            step.rule = step.kind
        step.store = step.rule not in ("linear", "chain", DEAD)
    for step in steps:
        if step.rule == "revealcancel":
            by_index[step.chain[0]].store = True
    _check_last_op(steps, output_node, by_index)
    # A write in place (h += skip, z[:, 0] = 0, through views too) may change a value the
    # record pass stored: with any in the model, stored values are copies.
    if any(s.inplace_target is not None for s in steps):
        for step in steps:
            step.clone = step.store
    frozen = [s for s in steps if s.kind == "detach"]
    if frozen and mode_name != "guided":
        warnings.warn(
            f"the model detaches a sequence-dependent tensor ({frozen[0].name} at "
            f"{frozen[0].where}): it is taken at the real input for every reference (the BPNet "
            "profile convention), so Δt is that of the model with it frozen",
            stacklevel=4,
        )
    if mode_name == "guided":
        for step in steps:
            step.store = False
    return Plan(mode_name, steps, output_node, probed.elements // max(1, probed.sequences))


def refuse_randomness(probed: Probe, output_tensor: torch.Tensor) -> None:
    """Refuse active dropout on the path to the output (scores would change from run to run)."""
    output_node = probed.node(output_tensor)
    if output_node is None:
        return
    live = _live_steps(probed.steps, output_node)
    for step in probed.steps:
        if step.index in live and step.func in ops.DROPOUT and step.kind == "refuse":
            raise LiftGenomicsError(f"unsupported op {step.name} at {step.where}: {step.reason}")


def _live_steps(steps: list[Step], output_node) -> set[int]:
    live: set[int] = set()
    frontier = [output_node[0]]
    by_index = {step.index: step for step in steps}
    while frontier:
        index = frontier.pop()
        if index < 0 or index in live:
            continue
        live.add(index)
        step = by_index[index]
        if step.kind == "detach":
            continue
        frontier.extend(dep[0] for dep in step.deps)
    return live


_FOLDABLE = ("linear",)


def _elementwise_rule(mode_name, step: Step, by_index, users) -> tuple[str, list[int]]:
    """Rescale or RevealCancel (with its chain: weighted layer, then norm/dropout/no-ops)."""
    if mode_name in ("rescale", "guided"):
        return "rescale", []
    chain, weighted = _weighted_chain(step, by_index, users)
    dense = weighted is not None and weighted.func in ops.DENSE
    if mode_name == "genomics" and not dense:
        return "rescale", []
    if chain is None:
        where = f"{step.name} at {step.where}"
        if mode_name == "genomics":
            raise LiftGenomicsError(
                f"the genomics default wants RevealCancel at {where} (it follows a dense "
                "layer), but the dense layer's output is also used elsewhere or passes through "
                "an op that is not a no-op/BatchNorm/inert dropout; use deeplift_rescale"
            )
        raise LiftGenomicsError(
            f"RevealCancel needs {where} to be fed only by a Linear or Conv1d layer "
            "(optionally through BatchNorm or inert dropout); use deeplift_rescale or "
            "deeplift_genomics"
        )
    for index in chain[1:]:
        by_index[index].rule = "chain"
    return "revealcancel", chain


_PASS_THROUGH = {"contiguous", "clone", "dropout", "dropout1d", "alpha_dropout", "batch_norm",
                 "float", "to", "type_as", "feature_alpha_dropout"}


def _weighted_chain(step: Step, by_index, users):
    """(chain weighted→…→last, the nearest weighted step) for an elementwise step.

    The chain is None when RevealCancel cannot split the weighted layer's output: an op other
    than a no-op, inert dropout or BatchNorm in between, or an output used elsewhere. The
    nearest weighted layer is found through any single-input linear op (None if there is
    none before a nonlinearity or a merge).
    """
    chain: list[int] = []
    node = step.deps[0]
    ok = True
    while node[0] >= 0:
        producer = by_index[node[0]]
        if users.get(node, 0) != 1 or producer.outputs != 1:
            ok = False
        if producer.kind == "weighted":
            chain.insert(0, producer.index)
            return (chain if ok else None), producer
        base = getattr(producer.func, "__name__", "")
        single = len(set(producer.deps)) == 1
        if producer.kind == "linear" and base in _PASS_THROUGH and single:
            chain.insert(0, producer.index)
        elif producer.kind in ("linear", "layer_norm", "rms_norm") and single:
            ok = False  # keep looking for the weighted layer, but no chain through this
        else:
            return None, None
        node = producer.deps[0]
    return None, None


def _check_last_op(steps, output_node, by_index) -> None:
    """Refuse a model that ends in a sigmoid/tanh (probabilities), possibly reshaped."""
    node = output_node
    shape_ops = {"reshape", "view", "squeeze", "unsqueeze", "flatten", "__getitem__",
                 "contiguous", "select", "float"}
    while node[0] >= 0:
        step = by_index[node[0]]
        base = getattr(step.func, "__name__", "")
        if step.kind == "linear" and base in shape_ops and step.deps:
            node = step.deps[0]
            continue
        if step.kind == "elementwise" and step.elementwise.name in ("sigmoid", "tanh"):
            raise LiftGenomicsError(
                f"the model ends in {step.elementwise.name} ({step.name} at {step.where}); "
                "attribution targets the logit: pass a model that returns logits"
            )
        return
