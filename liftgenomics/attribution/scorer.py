"""The batch scorer: one batch of sequences (and their references) to contributions.

:class:`Scorer` holds what a scoring run resolved once (the model, the method, DeepLIFT's plan,
the :class:`~liftgenomics.attribution.outputs.Explained` outputs and targets) and scores each
batch: DeepLIFT's record and replay passes here (:meth:`Scorer.multipliers`), the rivals'
passes in :mod:`liftgenomics.attribution.rivals`; every family ends in a :class:`Batch`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from liftgenomics.attribution import rivals, tracer
from liftgenomics.attribution.batching import repeat_rows, to_device
from liftgenomics.attribution.methods import Method
from liftgenomics.attribution.outputs import Explained
from liftgenomics.attribution.plan import Plan
from liftgenomics.errors import LiftGenomicsError


@dataclass
class Batch:
    """One batch's scores (b, T, 4, L), predictions (b, T) and, for DeepLIFT, the check's
    inputs: the largest error (b, T), Δt and Σ contributions (b, T, K)."""

    scores: torch.Tensor
    predictions: torch.Tensor
    max_error: torch.Tensor | None = None
    delta: torch.Tensor | None = None  # (b, T, K) Δt
    total: torch.Tensor | None = None  # (b, T, K) Σ contributions


def project(
    multipliers: torch.Tensor, refs: torch.Tensor, xb: torch.Tensor, hypothetical: bool
) -> torch.Tensor:
    """Hypothetical contributions averaged over references, or their projection on ``xb``.

    Args:
        multipliers: (b, K, 4, L) multipliers at the real input, one set per reference.
        refs: (b, K, 4, L) references.
        xb: (b, 4, L) one-hot inputs.
        hypothetical: Return Σ_c (e_base − ref)_c · m_c per base instead of the projection.
    """
    hyp = (multipliers - (refs * multipliers).sum(dim=2, keepdim=True)).mean(dim=1)
    return hyp if hypothetical else hyp * xb


def finished(mode: tracer.RuleMode) -> None:
    """Refuse a pass that stopped short of the probe's steps (a data-dependent path)."""
    if mode.cursor != len(mode.plan.steps):
        missing = mode.plan.steps[mode.cursor]
        raise LiftGenomicsError(
            f"the model skipped {missing.name} (at {missing.where}) that the first pass ran: "
            "its path depends on the data, which DeepLIFT cannot pair between input and "
            "reference"
        )


@dataclass(frozen=True)
class Scorer:
    """Scores batches for one method on one prepared model.

    Attributes:
        model: The model, prepared (eval mode, on ``device``).
        method: The method's registry entry.
        plan: DeepLIFT's (or guided backprop's) resolved plan; None for the other rivals.
        explained: The output and targets, resolved once.
        device, dtype: Where and in what the model runs.
        hypothetical: Hypothetical contributions instead of their projection.
        steps: Integrated-gradients steps.
    """

    model: nn.Module
    method: Method
    plan: Plan | None
    explained: Explained
    device: torch.device
    dtype: torch.dtype
    hypothetical: bool = False
    steps: int = 10

    def score(self, xb: torch.Tensor, refs: torch.Tensor | None, args: tuple) -> Batch:
        """One batch: sequences (b, 4, L), references (b, K, 4, L) or None, extra inputs."""
        xb = xb.to(self.device, self.dtype)
        args = to_device(args, self.device, self.dtype)
        refs = None if refs is None else refs.to(self.device, self.dtype)
        family = self.method.family
        if family == "deeplift":
            return self._deeplift(xb, refs, args)
        if family == "gradient":
            return self._gradient(xb, refs, args)
        if family == "integrated_gradients":
            return self._integrated_gradients(xb, refs, args)
        return self._ism(xb, args)

    def multipliers(self, xb, refs, args) -> Iterator[tuple]:
        """DeepLIFT: yield (multipliers (b, K, ...), t(x) (b,), t(ref) (b, K)) per target."""
        b, k = refs.shape[:2]
        recorded: dict[int, tuple] = {}
        record = tracer.RuleMode("record", self.plan, sequences=b, recorded=recorded)
        with torch.no_grad(), record:
            x_copy = record.watch(xb.clone())  # the model may write into its input
            raw_x = self.model(x_copy, *args)
        finished(record)
        values_x, weights = self.explained.at_input(raw_x)
        single = len(self.explained.targets) == 1
        replay = tracer.RuleMode(
            "replay", self.plan, pairs=k, sequences=b, recorded=recorded, consume=single,
        )  # fmt: skip
        ref_input = refs.reshape((b * k,) + tuple(refs.shape[2:])).requires_grad_(True)
        with torch.enable_grad():
            with replay:
                # Not the leaf itself: a model may write into its input.
                raw = self.model(replay.watch(ref_input.clone()), *repeat_rows(args, b, k))
            finished(replay)
            weights_r = None if weights is None else weights.repeat_interleave(k, dim=0)
            values_r = self.explained(raw, weights_r)
            last = len(values_r) - 1
            for j, (chosen_r, chosen_x) in enumerate(zip(values_r, values_x, strict=True)):
                (grad,) = torch.autograd.grad(chosen_r.sum(), ref_input, retain_graph=j < last)
                yield grad.reshape(refs.shape), chosen_x.detach(), chosen_r.detach().reshape(b, k)

    def _deeplift(self, xb, refs, args) -> Batch:
        scores, predictions, totals, deltas = [], [], [], []
        for multipliers, chosen_x, chosen_r in self.multipliers(xb, refs, args):
            # Σ_c ref_c·m_c and Σ_c x_c·m_c per position, without (b, K, 4, L) temporaries.
            ref_m = torch.einsum("bkcl,bkcl->bkl", refs, multipliers)
            x_m = torch.einsum("bcl,bkcl->bkl", xb, multipliers)
            # Position sums in float64: the check must not fail on its own rounding.
            totals.append((x_m - ref_m).double().sum(dim=2))
            deltas.append(chosen_x.double().unsqueeze(1) - chosen_r.double())
            hyp = (multipliers - ref_m.unsqueeze(2)).mean(dim=1)
            scores.append(hyp if self.hypothetical else hyp * xb)
            predictions.append(chosen_x)
        total = torch.stack(totals, dim=1)
        delta = torch.stack(deltas, dim=1)
        return Batch(
            torch.stack(scores, dim=1).float(),
            torch.stack(predictions, dim=1).float(),
            (total - delta).abs().amax(dim=2).float(),
            delta,
            total,
        )

    def gradients(self, xb, args) -> Iterator[tuple]:
        """Yield (gradient at x (b, ...), t(x)) per target (guided: through guided ReLUs)."""
        guided = self.method.rule_mode == "guided"
        return rivals.gradients(self.model, xb, args, self.explained, guided)

    def _gradient(self, xb, refs, args) -> Batch:
        scores, predictions = [], []
        for grad, chosen in self.gradients(xb, args):
            if refs is not None:  # grad_input_delta: the gradient at x is the same for all K
                mean_ref = refs.mean(dim=1, keepdim=True)
                scores.append(project(grad.unsqueeze(1), mean_ref, xb, self.hypothetical))
            else:
                # The paper's: the gradient times the input itself; hypothetically, the gradient.
                scores.append(grad if self.hypothetical else grad * xb)
            predictions.append(chosen)
        return Batch(torch.stack(scores, dim=1).float(), torch.stack(predictions, dim=1).float())

    def integrated_gradient_means(self, xb, refs, args) -> Iterator[tuple]:
        """Yield (mean gradient on the path (b, K, ...), t(x)) per target (midpoint rule)."""
        return rivals.integrated_gradient_means(
            self.model, xb, refs, args, self.explained, self.steps
        )

    def _integrated_gradients(self, xb, refs, args) -> Batch:
        scores, predictions = [], []
        for multipliers, chosen_x in self.integrated_gradient_means(xb, refs, args):
            scores.append(project(multipliers, refs, xb, self.hypothetical))
            predictions.append(chosen_x)
        return Batch(torch.stack(scores, dim=1).float(), torch.stack(predictions, dim=1).float())

    def _ism(self, xb, args) -> Batch:
        deltas, base = rivals.mutation_deltas(self.model, xb, self.explained, forward_args=args)
        # Centre over the four bases so the base present gets t(x) minus the mean of all four.
        hyp = deltas - deltas.mean(dim=2, keepdim=True)
        scores = hyp if self.hypothetical else hyp * xb.unsqueeze(1)
        return Batch(scores, base)
