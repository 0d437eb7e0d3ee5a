"""The workflow's figure set, drawn from its result files with :mod:`liftgenomics.report.plots`
and :mod:`liftgenomics.logos`.

One motif-recovery grid and one false-negative chart per reference, sequence logos of a few
test sequences per class (one row per method, embedded instances boxed), and the motifs' PWM
logos. :func:`draw_figures` returns caption -> PNG path for the report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import load_one_hot
from liftgenomics.motifs.meme import get_motif, read_meme
from liftgenomics.motifs.pwm import smooth
from liftgenomics.paper.recovery import methods_scored_at


def _explained_task(class_motifs: set[str], task_motifs: list[list[str]]) -> int:
    """The task a class's sequence is best drawn for: the one needing all its motifs."""
    best, size = 0, -1
    for task, motifs in enumerate(task_motifs):
        if set(motifs) <= class_motifs and len(motifs) > size:
            best, size = task, len(motifs)
    return best


def draw_figures(
    simulation_dir: str | os.PathLike,
    attributions_dir: str | os.PathLike,
    metrics_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    methods: Sequence[str],
    references: Sequence[str],
    tasks: Sequence[int],
    logo_reference: str,
    examples_per_class: int = 1,
    method_references: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Path]:
    """Draw every figure of the report into ``out_dir``.

    ``method_references`` restricts some methods to some references (see
    :func:`~liftgenomics.paper.recovery.methods_scored_at`); each figure shows the methods scored
    against its reference.

    Returns:
        Caption -> PNG path, in the order the report shows them.

    Raises:
        LiftGenomicsError: if ``logo_reference`` is not among ``references`` or a file is
            missing.
    """
    from liftgenomics import logos
    from liftgenomics.report import plots

    if logo_reference not in references:
        raise LiftGenomicsError(
            f"report.logo_reference {logo_reference!r} is not one of the references "
            f"{list(references)}"
        )
    simulation, out = Path(simulation_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hits = pd.read_csv(Path(metrics_dir) / "motif_hits.tsv", sep="\t", dtype={"id": str})
    summary = pd.read_csv(Path(metrics_dir) / "summary.tsv", sep="\t")
    settings = yaml.safe_load((simulation / "simulation.yaml").read_text())
    figures: dict[str, Path] = {}
    for reference in references:
        scored = methods_scored_at(methods, reference, method_references)
        figures[f"False-negative rate of strong motif hits on task 0 ({reference})"] = (
            plots.plot_false_negatives(summary, out / f"false_negatives.{reference}.png", reference)
        )
        figures[f"Motif hits: log-odds vs total score per method and task ({reference})"] = (
            plots.plot_motif_recovery(
                hits, out / f"motif_recovery.{reference}.png", reference, scored
            )
        )

    one_hot = load_one_hot(simulation / "test.ohe.npz")
    classes = pd.read_csv(simulation / "test.classes.tsv", sep="\t", dtype={"id": str})
    instances = pd.read_csv(simulation / "test.motifs.tsv", sep="\t", dtype={"id": str})
    task_motifs = list(settings["tasks"].values())
    class_motifs = {name: set(c["motifs"]) for name, c in settings["classes"].items()}
    rng = np.random.default_rng(0)
    methods = methods_scored_at(methods, logo_reference, method_references)
    scores = {
        (method, task): load_one_hot(
            Path(attributions_dir) / method / logo_reference / f"task{task}.hyp.npz"
        )
        for method in methods
        for task in tasks
    }
    for class_name in class_motifs:
        rows = np.flatnonzero(classes["class"].to_numpy() == class_name)
        if rows.size == 0:
            continue
        task = _explained_task(class_motifs[class_name], task_motifs)
        if task not in tasks:
            task = tasks[0]
        for row in sorted(rng.choice(rows, size=min(examples_per_class, rows.size), replace=False)):
            name = classes["id"].iloc[row]
            boxes = [
                (int(s), int(e), str(m))
                for s, e, m in instances.loc[
                    instances["id"] == name, ["start", "end", "motif"]
                ].itertuples(index=False)
            ]
            hypothetical = {m: scores[(m, task)][row] for m in methods}
            actual = {m: h * one_hot[row] for m, h in hypothetical.items()}
            caption = (
                f"{name} ({class_name}): contributions to task {task} against {logo_reference} "
                "references; actual (top of each pair) and hypothetical scores, embedded "
                "instances boxed"
            )
            figures[caption] = logos.plot_sequence_logos(
                one_hot[row],
                actual,
                out / f"logos.{name}.png",
                instances=boxes,
                title=f"{name} ({class_name}), task {task}",
                hypothetical=hypothetical,
            )

    source = read_meme(settings["motif_file"]) if settings.get("motif_file") else None
    background = [settings["background"][base] for base in "ACGT"]
    pwms = {
        name: smooth(get_motif(name, source), settings["pseudocount"]).probabilities
        for name in settings["motifs"]
    }
    figures["The simulated motifs (information content)"] = logos.plot_pwm_logos(
        pwms, out / "motifs.png", background=background
    )
    return figures
