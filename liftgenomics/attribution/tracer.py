"""Rules reach the model by intercepting its ops as it runs (a ``TorchFunctionMode``).

This module owns the recorder, :class:`RuleMode`, and the probe pass (:func:`probe`); what
each op is and which rule it gets is :mod:`liftgenomics.attribution.plan`'s, the rules'
arithmetic :mod:`liftgenomics.attribution.rules`' and :mod:`liftgenomics.attribution.multipliers`'.

Why interception rather than symbolic tracing: it sees what actually executes — optional
inputs tested with ``is None``, ``**kwargs`` wrappers, Python control flow, modules built
inside ``forward``, a module called twice, ``F.*``/``torch.*``/tensor-method forms alike — and
"depends on the sequence" is known from the tensors themselves: the one-hot input is the only
source; parameters, buffers and extra inputs (a control track) are constants.

Three kinds of passes go through :class:`RuleMode`:

1. ``probe`` — one sequence, once per scoring run: every op that sees the sequence becomes a
   :class:`~liftgenomics.attribution.plan.Step` with its source line;
   :func:`~liftgenomics.attribution.plan.resolve_plan` then decides each step's rule on
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
import weakref

import torch
from torch.overrides import TorchFunctionMode

from liftgenomics.attribution import multipliers, ops, rules
from liftgenomics.attribution.plan import DEAD, INPUT_NODE, Plan, Step, classify, tensors_in
from liftgenomics.errors import LiftGenomicsError

_TORCH_DIR = os.path.dirname(torch.__file__)
_OUR_DIR = os.path.dirname(__file__)


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
        tensors_in(args, tensors)
        for value in kwargs.values():
            tensors_in(value, tensors)
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
        tensors_in(args, tensors)
        for value in kwargs.values():
            tensors_in(value, tensors)
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
        tensors_in(result, outputs)
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
        tensors_in(result, outputs)
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
        if rule in ("", DEAD, "linear") or rule == "chain":
            if rule == "chain" or step.index in self.plan.chain_heads:
                # RevealCancel folds these calls (weighted layer, batch norm) at its op.
                self.chain_inputs[step.index] = (args, kwargs)
            result = func(*args, **kwargs)
            if getattr(func, "__name__", "") == "__setitem__":
                self.nodes.set(args[0], (step.index, 0))
                return result
            return self._register(step.index, result, step.inplace_target)
        context = multipliers.PairContext(self.sequences, self.pairs, self.consume)
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
            slope = multipliers.elementwise_derivative(
                rule, multipliers.elementwise_fn(func, args, kwargs, z), z.detach()
            )
            result = multipliers.Guided.apply(z, slope, [result.detach()])
        outputs: list = []
        tensors_in(result, outputs)
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
        if step.rule in ("", DEAD):
            self.nodes.set(output, (step.index, 0))
            return None
        self._opaque += 1
        try:
            context = multipliers.PairContext(self.sequences, self.pairs, self.consume)
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


def probe(model: torch.nn.Module, x: torch.Tensor, forward_args: tuple) -> tuple[RuleMode, object]:
    """Run the probe pass; returns the mode (its steps) and the model's raw output."""
    mode = RuleMode("probe", sequences=x.shape[0])
    with torch.no_grad(), mode:
        mode.watch(x)
        output = model(x, *forward_args)
    return mode, output

