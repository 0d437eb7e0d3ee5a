"""Simulated DNA: the DeepLIFT paper's GATA1/TAL1 data set, or any motif grammar from a config.

The default design (``liftgenomics/data/simulation.yaml``) is the paper's: 200 bp sequences of
i.i.d. background (A/C/G/T = 0.3/0.2/0.2/0.3); four classes in equal parts (both motifs, GATA
only, TAL only, neither); a present motif gets 1-3 instances, each sampled position by position
from the smoothed PWM and placed at a uniformly random start where it fits without overlapping
another instance; three tasks (both present, GATA present, TAL present). The config is read and
checked by :mod:`liftgenomics.paper.simulation_config`.

:func:`simulate_dataset` draws the whole data set from one ``np.random.default_rng(seed)``: the
same config gives byte-identical files. Output of :func:`write_simulation`, per split
(``train``, ``valid``, ``test``): ``{split}.fa`` (ids ``seq0``, ``seq1``, ... unique over the
data set), ``{split}.labels.tsv`` (``id`` + one 0/1 column per task), ``{split}.motifs.tsv``
(the embedded instances), ``{split}.classes.tsv`` (``id``, ``class``); plus ``test.ohe.npz``
(one-hot test set, ``(N, 4, L)`` float32) and ``simulation.yaml`` (the resolved config, for
provenance).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import yaml

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import ALPHABET, format_fasta, one_hot_encode_batch
from liftgenomics.io import save_npz_atomic, write_text_atomic
from liftgenomics.motifs.meme import get_motif, read_meme
from liftgenomics.motifs.pwm import Motif, log_odds, smooth
from liftgenomics.paper.simulation_config import load_simulation_config, resolve_simulation_config

SPLITS = ("train", "valid", "test")
#: How often a sequence's instances are re-placed from scratch before giving up.
MAX_PLACEMENT_TRIES = 1000
MOTIFS_TSV_HEADER = ("id", "start", "end", "motif", "strand", "sequence", "log_odds")
_BASES = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)


class Instance(NamedTuple):
    """One embedded motif instance (a row of ``{split}.motifs.tsv``).

    Attributes:
        id: The sequence id.
        start: 0-based start in the sequence.
        end: 0-based exclusive end.
        motif: The motif's name.
        strand: ``"+"`` or ``"-"`` (inserted as the reverse complement of the sample).
        sequence: The instance as it appears in the sequence (forward strand of the sequence).
        log_odds: Natural-log odds of the sample under the smoothed PWM vs the background, on
            the strand it was sampled.
    """

    id: str
    start: int
    end: int
    motif: str
    strand: str
    sequence: str
    log_odds: float


@dataclass
class SimulatedData:
    """A simulated data set.

    Attributes:
        names: Sequence ids ``seq0`` ... ``seq{N-1}``.
        sequences: The N sequences.
        labels: ``(N, T)`` int64 0/1 labels, one column per task.
        task_names: The T task names (label columns).
        classes: The class name of each sequence.
        class_names: The config's class names, in config order.
        instances: The embedded instances, ordered by sequence then start.
        splits: ``"train"``, ``"valid"`` or ``"test"`` for each sequence.
        config: The resolved config the data were simulated from.
    """

    names: list[str]
    sequences: list[str]
    labels: np.ndarray
    task_names: list[str]
    classes: list[str]
    class_names: list[str]
    instances: list[Instance]
    splits: list[str]
    config: dict[str, Any]


# --------------------------------------------------------------------------- sampling


def _load_motifs(config: Mapping[str, Any]) -> list[Motif]:
    """The config's motifs, smoothed, in ``motifs`` order."""
    source = read_meme(config["motif_file"]) if config["motif_file"] is not None else None
    try:
        return [smooth(get_motif(name, source), config["pseudocount"]) for name in config["motifs"]]
    except LiftGenomicsError as error:
        raise LiftGenomicsError(f"simulation key 'motifs': {error}") from None


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder)."""
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    # Ties in the remainder go to the earlier class (stable sort), so the result is reproducible.
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def _sample_codes(rng: np.random.Generator, probabilities: np.ndarray, shape: tuple) -> np.ndarray:
    """Draw base codes (0-3) by inverse CDF; ``probabilities`` broadcasts to ``shape + (4,)``."""
    cdf = np.cumsum(probabilities, axis=-1)[..., :3]  # the last bin takes any rounding slack
    uniform = rng.random(shape)
    return (uniform[..., None] >= cdf).sum(axis=-1).astype(np.uint8)


def _check_fits(config: Mapping[str, Any], widths: dict[str, int]) -> None:
    """Refuse classes whose maximal instances cannot fit in the sequence length at all."""
    most = config["instances_per_motif"][1]
    for name, spec in config["classes"].items():
        needed = most * sum(widths[m] for m in spec["motifs"])
        if needed > config["length"]:
            raise LiftGenomicsError(
                f"simulation class '{name}': up to {most} instances each of "
                f"{', '.join(spec['motifs'])} need {needed} bp, more than 'length' "
                f"({config['length']}); lower 'instances_per_motif' or raise 'length'"
            )


def _place(rng: np.random.Generator, widths: np.ndarray, length: int, where: str) -> np.ndarray:
    """Non-overlapping starts for instances of ``widths`` (placed in the given order).

    Each instance starts uniformly among the starts where it fits without overlapping those
    already placed. If one has nowhere to go, the sequence starts over, at most
    :data:`MAX_PLACEMENT_TRIES` times.
    """
    for _ in range(MAX_PLACEMENT_TRIES):
        occupied = np.zeros(length + 1, dtype=np.int64)  # running count of occupied bases
        taken = np.zeros(length, dtype=bool)
        starts = np.empty(widths.size, dtype=np.int64)
        for k, width in enumerate(widths):
            occupied[1:] = np.cumsum(taken)
            candidates = np.flatnonzero(occupied[width:] == occupied[:-width])
            if candidates.size == 0:
                break
            starts[k] = candidates[rng.integers(candidates.size)]
            taken[starts[k] : starts[k] + width] = True
        else:
            return starts
    raise LiftGenomicsError(
        f"{where}: could not place {widths.size} motif instances (widths "
        f"{', '.join(map(str, widths))}) without overlap in {length} bp after "
        f"{MAX_PLACEMENT_TRIES} tries; lower 'instances_per_motif' or raise 'length'"
    )


def _split(
    rng: np.random.Generator, class_index: np.ndarray, n_classes: int, config: Mapping[str, Any]
) -> np.ndarray:
    """Assign splits stratified by class (per class: round(n * fraction) valid and test)."""
    split = np.zeros(class_index.size, dtype=np.int64)  # 0 train, 1 valid, 2 test
    for c in range(n_classes):
        members = rng.permutation(np.flatnonzero(class_index == c))
        n_valid = int(np.floor(members.size * config["valid_fraction"] + 0.5))
        n_test = int(np.floor(members.size * config["test_fraction"] + 0.5))
        split[members[:n_test]] = 2
        split[members[n_test : n_test + n_valid]] = 1
    return split


def simulate_dataset(config: Mapping[str, Any] | None = None) -> SimulatedData:
    """Simulate a data set from a config (merged over the defaults and validated).

    Args:
        config: Simulation keys (see ``data/simulation.yaml``); ``None`` for the paper's design.

    Returns:
        The simulated sequences, labels, classes, instances and split assignment.

    Raises:
        LiftGenomicsError: for an invalid config, unknown motif, or instances that do not fit.
    """
    config = resolve_simulation_config(config)
    rng = np.random.default_rng(config["seed"])
    motifs = _load_motifs(config)
    widths = np.array([motif.width for motif in motifs])
    _check_fits(config, dict(zip(config["motifs"], widths.tolist(), strict=True)))
    background = np.array(list(config["background"].values()))
    count, length = config["n_sequences"], config["length"]
    class_names = list(config["classes"])
    motif_index = {name: m for m, name in enumerate(config["motifs"])}

    # Classes in exact proportion to their weights, in random order.
    weights = np.array([spec["weight"] for spec in config["classes"].values()])
    class_index = rng.permutation(np.repeat(np.arange(len(class_names)), _allocate(count, weights)))
    present = np.zeros((len(class_names), len(motifs)), dtype=bool)
    for c, spec in enumerate(config["classes"].values()):
        present[c, [motif_index[m] for m in spec["motifs"]]] = True

    codes = _sample_codes(rng, background, (count, length))
    low, high = config["instances_per_motif"]
    n_instances = rng.integers(low, high + 1, size=(count, len(motifs))) * present[class_index]

    # Place each sequence's instances in random order (so no motif systematically goes first).
    seq_of, motif_of, start_of = [], [], []
    for i in np.flatnonzero(n_instances.sum(axis=1)):
        kinds = rng.permutation(np.repeat(np.arange(len(motifs)), n_instances[i]))
        start_of.append(_place(rng, widths[kinds], length, f"sequence seq{i}"))
        motif_of.append(kinds)
        seq_of.append(np.full(kinds.size, i))
    seq_of = np.concatenate(seq_of) if seq_of else np.zeros(0, dtype=np.int64)
    motif_of = np.concatenate(motif_of) if motif_of else np.zeros(0, dtype=np.int64)
    start_of = np.concatenate(start_of) if start_of else np.zeros(0, dtype=np.int64)
    reverse = rng.random(seq_of.size) < config["rc_probability"]

    # Sample every instance of a motif at once and write it into the background.
    inserted: list[str] = [""] * seq_of.size
    scores = np.zeros(seq_of.size)
    for m, motif in enumerate(motifs):
        rows = np.flatnonzero(motif_of == m)
        if rows.size == 0:
            continue
        forward = _sample_codes(rng, motif.probabilities, (rows.size, motif.width))
        scores[rows] = log_odds(motif, background)[np.arange(motif.width), forward].sum(axis=1)
        placed = np.where(reverse[rows, None], 3 - forward[:, ::-1], forward)
        columns = start_of[rows, None] + np.arange(motif.width)
        codes[seq_of[rows, None], columns] = placed
        for row, bases in zip(rows, _BASES[placed], strict=True):
            inserted[row] = bases.tobytes().decode("ascii")

    names = [f"seq{i}" for i in range(count)]
    text = _BASES[codes].tobytes().decode("ascii")
    sequences = [text[i * length : (i + 1) * length] for i in range(count)]
    order = np.lexsort((start_of, seq_of))
    instances = [
        Instance(
            names[seq_of[k]],
            int(start_of[k]),
            int(start_of[k] + widths[motif_of[k]]),
            motifs[motif_of[k]].name,
            "-" if reverse[k] else "+",
            inserted[k],
            float(scores[k]),
        )
        for k in order
    ]

    has_motif = n_instances > 0
    labels = np.stack(
        [
            has_motif[:, [motif_index[m] for m in required]].all(axis=1)
            for required in config["tasks"].values()
        ],
        axis=1,
    ).astype(np.int64)
    split = _split(rng, class_index, len(class_names), config)
    return SimulatedData(
        names=names,
        sequences=sequences,
        labels=labels,
        task_names=list(config["tasks"]),
        classes=[class_names[c] for c in class_index],
        class_names=class_names,
        instances=instances,
        splits=[SPLITS[s] for s in split],
        config=config,
    )


# --------------------------------------------------------------------------- output


def _tsv(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    return "".join("\t".join(fields) + "\n" for fields in [list(header), *rows])


def write_simulation(data: SimulatedData, out_dir: str | os.PathLike) -> None:
    """Write a simulated data set, one set of files per split, each file atomically.

    Args:
        data: From :func:`simulate_dataset`.
        out_dir: The output directory (created if needed).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_sequence: dict[str, list[Instance]] = {}
    for instance in data.instances:
        by_sequence.setdefault(instance.id, []).append(instance)
    for split in SPLITS:
        members = [i for i, s in enumerate(data.splits) if s == split]
        ids = [data.names[i] for i in members]
        write_text_atomic(
            out / f"{split}.fa", format_fasta((data.names[i], data.sequences[i]) for i in members)
        )
        label_rows = [[data.names[i], *map(str, data.labels[i].tolist())] for i in members]
        write_text_atomic(out / f"{split}.labels.tsv", _tsv(["id", *data.task_names], label_rows))
        class_rows = [[data.names[i], data.classes[i]] for i in members]
        write_text_atomic(out / f"{split}.classes.tsv", _tsv(["id", "class"], class_rows))
        motif_rows = [
            [*map(str, instance[:6]), f"{instance.log_odds:.6f}"]
            for name in ids
            for instance in by_sequence.get(name, [])
        ]
        write_text_atomic(out / f"{split}.motifs.tsv", _tsv(MOTIFS_TSV_HEADER, motif_rows))
        if split == "test":
            length = data.config["length"]
            one_hot = (
                one_hot_encode_batch([data.sequences[i] for i in members], ids)
                if members
                else np.zeros((0, 4, length), dtype=np.float32)
            )
            save_npz_atomic(out / "test.ohe.npz", one_hot)
    write_text_atomic(
        out / "simulation.yaml",
        yaml.safe_dump(data.config, sort_keys=False, default_flow_style=None),
    )


def simulate(config_path: str | os.PathLike | None, out_dir: str | os.PathLike) -> None:
    """Load a config (or the defaults), simulate, and write the data set to ``out_dir``.

    Raises:
        LiftGenomicsError: for an invalid config or unknown motif.
    """
    write_simulation(simulate_dataset(load_simulation_config(config_path)), out_dir)
