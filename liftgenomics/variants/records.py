"""Variant records: one allele pair at one place, read from a VCF or a headerless table.

:func:`read_variants` reads either a VCF 4.x (plain, bgzipped or BCF, through pysam) or one of
chrombpnet's variant scorer's headerless tab-separated layouts (:data:`SCHEMAS`):

- ``chrombpnet``: chr, pos (1-based), allele1, allele2, id
- ``bed``: chr, pos (0-based), end, allele1, allele2, id
- ``plink`` (``.bim``): chr, id, cM (ignored), pos (1-based), allele1, allele2
- ``original``: chr, pos (1-based), id, allele1, allele2

Table alleles are taken as written (upper-cased; ``-`` is an indel's empty allele). VCF alleles
are trimmed to the bases that differ: first the common suffix of REF and ALT, then the common
prefix (moving ``pos`` right), so a normalised VCF indel simply loses its anchor base
(``REF=AC ALT=A`` at POS 7 -> ``C``/``-`` at 0-based 7) and a record such as ``REF=ACT ALT=AT``
becomes the deletion of its ``C``. Trimming the suffix first places an indel in a repeat at its
leftmost position within the record (as ``bcftools norm`` trims). Equal-length alleles that
differ in several bases stay one multi-base substitution.

Records that cannot be scored (symbolic or missing ALTs, letters other than A/C/G/T, REF equal
to ALT, a chromosome absent from the FASTA, a repeated site) are returned as :class:`Skipped`
rows, not errors; malformed files raise :class:`LiftGenomicsError` with one line naming the
file and, where known, the line.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from liftgenomics.errors import LiftGenomicsError, first_line, printable

#: The empty allele of an insertion's allele1 or a deletion's allele2 (chrombpnet's convention).
EMPTY = "-"

#: The headerless table layouts of chrombpnet's variant scorer.
SCHEMAS = ("chrombpnet", "bed", "plink", "original")

#: Column names of each schema; ``None`` marks a column that is read but not used.
_COLUMNS: dict[str, tuple[str | None, ...]] = {
    "chrombpnet": ("chr", "pos", "allele1", "allele2", "id"),
    "bed": ("chr", "pos", "end", "allele1", "allele2", "id"),
    "plink": ("chr", "id", None, "pos", "allele1", "allele2"),
    "original": ("chr", "pos", "id", "allele1", "allele2"),
}
_BASES = frozenset("ACGT")
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Variant:
    """One variant as chrombpnet's variant scorer lays it out.

    Attributes:
        chrom: Chromosome name as in the FASTA.
        pos: 0-based position of allele1's first base on ``chrom``; for an insertion
            (``allele1 == "-"``) the 0-based position of the base the insertion goes before.
        allele1: The reference allele (upper case A/C/G/T, or ``"-"``).
        allele2: The alternate allele (upper case A/C/G/T, or ``"-"``).
        id: The variant's name (the VCF ID, or ``chrom:pos1:allele1:allele2`` when absent).
        source: ``file:line`` the record came from, for messages.
    """

    chrom: str
    pos: int
    allele1: str
    allele2: str
    id: str
    source: str = ""

    @property
    def is_indel(self) -> bool:
        return len(self.bases1) != len(self.bases2)

    @property
    def bases1(self) -> str:
        """allele1 without the ``-`` placeholder."""
        return "" if self.allele1 == EMPTY else self.allele1

    @property
    def bases2(self) -> str:
        """allele2 without the ``-`` placeholder."""
        return "" if self.allele2 == EMPTY else self.allele2


@dataclass(frozen=True)
class Skipped:
    """A variant that is not scored, and why (one line, for ``skipped.tsv``)."""

    variant: Variant
    reason: str


def read_variants(
    path: str | os.PathLike,
    schema: str | None = None,
    chrom_names: Collection[str] | None = None,
) -> tuple[list[Variant], list[Skipped]]:
    """Read variants from a VCF (``schema=None``) or a headerless table of ``schema``.

    Args:
        path: A VCF 4.x (``.vcf``, bgzipped ``.vcf.gz`` or ``.bcf``), or a tab-separated table
            (optionally gzipped) in one of :data:`SCHEMAS`.
        schema: None for a VCF, else one of :data:`SCHEMAS`.
        chrom_names: The FASTA's record names. When given, a chromosome that is not one of them
            is renamed if adding or removing a ``chr`` prefix makes it one, and skipped
            otherwise.

    Returns:
        The variants in file order (multi-allelic VCF records split, one variant per ALT; the
        first of repeated sites kept) and the skipped records with their reasons.

    Raises:
        LiftGenomicsError: a missing, unreadable or malformed file, an unknown schema, or a file
            without any variant record.
    """
    path = Path(path)
    if schema is not None and schema not in SCHEMAS:
        raise LiftGenomicsError(
            f"unknown variant schema {printable(str(schema))!r} (expected one of "
            f"{', '.join(SCHEMAS)}, or none for a VCF)"
        )
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: variant file not found")
    if not os.access(path, os.R_OK):
        raise LiftGenomicsError(f"{path}: variant file is not readable")
    rows = list(_read_vcf(path) if schema is None else _read_table(path, schema))
    if not rows:
        raise LiftGenomicsError(f"{path}: no variants in the file")
    # Rows carry their file order so that the skipped ones are listed in it, too.
    variants = [(i, row) for i, row in enumerate(rows) if isinstance(row, Variant)]
    skipped = [(i, row) for i, row in enumerate(rows) if isinstance(row, Skipped)]
    if chrom_names is not None:
        variants = _match_chromosomes(variants, chrom_names, skipped)
    variants = _deduplicate(variants, skipped)
    return [variant for _, variant in variants], [row for _, row in sorted(skipped)]


# ---------------------------------------------------------------------------------------------
# VCF


def _read_vcf(path: Path) -> Iterator[Variant | Skipped]:
    """The records of a VCF through pysam, split and trimmed, with ``file:line`` sources."""
    import pysam

    lines_before = _header_lines(path)
    verbosity = pysam.set_verbosity(0)  # htslib's own warnings would bypass our messages
    try:
        try:
            handle = pysam.VariantFile(str(path))
        except (OSError, ValueError) as error:
            raise LiftGenomicsError(
                f"{path}: not a readable VCF/BCF file ({_pysam_reason(error)})"
            ) from None
        with handle:
            records = iter(handle)
            for number in itertools.count(1):
                source = _record_source(path, lines_before, number)
                record = _next_record(records, source)
                if record is None:
                    break
                try:  # pysam decodes the fields only when they are read
                    rows = list(_split_record(record, source))
                except ValueError as error:  # UnicodeDecodeError too
                    raise LiftGenomicsError(
                        f"{source}: cannot read this VCF record ({first_line(error)})"
                    ) from None
                yield from rows
    finally:
        pysam.set_verbosity(verbosity)


def _next_record(records: Iterator, source: str):
    """The next pysam record, None at the end; a record pysam cannot parse as one line."""
    try:
        return next(records)
    except StopIteration:
        return None
    except (OSError, ValueError) as error:
        raise LiftGenomicsError(
            f"{source}: cannot parse this VCF record ({_pysam_reason(error)})"
        ) from None


def _header_lines(path: Path) -> int:
    """Lines of a text VCF's header (``#`` lines), or 0 for a BCF or an unreadable file."""
    try:
        with open(path, "rb") as raw:
            magic = raw.read(2)
        opener = gzip.open if magic == _GZIP_MAGIC else open
        count = 0
        with opener(path, "rb") as handle:
            if handle.read(3) == b"BCF":
                return 0
            handle.seek(0)
            for line in handle:
                if not line.startswith(b"#"):
                    break
                count += 1
        return count
    except (OSError, EOFError, gzip.BadGzipFile):
        return 0


def _record_source(path: Path, lines_before: int, number: int) -> str:
    """``file:line`` of a text VCF's ``number``-th record; ``file:record N`` for a BCF."""
    return f"{path}:{lines_before + number}" if lines_before else f"{path}:record {number}"


def _pysam_reason(error: BaseException) -> str:
    """What pysam's message says about the file, without its repetition of the path."""
    text = first_line(error).split(": ", 1)[-1]
    if "VCF/BCF format" in text or "Exec format error" in text:
        return "not VCF or BCF format"
    text = text.split("Could not open variant file: ", 1)[-1]
    return text.split(": '", 1)[0]


def _split_record(record, source: str) -> Iterator[Variant | Skipped]:
    """One :class:`Variant` (or :class:`Skipped`) per ALT of a pysam ``VariantRecord``."""
    ref = (record.ref or "").upper()
    alts = record.alts or (".",)
    for alt in alts:
        alt_text = alt.upper()
        if record.id:
            name = f"{record.id}_{alt}" if len(alts) > 1 else record.id
        else:
            name = ""
        reason = _vcf_allele_problem(ref, alt_text, alt)
        if reason is None:
            pos, allele1, allele2 = _strip_anchor(record.start, ref, alt_text)
        else:
            pos, allele1, allele2 = record.start, ref or EMPTY, alt or EMPTY
        variant = Variant(record.chrom, pos, allele1, allele2, name, source)
        if not name:
            variant = replace(variant, id=_default_id(variant))
        yield variant if reason is None else Skipped(variant, reason)


def _vcf_allele_problem(ref: str, alt: str, written: str) -> str | None:
    """Why a VCF REF/ALT pair (upper-cased; ``written``: ALT as in the file) cannot be scored."""
    if alt == ".":
        return "no ALT allele"
    if alt == "*" or alt.startswith("<") or any(c in alt for c in "[]"):
        return f"symbolic ALT allele {printable(written)!r}"
    for which, allele in (("REF", ref), ("ALT", alt)):
        if not allele or set(allele) - _BASES:
            return f"{which} allele {printable(allele)!r} has letters other than A, C, G, T"
    if ref == alt:
        return "ALT equals REF"
    return None


def _strip_anchor(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Trim the bases REF and ALT share: the common suffix, then the common prefix.

    Returns:
        The 0-based position of the first differing base and the two alleles, ``-`` for empty.
    """
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    prefix = 0
    while prefix < min(len(ref), len(alt)) and ref[prefix] == alt[prefix]:
        prefix += 1
    return pos + prefix, ref[prefix:] or EMPTY, alt[prefix:] or EMPTY


# ---------------------------------------------------------------------------------------------
# Tables


def _read_table(path: Path, schema: str) -> Iterator[Variant | Skipped]:
    """The rows of a headerless tab-separated table (blank and ``#`` lines skipped)."""
    columns = _COLUMNS[schema]
    try:
        with open(path, "rb") as raw:
            magic = raw.read(2)
        opener = gzip.open if magic == _GZIP_MAGIC else open
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            lines = list(handle)
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise LiftGenomicsError(
            f"{path}: not a readable text table ({first_line(error)})"
        ) from None
    if any("\x00" in line for line in lines):
        raise LiftGenomicsError(f"{path}: not a text table (it holds NUL bytes)")
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    for number, fields in enumerate(reader, start=1):
        if not fields or not "".join(fields).strip() or fields[0].startswith("#"):
            continue
        yield _parse_row([f.strip() for f in fields], columns, schema, f"{path}:{number}")


def _parse_row(
    fields: list[str], columns: tuple[str | None, ...], schema: str, where: str
) -> Variant | Skipped:
    """One table row as a :class:`Variant`, or :class:`Skipped` for alleles we cannot score."""
    if len(fields) != len(columns):
        names = ", ".join(name or "cM" for name in columns)
        hint = "" if len(fields) > 1 else "; is it tab-separated?"
        raise LiftGenomicsError(
            f"{where}: the {schema} schema has {len(columns)} tab-separated columns ({names}), "
            f"found {len(fields)}{hint}"
        )
    row = dict(zip(columns, fields, strict=True))
    pos = _parse_int(row["pos"], "pos", where)
    if schema == "bed":
        _parse_int(row["end"], "end", where)
    else:
        pos -= 1
    if pos < 0:
        lowest = 0 if schema == "bed" else 1
        raise LiftGenomicsError(f"{where}: pos {row['pos']} is below {lowest}")
    allele1, allele2 = row["allele1"].upper(), row["allele2"].upper()
    variant = Variant(row["chr"], pos, allele1, allele2, row["id"], where)
    if row["id"] in ("", "."):
        variant = replace(variant, id=_default_id(variant))
    reason = _table_allele_problem(allele1, allele2)
    return variant if reason is None else Skipped(variant, reason)


def _parse_int(text: str, name: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise LiftGenomicsError(
            f"{where}: {name} must be an integer, got {printable(text)!r}"
        ) from None


def _table_allele_problem(allele1: str, allele2: str) -> str | None:
    """Why a table's allele pair cannot be scored, or None."""
    for which, allele in (("allele1", allele1), ("allele2", allele2)):
        if allele != EMPTY and (not allele or set(allele) - _BASES):
            return f"{which} {printable(allele)!r} is not A/C/G/T bases or '-'"
    if allele1 == allele2:
        return "allele1 equals allele2"
    return None


# ---------------------------------------------------------------------------------------------
# Shared steps


def _default_id(variant: Variant) -> str:
    return f"{variant.chrom}:{variant.pos + 1}:{variant.allele1}:{variant.allele2}"


def _match_chromosomes(
    variants: list[tuple[int, Variant]],
    chrom_names: Collection[str],
    skipped: list[tuple[int, Skipped]],
) -> list[tuple[int, Variant]]:
    """Rename chromosomes to the FASTA's by adding or removing ``chr``; skip the unmatched."""
    names = set(chrom_names)
    kept = []
    for order, variant in variants:
        chrom = _fasta_name(variant.chrom, names)
        if chrom is None:
            reason = f"chromosome {printable(variant.chrom)} not in the FASTA"
            skipped.append((order, Skipped(variant, reason)))
        else:
            kept.append(
                (order, variant if chrom == variant.chrom else replace(variant, chrom=chrom))
            )
    return kept


def _fasta_name(chrom: str, names: set[str]) -> str | None:
    """``chrom`` as the FASTA names it, or None."""
    if chrom in names:
        return chrom
    other = chrom[3:] if chrom.startswith("chr") else "chr" + chrom
    return other if other in names else None


def _deduplicate(
    variants: list[tuple[int, Variant]], skipped: list[tuple[int, Skipped]]
) -> list[tuple[int, Variant]]:
    """Keep the first variant of each (chrom, pos, allele1, allele2); skip the repeats."""
    first: dict[tuple[str, int, str, str], Variant] = {}
    kept = []
    for order, variant in variants:
        key = (variant.chrom, variant.pos, variant.allele1, variant.allele2)
        if key in first:
            skipped.append((order, Skipped(variant, f"duplicate of {first[key].id}")))
        else:
            first[key] = variant
            kept.append((order, variant))
    return kept
