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

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.motifs.meme import read_meme
from liftgenomics.motifs.tomtom import Q_THRESHOLD

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
        if owners:
            candidates = matches.loc[
                matches["pattern"].isin(owners) & (matches["target"] == motif),
                ["pattern", "q_value"],
            ].merge(patterns[["pattern", "rank", "n_seqlets"]], on="pattern")
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


def task_positive_ids(simulation_dir: str | os.PathLike, task: int) -> tuple[list[str], list[str]]:
    """(ids of the test sequences positive for ``task``, the simulation's motif names)."""
    import yaml

    directory = Path(simulation_dir)
    settings = yaml.safe_load((directory / "simulation.yaml").read_text())
    task_motifs = list(settings["tasks"].values())
    if not 0 <= task < len(task_motifs):
        raise LiftGenomicsError(f"task {task} does not exist ({len(task_motifs)} tasks)")
    wanted = set(task_motifs[task])
    classes = pd.read_csv(directory / "test.classes.tsv", sep="\t", dtype={"id": str})
    class_motifs = {name: set(c["motifs"]) for name, c in settings["classes"].items()}
    pairs = zip(classes["id"], classes["class"], strict=True)
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
        tables.append(pd.read_csv(path, sep="\t", dtype={"region": str, "pattern": str}))
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
    instances = pd.read_csv(Path(simulation_dir) / "test.motifs.tsv", sep="\t", dtype={"id": str})
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
