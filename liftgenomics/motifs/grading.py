"""Grading de novo discovery against the simulation's known truth.

:func:`assign_patterns` gives each discovered pattern at most one ground-truth motif (the
lowest TOMTOM q-value below :data:`~liftgenomics.motifs.tomtom.Q_THRESHOLD`);
:func:`grade_discovery` scores one TF-MoDISco run per embedded motif (recovered or not, the
best pattern's rank, q-value, seqlet precision against the embedded instances, instance recall,
spurious patterns; columns :data:`GRADE_COLUMNS`). :func:`discovery_table` grades every run of
the workflow into ``discovery.tsv`` (reading each run with :func:`read_run`), and
:func:`draw_true_motifs` draws the logos of the motifs discovery should find.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from liftgenomics.errors import LiftGenomicsError, first_line
from liftgenomics.motifs.meme import read_meme
from liftgenomics.motifs.tomtom import Q_THRESHOLD

#: The columns grading reads from each table, and their kinds.
TABLE_COLUMNS = {
    "patterns.tsv": {"pattern": "str", "rank": "int", "n_seqlets": "int"},
    "seqlets.tsv": {"region": "str", "start": "int", "end": "int", "pattern": "str"},
    "tomtom.tsv": {"pattern": "str", "target": "str", "p_value": "float", "q_value": "float"},
    "test.motifs.tsv": {"id": "str", "start": "int", "end": "int", "motif": "str"},
    "test.classes.tsv": {"id": "str", "class": "str"},
}

GRADE_COLUMNS = (
    "motif",
    "recovered",
    "pattern",
    "rank",
    "q_value",
    "n_seqlets",
    "seqlet_precision",
    "instance_recall",
    "n_patterns",
    "spurious_patterns",
)


def assign_patterns(
    patterns: pd.DataFrame, matches: pd.DataFrame, motifs: Sequence[str], q: float = Q_THRESHOLD
) -> dict[str, str | None]:
    """Each pattern's ground-truth motif: of ``motifs`` matched with TOMTOM q < ``q``, the one
    with the lowest q-value (then p-value); None when it matches none of them.

    One pattern names at most one motif, so a composite pattern (TAL1_known1 contains a GATA
    site) does not count as the discovery of both.
    """
    assigned: dict[str, str | None] = {}
    for name in patterns["pattern"]:
        hits = matches[
            (matches["pattern"] == name)
            & matches["target"].isin(list(motifs))
            & (matches["q_value"] < q)
        ]
        best = hits.sort_values(["q_value", "p_value"], kind="stable")
        assigned[name] = str(best["target"].iloc[0]) if len(best) else None
    return assigned


def _overlaps(
    seqlets: pd.DataFrame, instances: pd.DataFrame, motif: str | None = None
) -> np.ndarray:
    """For each seqlet row, whether it overlaps an instance (of ``motif``) in its region."""
    chosen = instances if motif is None else instances[instances["motif"] == motif]
    spans: dict[str, list[tuple[int, int]]] = {}
    for region, start, end in zip(chosen["id"], chosen["start"], chosen["end"], strict=True):
        spans.setdefault(str(region), []).append((int(start), int(end)))
    return np.array(
        [
            any(start < e and s < end for s, e in spans.get(str(region), ()))
            for region, start, end in zip(
                seqlets["region"], seqlets["start"], seqlets["end"], strict=True
            )
        ],
        dtype=bool,
    )


def grade_discovery(
    patterns: pd.DataFrame,
    seqlets: pd.DataFrame,
    matches: pd.DataFrame,
    instances: pd.DataFrame,
    positive_ids: Sequence[str],
    motifs: Sequence[str],
    q: float = Q_THRESHOLD,
) -> pd.DataFrame:
    """How well one TF-MoDISco run rediscovered the embedded motifs, one row per motif.

    Args:
        patterns: ``patterns.tsv`` (pattern, rank, n_seqlets).
        seqlets: ``seqlets.tsv`` (region, start, end, pattern), trimmed cores.
        matches: ``tomtom.tsv`` (pattern, target, p_value, q_value).
        instances: The embedded instances (id, start, end, motif), ``test.motifs.tsv``.
        positive_ids: Sequences positive for the task the scores explain.
        motifs: The ground-truth motif names.
        q: TOMTOM q-value threshold.

    Returns:
        Columns :data:`GRADE_COLUMNS`: ``recovered`` when a pattern is assigned the motif
        (:func:`assign_patterns`); of those, the lowest-q one (then the largest) gives
        ``pattern``, its ``rank`` among all patterns (by seqlet count), ``q_value``,
        ``n_seqlets`` and ``seqlet_precision`` (fraction of its seqlets overlapping an embedded
        instance of the motif by at least one base); ``instance_recall`` is the fraction of the
        motif's instances in positive sequences overlapped by a seqlet of any pattern;
        ``spurious_patterns`` counts the patterns assigned no motif.
    """
    assigned = assign_patterns(patterns, matches, motifs, q)
    spurious = sum(motif is None for motif in assigned.values())
    positive = set(map(str, positive_ids))
    rows = []
    for motif in motifs:
        row = {column: float("nan") for column in GRADE_COLUMNS}
        row.update(motif=motif, recovered=False, pattern="", n_patterns=len(assigned))
        row["spurious_patterns"] = spurious
        owners = [name for name, m in assigned.items() if m == motif]
        candidates = matches.loc[
            matches["pattern"].isin(owners) & (matches["target"] == motif),
            ["pattern", "q_value"],
        ].merge(patterns[["pattern", "rank", "n_seqlets"]], on="pattern")
        if len(candidates):  # (pandas' == and isin disagree on names ending in NUL)
            best = candidates.sort_values(
                ["q_value", "n_seqlets"], ascending=[True, False], kind="stable"
            ).iloc[0]
            own = seqlets[seqlets["pattern"] == best["pattern"]]
            row.update(
                recovered=True,
                pattern=str(best["pattern"]),
                rank=int(best["rank"]),
                q_value=float(best["q_value"]),
                n_seqlets=int(best["n_seqlets"]),
                seqlet_precision=float(_overlaps(own, instances, motif).mean())
                if len(own)
                else float("nan"),
            )
        targets = instances[
            (instances["motif"] == motif) & instances["id"].astype(str).isin(positive)
        ]
        if len(targets):
            # Recall asks the reverse question: which instances does some seqlet touch?
            flipped = targets.rename(columns={"id": "region"})
            cores = seqlets.rename(columns={"region": "id"}).assign(motif=motif)
            row["instance_recall"] = float(_overlaps(flipped, cores).mean())
        rows.append(row)
    return pd.DataFrame(rows, columns=list(GRADE_COLUMNS))


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A table the pipeline wrote (:data:`TABLE_COLUMNS` by file name), its columns checked.

    Raises:
        LiftGenomicsError: for a missing or unreadable file, a missing column, or a value
            that is not a number (an integer where one is needed) in a numeric column.
    """
    path = Path(path)
    columns = TABLE_COLUMNS[path.name]
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: not found")
    strings = {name: str for name, kind in columns.items() if kind == "str"}
    try:
        table = pd.read_csv(path, sep="\t", dtype=strings)
    except (OSError, ValueError, pd.errors.ParserError) as error:  # EmptyData is a ValueError
        raise LiftGenomicsError(f"{path}: not a readable table ({first_line(error)})") from None
    missing = [name for name in columns if name not in table.columns]
    if missing:
        raise LiftGenomicsError(f"{path}: no column {missing[0]!r} (has {list(table.columns)})")
    for name, kind in columns.items():
        if kind == "str":
            empty = table[name].isna().to_numpy()
            if empty.any():
                row = int(np.flatnonzero(empty)[0])
                raise LiftGenomicsError(f"{path}:{row + 2}: column {name!r} is empty")
            continue
        values = pd.to_numeric(table[name], errors="coerce")
        bad = values.isna() & table[name].notna() if kind == "float" else ~np.isfinite(values)
        if kind == "int":
            bad |= np.isfinite(values) & (values != values.round())
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise LiftGenomicsError(
                f"{path}:{row + 2}: column {name!r} holds {table[name].iloc[row]!r}, not "
                f"{'an integer' if kind == 'int' else 'a number'}"
            )
        table[name] = values.astype(np.int64) if kind == "int" else values.astype(float)
    return table


def _simulation_settings(directory: Path) -> dict:
    """``simulation.yaml``'s motifs, classes and tasks, checked to have the shapes used here."""
    import yaml

    path = directory / "simulation.yaml"
    try:
        settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise LiftGenomicsError(f"{path}: not a readable simulation.yaml ({first_line(error)})"
                                ) from None  # fmt: skip

    def names(value: object) -> bool:
        return isinstance(value, list) and all(isinstance(name, str) for name in value)

    ok = (
        isinstance(settings, dict)
        and names(settings.get("motifs"))
        and isinstance(settings.get("tasks"), dict)
        and all(names(motifs) for motifs in settings["tasks"].values())
        and isinstance(settings.get("classes"), dict)
        and all(isinstance(c, dict) and names(c.get("motifs")) for c in settings["classes"].values()
                )  # fmt: skip
    )
    if not ok:
        raise LiftGenomicsError(
            f"{path}: expected 'motifs' (names), 'tasks' (name: motifs) and 'classes' "
            "(name: {motifs: [...]}), as 'simulate' writes them"
        )
    return settings


def task_positive_ids(simulation_dir: str | os.PathLike, task: int) -> tuple[list[str], list[str]]:
    """(ids of the test sequences positive for ``task``, the simulation's motif names)."""
    directory = Path(simulation_dir)
    settings = _simulation_settings(directory)
    task_motifs = list(settings["tasks"].values())
    if not 0 <= task < len(task_motifs):
        raise LiftGenomicsError(f"task {task} does not exist ({len(task_motifs)} tasks)")
    wanted = set(task_motifs[task])
    classes = read_table(directory / "test.classes.tsv")
    class_motifs = {name: set(c["motifs"]) for name, c in settings["classes"].items()}
    unknown = sorted(set(classes["class"].astype(str)) - set(map(str, class_motifs)))
    if unknown:
        raise LiftGenomicsError(
            f"{directory / 'test.classes.tsv'}: class {unknown[0]!r} is not in simulation.yaml"
        )
    class_motifs = {str(name): motifs for name, motifs in class_motifs.items()}
    pairs = zip(classes["id"], classes["class"].astype(str), strict=True)
    ids = [name for name, kind in pairs if wanted <= class_motifs[kind]]
    return ids, list(settings["motifs"])


def read_run(directory: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(patterns, seqlets, matches) tables of a ``liftgenomics motifs`` output directory."""
    directory = Path(directory)
    tables = []
    for name in ("patterns.tsv", "seqlets.tsv", "tomtom.tsv"):
        path = directory / name
        if not path.is_file():
            raise LiftGenomicsError(f"{path}: not found (is {directory} a 'motifs' output?)")
        tables.append(read_table(path))
    return tables[0], tables[1], tables[2]


def discovery_table(
    simulation_dir: str | os.PathLike,
    runs: Mapping[tuple[str, str, int], str | os.PathLike],
) -> pd.DataFrame:
    """The workflow's ``discovery.tsv``: :func:`grade_discovery` of every run.

    Args:
        simulation_dir: The ``simulate`` output (test.motifs.tsv, test.classes.tsv,
            simulation.yaml).
        runs: (method, reference, task) -> ``liftgenomics motifs`` output directory.
    """
    instances = read_table(Path(simulation_dir) / "test.motifs.tsv")
    frames = []
    for (method, reference, task), directory in runs.items():
        positive, motifs = task_positive_ids(simulation_dir, task)
        patterns, seqlets, matches = read_run(directory)
        graded = grade_discovery(patterns, seqlets, matches, instances, positive, motifs)
        graded.insert(0, "task", task)
        graded.insert(0, "reference", reference)
        graded.insert(0, "method", method)
        frames.append(graded)
    return pd.concat(frames, ignore_index=True)


def draw_true_motifs(simulation_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Information-content logos of the simulation's motifs (what discovery should find)."""
    import yaml

    from liftgenomics.logos import plot_pwm_logos
    from liftgenomics.motifs.meme import get_motif

    settings = yaml.safe_load((Path(simulation_dir) / "simulation.yaml").read_text())
    source = read_meme(settings["motif_file"]) if settings.get("motif_file") else None
    motifs = {name: get_motif(name, source).probabilities for name in settings["motifs"]}
    return plot_pwm_logos(motifs, out, np.full(4, 0.25))
