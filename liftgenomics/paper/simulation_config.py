"""The simulation config: the defaults, merging a user's YAML over them, and validation.

Everything about a simulation comes from its config, so other grammars need no code changes:
the motifs (from the ENCODE compendium or a MEME file), the classes with the motifs they contain
and their weights, the tasks as "all of these motifs present", sizes, fractions, seed
(:data:`CONFIG_KEYS`). :func:`default_simulation_config` reads the paper's design from
``liftgenomics/data/simulation.yaml``; :func:`load_simulation_config` and
:func:`resolve_simulation_config` merge a user's YAML or overrides over it (key by key, values
replaced whole); :func:`validate_simulation_config` checks the result and returns it normalised,
with one-line errors. The data set itself is drawn by :mod:`liftgenomics.paper.simulate`.
"""

from __future__ import annotations

import copy
import importlib.resources
import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from liftgenomics.errors import LiftGenomicsError, first_line, printable
from liftgenomics.genome.sequence import ALPHABET
from liftgenomics.motifs.pwm import check_background

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
                f"({', '.join(printable(str(name)) for name in known)})"
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
        raise LiftGenomicsError(f"{path}: invalid YAML ({first_line(error)})") from None
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
