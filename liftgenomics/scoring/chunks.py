"""Scatter and gather: attribution of a one-hot file in chunks, and joining the chunks.

The workflow (and a cluster) splits the test set into ``n_chunks`` contiguous row ranges,
scores each with :func:`attribute_chunk`, and joins them with :func:`gather_chunks`. References
generated from a spec are seeded by each sequence's global row, so the gathered result is
byte-identical however many chunks there were.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import load_one_hot
from liftgenomics.io import atomic_path, save_npz_atomic


def chunk_bounds(n: int, n_chunks: int, index: int) -> tuple[int, int]:
    """Rows [start, stop) of chunk ``index`` when ``n`` rows are split into ``n_chunks``."""
    if n_chunks < 1 or not 0 <= index < n_chunks:
        raise LiftGenomicsError(f"chunk {index} does not exist among {n_chunks} chunks")
    return index * n // n_chunks, (index + 1) * n // n_chunks


def attribute_chunk(
    model,
    ohe_path: str | os.PathLike,
    out_path: str | os.PathLike,
    method: str,
    references: str,
    targets: Sequence[int | str],
    chunk: int = 0,
    n_chunks: int = 1,
    seed: int = 0,
    steps: int = 10,
    batch_size: int | None = None,
    device: str | None = None,
    output: int | str | None = None,
) -> None:
    """Score one chunk of a one-hot file and save hypothetical scores and errors.

    Args:
        model: A loaded model, or a path for :func:`liftgenomics.models.load.load_model`.
        ohe_path: One-hot sequences (N, 4, L) as written by ``np.savez_compressed``.
        out_path: ``.npz`` with ``hyp`` (T, n, 4, L), ``max_error`` (n, T), ``predictions``
            (n, T) and ``start``.
        method, references, targets, seed, steps, batch_size, device, output: As for
            :func:`~liftgenomics.attribution.attribute` (targets: indices, ``"profile"``,
            ``"sum"`` or windows ``"start:stop"``; output: an index or key of a tuple/dict).
        chunk, n_chunks: Which of how many contiguous row ranges to score.
    """
    if not hasattr(model, "forward"):
        from liftgenomics.models.load import load_model

        model = load_model(model)
    X = load_one_hot(ohe_path)
    start, stop = chunk_bounds(len(X), n_chunks, chunk)
    # Imported here: gathering and reading one-hot files must not pay for torch.
    from liftgenomics.attribution.engine import attribute_with_details

    result = attribute_with_details(
        model,
        X[start:stop],
        references,
        list(targets),
        output=output,
        method=method,
        hypothetical=True,
        batch_size=batch_size,
        device=device,
        seed=seed,
        steps=steps,
        start_index=start,
    )
    with atomic_path(out_path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            hyp=result.scores.numpy().transpose(1, 0, 2, 3),
            max_error=result.max_error.numpy(),
            predictions=result.predictions.numpy(),
            start=np.int64(start),
        )


def gather_chunks(
    chunk_paths: Sequence[str | os.PathLike], out_paths: Sequence[str | os.PathLike]
) -> None:
    """Join chunk files in order and write one ``np.savez_compressed(path, H)`` per target.

    Raises:
        LiftGenomicsError: when chunks are missing, out of order, or disagree in shape.
    """
    parts = []
    expected_start = 0
    for path in chunk_paths:
        with np.load(path) as archive:
            if int(archive["start"]) != expected_start:
                raise LiftGenomicsError(
                    f"{path}: chunk starts at row {int(archive['start'])}, expected "
                    f"{expected_start}; chunks must be given in order"
                )
            hyp = archive["hyp"]
        expected_start += hyp.shape[1]
        parts.append(hyp)
    joined = np.concatenate(parts, axis=1)
    if joined.shape[0] != len(out_paths):
        raise LiftGenomicsError(
            f"chunks hold {joined.shape[0]} targets but {len(out_paths)} outputs were asked for"
        )
    for array, path in zip(joined, out_paths, strict=True):
        save_npz_atomic(path, np.ascontiguousarray(array, dtype=np.float32))
