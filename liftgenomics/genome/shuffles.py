"""Random references for DeepLIFT: uniform dinucleotide shuffles and GC-matched sequences.

* :func:`dinucleotide_shuffle` -- shuffles that keep each sequence's exact dinucleotide counts and
  its first and last base, drawn **uniformly** from every sequence with those counts
  (Altschul & Erickson 1985; Kandel et al. 1996). Popular implementations are not uniform: the
  deeplift/tangermeme one keeps the last edge out of every base where it was, which favours
  shuffles that end the way the input does. :func:`count_dinucleotide_shuffles` counts the
  distinct shuffles (BEST theorem); a sequence with only one arrangement gets copies of itself,
  with a :class:`ShuffleWarning`.
* :func:`gc_matched` -- i.i.d. random sequences with each input's own GC fraction.

Randomness is counter-based: sequence ``g`` (its index in the whole data set, ``start_index + i``
for row ``i`` of a batch) reads block ``g`` of a PCG64 stream seeded by ``seed``, reached with an
O(1) jump, so a sequence gets the same references however the data set is split into batches.

Inputs are one-hot numpy arrays or torch tensors (returned as the same kind, without importing
torch). The reference spec strings that name these are parsed in
:mod:`liftgenomics.genome.references`.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np

from liftgenomics.errors import LiftGenomicsError

# Each sequence owns a block of 2**40 draws of its stream; a block is reached by a jump.
_STREAM_STRIDE = 2**40
# Stream domains, so that dinucleotide and GC-matched references never share draws.
_DOMAIN_DINUC = 0x64696E75
_DOMAIN_GC = 0x6763
# Walk slots (shuffles x bases) handled at once; bounds memory (~40 bytes a slot).
_CHUNK_SLOTS = 1 << 20


class ShuffleWarning(UserWarning):
    """Some sequences have a single dinucleotide arrangement; their shuffles are copies."""


# ---------------------------------------------------------------------------------------------
# Input handling


def _is_tensor(X) -> bool:
    """A torch tensor, told without importing torch (the workflow reads this module)."""
    return type(X).__module__.startswith("torch") and hasattr(X, "detach")


def as_numpy(X, what: str = "X") -> np.ndarray:
    """``X`` (array or tensor) as a float32 numpy array of shape (N, 4, L)."""
    if _is_tensor(X):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] != 4:
        raise LiftGenomicsError(f"{what} must be one-hot of shape (N, 4, L), got {X.shape}")
    return X.astype(np.float32, copy=False)


def _codes(X: np.ndarray) -> np.ndarray:
    """(N, 4, L) one-hot -> (N, L) int8 codes, 0-3 for A C G T and 4 for an all-zero column.

    Raises:
        LiftGenomicsError: if a value is not 0 or 1 or a column has more than one 1.
    """
    binary = (X == 0) | (X == 1)
    column_sums = X.sum(axis=1)
    bad = ~binary.all(axis=1) | (column_sums > 1)
    if bad.any():
        sequence, position = (int(i) for i in np.argwhere(bad)[0])
        raise LiftGenomicsError(
            f"sequence {sequence}: column {position} is not one-hot "
            f"({X[sequence, :, position].tolist()}); shuffles need one-hot input with all-zero "
            "columns for N"
        )
    codes = X.argmax(axis=1).astype(np.int8)
    codes[column_sums == 0] = 4
    return codes


def _one_hot(codes: np.ndarray) -> np.ndarray:
    """(..., L) codes (4 = N) -> (..., 4, L) float32 one-hot with all-zero N columns."""
    out = np.empty(codes.shape[:-1] + (4, codes.shape[-1]), dtype=np.float32)
    for channel in range(4):
        np.equal(codes, channel, out=out[..., channel, :], casting="unsafe")
    return out


def _like_input(result: np.ndarray, X):
    """Return ``result`` as a tensor on ``X``'s device and float dtype when ``X`` is a tensor."""
    if not _is_tensor(X):
        return result
    import torch

    dtype = X.dtype if X.dtype.is_floating_point else torch.float32
    return torch.from_numpy(result).to(device=X.device, dtype=dtype)


def check_count(n, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise LiftGenomicsError(f"{what} must be a positive integer, got {n!r}")
    return int(n)


def check_index(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise LiftGenomicsError(f"{what} must be a non-negative integer, got {value!r}")
    return int(value)


def _draws(seed: int, domain: int, start_index: int, sizes: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) float64 draws: ``sizes[i]`` of them from block ``start_index + i``.

    The blocks are consecutive 2**40-draw stretches of one PCG64 stream seeded by
    ``(seed, domain)``, so a sequence's draws depend only on its global index.
    """
    out = np.empty(int(sizes.sum()), dtype=np.float64)
    bit_generator = np.random.PCG64(np.random.SeedSequence([seed, domain]))
    generator = np.random.Generator(bit_generator)
    bit_generator.advance(start_index * _STREAM_STRIDE)
    offset = 0
    # One O(1) jump per sequence (about 2 us); the draws themselves are vectorised.
    for size in sizes.tolist():
        if size >= _STREAM_STRIDE:
            raise LiftGenomicsError(f"too many draws ({size}) for one sequence")
        generator.random(out=out[offset : offset + size])
        bit_generator.advance(_STREAM_STRIDE - size)
        offset += size
    return out


def _ragged_arange(sizes: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(size)`` for each size."""
    total = int(sizes.sum())
    starts = np.cumsum(sizes) - sizes
    return np.arange(total, dtype=np.intp) - np.repeat(starts, sizes)


def _chunks(weights: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Split rows into consecutive chunks whose summed weight stays near ``limit``."""
    bounds = [0]
    cumulative = np.cumsum(weights)
    while bounds[-1] < weights.size:
        done = cumulative[bounds[-1] - 1] if bounds[-1] else 0
        stop = int(np.searchsorted(cumulative, done + limit, side="right"))
        bounds.append(max(stop, bounds[-1] + 1))
    return list(itertools.pairwise(bounds))


# ---------------------------------------------------------------------------------------------
# Dinucleotide shuffles


def _enumerate_trees() -> np.ndarray:
    """All 16 spanning arborescences of the complete graph on A, C, G, T, per root.

    Returns:
        (4, 16, 4) array: ``trees[root, k, v]`` is the parent of ``v`` in tree ``k`` (the letter
        its last exit goes to); ``trees[root, k, root] == root``.
    """
    trees = np.zeros((4, 16, 4), dtype=np.intp)
    for root in range(4):
        others = [v for v in range(4) if v != root]
        found = []
        for parents in itertools.product(range(4), repeat=3):
            parent = dict(zip(others, parents, strict=True))
            parent[root] = root
            if any(parent[v] == v for v in others):
                continue
            if all(parent[parent[parent[v]]] == root for v in others):
                found.append([parent[v] for v in range(4)])
        trees[root] = np.array(found)
    return trees


_TREES = _enumerate_trees()


@dataclass(frozen=True)
class _Segments:
    """The runs of A/C/G/T between N columns of a batch, with their dinucleotide counts."""

    starts: np.ndarray  # (S,) flat index (row * L + position) of each segment's first base
    lengths: np.ndarray  # (S,) bases in each segment
    rows: np.ndarray  # (S,) the row (sequence) of each segment
    first: np.ndarray  # (S,) first base
    last: np.ndarray  # (S,) last base: the root of its last-exit trees
    counts: np.ndarray  # (S, 4, 4) dinucleotide counts, [from, to]
    per_row: np.ndarray  # (N,) segments in each row


def _segments(codes: np.ndarray) -> _Segments:
    valid = codes < 4
    n_rows, length = codes.shape
    before = np.zeros_like(valid)
    before[:, 1:] = valid[:, :-1]
    after = np.zeros_like(valid)
    after[:, :-1] = valid[:, 1:]
    is_start = (valid & ~before).ravel()
    starts = np.flatnonzero(is_start)
    ends = np.flatnonzero((valid & ~after).ravel())
    flat = codes.ravel().astype(np.intp)
    edges = np.flatnonzero((valid & after).ravel())
    segment_of = np.cumsum(is_start)[edges] - 1
    counts = np.bincount(
        segment_of * 16 + flat[edges] * 4 + flat[edges + 1], minlength=starts.size * 16
    ).reshape(-1, 4, 4)
    rows = starts // max(length, 1)
    return _Segments(
        starts=starts,
        lengths=ends - starts + 1,
        rows=rows,
        first=flat[starts],
        last=flat[ends],
        counts=counts,
        per_row=np.bincount(rows, minlength=n_rows),
    )


def _tree_factors(seg: _Segments) -> tuple[np.ndarray, np.ndarray]:
    """Per segment, the 16 candidate last-exit trees and each one's weight.

    A tree ``t`` (every base but the root names the letter its last exit goes to) has as many
    shuffles as ``prod_v counts[v, t(v)]`` times a factor common to all trees, so drawing ``t``
    with that weight and then ordering the other exits uniformly draws a uniform shuffle.
    Bases absent from the segment hang off the root with weight 1.

    Returns:
        trees (S, 16, 4) and weights (S, 16) float64 (zero for trees the segment cannot have).
    """
    n_segments = seg.counts.shape[0]
    out_degree = seg.counts.sum(axis=2)
    letters = np.arange(4)
    is_root = letters == seg.last[:, None]
    matrix = seg.counts.astype(np.float64)
    absent = (out_degree == 0) & ~is_root
    matrix[absent] = 0.0
    rows, columns = np.nonzero(absent)
    matrix[rows, columns, seg.last[rows]] = 1.0
    trees = _TREES[seg.last]
    factors = matrix[np.arange(n_segments)[:, None, None], letters, trees]
    factors = np.where(is_root[:, None, :], 1.0, factors)
    return trees, factors.prod(axis=2)


def _log_arrangements(seg: _Segments) -> np.ndarray:
    """Natural log of the number of distinct shuffles of each segment (BEST theorem)."""
    if seg.counts.shape[0] == 0:
        return np.zeros(0)
    _, weights = _tree_factors(seg)
    biggest = int(seg.lengths.max())
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, biggest + 1)))])
    out_degree = seg.counts.sum(axis=2)
    is_root = np.arange(4) == seg.last[:, None]
    # Exits ordered freely: (out-1)! / prod counts! for each non-root base, out! / ... for the
    # root; times sum_t prod counts[v, t(v)] (which restores the reserved last exits).
    exits = np.where(is_root, out_degree, np.maximum(out_degree - 1, 0))
    multinomial = log_factorial[exits] - log_factorial[seg.counts].sum(axis=2)
    return np.log(weights.sum(axis=1)) + multinomial.sum(axis=1)


def count_dinucleotide_shuffles(X) -> np.ndarray:
    """Number of distinct sequences :func:`dinucleotide_shuffle` can return for each input.

    Counts every sequence with the same dinucleotide counts, first and last base (and N
    positions) as the input, the input included; computed from the BEST theorem, so it is
    exact while below 2**53 and ``inf`` past float64's range.

    Args:
        X: One-hot sequences (N, 4, L), array or tensor.

    Returns:
        (N,) float64 counts.
    """
    codes = _codes(as_numpy(X))
    seg = _segments(codes)
    log_counts = np.bincount(seg.rows, weights=_log_arrangements(seg), minlength=codes.shape[0])
    with np.errstate(over="ignore"):
        return np.rint(np.exp(log_counts))


def _shuffle_chunk(codes: np.ndarray, seg: _Segments, n: int, draws: np.ndarray) -> np.ndarray:
    """Shuffle rows of ``codes`` (M, L), cut in segments ``seg``, ``n`` times each.

    Units are (row, shuffle, segment) triples, laid out row-major; unit ``u`` owns
    ``length(u)`` slots of the flat arrays below: the exits of its bases grouped by base (each
    non-root group ends with its reserved last exit) and one spare slot whose draw picks the
    last-exit tree. The walk visits each unit's bases in order, taking a base's exits by a lazy
    Fisher-Yates shuffle over its group, so no sort is needed.

    Returns:
        (M * n, L) int8 codes.
    """
    n_rows, length = codes.shape
    out = np.repeat(codes, n, axis=0)
    if seg.starts.size == 0 or length < 2:
        return out

    # Units (row, shuffle, segment) in row-major order, as the draws are laid out.
    blocks = np.repeat(seg.per_row, n)  # segments per (row, shuffle) block
    block_first = np.repeat(np.cumsum(seg.per_row) - seg.per_row, n)
    unit_segment = np.repeat(block_first, blocks) + _ragged_arange(blocks)
    unit_block = np.repeat(np.arange(n_rows * n), blocks)
    unit_length = seg.lengths[unit_segment]
    unit_start = np.cumsum(unit_length) - unit_length
    n_units = unit_segment.size
    n_slots = int(unit_length.sum())

    # Draw each unit's last-exit tree with the weight that makes the shuffle uniform.
    trees, weights = _tree_factors(seg)
    cumulative = np.cumsum(weights, axis=1)[unit_segment]
    pick = draws[unit_start + unit_length - 1] * cumulative[:, -1]
    chosen = np.minimum((cumulative <= pick[:, None]).sum(axis=1), 15)
    reserved = trees[unit_segment, chosen]  # (U, 4): the letter each base's last exit goes to

    # Slot layout: per unit, per base v: its exits by target letter, then the reserved exit.
    counts = seg.counts[unit_segment]  # (U, 4, 4)
    out_degree = counts.sum(axis=2)
    letters = np.arange(4)
    has_reserved = (out_degree > 0) & (letters != seg.last[unit_segment][:, None])
    entry_counts = np.zeros((n_units, 4, 6), dtype=np.intp)
    entry_counts[:, :, :4] = counts
    entry_counts[:, :, :4] -= (letters == reserved[:, :, None]) & has_reserved[:, :, None]
    entry_counts[:, :, 4] = has_reserved
    entry_counts[:, 3, 5] = 1  # the spare slot that held the tree draw
    state = np.arange(n_units, dtype=np.intp)[:, None, None] * 4
    entry_values = np.empty((n_units, 4, 6), dtype=np.intp)
    entry_values[:, :, :4] = state + letters
    entry_values[:, :, 4] = state[:, :, 0] + reserved
    entry_values[:, :, 5] = -1
    # A walk state is unit * 4 + letter; succ holds the next state of each exit slot.
    succ = np.repeat(entry_values.ravel(), entry_counts.ravel())

    group_start = unit_start[:, None] + np.cumsum(out_degree, axis=1) - out_degree
    shuffle_end = group_start + out_degree - has_reserved  # exclusive end of the free exits
    entry_end = np.zeros((n_units, 4, 6), dtype=np.intp)
    entry_end[:, :, :4] = shuffle_end[:, :, None]
    slot = np.arange(n_slots, dtype=np.intp)
    remaining = np.repeat(entry_end.ravel(), entry_counts.ravel())
    remaining -= slot
    np.maximum(remaining, 0, out=remaining)
    # Fisher-Yates target of each slot, fixed in advance: the k-th exit from a base swaps
    # with a uniform slot among the ones still free.
    np.multiply(draws, remaining, out=draws)
    swap = draws.astype(np.intp)
    swap += slot
    del remaining, slot
    pointer = group_start.ravel().copy()

    # Walk the longest units first so that the active ones are always a prefix.
    if (unit_length == unit_length[0]).all():
        order = np.arange(n_units)
    else:
        order = np.argsort(-unit_length, kind="stable")
    sorted_length = unit_length[order]
    longest = int(sorted_length[0])
    active = np.searchsorted(-sorted_length, -np.arange(1, longest), side="left")
    steps = np.empty(int(active.sum()), dtype=np.intp)
    current = order * 4 + seg.first[unit_segment[order]]
    offset = 0
    for size in active.tolist():
        current = current[:size]
        here = pointer[current]
        target = swap[here]
        nxt = steps[offset : offset + size]
        np.take(succ, target, out=nxt)
        succ[target] = succ[here]
        here += 1
        pointer[current] = here
        current = nxt
        offset += size
    letters_out = (steps & 3).astype(np.int8)

    flat_out = out.reshape(-1)
    if longest == length and (sorted_length == length).all():
        # Units are whole rows here, but rows without a unit (all N) have none: index by block.
        out.reshape(n_rows * n, length)[unit_block[order], 1:] = letters_out.reshape(
            length - 1, -1
        ).T
    else:
        begin = unit_block[order] * length + seg.starts[unit_segment[order]] % length
        column = _ragged_arange(active)
        step = np.repeat(np.arange(1, longest), active)
        flat_out[begin[column] + step] = letters_out
    return out


def dinucleotide_shuffle(X, n: int, seed: int, start_index: int = 0):
    """Uniform random dinucleotide shuffles of one-hot sequences.

    Each shuffle keeps the exact dinucleotide counts and the first and last base of every
    run of A/C/G/T, and is drawn uniformly from all sequences with those counts: a last-exit
    arborescence rooted at the last base is drawn with the right weight (enumerated exactly:
    there are 16 per root on four letters), the other exits of each base are put in uniform
    random order, and the Eulerian walk is read off (Altschul & Erickson 1985; Kandel et al.
    1996). All-zero (N) columns stay where they are and split a sequence into runs shuffled
    separately. Vectorised over sequences and shuffles; shuffle ``k`` of the sequence with
    global index ``g`` depends only on ``(seed, g, k)``.

    Args:
        X: One-hot sequences (N, 4, L): a numpy array, or a torch tensor (the result is then a
            tensor with its device and float dtype).
        n: Shuffles per sequence.
        seed: Non-negative integer seed.
        start_index: Global index of ``X[0]``, so that a batch cut from a larger set gets the
            shuffles its sequences get in the whole set.

    Returns:
        (N, n, 4, L) float32 one-hot shuffles.

    Raises:
        LiftGenomicsError: for input that is not one-hot (N, 4, L), or a bad n/seed/index.

    Warns:
        ShuffleWarning: once, with how many sequences have a single arrangement (e.g. a
            homopolymer, or runs of at most two bases between Ns); their shuffles are copies.
    """
    n = check_count(n)
    seed = check_index(seed, "seed")
    start_index = check_index(start_index, "start_index")
    X_numpy = as_numpy(X)
    codes = _codes(X_numpy)
    n_rows, length = codes.shape
    shuffled = np.empty((n_rows, n, length), dtype=np.int8)
    slots = (codes < 4).sum(axis=1) * n
    single = 0
    for begin, stop in _chunks(slots, _CHUNK_SLOTS):
        seg = _segments(codes[begin:stop])
        log_counts = np.bincount(seg.rows, weights=_log_arrangements(seg), minlength=stop - begin)
        single += int((log_counts < math.log(1.5)).sum())
        draws = _draws(seed, _DOMAIN_DINUC, start_index + begin, slots[begin:stop])
        chunk = _shuffle_chunk(codes[begin:stop], seg, n, draws)
        shuffled[begin:stop] = chunk.reshape(stop - begin, n, length)
    if single:
        warnings.warn(
            f"{single} of {n_rows} sequences have only one dinucleotide arrangement (e.g. a "
            "homopolymer or runs of <= 2 bases between Ns); their shuffles are copies",
            ShuffleWarning,
            stacklevel=2,
        )
    return _like_input(_one_hot(shuffled), X)


# ---------------------------------------------------------------------------------------------
# Other references


def gc_matched(X, n: int, seed: int, start_index: int = 0):
    """Random sequences with each input's GC fraction.

    Bases are i.i.d.: G and C each with probability gc/2, A and T each (1 - gc)/2, where gc is
    the sequence's own G+C fraction over its non-N positions. N positions stay all-zero.

    Args:
        X: One-hot sequences (N, 4, L), array or tensor (a tensor gives a tensor back).
        n: References per sequence.
        seed: Non-negative integer seed.
        start_index: Global index of ``X[0]`` (see :func:`dinucleotide_shuffle`).

    Returns:
        (N, n, 4, L) float32 one-hot references.
    """
    n = check_count(n)
    seed = check_index(seed, "seed")
    start_index = check_index(start_index, "start_index")
    codes = _codes(as_numpy(X))
    n_rows, length = codes.shape
    valid = codes < 4
    gc = ((codes == 1) | (codes == 2)).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    sampled = np.empty((n_rows, n, length), dtype=np.int8)
    sizes = np.full(n_rows, n * length)
    for begin, stop in _chunks(sizes, _CHUNK_SLOTS):
        draws = _draws(seed, _DOMAIN_GC, start_index + begin, sizes[begin:stop])
        draws = draws.reshape(stop - begin, n, length)
        low = ((1 - gc[begin:stop]) / 2)[:, None, None]
        high = ((1 + gc[begin:stop]) / 2)[:, None, None]
        # A below (1-gc)/2, C up to 1/2, G up to (1+gc)/2, T from there on.
        chunk = sampled[begin:stop]
        np.greater_equal(draws, low, out=chunk, casting="unsafe")
        chunk += draws >= 0.5
        chunk += draws >= high
    sampled[~np.broadcast_to(valid[:, None, :], sampled.shape)] = 4
    return _like_input(_one_hot(sampled), X)
