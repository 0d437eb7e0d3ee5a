"""The public scoring entry point: :func:`attribute` (and its settings and result).

Every method scores one-hot sequences (N, 4, L) and returns, per target, contributions
(N, 4, L) projected onto the base present, or hypothetical contributions (the contribution
each base would have had at each position). For DeepLIFT each batch costs one forward pass of
the real inputs (once per sequence, not per reference), one forward pass of the b·K references
and one backward pass per target, with no gradients for the model's parameters.

DeepLIFT results are checked for summation-to-delta on every (sequence, reference) pair before
any averaging or projection; a violation raises (or warns, if asked). Gradient × input and
guided backpropagation are the paper's: the gradient times the input itself, no reference.

This module owns the options and result, the probe that checks the model once per call, the
loop over batches and the summation check; the batches are scored by
:mod:`liftgenomics.attribution.scorer`, sized and fed by :mod:`liftgenomics.attribution.batching`.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from liftgenomics.attribution import kernels, tracer
from liftgenomics.attribution.batching import (
    as_one_hot,
    batch_rows,
    default_batch_size,
    model_dtype,
    prepared,
    reference_source,
    resolve_device,
    to_device,
)
from liftgenomics.attribution.methods import ANY_MODEL, METHODS, Method, get_method
from liftgenomics.attribution.outputs import Explained, default_output
from liftgenomics.attribution.plan import refuse_randomness, resolve_plan
from liftgenomics.attribution.scorer import Batch, Scorer
from liftgenomics.errors import LiftGenomicsError

__all__ = ["METHODS", "AttributionOptions", "AttributionResult", "attribute"]

#: Relative summation-to-delta tolerance: |Σ C − Δt| ≤ tol · max(1, |Δt|) (float32 models).
SUMMATION_TOLERANCE = 1e-4
#: The same for half-precision models (checked in float64 all the same).
HALF_SUMMATION_TOLERANCE = 2e-2



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
    explained = Explained.resolve(
        target, default_output(model, options.output), options.mean_center_logits
    )
    forward_args = tuple(forward_args)
    device = resolve_device(options.device)
    sources = (
        reference_source(references, X, options.seed, options.start_index)
        if method.needs_references
        else None
    )
    try:
        return _score_all(model, X, sources, explained, forward_args, method, options, device)
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as error:  # the model's own failure, said in one line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LiftGenomicsError(
            f"{method.name}: the model failed while being scored: {first}"
        ) from error


def _score_all(model, X, sources, explained: Explained, forward_args, method, options, device):
    """The batches of :func:`attribute_with_details`, with the model prepared."""
    n, _, length = X.shape
    count = len(explained.targets)
    scores = torch.zeros((n, count, 4, length), dtype=torch.float32)
    predictions = torch.zeros((n, count), dtype=torch.float32)
    max_error = torch.full((n, count), float("nan"), dtype=torch.float32)
    pairs = n * (1 if sources is None else int(sources(0, 1).shape[1]))
    with prepared(model, device), kernels.cpu_fusion(pairs):
        dtype = model_dtype(model)
        plan = _check(model, method, X, forward_args, explained, device, dtype)
        scorer = Scorer(model, method, plan, explained, device, dtype, options.hypothetical,
                        options.steps)  # fmt: skip
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
                    batch_rows(forward_args, start, stop, n),
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


def _check(model, method: Method, X, forward_args, explained: Explained, device, dtype):
    """Probe two sequences: the output and targets exist; DeepLIFT's plan resolves.

    Every method is probed (a copy of the sequences: a model may write into its input), so
    that randomness (active dropout) is refused for the rivals too.
    """
    rows = min(2, X.shape[0])
    probe_x = X[:rows].to(device, dtype).clone()
    probe_args = to_device(batch_rows(forward_args, 0, rows, X.shape[0]), device, dtype)
    probed, raw = tracer.probe(model, probe_x, probe_args)
    selected = explained.validated(raw, rows)
    if method.rule_mode is None:
        refuse_randomness(probed, selected)
        return None
    try:
        return resolve_plan(method.rule_mode, probed, selected)
    except LiftGenomicsError as error:
        if method.family != "deeplift" or "ism" in str(error):
            raise
        raise LiftGenomicsError(
            f"{error} ({', '.join(ANY_MODEL)} score any differentiable model)"
        ) from None



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
    explained = Explained.resolve(target, default_output(model, None), mean_center_logits)
    with prepared(model, x.device):
        plan = None
        if spec.rule_mode is not None:
            probed, raw = tracer.probe(model, x[:1], ())
            plan = resolve_plan(spec.rule_mode, probed, explained.select(raw))
        scorer = Scorer(model, spec, plan, explained, x.device, torch.float32, steps=steps)
        if spec.family == "deeplift":
            multipliers, *_ = next(scorer.multipliers(x, references, ()))
        elif spec.family == "integrated_gradients":
            multipliers, _ = next(scorer.integrated_gradient_means(x, references, ()))
        else:
            grad, _ = next(scorer.gradients(x, ()))
            multipliers = grad.unsqueeze(1)
    return ((x.unsqueeze(1) - references) * multipliers).detach()


def _check_summation(batch: Batch, offset: int, on_violation: str, dtype) -> None:
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

