"""Reference specs for DeepLIFT, and the deterministic references: flat, zero, from a FASTA.

DeepLIFT explains the difference between an input and a reference, so the reference is part of
the answer. This module owns:

* :func:`flat` -- the expected-background vector at every position (the DeepLIFT paper's DNA
  reference; :data:`DEFAULT_BACKGROUND` by default); :func:`zero`; and :func:`from_fasta` for
  references a user supplies.
* Reference *spec* strings (``dinuc:20``, ``gc:20``, ``flat``, ``flat:0.25,0.25,0.25,0.25``,
  ``zero``, ``fasta:PATH``), which name a kind of reference for the CLI, the config and the
  attribution engine: :func:`parse_reference_spec` turns one into a :class:`ReferenceSpec`
  whose :meth:`~ReferenceSpec.generate` makes the references of a batch of sequences.

The random references (dinucleotide shuffles, GC-matched sequences) are drawn by
:mod:`liftgenomics.genome.shuffles`; :meth:`~ReferenceSpec.generate` hands them each sequence's
global index, so a sequence gets the same references however the data set is split into batches.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import one_hot_encode_batch, read_fasta
from liftgenomics.genome.shuffles import (
    as_numpy,
    check_count,
    check_index,
    dinucleotide_shuffle,
    gc_matched,
)

#: The DeepLIFT paper's background base frequencies (A, C, G, T) for its simulated DNA.
DEFAULT_BACKGROUND = (0.3, 0.2, 0.2, 0.3)
#: The kinds of reference a spec string can name.
KINDS = ("dinuc", "gc", "flat", "zero", "fasta")
SPEC_FORMS = "dinuc:N, gc:N, flat, flat:A,C,G,T, zero, fasta:PATH"


def _check_background(background, where: str = "background") -> tuple[float, float, float, float]:
    """Validate 4 finite positive frequencies (A, C, G, T) summing to 1 within 1e-3."""
    try:
        values = tuple(float(b) for b in background)
    except (TypeError, ValueError):
        raise LiftGenomicsError(
            f"{where}: expected 4 numbers (A, C, G, T frequencies), got {background!r}"
        ) from None
    if len(values) != 4:
        raise LiftGenomicsError(f"{where}: expected 4 frequencies (A, C, G, T), got {len(values)}")
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise LiftGenomicsError(f"{where}: frequencies must be positive numbers, got {values}")
    if abs(sum(values) - 1) > 1e-3:
        raise LiftGenomicsError(
            f"{where}: frequencies must sum to 1 (within 1e-3), got {sum(values):.6g}"
        )
    return values  # type: ignore[return-value]


def _check_length(length) -> int:
    return check_index(length, "length")


def flat(length: int, background=DEFAULT_BACKGROUND) -> np.ndarray:
    """The expected-background vector at every position: (4, L) float32.

    The DeepLIFT paper's reference for its simulated DNA (A, C, G, T = 0.3, 0.2, 0.2, 0.3).

    Raises:
        LiftGenomicsError: if the background is not 4 positive numbers summing to 1.
    """
    values = np.asarray(_check_background(background), dtype=np.float32)
    return np.repeat(values[:, None], _check_length(length), axis=1)


def zero(length: int) -> np.ndarray:
    """The all-zero reference: (4, L) float32."""
    return np.zeros((4, _check_length(length)), dtype=np.float32)


def _encode_records(records: tuple[tuple[str, str], ...], length: int, path: str) -> np.ndarray:
    for name, sequence in records:
        if len(sequence) != length:
            raise LiftGenomicsError(
                f"{path}: reference {name!r} has length {len(sequence)}, expected {length} "
                "(the length of the sequences to explain)"
            )
    names = [f"{path}: reference {name!r}" for name, _ in records]
    return one_hot_encode_batch([sequence for _, sequence in records], names)


@lru_cache(maxsize=16)
def _encoded_records(records: tuple[tuple[str, str], ...], length: int, path: str) -> np.ndarray:
    encoded = _encode_records(records, length, path)
    encoded.setflags(write=False)  # shared between calls
    return encoded


def from_fasta(path: str | os.PathLike, length: int) -> np.ndarray:
    """References a user supplies in a FASTA file, one-hot (K, 4, L) float32.

    Ambiguity codes (N, ...) become all-zero columns, as everywhere in liftgenomics.

    Raises:
        LiftGenomicsError: for a missing or malformed file, a letter that is not IUPAC DNA, or a
            record whose length is not ``length`` (naming the record).
    """
    length = _check_length(length)
    return _encode_records(tuple(read_fasta(path)), length, str(path))


# ---------------------------------------------------------------------------------------------
# Reference specs


def _format_number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class ReferenceSpec:
    """A kind of reference and its settings, as named by a spec string.

    Attributes:
        kind: One of :data:`KINDS`.
        n: References per sequence: the count for ``dinuc``/``gc``, 1 for ``flat``/``zero``,
            the number of records for ``fasta``.
        background: (A, C, G, T) frequencies for ``flat``; None otherwise.
        path: The FASTA file for ``fasta``; None otherwise.
        records: The FASTA records ``(name, sequence)`` (read when the spec is made).
    """

    kind: str
    n: int = 1
    background: tuple[float, float, float, float] | None = None
    path: str | None = None
    records: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LiftGenomicsError(
                f"unknown reference kind {self.kind!r}; valid kinds: {', '.join(KINDS)}"
            )
        check_count(self.n, f"{self.kind} reference count")
        if self.kind == "flat":
            background = DEFAULT_BACKGROUND if self.background is None else self.background
            object.__setattr__(self, "background", _check_background(background, "flat"))
        elif self.background is not None:
            raise LiftGenomicsError(f"a background only applies to flat references, not {self}")
        if self.kind in ("flat", "zero") and self.n != 1:
            raise LiftGenomicsError(f"{self.kind} references have n = 1, got {self.n}")
        if self.kind == "fasta":
            if not self.path:
                raise LiftGenomicsError("fasta references need a path (fasta:PATH)")
            object.__setattr__(self, "path", str(self.path))
            if not self.records:
                object.__setattr__(self, "records", tuple(read_fasta(self.path)))
            # n is the record count; 1 (the default) stands for "whatever the file holds".
            if self.n not in (1, len(self.records)):
                raise LiftGenomicsError(
                    f"{self.path}: holds {len(self.records)} references, not n = {self.n}"
                )
            object.__setattr__(self, "n", len(self.records))
        elif self.path is not None:
            raise LiftGenomicsError(f"a path only applies to fasta references, not {self}")

    def __str__(self) -> str:
        """The spec string, which :func:`parse_reference_spec` reads back to an equal spec."""
        if self.kind in ("dinuc", "gc"):
            return f"{self.kind}:{self.n}"
        if self.kind == "flat":
            if self.background == DEFAULT_BACKGROUND:
                return "flat"
            return "flat:" + ",".join(_format_number(b) for b in self.background)
        if self.kind == "fasta":
            return f"fasta:{self.path}"
        return self.kind

    @property
    def name(self) -> str:
        """A file-system-safe label for output folders: ``dinuc20``, ``gc20``, ``flat``, ..."""
        if self.kind in ("dinuc", "gc"):
            return f"{self.kind}{self.n}"
        if self.kind == "flat":
            if self.background == DEFAULT_BACKGROUND:
                return "flat"
            return "flat_" + "_".join(_format_number(b) for b in self.background)
        if self.kind == "fasta":
            return "fasta_" + re.sub(r"[^A-Za-z0-9._-]", "_", Path(self.path).stem)
        return self.kind

    def generate(self, X, seed: int, start_index: int = 0) -> np.ndarray:
        """The references of a batch of sequences: (N, K, 4, L) float32, K = ``self.n``.

        ``dinuc`` and ``gc`` give a new writable array. ``flat``, ``zero`` and ``fasta`` give a
        **read-only broadcast view** of one (K, 4, L) array; copy it before writing.

        Args:
            X: One-hot sequences (N, 4, L) (array or tensor).
            seed: Seed for the random kinds.
            start_index: Global index of ``X[0]`` (same references whatever the batching).
        """
        if self.kind == "dinuc":
            return dinucleotide_shuffle(as_numpy(X), self.n, seed, start_index)
        if self.kind == "gc":
            return gc_matched(as_numpy(X), self.n, seed, start_index)
        X = as_numpy(X)
        n_rows, _, length = X.shape
        if self.kind == "flat":
            shared = flat(length, self.background)[None]
        elif self.kind == "zero":
            shared = zero(length)[None]
        else:
            shared = _encoded_records(self.records, length, self.path)
        return np.broadcast_to(shared, (n_rows,) + shared.shape)


def _parse_count(spec: str, kind: str, argument: str) -> int:
    text = argument.strip()
    if not text:
        raise LiftGenomicsError(
            f"reference spec {spec!r}: {kind} needs a count of references, e.g. {kind}:20"
        )
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
        raise LiftGenomicsError(
            f"reference spec {spec!r}: the count must be a positive integer, got {text!r}"
        )
    return int(text)


def parse_reference_spec(spec: str) -> ReferenceSpec:
    """Read a reference spec string.

    Forms: ``dinuc:N`` (N uniform dinucleotide shuffles per sequence), ``gc:N`` (N GC-matched
    random sequences), ``flat`` (the paper's background 0.3,0.2,0.2,0.3 everywhere),
    ``flat:A,C,G,T`` (another background), ``zero`` and ``fasta:PATH`` (the records of a
    FASTA file, each one reference for every sequence).

    Raises:
        LiftGenomicsError: a one-line message for an unknown kind (listing the valid ones), a
            bad count, a bad background, a missing argument, an unexpected one, or a FASTA
            file that cannot be read.
    """
    if not isinstance(spec, str):
        raise LiftGenomicsError(
            f"a reference spec must be a string such as 'dinuc:20', got {type(spec).__name__}"
        )
    text = spec.strip()
    if not text:
        raise LiftGenomicsError(f"empty reference spec; expected one of {SPEC_FORMS}")
    kind, colon, argument = text.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise LiftGenomicsError(
            f"reference spec {spec!r}: unknown kind {kind!r}; valid kinds: {', '.join(KINDS)} "
            f"({SPEC_FORMS})"
        )
    if kind in ("dinuc", "gc"):
        return ReferenceSpec(kind, n=_parse_count(spec, kind, argument))
    if kind == "zero":
        if colon:
            raise LiftGenomicsError(f"reference spec {spec!r}: zero takes no argument")
        return ReferenceSpec("zero")
    if kind == "flat":
        if not colon:
            return ReferenceSpec("flat")
        fields = argument.split(",")
        try:
            values = tuple(float(f) for f in fields)
        except ValueError:
            raise LiftGenomicsError(
                f"reference spec {spec!r}: flat background must be 4 comma-separated numbers "
                "(A,C,G,T), e.g. flat:0.25,0.25,0.25,0.25"
            ) from None
        return ReferenceSpec(
            "flat", background=_check_background(values, f"reference spec {spec!r}")
        )
    path = argument.strip()
    if not path:
        raise LiftGenomicsError(f"reference spec {spec!r}: fasta needs a path (fasta:PATH)")
    records = tuple(read_fasta(path))
    return ReferenceSpec("fasta", n=len(records), path=path, records=records)
