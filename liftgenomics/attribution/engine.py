"""The public scoring entry point: :func:`attribute`.

Every method scores one-hot sequences (N, 4, L) against references and returns, per target,
contributions (N, 4, L) projected onto the base present, or hypothetical contributions (the
contribution each base would have had at each position). Work goes through in batches of
sequences; for DeepLIFT each batch costs one forward pass of the real inputs (once per
sequence, not per reference), one forward pass of the b·K references and one backward pass per
target, with no gradients for the model's parameters.

DeepLIFT results are checked for summation-to-delta on every (sequence, reference) pair before
any averaging or projection; a violation raises (or warns, if asked).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from liftgenomics.attribution.check import check_model
from liftgenomics.attribution.rules import RuleHooks
from liftgenomics.errors import LiftGenomicsError

DEEPLIFT_MODES = {
    "deeplift_rescale": "rescale",
    "deeplift_revealcancel": "revealcancel",
    "deeplift_genomics": "genomics",
}
METHODS = (
    "deeplift_rescale",
    "deeplift_revealcancel",
    "deeplift_genomics",
    "grad_input",
    "guided_backprop",
    "integrated_gradients",
    "ism",
)
#: Relative summation-to-delta tolerance in float32: |Σ C − Δt| ≤ tol · max(1, |Δt|).
SUMMATION_TOLERANCE = 1e-4
#: (sequence, reference) pairs per batch on a CPU; large enough to keep the cores busy.
CPU_PAIRS_PER_BATCH = 320


@dataclass
class AttributionResult:
    """Scores with what was measured along the way.

    Attributes:
        scores: (N, T, 4, L) float32 contributions (hypothetical or projected).
        predictions: (N, T) the target outputs at the real inputs.
        max_error: (N, T) the largest |Σ contributions − Δt| over each sequence's references
            (DeepLIFT methods; NaN for methods that do not promise summation-to-delta).
    """

    scores: torch.Tensor
    predictions: torch.Tensor
    max_error: torch.Tensor


def attribute(
    model: nn.Module,
    X,
    references,
    target: int | Sequence[int] = 0,
    method: str = "deeplift_genomics",
    hypothetical: bool = False,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    steps: int = 10,
    mean_center_logits: bool = False,
    on_violation: str = "raise",
) -> torch.Tensor:
    """Score one-hot sequences with a DeepLIFT variant or one of its rivals.

    Args:
        model: A PyTorch model returning logits (N, T). For DeepLIFT and guided backprop it is
            checked first (:func:`~liftgenomics.attribution.check.check_model`).
        X: One-hot sequences (N, 4, L), A C G T channels (tensor or array).
        references: Per-sequence references (N, K, 4, L), shared ones (K, 4, L) or (4, L), or a
            reference spec (``"dinuc:20"``, ``"flat"``, ... or a ``ReferenceSpec``) generated
            per batch with ``seed``. Scores are averaged over each sequence's K references.
            Ignored (may be None) for ``ism``.
        target: The logit index to explain, or a list of them (sharing the forward passes).
        method: One of :data:`METHODS`.
        hypothetical: Return hypothetical contributions Σ_c (e_b − ref)_c · m_c instead of the
            actual ones (hypothetical × one-hot).
        batch_size: Sequences per batch; by default about 320 (sequence, reference) pairs on a
            CPU and as many as fit in a quarter of the free memory on a GPU.
        device: ``"cpu"``, ``"cuda"``, or None/``"auto"`` for CUDA when available. The model
            is moved there; inputs and references are cast to its parameters' dtype.
        seed: Seed for references generated from a spec.
        steps: Integrated-gradients steps (midpoint rule).
        mean_center_logits: Explain t_i − mean_j t_j (softmax classifiers, paper section 3.6).
        on_violation: ``"raise"`` or ``"warn"`` when summation-to-delta fails.

    Returns:
        (N, 4, L) float32 on the CPU for one target, (N, len(target), 4, L) for a list.

    Raises:
        LiftGenomicsError: bad shapes, unknown method/target, an unsupported model, or a
            summation-to-delta violation.
    """
    result = attribute_with_details(
        model,
        X,
        references,
        target,
        method,
        hypothetical,
        batch_size,
        device,
        seed,
        steps,
        mean_center_logits,
        on_violation,
    )
    if isinstance(target, int | np.integer):
        return result.scores[:, 0]
    return result.scores


def attribute_with_details(
    model: nn.Module,
    X,
    references,
    target: int | Sequence[int] = 0,
    method: str = "deeplift_genomics",
    hypothetical: bool = False,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    steps: int = 10,
    mean_center_logits: bool = False,
    on_violation: str = "raise",
    start_index: int = 0,
) -> AttributionResult:
    """:func:`attribute`, also returning predictions and summation-to-delta errors.

    ``start_index`` is the index of ``X[0]`` in a larger set, so that references generated
    from a spec do not depend on how the set was split into calls.
    """
    if method not in METHODS:
        raise LiftGenomicsError(
            f"unknown attribution method {method!r}; expected one of {', '.join(METHODS)}"
        )
    if on_violation not in ("raise", "warn"):
        raise LiftGenomicsError(f"on_violation must be 'raise' or 'warn', not {on_violation!r}")
    if steps < 1:
        raise LiftGenomicsError(f"integrated gradients needs steps >= 1, got {steps}")
    if batch_size is not None and batch_size < 1:
        raise LiftGenomicsError(f"batch size must be >= 1 sequence, got {batch_size}")
    X = as_one_hot(X)
    targets = [int(target)] if isinstance(target, int | np.integer) else [int(t) for t in target]
    if not targets:
        raise LiftGenomicsError("target: at least one task index is needed")
    device = resolve_device(device)
    sources = None if method == "ism" else reference_source(references, X, seed, start_index)
    plan = None
    if method in DEEPLIFT_MODES:
        plan = check_model(model, DEEPLIFT_MODES[method])
    elif method == "guided_backprop":
        plan = check_model(model, "guided")

    n, _, length = X.shape
    scores = torch.zeros((n, len(targets), 4, length), dtype=torch.float32)
    predictions = torch.zeros((n, len(targets)), dtype=torch.float32)
    max_error = torch.full((n, len(targets)), float("nan"), dtype=torch.float32)
    with prepared(model, device):
        dtype = model_dtype(model)
        _validate_targets(model, X, targets, device, dtype)
        per_batch = batch_size or default_batch_size(method, sources, steps, length, device)
        hooks = RuleHooks(model, plan) if plan is not None else _NoHooks()
        with hooks:
            for start in range(0, n, per_batch):
                stop = min(n, start + per_batch)
                xb = X[start:stop].to(device, dtype)
                refs = None if sources is None else sources(start, stop).to(device, dtype)
                batch = _score_batch(
                    method,
                    model,
                    hooks,
                    xb,
                    refs,
                    targets,
                    hypothetical,
                    steps,
                    mean_center_logits,
                )
                scores[start:stop] = batch.scores.cpu()
                predictions[start:stop] = batch.predictions.cpu()
                if method in DEEPLIFT_MODES:
                    max_error[start:stop] = batch.max_error.cpu()
                    _check_summation(batch, start + start_index, on_violation)
    return AttributionResult(scores, predictions, max_error)


@dataclass
class _Batch:
    scores: torch.Tensor
    predictions: torch.Tensor
    max_error: torch.Tensor | None = None
    delta: torch.Tensor | None = None  # (b, T, K) Δt
    total: torch.Tensor | None = None  # (b, T, K) Σ contributions


def _score_batch(method, model, hooks, xb, refs, targets, hypothetical, steps, center):
    if method in DEEPLIFT_MODES:
        return _deeplift_batch(model, hooks, xb, refs, targets, hypothetical, center)
    if method == "ism":
        return _ism_batch(model, xb, targets, hypothetical, center)
    return _gradient_batch(method, model, hooks, xb, refs, targets, hypothetical, steps, center)


def _select(output: torch.Tensor, target: int, center: bool) -> torch.Tensor:
    """The explained output: a logit, optionally minus the mean over the logits."""
    chosen = output[:, target]
    return chosen - output.mean(dim=1) if center else chosen


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


def _deeplift_multipliers(model, hooks, xb, refs, targets, center) -> Iterator[tuple]:
    """Yield (multipliers (b, K, ...), t(x) (b,), t(ref) (b, K)) per target."""
    b, k = refs.shape[:2]
    hooks.phase = "input"
    with torch.no_grad():
        out_x = model(xb)
    hooks.phase = "reference"
    hooks.pairs = k
    hooks.single_backward = len(targets) == 1
    ref_input = refs.reshape((b * k,) + tuple(refs.shape[2:])).requires_grad_(True)
    out_r = model(ref_input)
    for j, target in enumerate(targets):
        chosen_r = _select(out_r, target, center)
        (grad,) = torch.autograd.grad(chosen_r.sum(), ref_input, retain_graph=j < len(targets) - 1)
        chosen_x = _select(out_x, target, center)
        yield grad.reshape(refs.shape), chosen_x, chosen_r.detach().reshape(b, k)


def _gradient_multipliers(model, xb, refs, targets, center) -> Iterator[tuple]:
    """Yield (gradient at x (b, 1, ...), t(x)) per target."""
    x = xb.clone().requires_grad_(True)
    out = model(x)
    for j, target in enumerate(targets):
        chosen = _select(out, target, center)
        (grad,) = torch.autograd.grad(chosen.sum(), x, retain_graph=j < len(targets) - 1)
        yield grad.unsqueeze(1), chosen.detach()


def _integrated_gradients_multipliers(model, xb, refs, targets, steps, center) -> Iterator[tuple]:
    """Yield (mean gradient on the path (b, K, ...), t(x)) per target (midpoint rule)."""
    b, k = refs.shape[:2]
    alphas = (torch.arange(steps, device=xb.device, dtype=xb.dtype) + 0.5) / steps
    delta_x = xb.unsqueeze(1) - refs
    shape = (1, 1, steps) + (1,) * (xb.dim() - 1)
    points = refs.unsqueeze(2) + alphas.reshape(shape) * delta_x.unsqueeze(2)
    points = points.reshape((b * k * steps,) + tuple(xb.shape[1:])).requires_grad_(True)
    out = model(points)
    with torch.no_grad():
        out_x = model(xb)
    for j, target in enumerate(targets):
        chosen = _select(out, target, center)
        (grad,) = torch.autograd.grad(chosen.sum(), points, retain_graph=j < len(targets) - 1)
        mean_grad = grad.reshape((b, k, steps) + tuple(xb.shape[1:])).mean(dim=2)
        yield mean_grad, _select(out_x, target, center)


def _multipliers(method, model, hooks, xb, refs, targets, steps, center) -> Iterator[tuple]:
    if method in DEEPLIFT_MODES:
        return _deeplift_multipliers(model, hooks, xb, refs, targets, center)
    if method == "integrated_gradients":
        return _integrated_gradients_multipliers(model, xb, refs, targets, steps, center)
    if method in ("grad_input", "guided_backprop"):
        hooks.phase = "guided" if method == "guided_backprop" else "input"
        return _gradient_multipliers(model, xb, refs, targets, center)
    raise LiftGenomicsError(f"method {method!r} has no multipliers")


def _deeplift_batch(model, hooks, xb, refs, targets, hypothetical, center) -> _Batch:
    delta_x = xb.unsqueeze(1) - refs
    scores, predictions, totals, deltas = [], [], [], []
    for multipliers, chosen_x, chosen_r in _deeplift_multipliers(
        model, hooks, xb, refs, targets, center
    ):
        totals.append((delta_x * multipliers).sum(dim=(2, 3)))
        deltas.append(chosen_x.unsqueeze(1) - chosen_r)
        scores.append(project(multipliers, refs, xb, hypothetical))
        predictions.append(chosen_x)
    total = torch.stack(totals, dim=1)
    delta = torch.stack(deltas, dim=1)
    return _Batch(
        torch.stack(scores, dim=1),
        torch.stack(predictions, dim=1),
        (total - delta).abs().amax(dim=2),
        delta,
        total,
    )


def _gradient_batch(method, model, hooks, xb, refs, targets, hypothetical, steps, center):
    if method != "integrated_gradients":
        # The gradient at x is the same for every reference: average the references first.
        refs = refs.mean(dim=1, keepdim=True)
    scores, predictions = [], []
    for multipliers, chosen_x in _multipliers(
        method, model, hooks, xb, refs, targets, steps, center
    ):
        scores.append(project(multipliers, refs, xb, hypothetical))
        predictions.append(chosen_x)
    return _Batch(torch.stack(scores, dim=1), torch.stack(predictions, dim=1))


def pair_contributions(
    model: nn.Module,
    x: torch.Tensor,
    references: torch.Tensor,
    target: int = 0,
    method: str = "deeplift_rescale",
    steps: int = 10,
    mean_center_logits: bool = False,
) -> torch.Tensor:
    """Raw contributions Δx · m for every (input, reference) pair, for inputs of any shape.

    No projection, no averaging, no summation check: this is the rules' arithmetic itself, for
    analytic checks on real-valued toy models (the paper's examples) and for research use.

    Args:
        model: The model (checked as in :func:`attribute`).
        x: Inputs (N, ...).
        references: References (N, K, ...).
        target: The logit index.
        method: A DeepLIFT method, ``grad_input``, ``guided_backprop`` or
            ``integrated_gradients``.

    Returns:
        (N, K, ...) contributions on the CPU.
    """
    if method not in METHODS or method == "ism":
        raise LiftGenomicsError(f"pair_contributions: unsupported method {method!r}")
    x = torch.as_tensor(x, dtype=torch.float32)
    references = torch.as_tensor(references, dtype=torch.float32)
    if references.shape[0] != x.shape[0] or references.shape[2:] != x.shape[1:]:
        raise LiftGenomicsError(
            f"references of shape {tuple(references.shape)} do not fit inputs of shape "
            f"{tuple(x.shape)}; expected (N, K, ...)"
        )
    plan = None
    if method in DEEPLIFT_MODES:
        plan = check_model(model, DEEPLIFT_MODES[method])
    elif method == "guided_backprop":
        plan = check_model(model, "guided")
    with prepared(model, x.device):
        hooks = RuleHooks(model, plan) if plan is not None else _NoHooks()
        with hooks:
            multipliers, *_ = next(
                _multipliers(
                    method, model, hooks, x, references, [target], steps, mean_center_logits
                )
            )
    return ((x.unsqueeze(1) - references) * multipliers).detach()


class _NoHooks(contextlib.nullcontext):
    """Stands in for :class:`RuleHooks` where a method needs none."""

    phase = "input"


def ism_deltas(
    model: nn.Module,
    xb: torch.Tensor,
    targets: Sequence[int],
    center: bool = False,
    chunk: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    """In-silico mutagenesis: t(x with base b at p) − t(x) for every position and base.

    Args:
        model: The model (eval mode, on ``xb``'s device).
        xb: (b, 4, L) one-hot sequences.
        targets: Logit indices.
        center: Explain t_i − mean_j t_j.
        chunk: Mutants per forward pass.

    Returns:
        deltas (b, T, 4, L), zero at the base present, and the outputs at ``xb`` (b, T).
    """
    with torch.no_grad():
        out_x = model(xb)
        base = torch.stack([_select(out_x, t, center) for t in targets], dim=1)
        seq, channel, position = torch.nonzero(xb == 0, as_tuple=True)
        deltas = torch.zeros(
            (xb.shape[0], len(targets)) + tuple(xb.shape[1:]), dtype=torch.float32, device=xb.device
        )
        for start in range(0, seq.numel(), chunk):
            s = seq[start : start + chunk]
            c = channel[start : start + chunk]
            p = position[start : start + chunk]
            mutants = xb[s].clone()
            rows = torch.arange(s.numel(), device=xb.device)
            mutants[rows, :, p] = 0.0
            mutants[rows, c, p] = 1.0
            out = model(mutants)
            for j, target in enumerate(targets):
                deltas[s, j, c, p] = (_select(out, target, center) - base[s, j]).float()
    return deltas, base


def _ism_batch(model, xb, targets, hypothetical, center) -> _Batch:
    deltas, base = ism_deltas(model, xb, targets, center)
    # Centre over the four bases so the base present gets t(x) minus the mean of all four.
    hyp = deltas - deltas.mean(dim=2, keepdim=True)
    scores = hyp if hypothetical else hyp * xb.unsqueeze(1)
    return _Batch(scores, base)


def _check_summation(batch: _Batch, offset: int, on_violation: str) -> None:
    allowed = SUMMATION_TOLERANCE * batch.delta.abs().clamp(min=1.0)
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
    from liftgenomics.references import ReferenceSpec, parse_reference_spec

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


def default_batch_size(method: str, sources, steps: int, length: int, device: torch.device) -> int:
    """Sequences per batch: ~320 pairs on a CPU, memory-sized on a GPU."""
    pairs = CPU_PAIRS_PER_BATCH
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # ~ bytes of activations, multipliers and gradients per pair for a conv net of this
        # length; a quarter of free memory leaves room for the allocator and the model.
        per_pair = 4 * length * 4096
        pairs = max(CPU_PAIRS_PER_BATCH, min(65536, free // 4 // per_pair))
    if method == "ism":
        return max(1, pairs // (3 * length) or 1)
    k = 1 if sources is None else int(sources(0, 1).shape[1])
    per_sequence = k * (steps if method == "integrated_gradients" else 1)
    return max(1, math.ceil(pairs / per_sequence))


def _validate_targets(
    model: nn.Module,
    X: torch.Tensor,
    targets: list[int],
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> None:
    with torch.no_grad():
        output = model(X[:1].to(device, dtype))
    if output.dim() != 2:
        raise LiftGenomicsError(
            f"the model must return logits of shape (N, T); it returned {tuple(output.shape)}"
        )
    for target in targets:
        if not 0 <= target < output.shape[1]:
            raise LiftGenomicsError(
                f"target {target} is out of range: the model has {output.shape[1]} outputs"
            )


@contextlib.contextmanager
def prepared(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Eval mode, no parameter gradients, on ``device``; training flags restored afterwards."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.to(device)
    model.eval()
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
        model.train(was_training)
