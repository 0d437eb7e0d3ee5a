"""Rules reach the model by intercepting its ops as it runs (a ``TorchFunctionMode``).

Why interception rather than symbolic tracing: it sees what actually executes — optional
inputs tested with ``is None``, ``**kwargs`` wrappers, Python control flow, modules built
inside ``forward``, a module called twice, ``F.*``/``torch.*``/tensor-method forms alike — and
"depends on the sequence" is known from the tensors themselves: the one-hot input is the only
source; parameters, buffers and extra inputs (a control track) are constants.

Three kinds of passes go through :class:`RuleMode`:

1. ``probe`` — one sequence, once per scoring run: every op that sees the sequence becomes a
   :class:`Step` with its source line; :func:`resolve_plan` then decides each step's rule on
   the path to the explained output and refuses, naming the op and the line, what has none.
2. ``record`` — the real inputs (b sequences, no autograd): the values the rules need.
3. ``replay`` — the b·K references (autograd on): linear ops run as they are (their gradient
   is their multiplier); each rule op's output is replaced by an autograd function whose value
   is the reference's output and whose backward applies the DeepLIFT multiplier of the
   (input, reference) pair. One backward of the target gives the multipliers at the input.

Passes 2 and 3 must run the same ops in the same order as the probe: a model whose path
depends on the data is refused at the op where it diverged.
"""

from __future__ import annotations

import linecache
import os
import sys
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode

from liftgenomics.attribution import ops, rules
from liftgenomics.errors import LiftGenomicsError

#: Node id of the one-hot input: (step, output index).
INPUT_NODE = (-1, 0)
_TORCH_DIR = os.path.dirname(torch.__file__)
_OUR_DIR = os.path.dirname(__file__)
#: Rule modes: "rescale", "revealcancel", "genomics" (RC after dense layers), "guided".
RULE_MODES = ("rescale", "revealcancel", "genomics", "guided")
_DEAD = "dead"


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

    def summary(self) -> dict[str, list[str]]:
        """Rule -> the ops that got it (with their lines), for reports and tests."""
        table: dict[str, list[str]] = {}
        for step in self.steps:
            if step.rule not in ("", _DEAD, "linear"):
                table.setdefault(step.rule, []).append(f"{step.name} at {step.where}")
        return table


def _user_line() -> str:
    """The first frame outside torch and this package: the model's own source line."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith((_TORCH_DIR, _OUR_DIR)) and "contextlib" not in filename:
            source = linecache.getline(filename, frame.f_lineno).strip()
            return f"{filename}:{frame.f_lineno} ({source})" if source else (
                f"{filename}:{frame.f_lineno}"
            )
        frame = frame.f_back
    return "an unknown line"


def _tensors_in(value, found: list) -> None:
    if isinstance(value, torch.Tensor):
        found.append(value)
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, torch.Tensor):
                found.append(item)
            elif isinstance(item, list | tuple):
                _tensors_in(item, found)


class _Nodes:
    """id(tensor) -> node, forgotten when the tensor is freed (ids are then reused)."""

    def __init__(self) -> None:
        self.of: dict[int, tuple[int, int]] = {}

    def get(self, tensor: torch.Tensor):
        return self.of.get(id(tensor))

    def set(self, tensor: torch.Tensor, node: tuple[int, int]) -> None:
        key = id(tensor)
        if key not in self.of:
            weakref.finalize(tensor, self.of.pop, key, None)
        self.of[key] = node


class RuleMode(TorchFunctionMode):
    """Intercepts the model's ops for one pass (``probe``, ``record``, ``replay``, ``guided``).

    Args:
        phase: Which pass.
        plan: The resolved plan (record and replay).
        pairs: K, references per sequence (replay).
        sequences: b, sequences in the batch.
        recorded: The record pass's stored values, by step (replay).
        consume: The graph is walked back once: backward may overwrite saved multipliers.
    """

    def __init__(
        self,
        phase: str,
        plan: Plan | None = None,
        pairs: int = 1,
        sequences: int = 1,
        recorded: dict[int, tuple] | None = None,
        consume: bool = False,
    ) -> None:
        super().__init__()
        self.phase = phase
        self.plan = plan
        self.pairs = pairs
        self.sequences = sequences
        self.recorded = recorded if recorded is not None else {}
        self.consume = consume
        self.steps: list[Step] = []
        self.elements = 0  # activation elements the probe produced (one sequence)
        self.nodes = _Nodes()
        self.cursor = 0
        self.chain_inputs: dict[int, tuple] = {}
        self._opaque = 0
        self._module_hooks: list = []

    # -- set-up ------------------------------------------------------------------------------
    def watch(self, tensor: torch.Tensor) -> torch.Tensor:
        """Mark ``tensor`` as the one-hot input (the source of sequence dependence)."""
        self.nodes.set(tensor, INPUT_NODE)
        return tensor

    def node(self, tensor) -> tuple[int, int] | None:
        """The node of a sequence-dependent tensor, None for constants."""
        return self.nodes.get(tensor) if isinstance(tensor, torch.Tensor) else None

    def dependent(self, args, kwargs) -> list[torch.Tensor]:
        """The sequence-dependent tensors among an op's arguments, in argument order."""
        tensors: list[torch.Tensor] = []
        _tensors_in(args, tensors)
        for value in kwargs.values():
            _tensors_in(value, tensors)
        return [t for t in tensors if self.node(t) is not None]

    def __enter__(self):
        if ops.MODULE_RULES:
            from torch.nn.modules import module as module_hooks

            self._module_hooks = [
                module_hooks.register_module_forward_pre_hook(self._module_pre_hook),
                module_hooks.register_module_forward_hook(self._module_hook),
            ]
        return super().__enter__()

    def __exit__(self, *exc):
        for handle in self._module_hooks:
            handle.remove()
        self._module_hooks = []
        return super().__exit__(*exc)

    # -- interception ------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self._opaque:
            return func(*args, **kwargs)
        tensors: list[torch.Tensor] = []
        _tensors_in(args, tensors)
        for value in kwargs.values():
            _tensors_in(value, tensors)
        deps = [node for node in map(self.nodes.get, tensors) if node is not None]
        if not deps or func in ops.CONSTANT_RESULT:
            return func(*args, **kwargs)
        if func in ops.DECOMPOSED:
            with self:  # re-entered: the pieces are intercepted like the model's own ops
                return ops.DECOMPOSED[func](*args, **kwargs)
        if self.phase == "guided":
            return self._guided(func, args, kwargs)
        if self.phase == "probe":
            return self._probe(func, args, kwargs, deps)
        steps = self.plan.steps
        if self.cursor >= len(steps) or not _same_func(steps[self.cursor].func, func):
            # Not the next step: fine for calls that return no tensor (sizes, dims).
            result = func(*args, **kwargs)
            if not isinstance(result, torch.Tensor | list | tuple):
                return result
            self._next_step(func)  # raises: the path differs from the probe's
        step = self._next_step(func)
        if self.phase == "record":
            return self._record(step, func, args, kwargs)
        return self._replay(step, func, args, kwargs)

    def _next_step(self, func) -> Step:
        steps = self.plan.steps
        if self.cursor >= len(steps) or not _same_func(steps[self.cursor].func, func):
            expected = steps[self.cursor].name if self.cursor < len(steps) else "nothing more"
            raise LiftGenomicsError(
                f"the model ran {ops.op_name(func)} where the first pass ran {expected} (at "
                f"{_user_line()}): its path depends on the data (Python control flow on values "
                "or batch size), which DeepLIFT cannot pair between input and reference"
            )
        step = steps[self.cursor]
        self.cursor += 1
        return step

    def _register(self, step_index: int, result, inplace_target=None):
        """Give the outputs of a step their nodes (an in-place op renames its target)."""
        if inplace_target is not None and isinstance(result, torch.Tensor):
            self.nodes.set(result, (step_index, 0))
            return result
        outputs: list[torch.Tensor] = []
        _tensors_in(result, outputs)
        for position, tensor in enumerate(outputs):
            self.nodes.set(tensor, (step_index, position))
        return result

    # -- probe -------------------------------------------------------------------------------
    def _probe(self, func, args, kwargs, deps):
        index = len(self.steps)
        kind, reason = classify(func, args, kwargs, self)
        target = None
        if func in ops.LINEAR | ops.PRODUCTS | ops.QUOTIENTS and ops.is_inplace_method(func):
            target = self.node(args[0])
        step = Step(index, func, ops.op_name(func), kind, deps, _user_line(), reason)
        step.inplace_target = target
        if kind == "elementwise":
            step.elementwise = ops.ELEMENTWISE[func]
        args, kwargs = ops.without_inplace(func, args, kwargs)
        if func in ops.MAXPOOL and kwargs.get("return_indices"):
            step.reason = "MaxPool1d with return_indices=True is not supported"
            step.kind = "refuse"
        result = func(*args, **kwargs)
        if getattr(func, "__name__", "") == "__setitem__":
            step.inplace_target = self.node(args[0])  # the node written over
            self.nodes.set(args[0], (index, 0))
            self.steps.append(step)
            return result
        if not isinstance(result, torch.Tensor | list | tuple):
            return result  # sizes, booleans: no step
        if kind == "detach":
            # A constant (taken at the real input in the reference pass): not a dependent node.
            self.steps.append(step)
            return result
        outputs: list = []
        _tensors_in(result, outputs)
        step.outputs = max(1, len(outputs))
        self.elements += sum(t.numel() for t in outputs if t.is_floating_point())
        self.steps.append(step)
        return self._register(index, result, target)

    # -- record ------------------------------------------------------------------------------
    def _record(self, step: Step, func, args, kwargs):
        args, kwargs = ops.without_inplace(func, args, kwargs)
        if step.rule == "maxpool":
            result, index = rules.pool_with_indices(args, kwargs)
            if step.store:
                self.recorded[step.index] = (args[0], result, index)
            return self._register(step.index, result)
        result = func(*args, **kwargs)
        if getattr(func, "__name__", "") == "__setitem__":
            self.nodes.set(args[0], (step.index, 0))
            return result
        if step.store:
            inputs = [a for a in self.dependent(args, kwargs)]
            values = (*inputs, result) if isinstance(result, torch.Tensor) else (*inputs,)
            if step.clone:
                values = tuple(v.clone() for v in values)
            self.recorded[step.index] = values
        if step.kind == "detach":
            return result
        return self._register(step.index, result, step.inplace_target)

    # -- replay ------------------------------------------------------------------------------
    def _replay(self, step: Step, func, args, kwargs):
        args, kwargs = ops.without_inplace(func, args, kwargs)
        rule = step.rule
        if rule in ("", _DEAD, "linear") or rule == "chain":
            if rule == "chain" or step.index in self._chain_heads:
                # RevealCancel folds these calls (weighted layer, batch norm) at its op.
                self.chain_inputs[step.index] = (args, kwargs)
            result = func(*args, **kwargs)
            if getattr(func, "__name__", "") == "__setitem__":
                self.nodes.set(args[0], (step.index, 0))
                return result
            return self._register(step.index, result, step.inplace_target)
        context = rules.PairContext(self.sequences, self.pairs, self.consume)
        recorded = self.recorded[step.index]
        if rule == "detach":
            result = rules.frozen_at_input(func(*args, **kwargs), recorded[-1], context)
            return result  # a constant: not registered
        if rule == "rescale":
            result = rules.apply_rescale(step, func, args, kwargs, recorded, context, self)
        elif rule == "revealcancel":
            result = rules.apply_revealcancel(step, func, args, kwargs, recorded, context, self)
        elif rule == "shapley":
            result = rules.apply_shapley(func, args, kwargs, recorded, context, self)
        elif rule == "reduce":
            result = rules.apply_reduce(func, args, kwargs, recorded, context, self)
        elif rule == "maxpool":
            result = rules.apply_maxpool(args, kwargs, recorded, context)
        elif rule == "max_route":
            result = rules.apply_max_route(func, args, kwargs, recorded, context)
        elif rule in ("layer_norm", "rms_norm"):
            result = rules.apply_norm(rule, args, kwargs, recorded, context)
        else:  # pragma: no cover - resolve_plan assigns only the rules above
            raise LiftGenomicsError(f"internal: no replay for rule {rule!r}")
        return self._register(step.index, result)

    @property
    def _chain_heads(self) -> set[int]:
        heads = getattr(self.plan, "_heads", None)
        if heads is None:
            heads = {s.chain[0] for s in self.plan.steps if s.rule == "revealcancel"}
            self.plan._heads = heads
        return heads

    # -- guided backprop ---------------------------------------------------------------------
    def _guided(self, func, args, kwargs):
        args, kwargs = ops.without_inplace(func, args, kwargs)
        result = func(*args, **kwargs)
        rule = ops.ELEMENTWISE.get(func)
        dependent = [t for t in self.dependent(args, kwargs)]
        if (
            rule is not None
            and rule.guided
            and len(dependent) == 1
            and isinstance(result, torch.Tensor)
        ):
            z = dependent[0]
            slope = rules.elementwise_derivative(rule, rules.elementwise_fn(func, args, kwargs, z),
                                                 z.detach())
            result = rules.Guided.apply(z, slope, [result.detach()])
        outputs: list = []
        _tensors_in(result, outputs)
        for tensor in outputs:
            self.nodes.set(tensor, (0, 0))
        return result

    # -- registered elementwise modules --------------------------------------------------------
    def _module_pre_hook(self, module, inputs):
        if ops.module_rule(module) is not None and inputs and self.node(inputs[0]) is not None:
            self._opaque += 1
        return None

    def _module_hook(self, module, inputs, output):
        rule = ops.module_rule(module)
        if rule is None or not inputs or self.node(inputs[0]) is None:
            return None
        self._opaque -= 1
        func = type(module)
        forward = module.forward  # hooks are not re-run by calling forward directly
        z = inputs[0]
        if self.phase == "probe":
            index = len(self.steps)
            step = Step(index, func, rule.name, "elementwise", [self.node(z)], _user_line())
            step.elementwise = rule
            self.steps.append(step)
            self.nodes.set(output, (index, 0))
            return None
        if self.phase == "guided":
            self.nodes.set(output, (0, 0))
            return None
        step = self._next_step(func)
        if self.phase == "record":
            if step.store:
                values = (z, output)
                self.recorded[step.index] = tuple(v.clone() for v in values) if step.clone else (
                    values
                )
            self.nodes.set(output, (step.index, 0))
            return None
        if step.rule in ("", _DEAD):
            self.nodes.set(output, (step.index, 0))
            return None
        self._opaque += 1
        try:
            context = rules.PairContext(self.sequences, self.pairs, self.consume)
            recorded = self.recorded[step.index]
            if step.rule == "revealcancel":
                result = rules.revealcancel_at(step, forward, z, recorded, context, self)
            else:
                result = rules.rescale_at(step, forward, z, recorded, context)
        finally:
            self._opaque -= 1
        self.nodes.set(result, (step.index, 0))
        return result


def _same_func(a, b) -> bool:
    if a is b:
        return True
    return ops.op_name(a) == ops.op_name(b) and type(a) is type(b)


_INDEX_ARGUMENT = {"__getitem__": 1, "index_select": 2, "gather": 2, "take_along_dim": 1}


def classify(func, args, kwargs, mode: RuleMode) -> tuple[str, str]:
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
        _tensors_in(index if isinstance(index, list | tuple) else [index], found)
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


def probe(model: torch.nn.Module, x: torch.Tensor, forward_args: tuple) -> tuple[RuleMode, object]:
    """Run the probe pass; returns the mode (its steps) and the model's raw output."""
    mode = RuleMode("probe", sequences=x.shape[0])
    with torch.no_grad(), mode:
        mode.watch(x)
        output = model(x, *forward_args)
    return mode, output


def resolve_plan(mode_name: str, probed: RuleMode, output_tensor: torch.Tensor) -> Plan:
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
            step.rule = _DEAD
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
        step.store = step.rule not in ("linear", "chain", _DEAD)
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


def refuse_randomness(probed: RuleMode, output_tensor: torch.Tensor) -> None:
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
