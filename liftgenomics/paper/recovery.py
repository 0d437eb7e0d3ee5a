"""Motif recovery: how well attributions find the motifs (the paper's figure 5, and more).

The paper scans each test sequence for the top five non-overlapping forward-strand hits of each
motif and plots each hit's log-odds against the attribution summed over its window, per task
and method. From those hits come the false-negative rate (strong hits, log-odds ≥ 7, in
both-motif sequences whose score on task 0 is ≤ 0) and false-positive ratios (a motif's score
on the task that ignores it, relative to its own task). Because the simulation knows where it
embedded every instance, we also report per-base auROC/auPRC of the attribution for "inside an
embedded instance of the motif" against "outside every instance".
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.motifs.scan import scan, top_hits
from liftgenomics.paper.metrics import auprc, auroc

#: Log-odds at or above which a hit counts as a strong instance (the paper's figure 5b).
STRONG_LOG_ODDS = 7.0


def position_scores(hypothetical: np.ndarray, one_hot: np.ndarray) -> np.ndarray:
    """Actual contribution per position (N, L): hypothetical × one-hot summed over bases."""
    if hypothetical.shape != one_hot.shape or hypothetical.ndim != 3:
        raise LiftGenomicsError(
            f"hypothetical scores {hypothetical.shape} do not match one-hot {one_hot.shape}"
        )
    return (hypothetical * one_hot).sum(axis=1)


def window_totals(scores: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """Sum of per-position ``scores`` (N, L) over [start, start + width) for (N, n) starts.

    Padding starts (-1) give NaN.
    """
    cumulative = np.concatenate(
        [np.zeros((scores.shape[0], 1)), np.cumsum(scores, axis=1, dtype=np.float64)], axis=1
    )
    safe = np.clip(starts, 0, scores.shape[1] - width)
    rows = np.arange(scores.shape[0])[:, None]
    totals = cumulative[rows, safe + width] - cumulative[rows, safe]
    return np.where(starts >= 0, totals, np.nan)


def find_hits(
    one_hot: np.ndarray,
    ids: Sequence[str],
    classes: Sequence[str],
    log_odds_matrices: dict[str, np.ndarray],
    n: int = 5,
) -> pd.DataFrame:
    """The top-``n`` non-overlapping forward-strand hits of each motif in each sequence.

    Returns:
        A table with columns id, class, motif, start, width, log_odds and row (the sequence's
        row in ``one_hot``), one row per hit.
    """
    tables = []
    for motif, matrix in log_odds_matrices.items():
        width = matrix.shape[0]
        hits = top_hits(scan(one_hot, matrix), width, n)
        row, rank = np.nonzero(hits.starts >= 0)
        tables.append(
            pd.DataFrame(
                {
                    "id": np.asarray(ids)[row],
                    "class": np.asarray(classes)[row],
                    "motif": motif,
                    "start": hits.starts[row, rank],
                    "width": width,
                    "log_odds": hits.scores[row, rank],
                    "row": row,
                }
            )
        )
    return pd.concat(tables, ignore_index=True)


def score_hits(hits: pd.DataFrame, scores: np.ndarray) -> np.ndarray:
    """Total per-position score over each hit's window (one value per row of ``hits``)."""
    totals = np.empty(len(hits))
    for width, group in hits.groupby("width"):
        starts = group["start"].to_numpy()[:, None]
        rows = group["row"].to_numpy()
        totals[group.index] = window_totals(scores[rows], starts, int(width))[:, 0]
    return totals


def false_negative_rate(
    log_odds: np.ndarray, totals: np.ndarray, threshold: float = STRONG_LOG_ODDS
) -> float:
    """Fraction of strong hits (log-odds ≥ ``threshold``) whose total score is ≤ 0.

    NaN when there is no strong hit.
    """
    strong = log_odds >= threshold
    if not strong.any():
        return float("nan")
    return float(np.mean(totals[strong] <= 0))


def false_positive_ratio(
    log_odds: np.ndarray,
    totals_other: np.ndarray,
    totals_own: np.ndarray,
    threshold: float = STRONG_LOG_ODDS,
) -> float:
    """Mean score of strong hits on a task that ignores the motif over that on its own task.

    Near 0 is good: the motif explains the task it drives, not the other one. NaN when there
    is no strong hit or the own-task mean is 0.
    """
    strong = log_odds >= threshold
    own = float(np.mean(totals_own[strong])) if strong.any() else 0.0
    if own == 0.0:
        return float("nan")
    return float(np.mean(totals_other[strong]) / own)


def instance_mask(
    ids: Sequence[str], length: int, instances: pd.DataFrame, motif: str | None = None
) -> np.ndarray:
    """(N, L) boolean: positions inside embedded instances (of ``motif``, or of any motif)."""
    row_of = {name: i for i, name in enumerate(ids)}
    mask = np.zeros((len(ids), length), dtype=bool)
    chosen = instances if motif is None else instances[instances["motif"] == motif]
    for name, start, end in zip(chosen["id"], chosen["start"], chosen["end"], strict=True):
        if name in row_of:
            mask[row_of[name], int(start) : int(end)] = True
    return mask


def per_base_recovery(
    scores: np.ndarray, positives: np.ndarray, negatives: np.ndarray
) -> tuple[float, float]:
    """auROC and auPRC of per-position scores for ``positives`` against ``negatives``.

    NaN, NaN when either set is empty.
    """
    if not positives.any() or not negatives.any():
        return float("nan"), float("nan")
    values = np.concatenate([scores[positives], scores[negatives]])
    labels = np.concatenate([np.ones(positives.sum()), np.zeros(negatives.sum())])
    return auroc(labels, values), auprc(labels, values)


def _own_tasks(task_motifs: Sequence[Sequence[str]]) -> dict[str, int]:
    """Each motif's own task: the task whose motif set is that motif alone."""
    return {list(m)[0]: t for t, m in enumerate(task_motifs) if len(m) == 1}


def evaluate_attributions(
    simulation_dir: str | os.PathLike,
    attribution_files: dict[tuple[str, str, int], str | os.PathLike],
    n_hits: int = 5,
    threshold: float = STRONG_LOG_ODDS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the test set's attributions against the motifs and the embedded instances.

    Args:
        simulation_dir: A ``simulate`` output directory (test.ohe.npz, test.classes.tsv,
            test.motifs.tsv, simulation.yaml).
        attribution_files: (method, reference, task) -> hypothetical scores (N, 4, L) file.
        n_hits: Hits per motif and sequence.
        threshold: Log-odds of a strong hit.

    Returns:
        (hits, summary): one row per hit × method × reference × task with its total score, and
        one row per method × reference × task × motif with the false-negative rate (tasks
        needing the motif together with another, i.e. the paper's task 0), the false-positive
        ratio (tasks that ignore the motif), and per-base auROC/auPRC against the embedded
        instances of the motif in the task's positive sequences.
    """
    import yaml

    from liftgenomics.genome.sequence import load_one_hot
    from liftgenomics.motifs.meme import get_motif, read_meme
    from liftgenomics.motifs.pwm import log_odds, smooth

    directory = Path(simulation_dir)
    one_hot = load_one_hot(directory / "test.ohe.npz")
    classes_table = pd.read_csv(directory / "test.classes.tsv", sep="\t", dtype={"id": str})
    instances = pd.read_csv(directory / "test.motifs.tsv", sep="\t", dtype={"id": str})
    settings = yaml.safe_load((directory / "simulation.yaml").read_text())
    if len(classes_table) != len(one_hot):
        raise LiftGenomicsError(
            f"{directory}: test.classes.tsv has {len(classes_table)} rows but test.ohe.npz "
            f"{len(one_hot)}"
        )
    ids = classes_table["id"].tolist()
    classes = classes_table["class"].to_numpy()
    source = read_meme(settings["motif_file"]) if settings.get("motif_file") else None
    background = [settings["background"][base] for base in "ACGT"]
    matrices = {
        name: log_odds(smooth(get_motif(name, source), settings["pseudocount"]), background)
        for name in settings["motifs"]
    }
    task_motifs = list(settings["tasks"].values())
    class_motifs = {name: set(c["motifs"]) for name, c in settings["classes"].items()}
    own_task = _own_tasks(task_motifs)
    hits = find_hits(one_hot, ids, classes, matrices, n_hits)
    any_instance = instance_mask(ids, one_hot.shape[2], instances)
    motif_masks = {m: instance_mask(ids, one_hot.shape[2], instances, m) for m in matrices}

    totals: dict[tuple[str, str, int], np.ndarray] = {}
    per_position: dict[tuple[str, str, int], np.ndarray] = {}
    for key, path in attribution_files.items():
        hypothetical = load_one_hot(path)
        per_position[key] = position_scores(hypothetical, one_hot)
        totals[key] = score_hits(hits, per_position[key])

    hit_tables, rows = [], []
    for (method, reference, task), total in totals.items():
        table = hits.drop(columns=["row", "width"]).assign(
            method=method, reference=reference, task=task, score=total
        )
        hit_tables.append(table)
        wanted = set(task_motifs[task])
        positive_sequences = np.array([wanted <= class_motifs[c] for c in classes])
        for motif in matrices:
            in_motif = (hits["motif"] == motif).to_numpy()
            fn_rate = fp_ratio = float("nan")
            if motif in wanted and len(wanted) > 1:
                # A cooperative task: count strong hits in sequences where the task is positive.
                chosen = in_motif & positive_sequences[hits["row"].to_numpy()]
                fn_rate = false_negative_rate(
                    hits["log_odds"].to_numpy()[chosen], total[chosen], threshold
                )
            if motif not in wanted and motif in own_task:
                own_key = (method, reference, own_task[motif])
                if own_key in totals:
                    has_motif = np.array([motif in class_motifs[c] for c in classes])
                    chosen = in_motif & has_motif[hits["row"].to_numpy()]
                    fp_ratio = false_positive_ratio(
                        hits["log_odds"].to_numpy()[chosen],
                        total[chosen],
                        totals[own_key][chosen],
                        threshold,
                    )
            auc = aupr = float("nan")
            if motif in wanted:
                positives = motif_masks[motif] & positive_sequences[:, None]
                negatives = ~any_instance & positive_sequences[:, None]
                auc, aupr = per_base_recovery(
                    per_position[(method, reference, task)], positives, negatives
                )
            rows.append(
                {
                    "method": method,
                    "reference": reference,
                    "task": task,
                    "motif": motif,
                    "n_hits": int(in_motif.sum()),
                    "false_negative_rate": fn_rate,
                    "false_positive_ratio": fp_ratio,
                    "auroc": auc,
                    "auprc": aupr,
                }
            )
    return pd.concat(hit_tables, ignore_index=True), pd.DataFrame(rows)


def methods_scored_at(
    methods: Sequence[str],
    reference: str,
    method_references: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """The methods scored against ``reference``: all, except those ``method_references``
    restricts to other references (the workflow's ``attribution.method_references``)."""
    restricted = method_references or {}
    return [m for m in methods if m not in restricted or reference in restricted[m]]


def parse_method_references(
    items: Sequence[str], methods: Sequence[str], references: Sequence[str]
) -> dict[str, list[str]]:
    """``["integrated_gradients=flat,dinuc20", ...]`` as a dict, checked against the grid.

    Raises:
        LiftGenomicsError: for a malformed item, or a method or reference not in the grid.
    """
    parsed: dict[str, list[str]] = {}
    for item in items:
        method, sep, names = item.partition("=")
        chosen = [name for name in names.split(",") if name]
        if not sep or not chosen:
            raise LiftGenomicsError(
                f"--method-references {item!r}: expected METHOD=REFERENCE[,REFERENCE...]"
            )
        if method not in methods:
            raise LiftGenomicsError(
                f"--method-references {item!r}: method {method!r} is not among {list(methods)}"
            )
        unknown = [name for name in chosen if name not in references]
        if unknown:
            raise LiftGenomicsError(
                f"--method-references {item!r}: {unknown} not among the references "
                f"{list(references)}"
            )
        parsed[method] = chosen
    return parsed


def attribution_paths(
    root: str | os.PathLike,
    methods: Sequence[str],
    references: Sequence[str],
    tasks: Sequence[int],
    method_references: Mapping[str, Sequence[str]] | None = None,
) -> dict[tuple[str, str, int], Path]:
    """The workflow's ``{root}/{method}/{reference}/task{t}.hyp.npz`` files, for the pairs
    scored (see :func:`methods_scored_at`)."""
    return {
        (method, reference, task): Path(root) / method / reference / f"task{task}.hyp.npz"
        for method in methods
        for reference in references
        if method in methods_scored_at([method], reference, method_references)
        for task in tasks
    }


def write_evaluation(hits: pd.DataFrame, summary: pd.DataFrame, out_dir: str | os.PathLike) -> None:
    """Write ``motif_hits.tsv``, ``summary.tsv`` and ``summary.json`` atomically."""
    from liftgenomics.io import write_text_atomic

    out = Path(out_dir)
    write_text_atomic(
        out / "motif_hits.tsv", hits.to_csv(sep="\t", index=False, float_format="%.6g")
    )
    write_text_atomic(
        out / "summary.tsv", summary.to_csv(sep="\t", index=False, float_format="%.6g")
    )
    write_text_atomic(out / "summary.json", summary.to_json(orient="records", indent=2) + "\n")
