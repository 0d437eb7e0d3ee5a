"""Allele attributions against shared references, their SHAP file and ref-over-alt logos.

DeepLIFT explains f(x) − mean_k f(r_k) over a sequence's references. Explaining both alleles
of a variant against the SAME references (drawn once, from the reference-allele window) makes
the references' term cancel in the difference:

    Σ contrib(allele2) − Σ contrib(allele1) = f(allele2) − f(allele1)

exactly, so the variant's effect is blamed on bases with nothing left over.
:func:`allele_attributions` scores both alleles so and checks that identity per variant;
:func:`plot_allele_logos` draws the two alleles' contributions one over the other. The ``.h5``
layout is :mod:`liftgenomics.variants.shap_h5`'s (re-exported here).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from liftgenomics.attribution.batching import as_one_hot, batch_rows, model_dtype
from liftgenomics.attribution.engine import (
    HALF_SUMMATION_TOLERANCE,
    SUMMATION_TOLERANCE,
    AttributionOptions,
    attribute_with_details,
)
from liftgenomics.attribution.methods import get_method
from liftgenomics.attribution.outputs import parse_target
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.references import ReferenceSpec, parse_reference_spec
from liftgenomics.variants.records import Variant
from liftgenomics.variants.shap_h5 import VariantShap, read_variant_shap_h5, write_variant_shap_h5

__all__ = [
    "AlleleAttributions",
    "VariantShap",
    "allele_attributions",
    "plot_allele_logos",
    "read_variant_shap_h5",
    "write_variant_shap_h5",
]

#: Memory for one block's references (N_block, K, 4, L) float32; blocks never change a score
#: (references are seeded by each variant's global index).
REFERENCE_BLOCK_BYTES = 256 * 2**20


@dataclass
class AlleleAttributions:
    """Both alleles of N variants explained against shared references.

    Attributes:
        hyp1, hyp2: (N, 4, L) float32 hypothetical contributions of allele1 and allele2.
        contrib1, contrib2: (N, 4, L) float32 actual contributions (hypothetical × one-hot).
        pred1, pred2: (N,) float32 the explained value of each allele's window.
        diff_error: (N,) float32 |(Σ contrib2 − Σ contrib1) − (pred2 − pred1)|; NaN for
            methods without summation-to-delta and for the ``profile`` target.
    """

    hyp1: np.ndarray
    hyp2: np.ndarray
    contrib1: np.ndarray
    contrib2: np.ndarray
    pred1: np.ndarray
    pred2: np.ndarray
    diff_error: np.ndarray


def allele_attributions(
    model: nn.Module,
    X1,
    X2,
    head_output: int | str | None,
    head_target: int | str,
    options: AttributionOptions | None = None,
    references: str | ReferenceSpec = "dinuc:20",
    forward_args: Sequence = (),
) -> AlleleAttributions:
    """Explain both alleles of each variant against the same references.

    The references are generated once from the reference-allele window ``X1`` (seeded by
    ``options.seed`` and each variant's global index ``options.start_index + i``) and passed
    to both alleles' engine calls. For methods that promise summation-to-delta the allele
    difference is checked per variant: |(Σ contrib2 − Σ contrib1) − (pred2 − pred1)| within
    the engine's tolerance, per side, of max(1, |Σ contrib|). The ``profile`` target is not
    checked: its softmax weights are taken at each allele's own window, so the two alleles
    explain different functions and their references' terms do not cancel.

    Args:
        model: The model (checked by the engine).
        X1: (N, 4, L) one-hot allele1 (reference) windows, the variant's first base at L // 2.
        X2: (N, 4, L) one-hot allele2 (alternate) windows.
        head_output: The model output explained (an index, a key, or None for a tensor).
        head_target: Its target (a column, ``"profile"``, ``"sum"``, ``"a:b"``).
        options: Engine settings (``method``, ``seed``, ``start_index``, ``on_violation``, ...);
            ``output`` and ``hypothetical`` are set here.
        references: A reference spec (``"dinuc:20"``, ``"flat"``, ...) or a ``ReferenceSpec``.
        forward_args: Extra model inputs, one row per variant (used for both alleles).

    Returns:
        The :class:`AlleleAttributions`.

    Raises:
        LiftGenomicsError: for windows of different shapes or not one-hot, a bad spec, what the
            engine refuses, or (``on_violation="raise"``) a failed allele-difference check.
    """
    X1, X2 = check_windows(X1, X2)
    target = parse_target(head_target)
    options = dataclasses.replace(
        options or AttributionOptions(), output=head_output, hypothetical=True
    ).validated()
    method = get_method(options.method)
    spec = resolve_spec(references) if method.needs_references else None
    n, _, length = X1.shape
    forward_args = tuple(forward_args)
    step = n if spec is None else max(1, REFERENCE_BLOCK_BYTES // (16 * spec.n * length))
    blocks = []
    for start in range(0, n, step):
        stop = min(n, start + step)
        args = batch_rows(forward_args, start, stop, n)
        blocks.append(
            score_block(
                model, X1[start:stop], X2[start:stop], head_target, options, spec, args, start
            )
        )
    if not blocks:
        return empty_attributions(length)
    result = AlleleAttributions(
        *(
            np.concatenate([getattr(block, field.name) for block in blocks])
            for field in dataclasses.fields(AlleleAttributions)
        )
    )
    if method.checks_summation and target.kind != "profile":
        check_allele_difference(result, model_dtype(model), options)
    return result


def empty_attributions(length: int) -> AlleleAttributions:
    """The result for no variants."""
    windows = [np.zeros((0, 4, length), dtype=np.float32) for _ in range(4)]
    values = [np.zeros(0, dtype=np.float32) for _ in range(3)]
    return AlleleAttributions(*windows, *values)


def check_windows(X1, X2) -> tuple[torch.Tensor, torch.Tensor]:
    """Both allele windows as float32 one-hot tensors of one (N, 4, L) shape."""
    shape1, shape2 = tuple(np.shape(X1)), tuple(np.shape(X2))
    if shape1 != shape2:
        raise LiftGenomicsError(
            f"allele windows differ in shape: X1 {shape1}, X2 {shape2}; expected the same "
            "(N, 4, L) for both alleles"
        )
    return as_one_hot(X1), as_one_hot(X2)


def resolve_spec(references: str | ReferenceSpec) -> ReferenceSpec:
    """The reference spec from a string or a ``ReferenceSpec``."""
    if isinstance(references, ReferenceSpec):
        return references
    if isinstance(references, str):
        return parse_reference_spec(references)
    raise LiftGenomicsError(
        "allele attributions take a reference spec such as 'dinuc:20' or 'flat', not "
        f"{type(references).__name__}: both alleles share the references drawn from allele1"
    )


def score_block(
    model, X1, X2, target, options: AttributionOptions, spec, args, start: int
) -> AlleleAttributions:
    """Both alleles of one block of variants (``start``: the block's first row)."""
    offset = options.start_index + start
    shared = None
    if spec is not None:
        # A copy: flat/zero specs give read-only broadcast views, which torch warns about.
        shared = np.array(
            spec.generate(X1.numpy(), options.seed, start_index=offset), dtype=np.float32
        )
    block_options = dataclasses.replace(options, start_index=offset)
    sides = [
        attribute_with_details(model, X, shared, target, forward_args=args, options=block_options)
        for X in (X1, X2)
    ]
    hyp1, hyp2 = (side.scores[:, 0].numpy() for side in sides)
    pred1, pred2 = (side.predictions[:, 0].numpy() for side in sides)
    nan = np.full(X1.shape[0], np.nan, dtype=np.float32)
    return AlleleAttributions(hyp1, hyp2, hyp1 * X1.numpy(), hyp2 * X2.numpy(), pred1, pred2, nan)


def check_allele_difference(result: AlleleAttributions, dtype, options: AttributionOptions) -> None:
    """Fill ``diff_error`` and raise (or warn) at the worst variant beyond tolerance."""
    total1 = result.contrib1.astype(np.float64).sum(axis=(1, 2))
    total2 = result.contrib2.astype(np.float64).sum(axis=(1, 2))
    change = result.pred2.astype(np.float64) - result.pred1.astype(np.float64)
    error = np.abs((total2 - total1) - change)
    result.diff_error = error.astype(np.float32)
    half = dtype in (torch.float16, torch.bfloat16)
    tol = HALF_SUMMATION_TOLERANCE if half else SUMMATION_TOLERANCE
    allowed = tol * (np.maximum(1.0, np.abs(total1)) + np.maximum(1.0, np.abs(total2)))
    excess = np.where(np.isfinite(error), error / allowed, np.inf)
    if excess.size == 0 or float(excess.max()) <= 1.0:
        return
    worst = int(np.argmax(excess))
    message = (
        f"allele-difference check failed: variant {options.start_index + worst}: contributions "
        f"of allele2 − allele1 sum to {total2[worst] - total1[worst]:.6g} but f(allele2) − "
        f"f(allele1) = {change[worst]:.6g} (error {error[worst]:.3g} > {allowed[worst]:.3g})"
    )
    if options.on_violation == "raise":
        raise LiftGenomicsError(message)
    warnings.warn(message, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# Logos


def plot_allele_logos(
    path: str | os.PathLike,
    contrib1,
    contrib2,
    variant: Variant,
    window: int = 40,
    title: str | None = None,
) -> Path:
    """One PNG: allele1's actual contributions over allele2's, around the variant.

    Both panels show the same positions of their windows, ``window`` bp either side of the
    variant's bases (which start at L // 2), on one y scale. Each allele's bases are shaded;
    an empty allele (``-``) is marked by a line where the other allele's bases go.

    Args:
        path: The PNG to write.
        contrib1, contrib2: (4, L) actual contributions of allele1 and allele2 of one variant.
        variant: The variant (its alleles and name).
        window: Positions shown either side of the variant's bases.
        title: Figure title (default: the variant's id, place and alleles).

    Returns:
        ``path`` as a Path.

    Raises:
        LiftGenomicsError: for scores of different or wrong shapes, non-finite scores, or a
            negative window.
    """
    from liftgenomics.logos import save_figure

    contrib1, contrib2 = check_logo_scores(contrib1, contrib2, window)
    length = contrib1.shape[1]
    centre = length // 2
    span = max(1, len(variant.bases1), len(variant.bases2))
    start, stop = max(0, centre - window), min(length, centre + span + window)
    figure = draw_allele_panels(
        [
            (contrib1, variant.allele1, len(variant.bases1)),
            (contrib2, variant.allele2, len(variant.bases2)),
        ],
        start,
        stop,
        centre,
    )
    default = (
        f"{variant.id} ({variant.chrom}:{variant.pos + 1} {variant.allele1}>{variant.allele2})"
    )
    figure.suptitle(default if title is None else title, fontsize=9, x=0.02, ha="left")
    return save_figure(figure, path)


def check_logo_scores(contrib1, contrib2, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Both alleles' scores as (4, L) float arrays of one shape, finite."""
    if int(window) != window or window < 0:
        raise LiftGenomicsError(f"allele logos: window must be a whole number >= 0, got {window}")
    arrays = [np.asarray(contrib1, dtype=float), np.asarray(contrib2, dtype=float)]
    for name, array in zip(("contrib1", "contrib2"), arrays, strict=True):
        if array.ndim != 2 or array.shape[0] != 4 or array.shape[1] == 0:
            raise LiftGenomicsError(
                f"allele logos: {name} has shape {array.shape}; expected (4, L) with L > 0"
            )
        if not np.isfinite(array).all():
            raise LiftGenomicsError(f"allele logos: {name} holds a non-finite score")
    if arrays[0].shape != arrays[1].shape:
        raise LiftGenomicsError(
            f"allele logos: contrib1 {arrays[0].shape} and contrib2 {arrays[1].shape} differ"
        )
    return arrays[0], arrays[1]


def draw_allele_panels(panels, start: int, stop: int, centre: int):
    """Two logo panels of positions [start, stop) sharing x and y; returns the figure."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from liftgenomics.genome.sequence import ALPHABET
    from liftgenomics.logos import draw_logo

    positions = np.arange(start, stop) - centre
    low, high = shared_limits([scores[:, start:stop] for scores, _, _ in panels])
    figure, axes = plt.subplots(
        2,
        1,
        figsize=(max(6.0, (stop - start) / 8), 3.6),
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    for axis, (scores, allele, count), label in zip(
        axes[:, 0], panels, ("allele1 (ref)", "allele2 (alt)"), strict=True
    ):
        frame = pd.DataFrame(scores[:, start:stop].T, columns=list(ALPHABET), index=positions)
        draw_logo(frame, axis)
        mark_allele(axis, count)
        axis.set_ylim(low, high)
        axis.axhline(0.0, color="black", linewidth=0.4)
        axis.set_ylabel(f"{label}\n{short_allele(allele)}", fontsize=7)
        axis.tick_params(labelsize=6)
    axes[-1, 0].set_xlim(positions[0] - 0.5, positions[-1] + 0.5)
    axes[-1, 0].set_xlabel("position relative to the variant's first base", fontsize=8)
    return figure


def shared_limits(panels: Sequence[np.ndarray]) -> tuple[float, float]:
    """One y range for every panel: the most negative and most positive stacks, padded."""
    low = min(0.0, min(float(np.minimum(s, 0).sum(axis=0).min()) for s in panels))
    high = max(0.0, max(float(np.maximum(s, 0).sum(axis=0).max()) for s in panels))
    pad = 0.05 * (high - low) or 1.0
    return low - (pad if low < 0 else 0.0), high + pad


def short_allele(allele: str, longest: int = 12) -> str:
    """An allele as a label: a long one cut short, with its length."""
    if len(allele) <= longest:
        return allele
    return f"{allele[: longest - 3]}… ({len(allele)} bp)"


def mark_allele(axis, count: int) -> None:
    """Shade an allele's ``count`` bases from position 0, or mark an empty allele's place."""
    if count:
        axis.axvspan(
            -0.5,
            count - 0.5,
            facecolor=(0.55, 0.55, 0.55, 0.2),
            edgecolor=(0.3, 0.3, 0.3, 0.6),
            linewidth=0.6,
        )
    else:
        axis.axvline(-0.5, color=(0.3, 0.3, 0.3, 0.8), linewidth=1.0, linestyle="--")
