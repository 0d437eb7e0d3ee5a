"""Extra model inputs per region: BPNet's control track from bigWigs, an array file, or zeros.

``score --control`` gives a model's second input (bpnet-lite's ``X_ctl``, (N, tracks, L)):

- ``ctl.plus.bw,ctl.minus.bw``: one track per bigWig, read with pyBigWig over each region
  (zeros where a bigWig has no data, past a chromosome end, or on a chromosome it lacks);
- ``inputs.npy`` / ``inputs.npz`` (its first array): one row per scored region, in
  ``regions.tsv`` order (regions skipped for running off a chromosome have no row), any
  trailing shape: the generic form for other extra inputs.

A model that takes a control track (``n_control_tracks > 0``, as bpnet-lite's and our BPNet
say) but is given none gets zeros, with a warning. Rows are read per streamed chunk, so memory
stays flat; they are addressed by the region's global row, so a chunked run reads what one
process reads.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from liftgenomics.errors import LiftGenomicsError, first_line
from liftgenomics.genome.regions import Region
from liftgenomics.genome.sequence import ARRAY_FILE_ERRORS

_ARRAY_SUFFIXES = (".npy", ".npz")


class ExtraInputs:
    """A source of per-region extra model inputs (the ``forward_args`` after X)."""

    description = "none"

    def rows(self, regions: Sequence[Region], first_row: int, length: int) -> tuple:
        """The extra inputs of ``regions`` (global rows ``first_row`` onwards)."""
        return ()


class ZeroControl(ExtraInputs):
    """Zeros (n, tracks, L): a model that takes a control track, given none."""

    def __init__(self, tracks: int) -> None:
        self.tracks = tracks
        self.description = f"zeros ({tracks} tracks)"

    def rows(self, regions, first_row, length):
        return (np.zeros((len(regions), self.tracks, length), dtype=np.float32),)


class BigWigControl(ExtraInputs):
    """One track per bigWig over each region, zeros where there is no data."""

    def __init__(self, paths: Sequence[str]) -> None:
        import pyBigWig

        self.paths = list(paths)
        self.handles = []
        for path in self.paths:
            if not Path(path).is_file():
                raise LiftGenomicsError(f"--control {path}: bigWig file not found")
            try:
                handle = pyBigWig.open(path)
            except RuntimeError:
                handle = None
            if handle is None or not handle.isBigWig():
                raise LiftGenomicsError(f"--control {path}: not a readable bigWig file")
            self.handles.append(handle)
        self.tracks = len(self.paths)
        self.description = ",".join(self.paths)

    def rows(self, regions, first_row, length):
        out = np.zeros((len(regions), self.tracks, length), dtype=np.float32)
        for track, handle in enumerate(self.handles):
            sizes = handle.chroms()
            for i, region in enumerate(regions):
                size = sizes.get(region.chrom)
                if size is None:
                    continue
                start, end = max(region.start, 0), min(region.end, size)
                if end <= start:
                    continue
                values = np.asarray(handle.values(region.chrom, start, end, numpy=True))
                offset = start - region.start
                out[i, track, offset : offset + end - start] = np.nan_to_num(values, nan=0.0)
        return (out,)

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


class ArrayInputs(ExtraInputs):
    """Rows of an ``.npy`` (memory-mapped) or ``.npz`` array, one per scored region."""

    def __init__(self, path: str, n_regions: int) -> None:
        self.path = path
        try:
            if path.endswith(".npy"):
                self.array = np.load(path, mmap_mode="r")
            else:
                with np.load(path) as archive:
                    self.array = archive[archive.files[0]]
        except ARRAY_FILE_ERRORS as error:
            raise LiftGenomicsError(
                f"--control {path}: not a readable array ({first_line(error)})"
            ) from None
        if self.array.ndim < 1 or self.array.shape[0] != n_regions:
            raise LiftGenomicsError(
                f"--control {path}: has shape {self.array.shape}; expected one row per scored "
                f"region ({n_regions}, regions.tsv order)"
            )
        self.tracks = int(self.array.shape[1]) if self.array.ndim == 3 else None
        self.description = path

    def rows(self, regions, first_row, length):
        block = np.asarray(self.array[first_row : first_row + len(regions)])
        if block.dtype.kind == "f":
            block = block.astype(np.float32, copy=False)
        return (block,)


def open_extra_inputs(spec: str | os.PathLike | None, model, n_regions: int) -> ExtraInputs:
    """The extra inputs ``--control`` names (or zeros, or none) for ``model``.

    Args:
        spec: Comma-separated bigWigs, one ``.npy``/``.npz`` file, or None.
        model: The scored model (its ``n_control_tracks``, when it has one, is checked).
        n_regions: Scored regions in all (the rows an array file must have).

    Raises:
        LiftGenomicsError: for a missing or unreadable file, or a track count that differs
            from the model's ``n_control_tracks``.
    """
    expected = getattr(model, "n_control_tracks", None)
    if spec is None:
        if expected:
            warnings.warn(
                f"the model takes a control track ({expected} tracks) and none was given "
                "(--control): scoring with an all-zero control",
                stacklevel=2,
            )
            return ZeroControl(int(expected))
        return ExtraInputs()
    text = os.fspath(spec)
    if expected == 0:
        raise LiftGenomicsError(f"--control {text}: the model takes no control track")
    paths = [part.strip() for part in text.split(",") if part.strip()]
    if len(paths) == 1 and paths[0].endswith(_ARRAY_SUFFIXES):
        if not Path(paths[0]).is_file():
            raise LiftGenomicsError(f"--control {paths[0]}: file not found")
        source: ExtraInputs = ArrayInputs(paths[0], n_regions)
    else:
        try:
            import pyBigWig  # noqa: F401
        except ImportError:
            raise LiftGenomicsError(
                "--control with bigWigs needs pyBigWig: pip install 'liftgenomics[bigwig]'"
            ) from None
        source = BigWigControl(paths)
    tracks = getattr(source, "tracks", None)
    if expected is not None and tracks is not None and tracks != expected:
        raise LiftGenomicsError(
            f"--control {text}: {tracks} tracks, but the model takes {expected}"
        )
    return source
