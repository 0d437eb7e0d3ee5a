"""Writing a ``score`` output directory: streamed ``.npz`` files, TSV tables, staged renames.

- :class:`NpzStreamWriter` writes one (N, ...) float32 array into a ``.npz`` row block by row
  block. The file holds one array under ``arr_0``, as ``np.savez_compressed(path, A)`` writes it
  (the same bytes for the same rows, fixed zip timestamp), which is what
  ``modisco motifs -s ohe.npz -a hyp.npz`` reads; :func:`read_npz_rows` reads a row range back
  without loading the whole array.
- :func:`table_header`, :func:`write_rows` and :func:`write_skipped` write ``regions.tsv`` and
  ``skipped.tsv``.
- :class:`Staging` gives every output a temporary name in the output directory and renames them
  together only when all are complete, so a failure or Ctrl-C leaves nothing that looks
  finished; then it removes outputs of earlier runs that this run did not write, so a reused
  directory never mixes two runs. :meth:`Staging.remove_stale` removes the temporary files a
  killed run left (call it holding the directory's :func:`~liftgenomics.locks.output_lock`).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.regions import Region
from liftgenomics.genome.sequence import count_ambiguous

#: zlib level of the .npz members: float scores barely compress, and level 1 is several times
#: faster than the default 6 at nearly the same size.
COMPRESS_LEVEL = 1


class NpzStreamWriter:
    """Write one (N, ...) float32 array into a compressed ``.npz`` row block by row block.

    The result reads exactly like ``np.savez_compressed(path, A)``: a zip archive with one
    deflated member ``arr_0.npy`` holding the same bytes (compressed at level
    :data:`COMPRESS_LEVEL`). Rows must be appended in order and add up to N.
    """

    def __init__(self, path: str | os.PathLike, shape: Sequence[int]) -> None:
        self.path = Path(path)
        self.shape = tuple(int(size) for size in shape)
        self.rows_written = 0
        self._zip = zipfile.ZipFile(
            self.path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
        )
        # A fixed timestamp (numpy's own): the same rows give the same bytes on every run.
        member = zipfile.ZipInfo("arr_0.npy", date_time=(1980, 1, 1, 0, 0, 0))
        member.compress_type = zipfile.ZIP_DEFLATED
        if hasattr(member, "compress_level"):  # Python >= 3.13
            member.compress_level = COMPRESS_LEVEL
        else:
            member._compresslevel = COMPRESS_LEVEL
        self._member: IO[bytes] = self._zip.open(member, "w", force_zip64=True)
        header = {"descr": "<f4", "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_1_0(self._member, header)

    def append(self, rows: np.ndarray) -> None:
        """Append rows (n, ...) matching the array's trailing shape."""
        rows = np.ascontiguousarray(rows, dtype="<f4")
        if rows.shape[1:] != self.shape[1:]:
            raise LiftGenomicsError(
                f"{self.path}: rows of shape {rows.shape[1:]} do not fit {self.shape[1:]}"
            )
        self._member.write(rows.tobytes())
        self.rows_written += rows.shape[0]

    def close(self) -> None:
        """Finish the archive; refuses if fewer or more rows than declared were written."""
        self._member.close()
        self._zip.close()
        if self.rows_written != self.shape[0]:
            raise LiftGenomicsError(
                f"{self.path}: wrote {self.rows_written} rows, expected {self.shape[0]}"
            )

    def abort(self) -> None:
        """Close the handles without checks (the file is removed by the caller)."""
        with contextlib.suppress(Exception):
            self._member.close()
        with contextlib.suppress(Exception):
            self._zip.close()


def read_npz_rows(path: str | os.PathLike, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of the single array of an ``.npz`` file, read without loading it all."""
    path = Path(path)
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: file not found")
    try:
        with zipfile.ZipFile(path) as archive:
            member = archive.namelist()[0]
            with archive.open(member) as handle:
                version = np.lib.format.read_magic(handle)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(handle)
                if fortran or not 0 <= start <= stop <= shape[0]:
                    raise LiftGenomicsError(
                        f"{path}: rows {start}:{stop} are not in an array of shape {shape}"
                    )
                row_bytes = dtype.itemsize * math.prod(shape[1:])
                _skip(handle, start * row_bytes)
                data = handle.read((stop - start) * row_bytes)
    except (zipfile.BadZipFile, IndexError, ValueError) as error:
        raise LiftGenomicsError(f"{path}: not a readable .npz file ({error})") from None
    return np.frombuffer(data, dtype=dtype).reshape((stop - start,) + tuple(shape[1:]))


def _skip(handle: IO[bytes], count: int) -> None:
    while count > 0:
        block = handle.read(min(count, 1 << 22))
        if not block:
            break
        count -= len(block)


class Staging:
    """Temporary output names in the output directory, renamed together at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pending: dict[Path, Path] = {}

    def path(self, name: str) -> Path:
        """A new temporary file for the output ``name``, renamed onto it by :meth:`commit`."""
        final = self.directory / name
        handle, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=self.directory)
        os.close(handle)
        self.pending[final] = Path(tmp)
        return Path(tmp)

    def commit(self) -> None:
        """Rename every staged file onto its name, then remove outputs of earlier runs that
        this run did not write (so a reused directory never mixes two runs)."""
        umask = os.umask(0)
        os.umask(umask)
        for final in self.pending:
            if final.exists() and not final.is_file():
                raise LiftGenomicsError(f"{final}: exists and is not a file; remove it first")
        try:
            for final, tmp in self.pending.items():
                os.chmod(tmp, 0o666 & ~umask)
                os.replace(tmp, final)
            for stale in self.directory.iterdir():
                if stale not in self.pending and _is_score_output(stale.name):
                    stale.unlink()
        except OSError as error:
            raise LiftGenomicsError(
                f"{self.directory}: could not finish the outputs ({error})"
            ) from None
        self.pending.clear()

    def remove_stale(self, is_output: Callable[[str], bool] | None = None) -> list[Path]:
        """Remove temporary files of earlier runs that died before renaming them (a SIGKILL, a
        power cut): ``.NAME.*.part`` of every output name, and bigWig track buffers.

        Only safe while holding the directory's lock: no live run is writing them.

        Args:
            is_output: Whether a name is one of the directory's outputs; by default the names
                ``score`` (or ``logo``) writes.

        Returns:
            The files removed.
        """
        removed = []
        for path in self.directory.iterdir():
            match = _STAGED_NAME.fullmatch(path.name)
            if match and path not in self.pending.values() and path.is_file():
                if match["track"] or (is_output or _is_score_output)(match["name"]):
                    path.unlink(missing_ok=True)
                    removed.append(path)
        return removed

    def discard(self) -> None:
        """Remove every staged file (the run failed or was interrupted)."""
        for tmp in self.pending.values():
            tmp.unlink(missing_ok=True)
        self.pending.clear()


#: Every file name :func:`~liftgenomics.scoring.pipeline.score_regions` (or ``logo``) writes in an
#: output directory.
_OUTPUT_NAME = re.compile(
    r"ohe\.npz|regions\.tsv|skipped\.tsv|score\.json|(hyp|contrib)(\.[A-Za-z0-9_-]+)?\.npz"
    r"|contrib(\.[A-Za-z0-9_-]+)?\.bw|logo\..+\.png"
)


#: A temporary name :class:`Staging` or :class:`~liftgenomics.scoring.tracks.TrackBuffer` gives.
_STAGED_NAME = re.compile(r"\.(?:(?P<track>track\.[^/]*\.f32)|(?P<name>.+)\.[^.]+)\.part")


def _is_score_output(name: str) -> bool:
    """Whether ``name`` is a file that ``score`` (or ``logo``) writes in an output directory."""
    return _OUTPUT_NAME.fullmatch(name) is not None


def table_header(heads) -> list[str]:
    """``regions.tsv``'s columns: the region, its N count, a prediction per head, the error."""
    header = ["name", "chrom", "start", "end", "strand", "n_count"]
    return header + [f"prediction_{head.name}" for head in heads] + ["max_error"]


def write_skipped(path: Path, skipped) -> None:
    """``skipped.tsv``: the intervals that ran off a chromosome, with the reason."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("name\tchrom\tstart\tend\treason\n")
        for region, reason in skipped:
            handle.write(f"{region.name}\t{region.chrom}\t{region.start}\t{region.end}\t{reason}\n")


def write_rows(
    handle: IO[str], chunk: Sequence[Region], X: np.ndarray, predictions, errors
) -> None:
    """``regions.tsv`` rows: the region, its N count, predictions (n, H), the worst error."""
    n_counts = count_ambiguous(X)
    for i, region in enumerate(chunk):
        error = errors[i]
        worst = "nan" if np.isnan(error).all() else f"{float(np.nanmax(error)):.3g}"
        fields = [region.name, region.chrom, str(region.start), str(region.end), region.strand]
        fields += [str(int(n_counts[i]))] + [f"{float(p):.6g}" for p in predictions[i]] + [worst]
        handle.write("\t".join(fields) + "\n")
