"""Simulated DNA: the DeepLIFT paper's GATA1/TAL1 data set, or any motif grammar from a config.

The default design (``liftgenomics/data/simulation.yaml``) is the paper's: 200 bp sequences of
i.i.d. background (A/C/G/T = 0.3/0.2/0.2/0.3); four classes in equal parts (both motifs, GATA
only, TAL only, neither); a present motif gets 1-3 instances, each sampled position by position
from the smoothed PWM and placed at a uniformly random start where it fits without overlapping
another instance; three tasks (both present, GATA present, TAL present).

Everything comes from the config, so other grammars need no code changes: the motifs (from the
ENCODE compendium or a MEME file), the classes with the motifs they contain and their weights,
the tasks as "all of these motifs present", sizes, fractions, seed. One
``np.random.default_rng(seed)`` drives the whole simulation: the same config gives
byte-identical files.

Output of :func:`write_simulation`, per split (``train``, ``valid``, ``test``): ``{split}.fa``
(ids ``seq0``, ``seq1``, ... unique over the data set), ``{split}.labels.tsv`` (``id`` + one
0/1 column per task), ``{split}.motifs.tsv`` (the embedded instances), ``{split}.classes.tsv``
(``id``, ``class``); plus ``test.ohe.npz`` (one-hot test set, ``(N, 4, L)`` float32) and
``simulation.yaml`` (the resolved config, for provenance).
"""

from __future__ import annotations

import copy
import importlib.resources
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import yaml

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.io import save_npz_atomic, write_text_atomic
from liftgenomics.motifs import Motif, check_background, get_motif, log_odds, read_meme, smooth
from liftgenomics.sequence import ALPHABET, format_fasta, one_hot_encode_batch

SPLITS = ("train", "valid", "test")
#: Keys a simulation config may have (all have defaults in ``data/simulation.yaml``).
CONFIG_KEYS = (
    "length",
    "background",
    "motifs",
    "motif_file",
    "pseudocount",
    "instances_per_motif",
    "rc_probability",
    "classes",
    "tasks",
    "n_sequences",
    "valid_fraction",
    "test_fraction",
    "seed",
)
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


# --------------------------------------------------------------------------- config


def default_simulation_config() -> dict[str, Any]:
    """The default (paper) simulation config, read from the package's ``simulation.yaml``."""
    resource = importlib.resources.files("liftgenomics") / "data" / "simulation.yaml"
    return yaml.safe_load(resource.read_text(encoding="utf-8"))


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _int(config: Mapping[str, Any], key: str, minimum: int) -> int:
    value = config[key]
    if not _is_int(value) or value < minimum:
        raise LiftGenomicsError(
            f"simulation key '{key}' must be an integer >= {minimum}, got {value!r}"
        )
    return int(value)


def _fraction(value: Any, key: str, upper_open: bool) -> float:
    ok = _is_number(value) and 0 <= value and (value < 1 if upper_open else value <= 1)
    if not ok:
        interval = "[0, 1)" if upper_open else "[0, 1]"
        raise LiftGenomicsError(
            f"simulation key '{key}' must be a number in {interval}, got {value!r}"
        )
    return float(value)


def _name_list(value: Any, key: str, known: list[str] | None, allow_empty: bool) -> list[str]:
    """A list of unique names, each (when ``known`` is given) one of ``known``."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise LiftGenomicsError(
            f"simulation key '{key}' must be a list of motif names, got {value!r}"
        )
    if not value and not allow_empty:
        raise LiftGenomicsError(f"simulation key '{key}' must name at least one motif")
    if len(set(value)) != len(value):
        raise LiftGenomicsError(f"simulation key '{key}' lists a motif twice: {value!r}")
    if known is not None:
        unknown = [v for v in value if v not in known]
        if unknown:
            raise LiftGenomicsError(
                f"simulation key '{key}' uses motif {unknown[0]!r}, which is not in 'motifs' "
                f"({', '.join(known)})"
            )
    return list(value)


def _label_name(name: Any, key: str) -> str:
    """A class or task name: a non-empty string that fits in a TSV cell."""
    if not isinstance(name, str) or not name or any(c in name for c in "\t\n\r") or name == "id":
        raise LiftGenomicsError(
            f"simulation key '{key}' has an invalid name {name!r} (non-empty text without tabs "
            "or newlines, not 'id')"
        )
    return name


def _background(value: Any) -> dict[str, float]:
    if isinstance(value, Mapping):
        if sorted(value) != sorted(ALPHABET):
            raise LiftGenomicsError(
                f"simulation key 'background' must have the keys A, C, G, T, got {sorted(value)}"
            )
        value = [value[base] for base in ALPHABET]
    if not isinstance(value, list | tuple) or not all(_is_number(v) for v in value):
        raise LiftGenomicsError(
            f"simulation key 'background' must be {{A: .., C: .., G: .., T: ..}} or four "
            f"numbers, got {value!r}"
        )
    try:
        values = check_background(value)
    except LiftGenomicsError as error:
        raise LiftGenomicsError(f"simulation key 'background': {error}") from None
    return {base: float(v) for base, v in zip(ALPHABET, values, strict=True)}


def _classes(value: Any, motifs: list[str]) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping) or not value:
        raise LiftGenomicsError(
            "simulation key 'classes' must map class names to {motifs: [...], weight: w}"
        )
    classes = {}
    for name, spec in value.items():
        key = f"classes.{name}"
        _label_name(name, "classes")
        if not isinstance(spec, Mapping):
            raise LiftGenomicsError(f"simulation key '{key}' must be {{motifs: [...], weight: w}}")
        extra = sorted(set(spec) - {"motifs", "weight"})
        if extra:
            raise LiftGenomicsError(f"unknown simulation key '{key}.{extra[0]}'")
        if "motifs" not in spec:
            raise LiftGenomicsError(f"simulation key '{key}.motifs' is missing")
        weight = spec.get("weight", 1)
        if not _is_number(weight) or weight <= 0:
            raise LiftGenomicsError(
                f"simulation key '{key}.weight' must be a positive number, got {weight!r}"
            )
        classes[name] = {
            "motifs": _name_list(spec["motifs"], f"{key}.motifs", motifs, allow_empty=True),
            "weight": float(weight),
        }
    return classes


def _tasks(value: Any, motifs: list[str]) -> dict[str, list[str]]:
    if not isinstance(value, Mapping) or not value:
        raise LiftGenomicsError(
            "simulation key 'tasks' must map task names to the motifs that must all be present"
        )
    return {
        _label_name(name, "tasks"): _name_list(required, f"tasks.{name}", motifs, allow_empty=False)
        for name, required in value.items()
    }


def validate_simulation_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check a complete simulation config and return it normalised.

    Normalised means: ``background`` as ``{A, C, G, T}`` floats, class weights as floats, every
    key present. Validating a normalised config returns an equal one.

    Args:
        config: All keys of :data:`CONFIG_KEYS` (see ``data/simulation.yaml``).

    Returns:
        A new, normalised dict with the keys in :data:`CONFIG_KEYS` order.

    Raises:
        LiftGenomicsError: naming the unknown, missing or invalid key.
    """
    if not isinstance(config, Mapping):
        raise LiftGenomicsError(
            f"a simulation config must be a mapping, got {type(config).__name__}"
        )
    unknown = [key for key in config if key not in CONFIG_KEYS]
    if unknown:
        raise LiftGenomicsError(
            f"unknown simulation key {unknown[0]!r} (known: {', '.join(CONFIG_KEYS)})"
        )
    missing = [key for key in CONFIG_KEYS if key not in config]
    if missing:
        raise LiftGenomicsError(f"simulation key {missing[0]!r} is missing")
    motifs = _name_list(config["motifs"], "motifs", None, allow_empty=False)
    motif_file = config["motif_file"]
    if motif_file is not None and (
        not isinstance(motif_file, str | os.PathLike) or not str(motif_file)
    ):
        raise LiftGenomicsError(
            f"simulation key 'motif_file' must be a MEME file path or null, got {motif_file!r}"
        )
    counts = config["instances_per_motif"]
    if (
        not isinstance(counts, list | tuple)
        or len(counts) != 2
        or not all(_is_int(c) for c in counts)
        or not 1 <= counts[0] <= counts[1]
    ):
        raise LiftGenomicsError(
            "simulation key 'instances_per_motif' must be [min, max] integers with "
            f"1 <= min <= max, got {counts!r}"
        )
    valid = _fraction(config["valid_fraction"], "valid_fraction", upper_open=True)
    test = _fraction(config["test_fraction"], "test_fraction", upper_open=True)
    if valid + test >= 1:
        raise LiftGenomicsError(
            f"simulation keys 'valid_fraction' + 'test_fraction' must be < 1, got {valid + test:g}"
        )
    return {
        "length": _int(config, "length", 1),
        "background": _background(config["background"]),
        "motifs": motifs,
        "motif_file": None if motif_file is None else str(motif_file),
        "pseudocount": _fraction(config["pseudocount"], "pseudocount", upper_open=False),
        "instances_per_motif": [int(counts[0]), int(counts[1])],
        "rc_probability": _fraction(config["rc_probability"], "rc_probability", upper_open=False),
        "classes": _classes(config["classes"], motifs),
        "tasks": _tasks(config["tasks"], motifs),
        "n_sequences": _int(config, "n_sequences", 1),
        "valid_fraction": valid,
        "test_fraction": test,
        "seed": _int(config, "seed", 0),
    }


def resolve_simulation_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge ``overrides`` over the defaults (key by key, values replaced whole) and validate.

    Raises:
        LiftGenomicsError: naming the unknown or invalid key.
    """
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, Mapping):
        raise LiftGenomicsError(
            f"a simulation config must be a mapping, got {type(overrides).__name__}"
        )
    merged = default_simulation_config()
    merged.update(copy.deepcopy(dict(overrides)))
    return validate_simulation_config(merged)


def load_simulation_config(path: str | os.PathLike | None) -> dict[str, Any]:
    """Read a YAML simulation config and merge it over the defaults.

    The simulation keys sit either at the top level of the file or under a ``simulation:`` key
    (as in the workflow's ``config.yaml``, whose other sections are then ignored here).

    Args:
        path: The YAML file, or ``None`` for the defaults.

    Returns:
        The resolved, validated config.

    Raises:
        LiftGenomicsError: for a missing or unparsable file (with its line), or, prefixed with
            the file's path, an unknown or invalid key.
    """
    if path is None:
        return resolve_simulation_config()
    path = Path(path)
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: simulation config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else "?"
        raise LiftGenomicsError(f"{path}:{line}: invalid YAML ({error.problem})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise LiftGenomicsError(f"{path}: invalid YAML ({error})") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise LiftGenomicsError(f"{path}: a simulation config must be a YAML mapping")
    if "simulation" in data:
        data = data["simulation"] if data["simulation"] is not None else {}
        if not isinstance(data, Mapping):
            raise LiftGenomicsError(f"{path}: 'simulation:' must be a mapping of simulation keys")
    try:
        return resolve_simulation_config(data)
    except LiftGenomicsError as error:
        raise LiftGenomicsError(f"{path}: {error}") from None


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
