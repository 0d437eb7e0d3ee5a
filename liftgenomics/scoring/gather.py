"""Gather ``score --chunk i --chunks n`` outputs into the directory one ``score`` run writes.

Each chunk directory holds the files of :func:`liftgenomics.scoring.pipeline.score_regions` for
its rows, and a ``score.json`` that also records ``chunk``, ``chunks`` and ``first_row``.
:func:`gather_scores` checks that the chunks are the ``n`` consecutive parts of one run (same
settings, rows in order, nothing missing), then streams every ``.npz`` member's rows into one
file written exactly as the single run writes it, concatenates ``regions.tsv``, keeps one
``skipped.tsv`` and writes ``score.json`` without the chunk keys and, when asked, the bigWig
tracks. References are seeded by each region's global row, so the result is byte-identical to
one ``score`` run with the same seed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from liftgenomics.errors import LiftGenomicsError, first_line
from liftgenomics.genome.regions import Region, chromosome_lengths, open_fasta
from liftgenomics.genome.sequence import ARRAY_FILE_ERRORS
from liftgenomics.scoring.tracks import TrackBuffer, require_pybigwig, track_values, write_bigwig
from liftgenomics.scoring.writers import NpzStreamWriter, Staging, read_npz_rows

#: The keys a chunk's score.json adds to the single run's.
CHUNK_KEYS = ("chunk", "chunks", "first_row")
#: Rows copied per step: a few MB of scores at BPNet's length.
ROWS_PER_STEP = 256


def gather_scores(
    chunk_dirs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    bigwig: bool = False,
    fasta: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Join chunk directories, given in order, into one ``score`` output directory.

    Args:
        chunk_dirs: The directories of chunks 0..n-1 (in that order).
        out_dir: The gathered directory (created; files appear only when all are complete).
        bigwig: Also write the bigWig tracks of the actual contributions.
        fasta: The FASTA for the chromosome sizes of the bigWig header; default the one
            ``score.json`` names.

    Returns:
        Output kind -> path of each file written.

    Raises:
        LiftGenomicsError: for a missing or foreign chunk, chunks out of order or from
            different runs, or unreadable files; nothing is left behind.
    """
    if not chunk_dirs:
        raise LiftGenomicsError("gather-scores: no chunk directories given")
    if bigwig:
        require_pybigwig()
    directories = [Path(d) for d in chunk_dirs]
    settings = _check_chunks(directories)
    heads = settings["heads"]
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LiftGenomicsError(f"{out}: cannot create the output directory ({error})") from None
    staging = Staging(out)
    # A killed gather's staged parts (the CLI holds --out's lock, so no live run owns them).
    staging.remove_stale()
    written: dict[str, Path] = {}
    try:
        names = ["ohe.npz"] + [h["files"][kind] for h in heads for kind in ("hyp", "contrib")]
        for name in names:
            _concatenate_npz([d / name for d in directories], staging.path(name))
            written[name] = out / name
        _concatenate_tables(directories, staging.path("regions.tsv"))
        skipped = (directories[0] / "skipped.tsv").read_bytes()
        for directory in directories[1:]:
            if (directory / "skipped.tsv").read_bytes() != skipped:
                raise LiftGenomicsError(
                    f"{directory}: skipped.tsv differs from {directories[0]}'s: not one run"
                )
        staging.path("skipped.tsv").write_bytes(skipped)
        staging.path("score.json").write_text(json.dumps(settings, indent=2) + "\n")
        written |= {"regions.tsv": out / "regions.tsv", "skipped.tsv": out / "skipped.tsv",
                    "score.json": out / "score.json"}  # fmt: skip
        if bigwig:
            sizes = _chromosome_sizes(fasta if fasta is not None else settings["fasta"])
            regions = _read_regions(directories)
            for head in heads:
                name = head["files"]["bigwig"]
                _write_head_bigwig(
                    staging, name, regions, [d / head["files"]["contrib"] for d in directories],
                    sizes,
                )  # fmt: skip
                written[name] = out / name
        staging.commit()
    except BaseException:
        staging.discard()
        raise
    return written


def _check_chunks(directories: list[Path]) -> dict:
    """The single run's settings, after checking the chunks are its parts in order."""
    common = None
    next_row = 0
    for index, directory in enumerate(directories):
        path = directory / "score.json"
        if not path.is_file():
            raise LiftGenomicsError(
                f"{directory}: not a 'liftgenomics score' chunk (no score.json)"
            )
        try:
            settings = json.loads(path.read_text())
            if not isinstance(settings, dict) or not isinstance(settings.get("regions"), int):
                raise ValueError("not a JSON object with the number of regions")
            chunk, chunks, first = (int(settings.get(key, -1)) for key in CHUNK_KEYS)
        except (ValueError, TypeError, OverflowError) as error:
            raise LiftGenomicsError(
                f"{path}: not a valid score.json ({first_line(error)})"
            ) from None
        if chunks == -1 and len(directories) == 1:
            chunk, chunks, first = 0, 1, 0  # a whole run is its own single chunk
        if chunks != len(directories) or chunk != index:
            raise LiftGenomicsError(
                f"{directory}: holds chunk {chunk} of {chunks}, but was given as chunk {index} of "
                f"{len(directories)}; give every chunk once, in order"
            )
        if first != next_row:
            raise LiftGenomicsError(
                f"{directory}: starts at row {first}, expected {next_row}"
            )
        next_row += _rows(directory)
        rest = {key: value for key, value in settings.items() if key not in CHUNK_KEYS}
        if common is None:
            common = rest
        elif rest != common:
            raise LiftGenomicsError(
                f"{directory}: settings differ from {directories[0]}'s: not chunks of one run"
            )
    if next_row != common["regions"]:
        raise LiftGenomicsError(
            f"the chunks hold {next_row} regions, the run has {common['regions']}"
        )
    return common


def _rows(directory: Path) -> int:
    table = directory / "regions.tsv"
    if not table.is_file():
        raise LiftGenomicsError(f"{directory}: no regions.tsv")
    try:
        with open(table, encoding="utf-8") as handle:
            return sum(1 for _ in handle) - 1
    except (OSError, UnicodeDecodeError) as error:
        raise LiftGenomicsError(f"{table}: not a readable table ({first_line(error)})") from None


def _shape(path: Path) -> tuple[int, ...]:
    """The shape of an ``.npz`` file's single array (header only)."""
    return tuple(_read_rows(path, 0, 0).shape[1:])


def _read_rows(path: Path, start: int, stop: int) -> np.ndarray:
    """Rows ``[start, stop)`` of a chunk's ``.npz``, a damaged file's error as one line."""
    try:
        return read_npz_rows(path, start, stop)
    except ARRAY_FILE_ERRORS as error:
        raise LiftGenomicsError(f"{path}: not a readable .npz file ({first_line(error)})") from None


def _npz_rows(path: Path) -> int:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as handle:
            version = np.lib.format.read_magic(handle)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape = read(handle)[0]
    except ARRAY_FILE_ERRORS as error:
        raise LiftGenomicsError(f"{path}: not a readable .npz file ({first_line(error)})") from None
    if not shape:
        raise LiftGenomicsError(f"{path}: holds a scalar, not rows")
    return int(shape[0])


def _concatenate_npz(paths: list[Path], target: Path) -> None:
    """Stream the rows of ``paths`` in order into one ``.npz`` (as ``score`` writes it)."""
    for path in paths:
        if not path.is_file():
            raise LiftGenomicsError(f"{path}: chunk file not found")
    trailing = _shape(paths[0])
    counts = [_npz_rows(path) for path in paths]
    writer = NpzStreamWriter(target, (sum(counts),) + trailing)
    try:
        for path, count in zip(paths, counts, strict=True):
            if _shape(path) != trailing:
                raise LiftGenomicsError(f"{path}: rows of shape {_shape(path)}, not {trailing}")
            for start in range(0, count, ROWS_PER_STEP):
                writer.append(_read_rows(path, start, min(count, start + ROWS_PER_STEP)))
        writer.close()
    except BaseException:
        writer.abort()
        raise


def _concatenate_tables(directories: list[Path], target: Path) -> None:
    header = None
    with open(target, "w", encoding="utf-8") as out:
        for directory in directories:
            with open(directory / "regions.tsv", encoding="utf-8") as handle:
                first = handle.readline()
                if header is None:
                    header = first
                    out.write(header)
                elif first != header:
                    raise LiftGenomicsError(f"{directory}/regions.tsv: another header")
                for line in handle:
                    out.write(line)


def _read_regions(directories: list[Path]) -> list[Region]:
    regions = []
    for directory in directories:
        with open(directory / "regions.tsv", encoding="utf-8") as handle:
            next(handle)
            for line in handle:
                name, chrom, start, end, strand = line.split("\t")[:5]
                regions.append(Region(name, chrom, int(start), int(end), strand))
    return regions


def _chromosome_sizes(fasta: str | os.PathLike) -> dict[str, int]:
    handle = open_fasta(fasta)
    try:
        return chromosome_lengths(handle)
    finally:
        handle.close()


def _write_head_bigwig(staging, name, regions, contrib_paths, sizes) -> None:
    """One head's bigWig from its gathered contributions (values as ``score`` sums them)."""
    tracks = TrackBuffer(staging.directory, len(regions), 1, _shape(contrib_paths[0])[-1])
    try:
        row = 0
        for path in contrib_paths:
            count = _npz_rows(path)
            for start in range(0, count, ROWS_PER_STEP):
                block = _read_rows(path, start, min(count, start + ROWS_PER_STEP))
                tracks.append(0, row, track_values(block))
                row += len(block)
        write_bigwig(staging.path(name), regions, tracks.values(0), sizes)
    finally:
        tracks.discard()
