"""Predictions of both alleles and per-variant scores, as chrombpnet's variant scorer makes them.

:func:`predict_alleles` runs the model on the two allele windows of each variant (the forward
strand and, unless ``forward_only``, the reverse complement) and averages the strands:

- a BPNet-style model returning ``(profile logits, log counts)`` (a tuple/list, or a dict with
  ``"profile"`` and ``"counts"``): counts are averaged in count space, the mean of
  exp(log counts) over the two strands; profile logits (N, S, Lout) or (N, Lout) are averaged
  in logit space, the reverse-complement prediction flipped back along its length first. For
  a stranded profile (S == 2: plus and minus strand) the two strands are swapped as well, since
  the plus strand of the reverse complement is the minus strand of the forward sequence; so
  are the two count outputs when C == 2 (chrombpnet flattens a stranded BPNet's profile to 2L
  positions and reverses the flattened axis, which is the same swap and flip). Other S keep
  their tracks in order;
- a model returning one tensor (N, T) (a classifier): its logits are averaged.

The reverse-complement flip aligns output position j with input position j + (L − Lout) // 2
of both strands only when L − Lout is even (chrombpnet: 2114 − 1000); an odd difference
misaligns the two by one position, as it does in chrombpnet.

:func:`variant_scores` turns the predictions into ordered columns, one value per variant:

- for a ``(profile, counts)`` model, chrombpnet's ``allele1_pred_counts``,
  ``allele2_pred_counts`` (the averaged counts, summed over the count outputs when there are
  several), ``logfc`` = log2(c̄2 / c̄1), ``abs_logfc``, ``jsd``, ``original_jsd``,
  ``logfc_x_jsd``, ``abs_logfc_x_jsd``. ``jsd`` is the Jensen–Shannon *distance* with base 2
  (the square root of the divergence, as ``scipy.spatial.distance.jensenshannon(p, q, base=2)``)
  between the softmax of the two alleles' profile logits, over all positions (and strands,
  flattened: strand 0's positions, then strand 1's). For an indel it is computed on realigned
  positions (:func:`realigned_positions`, variant-scorer's ``adjust_indel_jsd``), the softmax
  renormalised over the kept positions; ``original_jsd`` keeps the unadjusted value (equal to
  ``jsd`` for a SNP or an equal-length substitution);
- for a classifier, per task t: ``allele1_logit_task{t}``, ``allele2_logit_task{t}``,
  ``logit_diff_task{t}`` (allele2 − allele1), ``prob_diff_task{t}`` (the difference of the
  sigmoids: meaningful for a multi-label sigmoid model; for a softmax model use the logit
  differences) and ``abs_logit_diff_task{t}``.

:func:`tested_columns` names the columns that get an empirical p-value (:mod:`.null`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from liftgenomics.attribution import outputs
from liftgenomics.attribution.batching import (
    as_one_hot,
    batch_rows,
    model_dtype,
    prepared,
    resolve_device,
    to_device,
)
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.variants.records import Variant

#: :attr:`AllelePredictions.kind` of a model returning ``(profile logits, log counts)``.
PROFILE_COUNTS = "profile_counts"
#: :attr:`AllelePredictions.kind` of a model returning one (N, T) tensor of logits.
LOGITS = "logits"

#: The columns of a ``(profile, counts)`` model, in chrombpnet's order.
PAIR_COLUMNS = (
    "allele1_pred_counts",
    "allele2_pred_counts",
    "logfc",
    "abs_logfc",
    "jsd",
    "original_jsd",
    "logfc_x_jsd",
    "abs_logfc_x_jsd",
)
#: The columns of a ``(profile, counts)`` model that get an empirical p-value (right tail).
PVALUE_COLUMNS = ("abs_logfc", "jsd", "abs_logfc_x_jsd")
#: The classifier columns of task t, in order (``{t}`` is the task's index).
TASK_COLUMNS = (
    "allele1_logit_task{t}",
    "allele2_logit_task{t}",
    "logit_diff_task{t}",
    "prob_diff_task{t}",
    "abs_logit_diff_task{t}",
)
#: The classifier column of task t that gets an empirical p-value.
TASK_PVALUE_COLUMN = "abs_logit_diff_task{t}"


@dataclass(frozen=True)
class AllelePredictions:
    """Strand-averaged predictions of both alleles, per variant (float64 arrays).

    Attributes:
        kind: :data:`PROFILE_COUNTS` or :data:`LOGITS`.
        counts1: (N, C) allele1 counts, the mean of exp(log counts) over the strands.
        counts2: (N, C) allele2 counts.
        profile1: (N, S, Lout) allele1 profile logits, averaged over the strands.
        profile2: (N, S, Lout) allele2 profile logits.
        logits1: (N, T) allele1 logits of a classifier, averaged over the strands.
        logits2: (N, T) allele2 logits.
        forward_only: Whether only the forward strand was predicted.
    """

    kind: str
    counts1: np.ndarray | None = None
    counts2: np.ndarray | None = None
    profile1: np.ndarray | None = None
    profile2: np.ndarray | None = None
    logits1: np.ndarray | None = None
    logits2: np.ndarray | None = None
    forward_only: bool = False

    def __len__(self) -> int:
        first = self.counts1 if self.kind == PROFILE_COUNTS else self.logits1
        return 0 if first is None else int(first.shape[0])


# --- the model's outputs ----------------------------------------------------------------------


def profile_counts_pair(raw: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """BPNet's ``(profile logits, log counts)`` in what a model returned, or None.

    A dict with ``"profile"`` and ``"counts"`` entries, or a tuple/list of two tensors whose
    first is a profile (N, S, Lout), or (N, Lout) beside log counts (N, 1) or (N,).

    Returns:
        The profile as (N, S, Lout) and the log counts as (N, C).
    """
    if isinstance(raw, dict):
        if "profile" not in raw or "counts" not in raw:
            return None
        profile, counts = raw["profile"], raw["counts"]
        named = True
    elif isinstance(raw, tuple | list) and len(raw) == 2:
        profile, counts = raw
        named = False
    else:
        return None
    if not (isinstance(profile, torch.Tensor) and isinstance(counts, torch.Tensor)):
        return None
    if profile.dim() not in (2, 3) or counts.dim() not in (1, 2):
        return None
    single_count = counts.dim() == 1 or counts.shape[1] == 1
    if profile.dim() == 2 and not (named or (single_count and profile.shape[1] > 1)):
        return None
    profile = profile.unsqueeze(1) if profile.dim() == 2 else profile
    counts = counts.unsqueeze(1) if counts.dim() == 1 else counts
    return profile, counts


def read_output(raw: Any, output: int | str | None, rows: int) -> tuple[str, tuple]:
    """What is scored in one batch's raw output: the kind and its float64 arrays.

    Args:
        raw: The model's output for ``rows`` sequences.
        output: The output chosen (already resolved by :func:`outputs.default_output`); None
            takes a ``(profile, counts)`` pair or the one tensor the model returns.
        rows: Sequences in the batch.

    Returns:
        ``(PROFILE_COUNTS, (profile (n, S, Lout), log counts (n, C)))`` or
        ``(LOGITS, (logits (n, T),))``.

    Raises:
        LiftGenomicsError: for an output that is neither (one line naming what it is).
    """
    pair = profile_counts_pair(raw) if output is None else None
    if pair is not None:
        profile, counts = pair
        check_rows(profile, rows, "profile")
        check_rows(counts, rows, "counts")
        return PROFILE_COUNTS, (to_numpy(profile), to_numpy(counts))
    selected = outputs.select_output(raw, output)
    if selected.dim() == 1:
        selected = selected.unsqueeze(1)
    if selected.dim() != 2:
        raise LiftGenomicsError(
            f"the model returned {outputs.describe(raw)}: variant scores need BPNet's "
            "(profile, counts) or logits of shape (N, T); choose one with output=INDEX or KEY"
        )
    check_rows(selected, rows, "logits")
    return LOGITS, (to_numpy(selected),)


def check_rows(tensor: torch.Tensor, rows: int, name: str) -> None:
    """Refuse an output without one row per sequence."""
    if tensor.shape[0] != rows:
        raise LiftGenomicsError(
            f"the model's {name} output has shape {tuple(tensor.shape)}; expected one row per "
            f"sequence ({rows})"
        )


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as a float64 CPU array."""
    return tensor.detach().to("cpu", torch.float64).numpy()


# --- the two strands --------------------------------------------------------------------------


def reverse_complement(X: torch.Tensor) -> torch.Tensor:
    """Reverse complement of one-hot (N, 4, L) (A C G T channels: flip channels and length)."""
    return torch.flip(X, dims=(1, 2))


def flip_profile(profile: np.ndarray) -> np.ndarray:
    """A reverse-complement profile (N, S, Lout) back on forward positions (strands swapped
    when S == 2)."""
    flipped = profile[:, :, ::-1]
    return flipped[:, ::-1] if profile.shape[1] == 2 else flipped


def average_pair(forward: tuple, reverse: tuple | None) -> tuple[np.ndarray, np.ndarray]:
    """(profile logits, counts) averaged over the strands: logits, and exp(log counts)."""
    profile, log_counts = forward
    counts = np.exp(log_counts)
    if reverse is None:
        return profile, counts
    reverse_profile, reverse_log_counts = reverse
    reverse_counts = np.exp(reverse_log_counts)
    if reverse_counts.shape[1] == 2 and reverse_profile.shape[1] == 2:
        reverse_counts = reverse_counts[:, ::-1]  # stranded counts: plus <-> minus
    return (profile + flip_profile(reverse_profile)) / 2, (counts + reverse_counts) / 2


def average_strands(kind: str, forward: tuple, reverse: tuple | None) -> tuple:
    """One batch's predictions of one allele averaged over the strands."""
    if kind == PROFILE_COUNTS:
        return average_pair(forward, reverse)
    if reverse is None:
        return forward
    return ((forward[0] + reverse[0]) / 2,)


def predict_alleles(
    model: nn.Module,
    X1,
    X2,
    *,
    forward_only: bool = False,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    output: int | str | None = None,
    forward_args: Sequence = (),
) -> AllelePredictions:
    """Predictions of both alleles of each variant, averaged over the two strands.

    Args:
        model: A PyTorch model on one-hot (N, 4, L) input.
        X1: (N, 4, L) one-hot allele1 (reference) windows.
        X2: (N, 4, L) one-hot allele2 windows, row i the same variant as in ``X1``.
        forward_only: Predict the forward strand only (chrombpnet's ``--forward_only``).
        batch_size: Windows per forward pass.
        device: ``"cpu"``, ``"cuda"``, ``"auto"`` or None (CUDA when available).
        output: An index or key into a tuple/dict output; None: BPNet's ``(profile, counts)``
            pair, the output the model names (``model.default_output``, e.g. ``"logits"`` of
            a Keras model whose sigmoid is split off), or the one tensor it returns.
        forward_args: Extra model inputs after the window (tensors with one row per variant
            are batched with it); passed as they are to both strands (e.g. chrombpnet-lite's
            zero bias tracks).

    Returns:
        The strand-averaged predictions (see the module docstring).

    Raises:
        LiftGenomicsError: for windows of different shapes, a bad batch size or an output
            that is neither a ``(profile, counts)`` pair nor (N, T) logits.
    """
    if np.shape(X1) != np.shape(X2):
        raise LiftGenomicsError(
            f"allele windows differ in shape: {tuple(np.shape(X1))} and {tuple(np.shape(X2))}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise LiftGenomicsError(f"batch_size must be a positive integer, got {batch_size!r}")
    windows = (as_one_hot(X1), as_one_hot(X2))
    chosen = outputs.default_output(model, output)
    resolved = resolve_device(device)
    n = windows[0].shape[0]
    if n == 0:
        raise LiftGenomicsError("no variant windows to predict")
    batches: tuple[list, list] = ([], [])
    kinds: set[str] = set()
    with prepared(model, resolved), torch.inference_mode():
        dtype = model_dtype(model)
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            args = to_device(batch_rows(tuple(forward_args), start, stop, n), resolved, dtype)
            for allele, X in enumerate(windows):
                batch = X[start:stop].to(resolved, dtype)
                kind, forward = read_output(model(batch, *args), chosen, stop - start)
                reverse = None
                if not forward_only:
                    raw = model(reverse_complement(batch), *args)
                    kind, reverse = read_output(raw, chosen, stop - start)
                kinds.add(kind)
                batches[allele].append(average_strands(kind, forward, reverse))
    if len(kinds) != 1:
        raise LiftGenomicsError(f"the model's outputs changed kind between batches: {kinds}")
    return assemble(kinds.pop(), batches, forward_only)


def assemble(kind: str, batches: tuple[list, list], forward_only: bool) -> AllelePredictions:
    """The batches of both alleles joined into :class:`AllelePredictions`."""
    joined = [
        [np.concatenate([part[i] for part in parts]) for i in range(len(parts[0]))]
        for parts in batches
    ]
    if kind == PROFILE_COUNTS:
        (profile1, counts1), (profile2, counts2) = joined
        return AllelePredictions(
            kind, counts1=counts1, counts2=counts2, profile1=profile1, profile2=profile2,
            forward_only=forward_only,
        )  # fmt: skip
    (logits1,), (logits2,) = joined
    return AllelePredictions(kind, logits1=logits1, logits2=logits2, forward_only=forward_only)


# --- scores -----------------------------------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (numerically stable)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon distance with base 2 between distributions on the last axis.

    As ``scipy.spatial.distance.jensenshannon(p, q, base=2)``: both normalised to sum to one,
    then sqrt((KL(p ‖ m) + KL(q ‖ m)) / 2) with m = (p + q) / 2 and logarithms base 2.
    """
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = (p + q) / 2
    divergence = (relative_entropy(p, m) + relative_entropy(q, m)) / (2 * np.log(2.0))
    return np.sqrt(np.maximum(divergence, 0.0))


def relative_entropy(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Σ p log(p / m) over the last axis, with 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / m), 0.0)
    return terms.sum(axis=-1)


def profile_center(length: int, profile_length: int) -> int:
    """The output position of the variant's first base (input position ``length // 2``).

    BPNet trims its output symmetrically: output position j is input position
    j + (length − profile_length) // 2.
    """
    return length // 2 - (length - profile_length) // 2


def realigned_positions(
    length1: int, length2: int, center: int, profile_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """The output positions of the two allele profiles compared for an indel.

    Kept in both: the left flank (positions < ``center``) and the alleles' first
    min(length1, length2) bases, position for position; then the right flank, where allele1's
    position ``center + length1 + k`` pairs with allele2's ``center + length2 + k`` (the same
    genome base), as far as both stay inside the profile. Allele1's extra bases (a deletion),
    or allele2's (an insertion), and the positions at the right end that have no partner are
    dropped. This is variant-scorer's ``adjust_indel_jsd`` with the variant at ``center``
    rather than at ``profile_length // 2``.

    Args:
        length1: Bases of allele1 (0 for ``"-"``).
        length2: Bases of allele2.
        center: Output position of the variant's first base (:func:`profile_center`).
        profile_length: Positions of the profile.

    Returns:
        Index arrays into allele1's and allele2's profile, of equal length, pairing positions.
    """
    positions = np.arange(profile_length)
    shared = positions[positions < center + min(length1, length2)]
    right1 = positions[positions >= center + length1]
    right2 = right1 - (length1 - length2)
    inside = (right2 >= 0) & (right2 < profile_length)
    return (
        np.concatenate([shared, right1[inside]]),
        np.concatenate([shared, right2[inside]]),
    )


def profile_jsd(
    profile1: np.ndarray, profile2: np.ndarray, variants: Sequence[Variant], length: int
) -> tuple[np.ndarray, np.ndarray]:
    """``jsd`` (indels realigned) and ``original_jsd`` of (N, S, Lout) profile logits."""
    n, strands, profile_length = profile1.shape
    original = js_distance(
        softmax(profile1.reshape(n, strands * profile_length)),
        softmax(profile2.reshape(n, strands * profile_length)),
    )
    adjusted = original.copy()
    center = profile_center(length, profile_length)
    for i, variant in enumerate(variants):
        if not variant.is_indel:
            continue
        index1, index2 = realigned_positions(
            len(variant.bases1), len(variant.bases2), center, profile_length
        )
        if index1.size == 0:
            adjusted[i] = np.nan
            continue
        adjusted[i] = js_distance(
            softmax(profile1[i][:, index1].reshape(-1)), softmax(profile2[i][:, index2].reshape(-1))
        )
    return adjusted, original


def pair_scores(
    predictions: AllelePredictions, variants: Sequence[Variant], length: int
) -> dict[str, np.ndarray]:
    """chrombpnet's columns of a ``(profile, counts)`` model."""
    profile_length = predictions.profile1.shape[2]
    if profile_length > length:
        raise LiftGenomicsError(
            f"the model's profile has {profile_length} positions, more than the {length} of "
            "its input window"
        )
    counts1 = predictions.counts1.sum(axis=1)
    counts2 = predictions.counts2.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        logfc = np.log2(counts2 / counts1)
    jsd, original = profile_jsd(predictions.profile1, predictions.profile2, variants, length)
    return {
        "allele1_pred_counts": counts1,
        "allele2_pred_counts": counts2,
        "logfc": logfc,
        "abs_logfc": np.abs(logfc),
        "jsd": jsd,
        "original_jsd": original,
        "logfc_x_jsd": logfc * jsd,
        "abs_logfc_x_jsd": np.abs(logfc) * jsd,
    }


def logit_scores(predictions: AllelePredictions) -> dict[str, np.ndarray]:
    """The per-task columns of a classifier."""
    columns: dict[str, np.ndarray] = {}
    for t in range(predictions.logits1.shape[1]):
        logit1, logit2 = predictions.logits1[:, t], predictions.logits2[:, t]
        values = (logit1, logit2, logit2 - logit1, sigmoid(logit2) - sigmoid(logit1),
                  np.abs(logit2 - logit1))  # fmt: skip
        for name, value in zip(TASK_COLUMNS, values, strict=True):
            columns[name.format(t=t)] = value
    return columns


def variant_scores(
    predictions: AllelePredictions, variants: Sequence[Variant], length: int
) -> dict[str, np.ndarray]:
    """The per-variant scores, as ordered columns (see the module docstring).

    Args:
        predictions: The strand-averaged predictions of :func:`predict_alleles`.
        variants: The variants, row for row (indels are told from their allele lengths).
        length: The model's input length L (the variant's first base at ``L // 2``).

    Returns:
        Column name -> (N,) float64 values, in output order. A ``jsd`` whose realignment keeps
        no position (an indel outside the profile) is NaN.

    Raises:
        LiftGenomicsError: when the variants and predictions differ in number, or the profile
            is longer than the input.
    """
    if len(variants) != len(predictions):
        raise LiftGenomicsError(
            f"{len(variants)} variants for {len(predictions)} predictions; expected one each"
        )
    if predictions.kind == PROFILE_COUNTS:
        return pair_scores(predictions, variants, length)
    return logit_scores(predictions)


def tested_columns(columns: Sequence[str]) -> list[str]:
    """The columns, of those given, that get an empirical p-value, in their order.

    ``abs_logfc``, ``jsd`` and ``abs_logfc_x_jsd`` of a ``(profile, counts)`` model;
    ``abs_logit_diff_task{t}`` of a classifier. All are right-tailed: large is significant.
    """
    prefix = TASK_PVALUE_COLUMN.split("{")[0]
    return [
        name
        for name in columns
        if name in PVALUE_COLUMNS or (name.startswith(prefix) and name[len(prefix):].isdigit())
    ]
