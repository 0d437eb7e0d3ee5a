"""The reference check of each variant and its two allele windows, laid out as chrombpnet's
variant scorer lays them out.

For a window of length ``L`` the variant's first base sits at index ``flank = L // 2``: the
window starts at ``pos - flank``. The *context* is the genome from there over ``L`` bases, plus
``len(allele1) - len(allele2)`` more for a deletion. Each allele is written at index ``flank``
after the context's first ``flank`` bases, and the rest of the context after allele1's bases
fills the window to ``L``::

    allele1 window = context[:flank] + allele1 + context[flank + len(allele1) : L]
    allele2 window = context[:flank] + allele2 + context[flank + len(allele1) : L + mismatch]

with ``mismatch = len(allele1) - len(allele2)`` and ``-`` alleles counted as empty. For even
``L`` this is exactly chrombpnet's layout (``L == 2 * flank``); for odd ``L`` the window gets
its extra base on the right. A multi-base substitution is written over as many bases as it has.

As in :func:`liftgenomics.genome.regions.fetch_one_hot`, soft-masked (lowercase) bases are
read as uppercase and N (or another IUPAC ambiguity code) is an all-zero column; any other
letter is an error. The shuffled null (:func:`null_windows`) dinucleotide-shuffles each
context and writes both alleles back with the same layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.regions import chromosome_lengths
from liftgenomics.genome.sequence import encode_codes
from liftgenomics.genome.shuffles import check_count, check_index, dinucleotide_shuffle
from liftgenomics.variants.records import Skipped, Variant

#: What :func:`plan_variants` does when allele1 is not the genome's base(s).
REF_MISMATCH = ("skip", "flip", "error")

#: Most one-hot context columns (rows x shuffles x length) shuffled in one call (~256 MB).
_SHUFFLE_COLUMNS = 1 << 24


@dataclass
class VariantPlan:
    """What :func:`plan_variants` found: the variants to score and those skipped.

    Attributes:
        variants: The variants to score, allele1 the genome's (swapped where ``flipped``).
        flipped: Per variant, whether its alleles were swapped to match the genome.
        skipped: The variants not scored, with the reason.
    """

    variants: list[Variant]
    flipped: list[bool]
    skipped: list[Skipped]


def plan_variants(
    fasta,
    variants: Sequence[Variant],
    length: int,
    ref_mismatch: str = "skip",
    max_allele: int | None = None,
) -> VariantPlan:
    """Check variants against the FASTA and the window length before any scoring.

    A variant is skipped when its chromosome is not in the FASTA, an allele has ``L // 2`` or
    more bases (or more than ``max_allele``), or its context runs past a chromosome end.
    allele1 must be the genome's bases at ``pos`` (case-insensitively; an insertion's ``-``
    has nothing to check); when it is not, ``ref_mismatch`` decides: ``skip`` it, ``flip`` the
    alleles when the genome carries allele2 there (skip it otherwise), or raise an ``error``.

    Args:
        fasta: An open pyfaidx ``Fasta`` (:func:`liftgenomics.genome.regions.open_fasta`).
        variants: The variants, e.g. from :func:`liftgenomics.variants.records.read_variants`.
        length: The model's input length ``L``.
        ref_mismatch: One of :data:`REF_MISMATCH`.
        max_allele: Longest allele to score, in bases (None: up to ``L // 2 - 1``).

    Returns:
        The variants to score (in input order) and those skipped.

    Raises:
        LiftGenomicsError: a bad ``length``, ``ref_mismatch`` or ``max_allele``, or (with
            ``ref_mismatch="error"``) the first variant whose allele1 is not the genome's.
    """
    _check_length(length)
    if ref_mismatch not in REF_MISMATCH:
        raise LiftGenomicsError(
            f"unknown reference-mismatch mode {ref_mismatch!r} (expected one of "
            f"{', '.join(REF_MISMATCH)})"
        )
    limit = length // 2 - 1
    if max_allele is not None:
        if isinstance(max_allele, bool) or not isinstance(max_allele, int) or max_allele < 1:
            raise LiftGenomicsError(f"max_allele must be a positive integer, got {max_allele!r}")
        limit = min(limit, max_allele)
    sizes = chromosome_lengths(fasta)
    plan = VariantPlan([], [], [])
    for variant in variants:
        outcome = _check_variant(fasta, variant, length, sizes, limit, ref_mismatch)
        if isinstance(outcome, Skipped):
            plan.skipped.append(outcome)
        else:
            plan.variants.append(outcome)
            plan.flipped.append(outcome is not variant)
    return plan


def _check_variant(
    fasta, variant: Variant, length: int, sizes: dict[str, int], limit: int, mode: str
) -> Variant | Skipped:
    """The variant to score (swapped when flipped), or why it is skipped."""
    if variant.chrom not in sizes:
        return Skipped(variant, f"chromosome {variant.chrom} not in the FASTA")
    longest = max(len(variant.bases1), len(variant.bases2))
    if longest > limit:
        return Skipped(variant, f"allele longer than {limit} bases ({longest} bases)")
    size = sizes[variant.chrom]
    reason = _window_problem(variant, length, size)
    if reason is not None:
        return Skipped(variant, reason)
    genome = _fetch(fasta, variant.chrom, variant.pos, variant.pos + len(variant.bases1))
    if genome == variant.bases1:
        return variant
    mismatch = (
        f"allele1 {variant.allele1} is not the genome's {genome or '-'} at "
        f"{variant.chrom}:{variant.pos + 1}"
    )
    if mode == "error":
        raise LiftGenomicsError(f"{_name(variant)}: {mismatch}")
    if mode == "skip":
        return Skipped(variant, mismatch)
    if not variant.bases2:
        return Skipped(variant, f"{mismatch} (an empty allele2 cannot be flipped in)")
    carried = _fetch(fasta, variant.chrom, variant.pos, variant.pos + len(variant.bases2))
    if carried != variant.bases2:
        return Skipped(variant, f"{mismatch}, nor is allele2 {variant.allele2}")
    flipped = replace(variant, allele1=variant.allele2, allele2=variant.allele1)
    reason = _window_problem(flipped, length, size)
    return flipped if reason is None else Skipped(variant, reason)


def _window_problem(variant: Variant, length: int, size: int) -> str | None:
    """Why the variant's context does not fit on its chromosome (of ``size`` bases), or None."""
    start, end = _context_bounds(variant, length)
    if start < 0:
        return f"window past the start of {variant.chrom} (length {size})"
    if end > size:
        return f"window past the end of {variant.chrom} (length {size})"
    return None


def _check_length(length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 2:
        raise LiftGenomicsError(f"the window length must be an integer >= 2, got {length!r}")


def _context_bounds(variant: Variant, length: int) -> tuple[int, int]:
    """0-based half-open genome interval of the variant's context."""
    start = variant.pos - length // 2
    extra = max(0, len(variant.bases1) - len(variant.bases2))
    return start, start + length + extra


def _fetch(fasta, chrom: str, start: int, end: int) -> str:
    """Upper-case genome bases ``chrom[start:end)`` (inside the chromosome)."""
    return str(fasta[chrom][start:end]).upper() if end > start else ""


def fetch_context(fasta, variant: Variant, length: int) -> str:
    """The upper-case genome context of a variant (``L`` bases, more for a deletion).

    Raises:
        LiftGenomicsError: when the chromosome is absent or the context runs off it (variants
            from :func:`plan_variants` never do).
    """
    _check_length(length)
    record = fasta.faidx.index.get(variant.chrom)
    if record is None:
        raise LiftGenomicsError(f"{_name(variant)}: chromosome {variant.chrom} not in the FASTA")
    size = int(record.rlen)
    reason = _window_problem(variant, length, size)
    if reason is not None:
        raise LiftGenomicsError(f"{_name(variant)}: {reason}")
    return _fetch(fasta, variant.chrom, *_context_bounds(variant, length))


def _name(variant: Variant) -> str:
    return f"{variant.source}: variant {variant.id}" if variant.source else f"variant {variant.id}"


def _layout(variant: Variant, length: int) -> tuple[int, int, int, int]:
    """Where the windows come from in a context: ``flank``, the right flank's start, and the
    ends of allele1's and allele2's right flanks."""
    flank = length // 2
    right = flank + len(variant.bases1)
    return flank, right, length, length + len(variant.bases1) - len(variant.bases2)


def windows_from_context(context: str, variant: Variant, length: int) -> tuple[str, str]:
    """The allele1 and allele2 windows (``length`` each) made from a context.

    Args:
        context: The genome context (:func:`fetch_context`) or a shuffle of it.
        variant: The variant whose alleles are written at index ``length // 2``.
        length: The window length ``L``.

    Raises:
        LiftGenomicsError: if the context does not have the variant's context length.
    """
    _check_length(length)
    flank, right, end1, end2 = _layout(variant, length)
    if len(context) != max(end1, end2):
        raise LiftGenomicsError(
            f"{_name(variant)}: a context of {len(context)} bases, expected {max(end1, end2)}"
        )
    left = context[:flank]
    return (
        left + variant.bases1 + context[right:end1],
        left + variant.bases2 + context[right:end2],
    )


def allele_windows(
    fasta, variants: Sequence[Variant], length: int
) -> tuple[np.ndarray, np.ndarray]:
    """One-hot allele1 and allele2 windows of planned variants.

    Returns:
        Two (N, 4, L) float32 arrays; N and other ambiguity codes are all-zero columns.
    """
    _check_length(length)
    first = np.zeros((len(variants), 4, length), dtype=np.float32)
    second = np.zeros_like(first)
    for i, variant in enumerate(variants):
        window1, window2 = windows_from_context(
            fetch_context(fasta, variant, length), variant, length
        )
        first[i] = _one_hot(window1, variant)
        second[i] = _one_hot(window2, variant)
    return first, second


def _one_hot(sequence: str, variant: Variant) -> np.ndarray:
    """(4, len) float32 one-hot; ambiguity codes all-zero, other letters an error."""
    codes = encode_codes(sequence, f"{_name(variant)} window")
    out = np.zeros((5, codes.size), dtype=np.float32)
    out[codes, np.arange(codes.size)] = 1.0
    return out[:4]


def null_windows(
    fasta,
    variants: Sequence[Variant],
    length: int,
    n: int,
    seed: int,
    start_index: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Allele windows made from dinucleotide shuffles of each variant's context.

    Shuffle ``k`` of variant ``i`` is shuffle ``k`` of global index ``start_index + i`` of
    :func:`liftgenomics.genome.shuffles.dinucleotide_shuffle`, so it depends only on
    ``(seed, start_index + i, k)``: a set of variants cut into batches gets the same null as in
    one call. Both alleles are written into each shuffle as :func:`windows_from_context` does.

    Args:
        fasta: An open pyfaidx ``Fasta``.
        variants: Planned variants (:func:`plan_variants`).
        length: The window length ``L``.
        n: Shuffles per variant.
        seed: Non-negative integer seed.
        start_index: Global index of ``variants[0]``.

    Returns:
        Two (N * n, 4, L) float32 arrays, variant-major (variant 0's n shuffles first).
    """
    _check_length(length)
    n = check_count(n)
    seed = check_index(seed, "seed")
    start_index = check_index(start_index, "start_index")
    contexts = [_one_hot(fetch_context(fasta, v, length), v) for v in variants]
    first = np.zeros((len(variants) * n, 4, length), dtype=np.float32)
    second = np.zeros_like(first)
    for begin, stop in _runs([c.shape[1] for c in contexts], n):
        shuffled = dinucleotide_shuffle(
            np.stack(contexts[begin:stop]), n, seed, start_index + begin
        )
        for offset, shuffles in enumerate(shuffled):
            variant = variants[begin + offset]
            rows = slice((begin + offset) * n, (begin + offset + 1) * n)
            first[rows], second[rows] = _write_alleles(shuffles, variant, length)
    return first, second


def _runs(sizes: list[int], n: int) -> list[tuple[int, int]]:
    """Consecutive runs of equal context length, cut to bound each shuffle call's memory."""
    runs: list[tuple[int, int]] = []
    begin = 0
    for i in range(1, len(sizes) + 1):
        full = (i - begin) * n * sizes[begin] >= _SHUFFLE_COLUMNS
        if i == len(sizes) or sizes[i] != sizes[begin] or full:
            runs.append((begin, i))
            begin = i
    return runs


def _write_alleles(
    contexts: np.ndarray, variant: Variant, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`windows_from_context` on one-hot contexts (n, 4, C): both (n, 4, L) windows."""
    flank, right, end1, end2 = _layout(variant, length)
    left = contexts[:, :, :flank]
    windows = []
    for bases, end in ((variant.bases1, end1), (variant.bases2, end2)):
        allele = np.broadcast_to(_one_hot(bases, variant), (len(contexts), 4, len(bases)))
        windows.append(np.concatenate([left, allele, contexts[:, :, right:end]], axis=2))
    return windows[0], windows[1]
