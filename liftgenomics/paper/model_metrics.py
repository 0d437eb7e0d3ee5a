"""A model's test metrics on a ``simulate``-shaped test set, as ``metrics.json``.

``train`` writes the metrics of the model it trains; :func:`write_model_metrics` writes the
same file for a model trained elsewhere (the DeepLIFT authors' own model, converted), with the
accuracy per task added, so the report reads either unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.io import write_text_atomic


def write_model_metrics(
    model: str | os.PathLike,
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Score a model on a ``simulate``-shaped test set; write ``metrics.json``.

    The model's default output (the logits, for a model whose final sigmoid was split off)
    ranks the sequences for auROC/auPRC; a logit above 0 (a probability above 0.5) is a
    positive call for the accuracy.

    Args:
        model: A ``--model`` spec (a model directory, ``keras:ARCH.json``, ...).
        data_dir: Directory with ``test.fa`` and ``test.labels.tsv``.
        out: The ``metrics.json`` to write.
        weights: The ``--weights`` of the spec, if it takes them.
        source: A line saying where the model came from, kept in the file (``"source"``).

    Returns:
        ``{"split", "n_sequences", "tasks", "auroc", "auprc", "accuracy"}`` (task -> value;
        None where a task's test labels are all one class), plus ``"source"``.

    Raises:
        LiftGenomicsError: for a bad model or data, or an output that is not one logit per task.
    """
    import torch

    from liftgenomics.models.load import load_model
    from liftgenomics.paper.train import load_split, metrics_of_logits, predict, read_labels

    X, Y, _ = load_split(data_dir, "test")
    tasks = read_labels(Path(data_dir) / "test.labels.tsv")[1]
    logits = predict(load_model(model, weights=weights), torch.from_numpy(X)).numpy()
    if logits.shape != Y.shape:
        raise LiftGenomicsError(
            f"{model}: output of shape {logits.shape}, expected {Y.shape} (one logit per task)"
        )
    metrics = metrics_of_logits(logits, Y, tasks)
    metrics["accuracy"] = {
        task: float(np.mean((logits[:, t] > 0) == (Y[:, t] == 1))) for t, task in enumerate(tasks)
    }
    if source is not None:
        metrics["source"] = source
    write_text_atomic(out, json.dumps(metrics, indent=2) + "\n")
    return metrics
