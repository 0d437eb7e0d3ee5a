"""DNA sequences: the one-hot codec shared by the whole package, and FASTA I/O.

One-hot arrays are float32 with shape ``(4, L)`` per sequence (``(N, 4, L)`` for a batch) and
the channel order A, C, G, T. Lowercase (soft-masked) bases encode as uppercase. ``N`` and the
other IUPAC ambiguity codes encode as an all-zero column and are counted, so callers can report
them; any other letter is an error that names the sequence and the position.
"""

from __future__ import annotations

import os
import tokenize
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from liftgenomics.errors import LiftGenomicsError, first_line

ALPHABET = "ACGT"
#: What NumPy raises for a damaged ``.npy``/``.npz`` file: its zip, compression or array header.
#: (``RuntimeError``: zipfile's for an encrypted member, and its ``NotImplementedError`` for a
#: zip version or compression method it lacks.)
ARRAY_FILE_ERRORS = (OSError, ValueError, IndexError, EOFError, KeyError, SyntaxError,
                     RuntimeError, zipfile.BadZipFile, zlib.error, tokenize.TokenError)  # fmt: skip
#: IUPAC codes that are not a single base; they encode as an all-zero column, like N.
AMBIGUOUS = "NRYSWKMBDHV"
_VALID = set(ALPHABET + AMBIGUOUS + ALPHABET.lower() + AMBIGUOUS.lower())

# Byte -> channel lookup table; 4 marks an ambiguous base, 5 an invalid byte.
_CODE = np.full(256, 5, dtype=np.uint8)
for _channel, _base in enumerate(ALPHABET):
    _CODE[ord(_base)] = _channel
    _CODE[ord(_base.lower())] = _channel
for _base in AMBIGUOUS:
    _CODE[ord(_base)] = 4
    _CODE[ord(_base.lower())] = 4


def encode_codes(sequence: str, name: str = "sequence") -> np.ndarray:
    """Map a sequence to channel codes (0-3 for A C G T, 4 for an ambiguous base).

    Raises:
        LiftGenomicsError: if a letter is not IUPAC DNA, naming ``name`` and the 1-based position.
    """
    raw = np.frombuffer(sequence.encode("ascii", errors="replace"), dtype=np.uint8)
    codes = _CODE[raw]
    bad = np.flatnonzero(codes == 5)
    if bad.size:
        position = int(bad[0])
        raise LiftGenomicsError(
            f"{name}: invalid base {sequence[position]!r} at position {position + 1} "
            "(expected A, C, G, T or an IUPAC ambiguity code such as N)"
        )
    return codes


def one_hot_encode(sequence: str, name: str = "sequence") -> np.ndarray:
    """One-hot encode one sequence as a float32 array of shape ``(4, L)``."""
    codes = encode_codes(sequence, name)
    out = np.zeros((5, codes.size), dtype=np.float32)
    out[codes, np.arange(codes.size)] = 1.0
    return out[:4]


def one_hot_encode_batch(
    sequences: Sequence[str], names: Sequence[str] | None = None
) -> np.ndarray:
    """One-hot encode equal-length sequences as ``(N, 4, L)`` float32.

    Raises:
        LiftGenomicsError: on unequal lengths or invalid letters.
    """
    if names is None:
        names = [f"sequence {i + 1}" for i in range(len(sequences))]
    lengths = {len(s) for s in sequences}
    if len(lengths) > 1:
        raise LiftGenomicsError(
            f"sequences have different lengths ({sorted(lengths)[:5]}); one-hot batches need one "
            "length"
        )
    length = lengths.pop() if lengths else 0
    out = np.zeros((len(sequences), 4, length), dtype=np.float32)
    for i, (sequence, name) in enumerate(zip(sequences, names, strict=True)):
        out[i] = one_hot_encode(sequence, name)
    return out


def count_ambiguous(one_hot: np.ndarray) -> np.ndarray:
    """Number of all-zero (N) columns per sequence of an ``(N, 4, L)`` or ``(4, L)`` array."""
    return (one_hot.sum(axis=-2) == 0).sum(axis=-1)


def decode(one_hot: np.ndarray) -> str:
    """Turn a ``(4, L)`` one-hot array back into a string; all-zero columns become ``N``."""
    one_hot = np.asarray(one_hot)
    if one_hot.ndim != 2 or one_hot.shape[0] != 4:
        raise LiftGenomicsError(f"decode expects a (4, L) one-hot array, got shape {one_hot.shape}")
    letters = np.array(list(ALPHABET + "N"))
    index = np.where(one_hot.sum(axis=0) > 0, one_hot.argmax(axis=0), 4)
    return "".join(letters[index])


def reverse_complement(one_hot: np.ndarray) -> np.ndarray:
    """Reverse complement of ``(..., 4, L)`` one-hot data (A<->T, C<->G swap by channel flip)."""
    return np.ascontiguousarray(one_hot[..., ::-1, ::-1])


def read_fasta(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Read a (small) FASTA file into ``(name, sequence)`` pairs, validating as it goes.

    The name is the header's first word. For genome-sized files use pyfaidx (see
    :mod:`liftgenomics.genome.regions`); this reader is for files of sequences to score.

    Raises:
        LiftGenomicsError: for a missing file, no records, sequence before the first header, an
            empty name, duplicate names, or a letter that is not IUPAC DNA (with its line).
    """
    path = Path(path)
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: FASTA file not found")
    records: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    name: str | None = None
    chunks: list[str] = []
    try:
        handle = open(path, encoding="ascii")
        lines = handle.readlines()
        handle.close()
    except UnicodeDecodeError as error:
        raise LiftGenomicsError(f"{path}: not a text FASTA file ({error.reason})") from None
    for line_number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            if name is not None:
                records.append((name, "".join(chunks)))
            fields = line[1:].split()
            if not fields:
                raise LiftGenomicsError(f"{path}:{line_number}: FASTA header without a name")
            name = fields[0]
            if name in seen:
                raise LiftGenomicsError(
                    f"{path}:{line_number}: duplicate FASTA name {name!r} "
                    f"(first seen on line {seen[name]})"
                )
            seen[name] = line_number
            chunks = []
            continue
        if name is None:
            raise LiftGenomicsError(f"{path}:{line_number}: sequence before the first '>' header")
        bad = [c for c in line if c not in _VALID]
        if bad:
            column = line.index(bad[0]) + 1
            raise LiftGenomicsError(
                f"{path}:{line_number}: invalid base {bad[0]!r} in record {name!r} at column "
                f"{column}"
            )
        chunks.append(line)
    if name is not None:
        records.append((name, "".join(chunks)))
    if not records:
        raise LiftGenomicsError(f"{path}: no FASTA records")
    return records


def format_fasta(records: Iterable[tuple[str, str]], width: int = 80) -> str:
    """Format ``(name, sequence)`` pairs as FASTA text with lines of ``width`` bases."""
    parts = []
    for name, sequence in records:
        parts.append(f">{name}\n")
        for start in range(0, len(sequence), width):
            parts.append(sequence[start : start + width] + "\n")
    return "".join(parts)


def load_one_hot(path: str | os.PathLike) -> np.ndarray:
    """The array of an ``np.savez_compressed(path, X)`` one-hot file, checked to be (N, 4, L)."""
    path = Path(path)
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: one-hot file not found")
    try:
        with np.load(path) as archive:
            array = archive[archive.files[0]]
    except ARRAY_FILE_ERRORS as error:
        raise LiftGenomicsError(f"{path}: not a readable .npz file ({first_line(error)})") from None
    if array.ndim != 3 or array.shape[1] != 4:
        raise LiftGenomicsError(f"{path}: expected one-hot (N, 4, L), found {array.shape}")
    return array.astype(np.float32, copy=False)
