"""What is explained: the model's output selected, then reduced to one number per sequence.

A model may return a tensor (N, T) or (N,), profiles (N, S, L), a tuple/list or a dict.
``output`` picks an element of a tuple/list (an index) or a dict (a key); each target then
reduces the selected tensor to one value per sequence:

- an integer t: column t of (N, T) logits (``mean_center_logits`` subtracts the row mean);
- ``"profile"``: the BPNet/ChromBPNet convention Σ softmax(ℓ̄).detach() · ℓ̄, with ℓ the profile
  logits flattened over strands and positions and ℓ̄ = ℓ − mean(ℓ). The softmax weights are
  constants taken at the real input, for the input and every reference alike, so the target is
  linear in ℓ and summation-to-delta is exact (peers evaluate the weights at each reference and
  switch the additivity check off);
- ``"sum"``: the sum over everything but the batch axis;
- a window ``slice(start, stop)`` or ``"start:stop"``: the sum over those positions (last axis).

:class:`Explained` is the output choice and the targets resolved once per scoring call: every
method maps the model's raw output of a batch to the explained values through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from liftgenomics.errors import LiftGenomicsError


@dataclass(frozen=True)
class Target:
    """One explained value per sequence."""

    kind: str  # "index", "profile", "sum", "window"
    index: int = 0
    start: int = 0
    stop: int = 0

    @property
    def label(self) -> str:
        """How files and messages name the target."""
        if self.kind == "index":
            return str(self.index)
        if self.kind == "window":
            return f"{self.start}:{self.stop}"
        return self.kind


def parse_target(target) -> Target:
    """One target from an int, ``"profile"``, ``"sum"``, ``"a:b"`` or ``slice(a, b)``."""
    if isinstance(target, bool):
        raise LiftGenomicsError(f"target must be an index, 'profile', 'sum' or a window: {target}")
    if isinstance(target, int | np.integer):
        return Target("index", index=int(target))
    if isinstance(target, slice):
        return _window(target.start, target.stop, target)
    if isinstance(target, str):
        text = target.strip()
        if text in ("profile", "sum"):
            return Target(text)
        if text.lstrip("-").isdigit():
            return Target("index", index=int(text))
        if ":" in text:
            start, _, stop = text.partition(":")
            try:
                return _window(int(start), int(stop), target)
            except ValueError:
                pass
    raise LiftGenomicsError(
        f"unknown target {target!r}; expected an output index, 'profile', 'sum' or a position "
        "window 'start:stop'"
    )


def _window(start, stop, original) -> Target:
    if start is None or stop is None or not 0 <= int(start) < int(stop):
        raise LiftGenomicsError(f"target window {original!r} must be start:stop, 0 <= start < stop")
    return Target("window", start=int(start), stop=int(stop))


def parse_targets(target) -> list[Target]:
    """A list of targets from one target or a sequence of them."""
    if isinstance(target, Sequence) and not isinstance(target, str):
        targets = [parse_target(t) for t in target]
    else:
        targets = [parse_target(target)]
    if not targets:
        raise LiftGenomicsError("target: at least one target is needed")
    return targets


def describe(raw) -> str:
    """What the model returned, for messages."""
    if isinstance(raw, torch.Tensor):
        return f"a tensor of shape {tuple(raw.shape)}"
    if isinstance(raw, dict):
        return "a dict with keys " + ", ".join(
            f"{k!r} ({describe(v)})" for k, v in raw.items()
        )
    if isinstance(raw, list | tuple):
        return f"a {type(raw).__name__} of " + ", ".join(f"[{i}] {describe(v)}"
                                                         for i, v in enumerate(raw))
    return type(raw).__name__


def default_output(model, output: int | str | None) -> int | str | None:
    """``output``, or when None the output the model names as its own (``model.default_output``).

    A reader that splits a model's final sigmoid/softmax off returns ``{"logits": ...,
    "activated": ...}`` and names ``"logits"``: the logit is explained unless the caller asks
    for the activated output.
    """
    return getattr(model, "default_output", None) if output is None else output


def select_output(raw, output) -> torch.Tensor:
    """The element ``output`` of what the model returned (the tensor itself for None)."""
    if output is None:
        if isinstance(raw, torch.Tensor):
            return raw
        raise LiftGenomicsError(
            f"the model returned {describe(raw)}: choose one with output=INDEX or output=KEY"
        )
    if isinstance(raw, dict):
        if output not in raw:
            raise LiftGenomicsError(
                f"output {output!r} not found: the model returned {describe(raw)}"
            )
        chosen = raw[output]
    elif isinstance(raw, list | tuple):
        if not isinstance(output, int) or not -len(raw) <= output < len(raw):
            raise LiftGenomicsError(
                f"output {output!r} is not an index into what the model returned: {describe(raw)}"
            )
        chosen = raw[output]
    elif isinstance(raw, torch.Tensor) and output == 0:
        chosen = raw
    else:
        raise LiftGenomicsError(f"output {output!r}: the model returned {describe(raw)}")
    if not isinstance(chosen, torch.Tensor):
        raise LiftGenomicsError(
            f"output {output!r} is not a tensor: the model returned {describe(raw)}"
        )
    return chosen


def validate(selected: torch.Tensor, targets: list[Target], rows: int) -> None:
    """Refuse targets the selected output cannot give (one line naming its shape)."""
    shape = tuple(selected.shape)
    if selected.dim() == 0 or selected.shape[0] != rows:
        raise LiftGenomicsError(
            f"the model's output has shape {shape}; expected one row per sequence ({rows})"
        )
    for target in targets:
        if target.kind == "index":
            columns = 1 if selected.dim() == 1 else selected.shape[1]
            if selected.dim() > 2:
                raise LiftGenomicsError(
                    f"target {target.index} on an output of shape {shape}: a profile output "
                    "takes target 'profile', 'sum' or a window 'start:stop'"
                )
            if not 0 <= target.index < columns:
                raise LiftGenomicsError(
                    f"target {target.index} is out of range: the model has {columns} outputs"
                )
        elif target.kind == "window" and target.stop > selected.shape[-1]:
            raise LiftGenomicsError(
                f"target window {target.label} exceeds the output's {selected.shape[-1]} positions"
            )


def profile_weights(selected_x: torch.Tensor) -> torch.Tensor:
    """softmax(ℓ̄) at the real input, (n, S·L), a constant."""
    logits = selected_x.detach().reshape(selected_x.shape[0], -1)
    centred = logits - logits.mean(dim=1, keepdim=True)
    return torch.softmax(centred, dim=1)


def target_value(
    selected: torch.Tensor,
    target: Target,
    center: bool = False,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """One value per row of ``selected`` (``weights``: the profile weights, row-aligned)."""
    if selected.dim() == 0:  # a model that squeezes away a batch of one
        selected = selected.reshape(1)
    n = selected.shape[0]
    if target.kind == "index":
        if selected.dim() == 1:
            return selected
        chosen = selected[:, target.index]
        return chosen - selected.mean(dim=1) if center else chosen
    if target.kind == "sum":
        return selected.reshape(n, -1).sum(dim=1)
    if target.kind == "window":
        return selected[..., target.start : target.stop].reshape(n, -1).sum(dim=1)
    logits = selected.reshape(n, -1)
    centred = logits - logits.mean(dim=1, keepdim=True)
    if weights is None:
        weights = profile_weights(selected)
    return (weights * centred).sum(dim=1)


def needs_weights(targets: Sequence[Target]) -> bool:
    """Whether any target is the profile target (which needs the input's softmax weights)."""
    return any(target.kind == "profile" for target in targets)


@dataclass(frozen=True)
class Explained:
    """What a scoring call explains: the output chosen, reduced to one value per target.

    Built once per call (:meth:`resolve`); calling it maps the model's raw output for a batch
    to the explained values, one (rows,) tensor per target. The profile target's softmax
    weights are taken at the real input (:meth:`at_input`) and passed, row-aligned, for
    whatever else is evaluated (references, path points, mutants).

    Attributes:
        output: The index/key of the chosen element of what the model returns (None: a tensor).
        targets: The targets, in order.
        center: Explain t_i − mean_j t_j for column targets (``mean_center_logits``).
        weighted: Whether a target needs the profile weights (precomputed).
    """

    output: int | str | None = None
    targets: tuple[Target, ...] = (Target("index"),)
    center: bool = False
    weighted: bool = False

    @classmethod
    def resolve(cls, target=0, output: int | str | None = None, center: bool = False
                ) -> Explained:  # fmt: skip
        """From one target or a list of them (ints, strings, slices or :class:`Target`)."""
        if isinstance(target, Sequence) and not isinstance(target, str):
            items = list(target)
            if not items:
                raise LiftGenomicsError("target: at least one target is needed")
            targets = tuple(t if isinstance(t, Target) else parse_target(t) for t in items)
        else:
            targets = (target if isinstance(target, Target) else parse_target(target),)
        return cls(output, targets, center, needs_weights(targets))

    def select(self, raw) -> torch.Tensor:
        """The chosen tensor of what the model returned."""
        return select_output(raw, self.output)

    def validated(self, raw, rows: int) -> torch.Tensor:
        """The chosen tensor, after refusing targets it cannot give."""
        selected = select_output(raw, self.output)
        validate(selected, list(self.targets), rows)
        return selected

    def weights(self, selected_x: torch.Tensor) -> torch.Tensor | None:
        """The profile weights at the real input (None when no target needs them)."""
        return profile_weights(selected_x) if self.weighted else None

    def values(self, selected: torch.Tensor, weights: torch.Tensor | None = None
               ) -> list[torch.Tensor]:  # fmt: skip
        """One (rows,) value per target of an already chosen output."""
        return [target_value(selected, t, self.center, weights) for t in self.targets]

    def __call__(self, raw, weights: torch.Tensor | None = None) -> list[torch.Tensor]:
        """One (rows,) value per target of what the model returned for a batch."""
        return self.values(select_output(raw, self.output), weights)

    def at_input(self, raw) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """The values at the real inputs and the profile weights taken there."""
        selected = select_output(raw, self.output)
        weights = self.weights(selected)
        return self.values(selected, weights), weights
