"""The public scoring entry point: :func:`attribute`.

Every method scores one-hot sequences (N, 4, L) and returns, per target, contributions
(N, 4, L) projected onto the base present, or hypothetical contributions (the contribution
each base would have had at each position). For DeepLIFT each batch costs one forward pass of
the real inputs (once per sequence, not per reference), one forward pass of the b·K references
and one backward pass per target, with no gradients for the model's parameters.

DeepLIFT results are checked for summation-to-delta on every (sequence, reference) pair before
any averaging or projection; a violation raises (or warns, if asked). Gradient × input and
guided backpropagation are the paper's: the gradient times the input itself, no reference.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from liftgenomics.attribution import kernels, outputs, tracer
from liftgenomics.attribution.methods import ANY_MODEL, METHODS, Method, get_method
from liftgenomics.attribution.outputs import Target
from liftgenomics.errors import LiftGenomicsError

__all__ = ["METHODS", "AttributionOptions", "AttributionResult", "attribute"]

#: Relative summation-to-delta tolerance: |Σ C − Δt| ≤ tol · max(1, |Δt|) (float32 models).
SUMMATION_TOLERANCE = 1e-4
#: The same for half-precision models (checked in float64 all the same).
HALF_SUMMATION_TOLERANCE = 2e-2
#: (sequence, reference) pairs per batch on a CPU when the model's activations are unknown.
CPU_PAIRS_PER_BATCH = 320
#: Activation bytes per batch on a CPU (DeepLIFT: sized from the probe pass): ~320 pairs of
#: the paper CNN, one sequence's references of a BPNet.
CPU_ACTIVATION_BYTES = 48 * 2**20


@dataclass(frozen=True)
class AttributionOptions:
    """How :func:`attribute` scores (all keyword settings in one place).

    Attributes:
        method: One of :data:`METHODS`.
        output: An index or key into a tuple/dict the model returns (None: a tensor).
        hypothetical: Hypothetical contributions instead of the actual ones.
        batch_size: Sequences per batch (None: ~320 pairs on a CPU, memory-sized on a GPU).
        device: ``"cpu"``, ``"cuda"``, or None/``"auto"``.
        seed: Seed for references generated from a spec.
        steps: Integrated-gradients steps (midpoint rule).
        mean_center_logits: Explain t_i − mean_j t_j (softmax classifiers, paper section 3.6).
        on_violation: ``"raise"`` or ``"warn"`` when summation-to-delta fails.
        start_index: The index of ``X[0]`` in a larger set (references seeded by global index).
    """

    method: str = "deeplift_genomics"
    output: int | str | None = None
    hypothetical: bool = False
    batch_size: int | None = None
    device: str | torch.device | None = None
    seed: int = 0
    steps: int = 10
    mean_center_logits: bool = False
    on_violation: str = "raise"
    start_index: int = 0

    def validated(self) -> AttributionOptions:
        """Self, after one-line checks of every setting."""
        get_method(self.method)
        if self.on_violation not in ("raise", "warn"):
            raise LiftGenomicsError(
                f"on_violation must be 'raise' or 'warn', not {self.on_violation!r}"
            )
        if self.steps < 1:
            raise LiftGenomicsError(f"integrated gradients needs steps >= 1, got {self.steps}")
        if self.batch_size is not None and self.batch_size < 1:
            raise LiftGenomicsError(f"batch size must be >= 1 sequence, got {self.batch_size}")
        return self


@dataclass
class AttributionResult:
    """Scores with what was measured along the way.

    Attributes:
        scores: (N, T, 4, L) float32 contributions (hypothetical or projected).
        predictions: (N, T) the explained values at the real inputs.
        max_error: (N, T) the largest |Σ contributions − Δt| over each sequence's references
            (DeepLIFT methods; NaN for methods that do not promise summation-to-delta).
    """

    scores: torch.Tensor
    predictions: torch.Tensor
    max_error: torch.Tensor


def attribute(
    model: nn.Module,
    X,
    references=None,
    target=0,
    *,
    forward_args: Sequence = (),
    options: AttributionOptions | None = None,
    **settings,
) -> torch.Tensor:
    """Score one-hot sequences with a DeepLIFT variant or one of its rivals.

    Args:
        model: A PyTorch model. DeepLIFT and guided backprop first check every op on the path
            from the sequence to the explained output (a refusal names the op and its line).
        X: One-hot sequences (N, 4, L), A C G T channels (tensor or array).
        references: Per-sequence references (N, K, 4, L), shared ones (K, 4, L) or (4, L), or a
            reference spec (``"dinuc:20"``, ``"flat"``, ... or a ``ReferenceSpec``) generated
            per batch with ``seed``. Scores are averaged over each sequence's K references.
            Ignored (may be None) for ``grad_input``, ``guided_backprop`` and ``ism``.
        target: What to explain (see :mod:`liftgenomics.attribution.outputs`): an output
            index, ``"profile"``, ``"sum"``, a window, or a list of them (sharing the passes).
        forward_args: Extra model inputs after X (a control track, ...): tensors with one row
            per sequence are batched with X (and repeated for each reference); anything else
            is passed as is. Whatever is computed from them alone is a constant.
        options: An :class:`AttributionOptions`; or give its fields as keyword ``settings``
            (``method=``, ``output=``, ``hypothetical=``, ``batch_size=``, ``device=``,
            ``seed=``, ``steps=``, ``mean_center_logits=``, ``on_violation=``).

    Returns:
        (N, 4, L) float32 on the CPU for one target, (N, len(target), 4, L) for a list.

    Raises:
        LiftGenomicsError: bad shapes, unknown method/target/output, an unsupported model, or
            a summation-to-delta violation.
    """
    result = attribute_with_details(
        model, X, references, target, forward_args=forward_args, options=options, **settings
    )
    if isinstance(target, Sequence) and not isinstance(target, str):
        return result.scores
    return result.scores[:, 0]


def attribute_with_details(
    model: nn.Module,
    X,
    references=None,
    target=0,
    *,
    forward_args: Sequence = (),
    options: AttributionOptions | None = None,
    **settings,
) -> AttributionResult:
    """:func:`attribute`, also returning predictions and summation-to-delta errors."""
    try:
        options = dataclasses.replace(options or AttributionOptions(), **settings).validated()
    except TypeError as error:
        raise LiftGenomicsError(f"attribute: {error}") from None
    method = get_method(options.method)
    X = as_one_hot(X)
    targets = outputs.parse_targets(target)
    forward_args = tuple(forward_args)
    device = resolve_device(options.device)
    sources = (
        reference_source(references, X, options.seed, options.start_index)
        if method.needs_references
        else None
    )
    try:
        return _score_all(model, X, sources, targets, forward_args, method, options, device)
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as error:  # the model's own failure, said in one line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LiftGenomicsError(
            f"{method.name}: the model failed while being scored: {first}"
        ) from error


def _score_all(model, X, sources, targets, forward_args, method, options, device):
    """The batches of :func:`attribute_with_details`, with the model prepared."""
    n, _, length = X.shape
    scores = torch.zeros((n, len(targets), 4, length), dtype=torch.float32)
    predictions = torch.zeros((n, len(targets)), dtype=torch.float32)
    max_error = torch.full((n, len(targets)), float("nan"), dtype=torch.float32)
    pairs = n * (1 if sources is None else int(sources(0, 1).shape[1]))
    with prepared(model, device), kernels.cpu_fusion(pairs):
        dtype = model_dtype(model)
        plan = _check(model, method, X, forward_args, targets, options, device, dtype)
        scorer = _Scorer(model, method, plan, targets, options, device, dtype)
        per_batch = options.batch_size or default_batch_size(
            method, sources, options.steps, length, device, plan
        )
        start = 0
        while start < n:
            stop = min(n, start + per_batch)
            try:
                batch = scorer.score(
                    X[start:stop],
                    None if sources is None else sources(start, stop),
                    _rows(forward_args, start, stop, n),
                )
            except torch.OutOfMemoryError:
                if device.type != "cuda" or per_batch == 1:
                    raise
                per_batch = max(1, per_batch // 2)  # halve and retry the same sequences
                torch.cuda.empty_cache()
                continue
            scores[start:stop] = batch.scores.cpu()
            predictions[start:stop] = batch.predictions.cpu()
            if method.checks_summation:
                max_error[start:stop] = batch.max_error.cpu()
                _check_summation(batch, start + options.start_index, options.on_violation,
                                 dtype)
            start = stop
    return AttributionResult(scores, predictions, max_error)


def _rows(forward_args: tuple, start: int, stop: int, n: int) -> tuple:
    """The batch's rows of per-sequence extra inputs (other values as they are)."""
    return tuple(
        a[start:stop] if isinstance(a, torch.Tensor) and a.dim() > 0 and a.shape[0] == n else a
        for a in forward_args
    )


def _repeat(forward_args: tuple, rows: int, times: int) -> tuple:
    """Per-sequence extra inputs repeated for each of a sequence's ``times`` evaluations."""
    return tuple(
        a.repeat_interleave(times, dim=0)
        if isinstance(a, torch.Tensor) and a.dim() > 0 and a.shape[0] == rows
        else a
        for a in forward_args
    )


def _to(forward_args: tuple, device, dtype) -> tuple:
    return tuple(
        a.to(device, dtype) if isinstance(a, torch.Tensor) and a.is_floating_point()
        else a.to(device) if isinstance(a, torch.Tensor) else a
        for a in forward_args
    )


def _check(model, method: Method, X, forward_args, targets, options, device, dtype):
    """Probe two sequences: the output and targets exist; DeepLIFT's plan resolves.

    Every method is probed (a copy of the sequences: a model may write into its input), so
    that randomness (active dropout) is refused for the rivals too.
    """
    rows = min(2, X.shape[0])
    probe_x = X[:rows].to(device, dtype).clone()
    probe_args = _to(_rows(forward_args, 0, rows, X.shape[0]), device, dtype)
    probed, raw = tracer.probe(model, probe_x, probe_args)
    selected = outputs.select_output(raw, options.output)
    outputs.validate(selected, targets, rows)
    if method.rule_mode is None:
        tracer.refuse_randomness(probed, selected)
        return None
    try:
        return tracer.resolve_plan(method.rule_mode, probed, selected)
    except LiftGenomicsError as error:
        if method.family != "deeplift" or "ism" in str(error):
            raise
        raise LiftGenomicsError(
            f"{error} ({', '.join(ANY_MODEL)} score any differentiable model)"
        ) from None


@dataclass
class _Batch:
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


class _Scorer:
    """Scores batches for one method on one prepared model."""

    def __init__(self, model, method: Method, plan, targets: list[Target], options, device,
                 dtype) -> None:  # fmt: skip
        self.model = model
        self.method = method
        self.plan = plan
        self.targets = targets
        self.options = options
        self.device = device
        self.dtype = dtype

    def score(self, xb: torch.Tensor, refs: torch.Tensor | None, args: tuple) -> _Batch:
        xb = xb.to(self.device, self.dtype)
        args = _to(args, self.device, self.dtype)
        refs = None if refs is None else refs.to(self.device, self.dtype)
        family = self.method.family
        if family == "deeplift":
            return self._deeplift(xb, refs, args)
        if family == "gradient":
            return self._gradient(xb, refs, args)
        if family == "integrated_gradients":
            return self._integrated_gradients(xb, refs, args)
        return self._ism(xb, args)

    def _values(self, selected, target: Target, weights) -> torch.Tensor:
        return outputs.target_value(selected, target, self.options.mean_center_logits, weights)

    def _weights(self, selected_x: torch.Tensor, times: int) -> torch.Tensor | None:
        if not outputs.needs_weights(self.targets):
            return None
        return outputs.profile_weights(selected_x).repeat_interleave(times, dim=0)

    def multipliers(self, xb, refs, args) -> Iterator[tuple]:
        """DeepLIFT: yield (multipliers (b, K, ...), t(x) (b,), t(ref) (b, K)) per target."""
        b, k = refs.shape[:2]
        recorded: dict[int, tuple] = {}
        record = tracer.RuleMode("record", self.plan, sequences=b, recorded=recorded)
        with torch.no_grad(), record:
            x_copy = record.watch(xb.clone())  # the model may write into its input
            selected_x = outputs.select_output(self.model(x_copy, *args), self.options.output)
        _finished(record)
        replay = tracer.RuleMode(
            "replay", self.plan, pairs=k, sequences=b, recorded=recorded,
            consume=len(self.targets) == 1,
        )  # fmt: skip
        ref_input = refs.reshape((b * k,) + tuple(refs.shape[2:])).requires_grad_(True)
        with torch.enable_grad():
            with replay:
                # Not the leaf itself: a model may write into its input.
                raw = self.model(replay.watch(ref_input.clone()), *_repeat(args, b, k))
            _finished(replay)
            selected_r = outputs.select_output(raw, self.options.output)
            weights_x = self._weights(selected_x, 1)
            weights_r = self._weights(selected_x, k)
            for j, target in enumerate(self.targets):
                chosen_r = self._values(selected_r, target, weights_r)
                (grad,) = torch.autograd.grad(
                    chosen_r.sum(), ref_input, retain_graph=j < len(self.targets) - 1
                )
                chosen_x = self._values(selected_x, target, weights_x)
                yield grad.reshape(refs.shape), chosen_x.detach(), chosen_r.detach().reshape(b, k)

    def _deeplift(self, xb, refs, args) -> _Batch:
        scores, predictions, totals, deltas = [], [], [], []
        for multipliers, chosen_x, chosen_r in self.multipliers(xb, refs, args):
            # Σ_c ref_c·m_c and Σ_c x_c·m_c per position, without (b, K, 4, L) temporaries.
            ref_m = torch.einsum("bkcl,bkcl->bkl", refs, multipliers)
            x_m = torch.einsum("bcl,bkcl->bkl", xb, multipliers)
            # Position sums in float64: the check must not fail on its own rounding.
            totals.append((x_m - ref_m).double().sum(dim=2))
            deltas.append(chosen_x.double().unsqueeze(1) - chosen_r.double())
            hyp = (multipliers - ref_m.unsqueeze(2)).mean(dim=1)
            scores.append(hyp if self.options.hypothetical else hyp * xb)
            predictions.append(chosen_x)
        total = torch.stack(totals, dim=1)
        delta = torch.stack(deltas, dim=1)
        return _Batch(
            torch.stack(scores, dim=1).float(),
            torch.stack(predictions, dim=1).float(),
            (total - delta).abs().amax(dim=2).float(),
            delta,
            total,
        )

    def gradients(self, xb, args) -> Iterator[tuple]:
        """Yield (gradient at x (b, ...), t(x)) per target (guided: through guided ReLUs)."""
        x = xb.clone().requires_grad_(True)
        with torch.enable_grad():
            if self.method.rule_mode == "guided":
                mode = tracer.RuleMode("guided")
                with mode:
                    raw = self.model(mode.watch(x.clone()), *args)
            else:
                raw = self.model(x.clone(), *args)
            selected = outputs.select_output(raw, self.options.output)
            weights = self._weights(selected, 1)
            for j, target in enumerate(self.targets):
                chosen = self._values(selected, target, weights)
                (grad,) = torch.autograd.grad(
                    chosen.sum(), x, retain_graph=j < len(self.targets) - 1
                )
                yield grad, chosen.detach()

    def _gradient(self, xb, refs, args) -> _Batch:
        scores, predictions = [], []
        for grad, chosen in self.gradients(xb, args):
            if refs is not None:  # grad_input_delta: the gradient at x is the same for all K
                mean_ref = refs.mean(dim=1, keepdim=True)
                scores.append(project(grad.unsqueeze(1), mean_ref, xb, self.options.hypothetical))
            else:
                # The paper's: the gradient times the input itself; hypothetically, the gradient.
                scores.append(grad if self.options.hypothetical else grad * xb)
            predictions.append(chosen)
        return _Batch(torch.stack(scores, dim=1).float(), torch.stack(predictions, dim=1).float())

    def integrated_gradient_means(self, xb, refs, args) -> Iterator[tuple]:
        """Yield (mean gradient on the path (b, K, ...), t(x)) per target (midpoint rule)."""
        b, k = refs.shape[:2]
        steps = self.options.steps
        alphas = (torch.arange(steps, device=xb.device, dtype=xb.dtype) + 0.5) / steps
        delta_x = xb.unsqueeze(1) - refs
        shape = (1, 1, steps) + (1,) * (xb.dim() - 1)
        points = refs.unsqueeze(2) + alphas.reshape(shape) * delta_x.unsqueeze(2)
        points = points.reshape((b * k * steps,) + tuple(xb.shape[1:])).requires_grad_(True)
        with torch.no_grad():
            selected_x = outputs.select_output(self.model(xb.clone(), *args), self.options.output)
        weights_x = self._weights(selected_x, 1)
        weights_p = self._weights(selected_x, k * steps)
        with torch.enable_grad():
            raw = self.model(points.clone(), *_repeat(args, b, k * steps))
            selected = outputs.select_output(raw, self.options.output)
            for j, target in enumerate(self.targets):
                chosen = self._values(selected, target, weights_p)
                (grad,) = torch.autograd.grad(
                    chosen.sum(), points, retain_graph=j < len(self.targets) - 1
                )
                mean_grad = grad.reshape((b, k, steps) + tuple(xb.shape[1:])).mean(dim=2)
                yield mean_grad, self._values(selected_x, target, weights_x)

    def _integrated_gradients(self, xb, refs, args) -> _Batch:
        scores, predictions = [], []
        for multipliers, chosen_x in self.integrated_gradient_means(xb, refs, args):
            scores.append(project(multipliers, refs, xb, self.options.hypothetical))
            predictions.append(chosen_x)
        return _Batch(torch.stack(scores, dim=1).float(), torch.stack(predictions, dim=1).float())

    def _ism(self, xb, args) -> _Batch:
        deltas, base = ism_deltas(
            self.model, xb, self.targets, self.options.mean_center_logits,
            forward_args=args, output=self.options.output,
        )  # fmt: skip
        # Centre over the four bases so the base present gets t(x) minus the mean of all four.
        hyp = deltas - deltas.mean(dim=2, keepdim=True)
        scores = hyp if self.options.hypothetical else hyp * xb.unsqueeze(1)
        return _Batch(scores, base)


def _finished(mode: tracer.RuleMode) -> None:
    if mode.cursor != len(mode.plan.steps):
        missing = mode.plan.steps[mode.cursor]
        raise LiftGenomicsError(
            f"the model skipped {missing.name} (at {missing.where}) that the first pass ran: "
            "its path depends on the data, which DeepLIFT cannot pair between input and "
            "reference"
        )


def pair_contributions(
    model: nn.Module,
    x: torch.Tensor,
    references: torch.Tensor,
    target=0,
    method: str = "deeplift_rescale",
    steps: int = 10,
    mean_center_logits: bool = False,
) -> torch.Tensor:
    """Raw contributions Δx · m for every (input, reference) pair, for inputs of any shape.

    No projection, no averaging, no summation check: this is the rules' arithmetic itself, for
    analytic checks on real-valued toy models (the paper's examples) and for research use.
    For ``grad_input`` and ``guided_backprop`` m is the gradient at x (times Δx here).

    Args:
        model: The model (checked as in :func:`attribute`).
        x: Inputs (N, ...).
        references: References (N, K, ...).
        target: The explained output index (or target, see :func:`attribute`).
        method: A DeepLIFT method, ``grad_input``, ``guided_backprop`` or
            ``integrated_gradients``.

    Returns:
        (N, K, ...) contributions on the CPU.
    """
    spec = get_method(method)
    if spec.family == "ism":
        raise LiftGenomicsError(f"pair_contributions: unsupported method {method!r}")
    x = torch.as_tensor(x, dtype=torch.float32)
    references = torch.as_tensor(references, dtype=torch.float32)
    if references.shape[0] != x.shape[0] or references.shape[2:] != x.shape[1:]:
        raise LiftGenomicsError(
            f"references of shape {tuple(references.shape)} do not fit inputs of shape "
            f"{tuple(x.shape)}; expected (N, K, ...)"
        )
    options = AttributionOptions(method=method, steps=steps, mean_center_logits=mean_center_logits)
    targets = outputs.parse_targets(target)
    with prepared(model, x.device):
        plan = None
        if spec.rule_mode is not None:
            probed, raw = tracer.probe(model, x[:1], ())
            plan = tracer.resolve_plan(spec.rule_mode, probed, outputs.select_output(raw, None))
        scorer = _Scorer(model, spec, plan, targets, options, x.device, torch.float32)
        if spec.family == "deeplift":
            multipliers, *_ = next(scorer.multipliers(x, references, ()))
        elif spec.family == "integrated_gradients":
            multipliers, _ = next(scorer.integrated_gradient_means(x, references, ()))
        else:
            grad, _ = next(scorer.gradients(x, ()))
            multipliers = grad.unsqueeze(1)
    return ((x.unsqueeze(1) - references) * multipliers).detach()


def ism_deltas(
    model: nn.Module,
    xb: torch.Tensor,
    targets,
    center: bool = False,
    chunk: int = 1024,
    forward_args: tuple = (),
    output: int | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """In-silico mutagenesis: t(x with base b at p) − t(x) for every position and base.

    Args:
        model: The model (eval mode, on ``xb``'s device).
        xb: (b, 4, L) one-hot sequences.
        targets: Targets (indices or :class:`~liftgenomics.attribution.outputs.Target`).
        center: Explain t_i − mean_j t_j.
        chunk: Mutants per forward pass.
        forward_args: Extra per-sequence model inputs (gathered for each mutant).
        output: The output index/key to explain.

    Returns:
        deltas (b, T, 4, L), zero at the base present, and the values at ``xb`` (b, T).
    """
    targets = [t if isinstance(t, Target) else outputs.parse_target(t) for t in targets]
    rows = xb.shape[0]
    with torch.no_grad():
        selected_x = outputs.select_output(model(xb.clone(), *forward_args), output)
        weights = outputs.profile_weights(selected_x) if outputs.needs_weights(targets) else None
        base = torch.stack(
            [outputs.target_value(selected_x, t, center, weights) for t in targets], dim=1
        )
        seq, channel, position = torch.nonzero(xb == 0, as_tuple=True)
        deltas = torch.zeros(
            (rows, len(targets)) + tuple(xb.shape[1:]), dtype=torch.float32, device=xb.device
        )
        for start in range(0, seq.numel(), chunk):
            s = seq[start : start + chunk]
            c = channel[start : start + chunk]
            p = position[start : start + chunk]
            mutants = xb[s].clone()
            index = torch.arange(s.numel(), device=xb.device)
            mutants[index, :, p] = 0.0
            mutants[index, c, p] = 1.0
            args = tuple(
                a[s] if isinstance(a, torch.Tensor) and a.dim() > 0 and a.shape[0] == rows else a
                for a in forward_args
            )
            selected = outputs.select_output(model(mutants, *args), output)
            w = None if weights is None else weights[s]
            for j, target in enumerate(targets):
                value = outputs.target_value(selected, target, center, w)
                deltas[s, j, c, p] = (value - base[s, j]).float()
    return deltas, base


def _check_summation(batch: _Batch, offset: int, on_violation: str, dtype) -> None:
    tol = HALF_SUMMATION_TOLERANCE if dtype in (torch.float16, torch.bfloat16) else (
        SUMMATION_TOLERANCE
    )
    allowed = tol * batch.delta.abs().clamp(min=1.0)
    error = (batch.total - batch.delta).abs()
    excess = error / allowed
    worst = int(torch.argmax(excess))
    if float(excess.flatten()[worst]) <= 1.0 and bool(torch.isfinite(error).all()):
        return
    if not bool(torch.isfinite(error).all()):
        worst = int(torch.argmax((~torch.isfinite(error)).flatten().to(torch.int8)))
    b, t, k = np.unravel_index(worst, tuple(error.shape))
    message = (
        f"summation-to-delta violated: sequence {offset + b}, reference {k}, target index {t}: "
        f"contributions sum to {float(batch.total[b, t, k]):.6g} but f(x) - f(ref) = "
        f"{float(batch.delta[b, t, k]):.6g} (error {float(error[b, t, k]):.3g} > "
        f"{float(allowed[b, t, k]):.3g})"
    )
    if on_violation == "raise":
        raise LiftGenomicsError(message)
    warnings.warn(message, stacklevel=3)


@contextlib.contextmanager
def prepared(model: nn.Module, device: torch.device | None) -> Iterator[None]:
    """Eval mode, no parameter gradients, on ``device``; all restored afterwards.

    The model goes back to the device it came from, and every submodule gets its own training
    flag back (a model partly in eval mode stays so).
    """
    flags = [(module, module.training) for module in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    home = next((p.device for p in model.parameters()), None)
    if device is not None:
        model.to(device)
    model.eval()
    for parameter, _ in grads:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in grads:
            parameter.requires_grad_(flag)
        for module, flag in flags:
            module.training = flag
        if home is not None and device is not None and home != device:
            model.to(home)


def as_one_hot(X) -> torch.Tensor:
    """Validate and convert one-hot input to a float32 CPU tensor (N, 4, L)."""
    tensor = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X)
    if tensor.dim() != 3 or tensor.shape[1] != 4:
        raise LiftGenomicsError(
            f"X must be one-hot sequences of shape (N, 4, L), got {tuple(tensor.shape)}"
        )
    tensor = tensor.detach().to("cpu", torch.float32)
    column_sums = tensor.sum(dim=1)
    if not bool(((column_sums == 0) | (column_sums == 1)).all()) or bool((tensor < 0).any()):
        raise LiftGenomicsError("X must be one-hot: every column all zero (N) or a single 1")
    return tensor


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's parameters (inputs are cast to it); float32 if none."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> CUDA when available, else CPU; refuse an absent CUDA."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise LiftGenomicsError(f"unknown device {device!r}; use auto, cpu or cuda") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise LiftGenomicsError("device 'cuda' requested but CUDA is not available here")
    return resolved


def reference_source(
    references, X: torch.Tensor, seed: int, start_index: int = 0
) -> Callable[[int, int], torch.Tensor]:
    """A function (start, stop) -> references (stop − start, K, 4, L) for a slice of ``X``."""
    if references is None:
        raise LiftGenomicsError("references are required (e.g. 'dinuc:20' or 'flat')")
    if not (torch.is_tensor(references) or isinstance(references, np.ndarray)):
        return _spec_source(references, X, seed, start_index)
    n, _, length = X.shape
    refs = torch.as_tensor(references).detach().to("cpu", torch.float32)
    if refs.dim() == 2:
        refs = refs.unsqueeze(0)
    if refs.dim() == 3:
        refs = refs.unsqueeze(0).expand((n,) + tuple(refs.shape))
    if refs.dim() != 4 or refs.shape[2] != 4 or refs.shape[3] != length or refs.shape[0] != n:
        raise LiftGenomicsError(
            f"references of shape {tuple(refs.shape)} do not fit X of shape {tuple(X.shape)}; "
            "expected (N, K, 4, L), (K, 4, L) or (4, L)"
        )
    return lambda start, stop: refs[start:stop]


def _spec_source(
    references, X: torch.Tensor, seed: int, start_index: int
) -> Callable[[int, int], torch.Tensor]:
    """References generated per batch from a spec string or ``ReferenceSpec``."""
    from liftgenomics.genome.references import ReferenceSpec, parse_reference_spec

    spec = parse_reference_spec(references) if isinstance(references, str) else references
    if not isinstance(spec, ReferenceSpec):
        raise LiftGenomicsError(
            "references must be a tensor, an array or a spec such as 'dinuc:20', not "
            f"{type(references).__name__}"
        )
    X_numpy = X.numpy()

    def generate(start: int, stop: int) -> torch.Tensor:
        refs = spec.generate(X_numpy[start:stop], seed, start_index=start_index + start)
        # flat/zero/fasta specs return read-only broadcast views: materialise them.
        return torch.from_numpy(np.array(refs, dtype=np.float32))

    return generate


def default_batch_size(
    method: Method, sources, steps: int, length: int, device: torch.device, plan=None
) -> int:
    """Sequences per batch: sized by the model's activations on a CPU, by memory on a GPU.

    With a plan (DeepLIFT), a CPU batch holds about ``CPU_ACTIVATION_BYTES`` of activations
    (the probe pass counted them per sequence); deterministic, so the same model always gets
    the same batches. Otherwise ~320 pairs.
    """
    pairs = CPU_PAIRS_PER_BATCH
    if plan is not None and plan.elements > 0:
        bytes_per_pair = 4 * plan.elements
        pairs = int(min(4096, max(1, CPU_ACTIVATION_BYTES // bytes_per_pair)))
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # ~ bytes of activations, multipliers and gradients per pair for a conv net of this
        # length; a quarter of free memory leaves room for the allocator and the model.
        per_pair = 4 * length * 4096
        if plan is not None and plan.elements > 0:
            per_pair = 3 * 4 * plan.elements  # activations, multipliers, gradients
        pairs = max(1, min(65536, free // 4 // per_pair))
    if method.family == "ism":
        return max(1, pairs // (3 * length) or 1)
    k = 1 if sources is None else int(sources(0, 1).shape[1])
    per_sequence = k * (steps if method.family == "integrated_gradients" else 1)
    return max(1, math.ceil(pairs / per_sequence))


