"""Regions of a genome (or of a FASTA of sequences) to score, read through pyfaidx.

A :class:`Region` is a named 0-based half-open interval. With a BED file, each interval is
resized around its centre (or its narrowPeak summit) to the model's input length; without one,
every FASTA record is a region. :func:`plan_regions` does the checking up front, before any
scoring, so that bad input fails fast with one line that says what and where:

- FASTA: missing or unreadable, no records, duplicate names, ragged lines (pyfaidx's index);
  a letter that is not IUPAC DNA is reported with the record, the position and the file line
  when the sequence is read (:func:`fetch_one_hot`).
- BED: fewer than 3 columns, non-integer or negative coordinates, end <= start, a chromosome
  absent from the FASTA, an end past the chromosome's, a narrowPeak summit outside its interval.

Intervals that run off a chromosome end are skipped (and listed) unless ``pad`` asks for N
padding. Lowercase (soft-masked) bases are scored as uppercase; N is an all-zero column.
"""

from __future__ import annotations

import gzip
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liftgenomics.errors import LiftGenomicsError, first_line
from liftgenomics.genome.sequence import encode_codes

#: narrowPeak's 0-based summit offset column (the 10th); -1 there means "no summit".
SUMMIT_COLUMN = 9


@dataclass(frozen=True)
class Region:
    """A region to score: ``chrom[start:end)`` after resizing (may extend past the ends).

    Attributes:
        name: Unique name (BED column 4, else ``chrom:start-end`` of the original interval).
        chrom: FASTA record (chromosome) name.
        start: 0-based start after resizing; negative when it runs off the start (``pad``).
        end: End after resizing; past the chromosome's length when it runs off the end.
        strand: BED column 6 (``+``, ``-`` or ``.``); recorded, not used to flip sequences.
    """

    name: str
    chrom: str
    start: int
    end: int
    strand: str = "."


@dataclass
class RegionPlan:
    """What :func:`plan_regions` found: the regions to score and those skipped."""

    regions: list[Region]
    skipped: list[tuple[Region, str]]
    chrom_lengths: dict[str, int]
    length: int


def open_fasta(path: str | os.PathLike):
    """Open a FASTA with pyfaidx (building its index if missing), errors as one line.

    Returns:
        A ``pyfaidx.Fasta`` that returns raw strings.

    Raises:
        LiftGenomicsError: missing or unreadable file, duplicate names, a malformed file, or no
            records.
    """
    import pyfaidx

    path = Path(path)
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: FASTA file not found")
    if not os.access(path, os.R_OK):
        raise LiftGenomicsError(f"{path}: FASTA file is not readable")
    try:
        fasta = pyfaidx.Fasta(
            str(path), as_raw=True, sequence_always_upper=True, rebuild=True, build_index=True
        )
    except ImportError:
        raise LiftGenomicsError(
            f"{path}: reading a bgzip-compressed FASTA needs Biopython (pip install biopython)"
        ) from None
    except pyfaidx.UnsupportedCompressionFormat:
        raise LiftGenomicsError(
            f"{path}: compressed FASTA must be bgzip-compressed (bgzip -i) for random access"
        ) from None
    except (pyfaidx.FastaIndexingError, ValueError, OSError, UnicodeDecodeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "writable" in message or isinstance(error, PermissionError):
            raise LiftGenomicsError(
                f"{path}: cannot write its index {path}.fai (missing or older than the FASTA); "
                "index it where you can write (samtools faidx) or copy the FASTA"
            ) from None
        if "does not contain a valid sequence" in message:
            raise LiftGenomicsError(f"{path}: no FASTA records") from None
        if "Duplicate key" in message:
            name = message.split('"')[1] if '"' in message else message
            raise LiftGenomicsError(f"{path}: duplicate FASTA name {name!r}") from None
        raise LiftGenomicsError(f"{path}: not a valid FASTA file ({message})") from None
    except RuntimeError as error:  # pyfaidx's "unhandled exception during fasta indexing"
        entry = re.search(r"at entry (.*?)(?:Please report|$)", first_line(error))
        raise LiftGenomicsError(
            f"{path}: not a valid FASTA file (pyfaidx cannot index record "
            f"{entry.group(1) if entry else '?'!r}: lines of unequal length or a blank line inside "
            "it?)"
        ) from None
    if not len(fasta.keys()):
        fasta.close()
        raise LiftGenomicsError(f"{path}: no FASTA records")
    return fasta


def chromosome_lengths(fasta) -> dict[str, int]:
    """Record name -> length, from the pyfaidx index (no sequence is read)."""
    return {name: int(record.rlen) for name, record in fasta.faidx.index.items()}


def read_bed(path: str | os.PathLike, chrom_lengths: dict[str, int]) -> list[list[str]]:
    """Read and check a BED file's rows (browser/track/# lines skipped).

    Returns:
        The rows as lists of fields (at least 3 each).

    Raises:
        LiftGenomicsError: naming the file and line, for fewer than 3 columns, non-integer or
            negative coordinates, end <= start, or a chromosome absent from the FASTA.
    """
    path = Path(path)
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: BED file not found")
    rows: list[list[str]] = []
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            lines = list(handle)
    except (OSError, UnicodeDecodeError) as error:
        raise LiftGenomicsError(f"{path}: not a readable BED file ({error})") from None
    for line_number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if not text.strip() or text.startswith(("#", "track", "browser")):
            continue
        fields = text.split("\t") if "\t" in text else text.split()
        where = f"{path}:{line_number}"
        if len(fields) < 3:
            raise LiftGenomicsError(
                f"{where}: a BED line needs at least 3 columns (chrom, start, end), "
                f"found {len(fields)}"
            )
        try:
            start, end = int(fields[1]), int(fields[2])
        except ValueError:
            raise LiftGenomicsError(
                f"{where}: start and end must be integers, got {fields[1]!r} and {fields[2]!r}"
            ) from None
        if start < 0 or end < 0:
            raise LiftGenomicsError(f"{where}: negative coordinate ({start}, {end})")
        if end <= start:
            raise LiftGenomicsError(f"{where}: end {end} is not after start {start}")
        if fields[0] not in chrom_lengths:
            raise LiftGenomicsError(
                f"{where}: chromosome {fields[0]!r} is not in the FASTA "
                f"(it has {_some_names(chrom_lengths)})"
            )
        if end > chrom_lengths[fields[0]]:
            raise LiftGenomicsError(
                f"{where}: end {end} is past the end of {fields[0]} (length "
                f"{chrom_lengths[fields[0]]}); is the BED file from another assembly?"
            )
        if len(fields) > SUMMIT_COLUMN:
            try:
                summit = int(fields[SUMMIT_COLUMN])
            except ValueError:
                raise LiftGenomicsError(
                    f"{where}: narrowPeak summit (column 10) must be an integer, got "
                    f"{fields[SUMMIT_COLUMN]!r}"
                ) from None
            if summit != -1 and not 0 <= summit < end - start:
                raise LiftGenomicsError(
                    f"{where}: narrowPeak summit offset {summit} is outside the interval "
                    f"(0 to {end - start - 1}, or -1 for none)"
                )
        rows.append(fields)
    if not rows:
        raise LiftGenomicsError(f"{path}: no intervals in the BED file")
    return rows


def _some_names(chrom_lengths: dict[str, int], limit: int = 5) -> str:
    names = list(chrom_lengths)
    listed = ", ".join(names[:limit])
    return listed + (f" and {len(names) - limit} more" if len(names) > limit else "")


def resize(start: int, end: int, length: int, summit: int | None = None) -> tuple[int, int]:
    """An interval of ``length`` centred on ``start + summit``, or on the interval's centre."""
    centre = start + summit if summit is not None and summit >= 0 else (start + end) // 2
    new_start = centre - length // 2
    return new_start, new_start + length


def plan_regions(
    fasta,
    bed: str | os.PathLike | None,
    length: int | None,
    pad: bool = False,
    use_summit: bool = True,
    resize_records: bool = False,
) -> RegionPlan:
    """The regions to score, checked, and those skipped for running off a chromosome.

    Args:
        fasta: An open pyfaidx ``Fasta`` (:func:`open_fasta`).
        bed: A BED (or narrowPeak) file, or None to score every FASTA record.
        length: The length to score. With a BED file every interval is resized to it; without
            one, records must already have it unless ``resize_records``. None: the records'
            own length, which must be the same for all.
        pad: Pad regions that run off a chromosome with N instead of skipping them.
        use_summit: Centre narrowPeak intervals on their summit (column 10) when it is >= 0.
        resize_records: Without a BED file, resize records of another length around their
            centres (the user asked for a length) instead of refusing them.

    Repeated BED names get a suffix (``_2``, ``_3``, ...; with a warning) so that every region
    name is unique.

    Raises:
        LiftGenomicsError: for bad BED rows, or records of another length without
            ``resize_records``.
    """
    chrom_lengths = chromosome_lengths(fasta)
    if bed is None:
        if length is None:
            lengths = sorted(set(chrom_lengths.values()))
            if len(lengths) > 1:
                raise LiftGenomicsError(
                    f"FASTA records have different lengths ({', '.join(map(str, lengths[:5]))}); "
                    "pass --length to resize them around their centres"
                )
            length = lengths[0]
        candidates = []
        for name, size in chrom_lengths.items():
            if size != length and not resize_records:
                raise LiftGenomicsError(
                    f"FASTA record {name!r} has length {size} but the model takes {length}; "
                    "pass --length to resize records around their centres"
                )
            start, end = (0, size) if size == length else resize(0, size, length)
            candidates.append(Region(name, name, start, end))
    else:
        if length is None:
            raise LiftGenomicsError("a length is needed to resize BED intervals (pass --length)")
        candidates = []
        taken: set[str] = set()
        renamed = 0
        for row in read_bed(bed, chrom_lengths):
            chrom, start, end = row[0], int(row[1]), int(row[2])
            name = row[3] if len(row) > 3 and row[3] not in ("", ".") else f"{chrom}:{start}-{end}"
            if name in taken:
                # Output rows are looked up by name (regions.tsv, logo): keep names unique.
                renamed += 1
                suffix = 2
                while f"{name}_{suffix}" in taken:
                    suffix += 1
                name = f"{name}_{suffix}"
            taken.add(name)
            strand = row[5] if len(row) > 5 and row[5] in ("+", "-", ".") else "."
            summit = int(row[SUMMIT_COLUMN]) if use_summit and len(row) > SUMMIT_COLUMN else None
            new_start, new_end = resize(start, end, length, summit)
            candidates.append(Region(name, chrom, new_start, new_end, strand))
        if renamed:
            warnings.warn(
                f"{bed}: {renamed} repeated interval name(s) got a suffix _2, _3, ... to stay "
                "unique",
                stacklevel=2,
            )
    if length < 1:
        raise LiftGenomicsError(f"the region length must be positive, got {length}")
    regions, skipped = [], []
    for region in candidates:
        size = chrom_lengths[region.chrom]
        if (region.start < 0 or region.end > size) and not pad:
            skipped.append((region, f"runs off {region.chrom} (length {size})"))
        else:
            regions.append(region)
    return RegionPlan(regions, skipped, chrom_lengths, length)


def fetch_one_hot(fasta, regions: Sequence[Region], length: int) -> np.ndarray:
    """One-hot (n, 4, length) float32 for ``regions``, N-padded past the chromosome ends.

    Raises:
        LiftGenomicsError: for a letter that is not IUPAC DNA, naming the record, the position
            and the line of the FASTA file.
    """
    out = np.zeros((len(regions), 4, length), dtype=np.float32)
    lengths = {}
    for i, region in enumerate(regions):
        if region.end - region.start != length:
            raise LiftGenomicsError(
                f"region {region.name!r} spans {region.end - region.start} bases, not {length}"
            )
        size = lengths.get(region.chrom)
        if size is None:
            size = lengths[region.chrom] = int(fasta.faidx.index[region.chrom].rlen)
        start, end = max(region.start, 0), min(region.end, size)
        sequence = fasta.faidx.fetch(region.chrom, start + 1, end) if end > start else ""
        try:
            codes = encode_codes(sequence, region.chrom)
        except LiftGenomicsError:
            message = _bad_letter_message(fasta, region.chrom, start, sequence)
            raise LiftGenomicsError(message) from None
        offset = start - region.start
        columns = np.arange(codes.size) + offset
        keep = codes < 4
        out[i, codes[keep], columns[keep]] = 1.0
    return out


def _bad_letter_message(fasta, chrom: str, start: int, sequence: str) -> str:
    """'file:line: invalid base ...' for the first non-IUPAC letter of ``sequence``."""
    bad = next(i for i, letter in enumerate(sequence) if not _is_iupac(letter))
    position = start + bad  # 0-based in the record
    record = fasta.faidx.index[chrom]
    line = _lines_before(fasta.filename, record.offset) + position // record.lenc + 1
    return (
        f"{fasta.filename}:{line}: invalid base {sequence[bad]!r} in record {chrom!r} at position "
        f"{position + 1} (expected A, C, G, T or an IUPAC code such as N)"
    )


def _is_iupac(letter: str) -> bool:
    return letter.upper() in "ACGTNRYSWKMBDHV"


def _lines_before(path: str, offset: int) -> int:
    """Newlines in the first ``offset`` bytes of the (possibly bgzipped) file."""
    opener = gzip.open if str(path).endswith((".gz", ".bgz")) else open
    count, remaining = 0, offset
    with opener(path, "rb") as handle:
        while remaining > 0:
            block = handle.read(min(remaining, 1 << 20))
            if not block:
                break
            count += block.count(b"\n")
            remaining -= len(block)
    return count
