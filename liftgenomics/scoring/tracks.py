"""bigWig tracks of a ``score`` run: per-base actual contributions over the scored intervals.

:func:`track_values` sums the actual contributions (n, 4, L) over the bases into per-base values
(n, L); :class:`TrackBuffer` keeps them in a memory-mapped file beside the outputs until the end
of the run; :func:`merged_track` walks them in genome order, averaging overlapping intervals; and
:func:`write_bigwig` writes ``contrib.bw`` (or ``contrib.{head}.bw``). pyBigWig is optional
(``pip install 'liftgenomics[bigwig]'``): :func:`require_pybigwig` says so in one line.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.regions import Region


def require_pybigwig() -> None:
    try:
        import pyBigWig  # noqa: F401
    except ImportError:
        raise LiftGenomicsError(
            "--bigwig needs pyBigWig: pip install 'liftgenomics[bigwig]'"
        ) from None


def track_values(contrib: np.ndarray) -> np.ndarray:
    """Per-base actual contributions (n, L) of (n, 4, L) ones (the bigWig's values)."""
    return np.ascontiguousarray(contrib, dtype=np.float32).sum(axis=1)


class TrackBuffer:
    """Per-base actual contributions (n, H, L), kept on disk for the bigWig pass at the end."""

    def __init__(self, directory: Path, n: int, n_heads: int, length: int) -> None:
        handle, name = tempfile.mkstemp(prefix=".track.", suffix=".f32.part", dir=directory)
        self.path = Path(name)
        try:
            # Reserve the blocks now: on a full disk this fails with ENOSPC (one line), where
            # writing a sparse memory map would kill the process with SIGBUS later.
            size = 4 * n * n_heads * length
            try:
                if size and hasattr(os, "posix_fallocate"):
                    os.posix_fallocate(handle, 0, size)
            except OSError as error:
                # A file system without fallocate: go on with a sparse file.
                if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
            finally:
                os.close(handle)
            self.array = np.memmap(
                self.path, dtype=np.float32, mode="w+", shape=(n, n_heads, length)
            )
        except BaseException:
            self.path.unlink(missing_ok=True)
            raise

    def append(self, head: int, row: int, values: np.ndarray) -> None:
        self.array[row : row + len(values), head] = values

    def values(self, head: int) -> np.ndarray:
        return self.array[:, head]

    def discard(self) -> None:
        del self.array
        self.path.unlink(missing_ok=True)


def merged_track(
    regions: Sequence[Region], values: np.ndarray, chrom_lengths: dict[str, int]
) -> Iterator[tuple[str, int, np.ndarray]]:
    """(chrom, start, per-base values) blocks in genome order, overlapping regions averaged.

    Regions are clipped to their chromosome; overlapping or touching regions form one block
    whose value at each base is the mean over the regions covering it.
    """
    order = sorted(range(len(regions)), key=lambda i: (regions[i].chrom, regions[i].start))
    index = 0
    while index < len(order):
        chrom = regions[order[index]].chrom
        size = chrom_lengths[chrom]
        group = [order[index]]
        block_end = min(regions[order[index]].end, size)
        index += 1
        while (
            index < len(order)
            and regions[order[index]].chrom == chrom
            and regions[order[index]].start <= block_end
        ):
            group.append(order[index])
            block_end = max(block_end, min(regions[order[index]].end, size))
            index += 1
        block_start = max(regions[group[0]].start, 0)
        total = np.zeros(block_end - block_start, dtype=np.float64)
        count = np.zeros(block_end - block_start, dtype=np.int64)
        for i in group:
            region = regions[i]
            lo, hi = max(region.start, 0), min(region.end, size)
            block = slice(lo - block_start, hi - block_start)
            total[block] += values[i, lo - region.start : hi - region.start]
            count[block] += 1
        covered = count > 0
        # Sorted by start and merged while overlapping, so every base of a block is covered.
        yield chrom, block_start, (total[covered] / count[covered]).astype(np.float64)


def write_bigwig(
    path: str | os.PathLike,
    regions: Sequence[Region],
    values: np.ndarray,
    chrom_lengths: dict[str, int],
) -> None:
    """Write per-base values (n, L) over ``regions`` as a bigWig (overlaps averaged)."""
    import pyBigWig

    used = sorted({region.chrom for region in regions})
    handle = pyBigWig.open(str(path), "w")
    try:
        handle.addHeader([(chrom, int(chrom_lengths[chrom])) for chrom in used])
        for chrom, start, block in merged_track(regions, values, chrom_lengths):
            handle.addEntries(chrom, int(start), values=block.tolist(), span=1, step=1)
    finally:
        handle.close()
