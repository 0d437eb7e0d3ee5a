"""Replicates: the spread of the motif-recovery metrics over seeds, and paired method tests.

One simulation and one trained model give one table; the paper's figure-5 ranking rests on
false-negative rates a few percent apart. The workflow can run its whole chain once per seed
(``replicates.seeds``); this module joins the per-seed ``summary.tsv`` and ``metrics.json``
files into

- ``replicates.tsv``: per method × reference × task × motif and metric (false-negative rate,
  false-positive ratio, per-base auROC), the mean, sample standard deviation, min and max over
  the seeds where the metric is defined, and each seed's value (columns ``seed{s}``); plus one
  row per task with the model's test auROC per seed (method ``model``);
- ``comparisons.tsv``: for each pair of methods the paper ranks (the genomics default against
  Rescale, gradient × input and integrated gradients; RevealCancel against Rescale), each
  reference, task and motif with a false-negative rate, the per-seed differences
  FN(method) − FN(baseline), their mean and an exact sign-flip permutation test.

The test: under the null hypothesis that the two methods are exchangeable within a seed, each
per-seed difference is as likely to have either sign, so all 2^n sign patterns of the n
differences are equally likely. The p-value is the fraction of patterns whose sum is at least as
extreme as the observed one, counted exactly (no sampling). The paper claims the first method
misses *fewer* strong instances, so the primary p-value is one-sided in that direction
(``p_one_sided``: sum ≤ observed); ``p_reversed`` is the other one-sided tail and
``p_two_sided`` uses |sum|. With n seeds the smallest one-sided p is 1/2^n (1/32 for 5 seeds)
and the smallest two-sided p is 2/2^n (2/32 = 0.0625), so 5 seeds can support the paper's
directional claim at α = 0.05 one-sided, and never two-sided. A zero difference has no sign to
flip: both flips give the same sum, so each zero doubles the count of patterns at the extreme
(with z zeros the smallest one-sided p is 2^z/2^n) — zeros are kept, which is conservative.
Sums equal up to rounding count as ties (at least as extreme). A seed where either method's rate
is undefined (no strong hit) is left out of that pair.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from liftgenomics.errors import LiftGenomicsError

#: The per-run metrics summarised over seeds (columns of ``summary.tsv``).
METRICS = ("false_negative_rate", "false_positive_ratio", "auroc")
_GENOMICS = "genomics default (fc-RC-conv-RS):"
#: (method, baseline, the paper's claim about their false negatives, figure 5b, flat reference):
#: the method misses fewer strong motif instances than the baseline.
PAIRS = (
    ("deeplift_genomics", "deeplift_rescale", f"{_GENOMICS} fewer than Rescale"),
    ("deeplift_genomics", "grad_input", f"{_GENOMICS} fewer than gradient × input"),
    ("deeplift_genomics", "integrated_gradients", f"{_GENOMICS} fewer than integrated gradients"),
    ("deeplift_revealcancel", "deeplift_rescale", "RevealCancel: fewer than Rescale"),
)
#: The paper's test auROC per task of its released model (section 4.2).
PAPER_AUROC = {0: 0.989, 1: 0.988, 2: 0.997}
#: The most seeds the exact test enumerates (2^20 sign patterns).
MAX_EXACT_SEEDS = 20
KEYS = ["method", "reference", "task", "motif"]
#: Written in the model rows of replicates.tsv, which have no reference and motif.
NOT_APPLICABLE = "-"


@dataclass(frozen=True)
class SignFlipTest:
    """An exact sign-flip permutation test of paired differences.

    Attributes:
        n: Number of differences (seeds).
        mean: Mean difference.
        p_less: One-sided p, alternative "mean < 0": P(sum ≤ observed).
        p_greater: One-sided p, alternative "mean > 0": P(sum ≥ observed).
        p_two_sided: P(|sum| ≥ |observed|).
    """

    n: int
    mean: float
    p_less: float
    p_greater: float
    p_two_sided: float


def sign_flip_test(differences: Sequence[float]) -> SignFlipTest:
    """Exact sign-flip permutation test over all 2^n sign patterns of ``differences``.

    Args:
        differences: Per-seed paired differences (finite).

    Returns:
        The test's mean and its three p-values.

    Raises:
        LiftGenomicsError: for no differences, non-finite values or more than
            ``MAX_EXACT_SEEDS`` of them.
    """
    values = np.asarray(differences, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise LiftGenomicsError("sign-flip test: needs at least one paired difference")
    if values.size > MAX_EXACT_SEEDS:
        raise LiftGenomicsError(
            f"sign-flip test: {values.size} differences; the exact test enumerates at most "
            f"{MAX_EXACT_SEEDS} (2^{MAX_EXACT_SEEDS} sign patterns)"
        )
    if not np.isfinite(values).all():
        raise LiftGenomicsError("sign-flip test: differences must be finite")
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=values.size)))
    sums = signs @ np.abs(values)
    observed = float(values.sum())
    # Sums equal up to floating-point rounding are ties, which count as at least as extreme.
    tolerance = 1e-9 * max(1.0, float(np.abs(values).sum()))
    return SignFlipTest(
        n=int(values.size),
        mean=float(values.mean()),
        p_less=float(np.mean(sums <= observed + tolerance)),
        p_greater=float(np.mean(sums >= observed - tolerance)),
        p_two_sided=float(np.mean(np.abs(sums) >= abs(observed) - tolerance)),
    )


def verdict(p_claimed: float, p_reversed: float, alpha: float) -> str:
    """'holds' when the claimed direction is significant at ``alpha``, 'reversed' when the
    opposite one is, else 'not shown'."""
    if p_claimed <= alpha:
        return "holds"
    if p_reversed <= alpha:
        return "reversed"
    return "not shown"


def read_runs(
    summaries: Sequence[str | os.PathLike],
    model_metrics: Sequence[str | os.PathLike],
    seeds: Sequence[int],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read each seed's ``summary.tsv`` and ``metrics.json``.

    Args:
        summaries: One ``summary.tsv`` per seed (written by ``evaluate``).
        model_metrics: One model ``metrics.json`` per seed (written by ``train``).
        seeds: The seeds, in the same order.

    Returns:
        (per_seed, model): the summaries stacked with a ``seed`` column, and one row per seed
        and task with the test auROC (columns seed, task, auroc).

    Raises:
        LiftGenomicsError: for mismatched lengths, repeated seeds, a missing file or column.
    """
    if not (len(summaries) == len(model_metrics) == len(seeds)):
        raise LiftGenomicsError(
            f"replicates: {len(summaries)} summaries, {len(model_metrics)} model metrics and "
            f"{len(seeds)} seeds; need one of each per seed"
        )
    if len(set(seeds)) != len(seeds):
        raise LiftGenomicsError(f"replicates: seeds repeat: {list(seeds)}")
    tables, model_rows = [], []
    for seed, summary_path, metrics_path in zip(seeds, summaries, model_metrics, strict=True):
        tables.append(_read_summary(summary_path).assign(seed=int(seed)))
        for task, value in _read_model_auroc(metrics_path).items():
            model_rows.append({"seed": int(seed), "task": task, "auroc": value})
    model = pd.DataFrame(model_rows, columns=["seed", "task", "auroc"])
    return pd.concat(tables, ignore_index=True), model


def _read_summary(path: str | os.PathLike) -> pd.DataFrame:
    if not Path(path).is_file():
        raise LiftGenomicsError(f"{path}: summary not found (run 'evaluate' first)")
    table = pd.read_csv(path, sep="\t")
    missing = [c for c in [*KEYS, *METRICS] if c not in table.columns]
    if missing:
        raise LiftGenomicsError(f"{path}: missing column(s) {missing}")
    return table[[*KEYS, *METRICS]]


def _read_model_auroc(path: str | os.PathLike) -> dict[str, float]:
    """Task -> test auROC (NaN where undefined) from a model's metrics.json."""
    try:
        metrics = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LiftGenomicsError(f"{path}: model metrics not found (run 'train' first)") from None
    except json.JSONDecodeError as error:
        raise LiftGenomicsError(f"{path}: not valid JSON ({error})") from None
    aurocs = metrics.get("auroc") if isinstance(metrics, dict) else None
    if not isinstance(aurocs, dict):
        raise LiftGenomicsError(f"{path}: no 'auroc' mapping of task to value")
    return {str(t): float("nan") if v is None else float(v) for t, v in aurocs.items()}


def _task_index(task: str) -> int | str:
    """metrics.json names tasks 'task0', ...; the summaries use their index."""
    digits = task.removeprefix("task")
    return int(digits) if digits.isdigit() else task


def _spread(values: pd.Series) -> dict[str, float]:
    """n, mean, sample sd (ddof 1; NaN for one value), min and max of the defined values."""
    present = values.dropna().to_numpy(dtype=np.float64)
    if present.size == 0:
        return {"n_seeds": 0, "mean": np.nan, "sd": np.nan, "min": np.nan, "max": np.nan}
    return {
        "n_seeds": int(present.size),
        "mean": float(present.mean()),
        "sd": float(present.std(ddof=1)) if present.size > 1 else np.nan,
        "min": float(present.min()),
        "max": float(present.max()),
    }


def summarise_replicates(per_seed: pd.DataFrame, model: pd.DataFrame) -> pd.DataFrame:
    """The spread over seeds of each metric, and the model's test auROC per seed.

    Args:
        per_seed: Stacked summaries with a ``seed`` column (see :func:`read_runs`).
        model: Columns seed, task, auroc.

    Returns:
        One row per method × reference × task × motif × metric where the metric is defined
        in at least one seed, then one row per task for the model (method 'model', metric
        'test_auroc'): columns method, reference, task, motif, metric, n_seeds, mean, sd, min,
        max and ``seed{s}`` per seed (NaN where undefined in that seed).
    """
    seeds = sorted(set(per_seed["seed"]) | set(model["seed"]))
    rows = []
    for metric in METRICS:
        wide = per_seed.pivot_table(
            index=KEYS, columns="seed", values=metric, aggfunc="first", sort=False, dropna=False
        ).reindex(columns=seeds)
        for key, values in wide.iterrows():
            if values.notna().any():
                rows.append(_row(dict(zip(KEYS, key, strict=True)), metric, values, seeds))
    if not model.empty:
        wide = model.pivot_table(
            index="task", columns="seed", values="auroc", aggfunc="first", sort=False, dropna=False
        ).reindex(columns=seeds)
        for task, values in wide.iterrows():
            identity = {
                "method": "model",
                "reference": NOT_APPLICABLE,
                "task": _task_index(str(task)),
                "motif": NOT_APPLICABLE,
            }
            rows.append(_row(identity, "test_auroc", values, seeds))
    columns = [*KEYS, "metric", "n_seeds", "mean", "sd", "min", "max"]
    return pd.DataFrame(rows, columns=columns + [f"seed{s}" for s in seeds])


def _row(identity: dict, metric: str, values: pd.Series, seeds: Sequence[int]) -> dict:
    row = {**identity, "metric": metric, **_spread(values)}
    row.update({f"seed{s}": values.get(s, np.nan) for s in seeds})
    return row


def compare_methods(
    per_seed: pd.DataFrame,
    pairs: Sequence[tuple[str, str, str]] = PAIRS,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Paired per-seed false-negative-rate differences and their exact sign-flip tests.

    Args:
        per_seed: Stacked summaries with a ``seed`` column.
        pairs: (method, baseline, claim) triples; pairs with a method not in ``per_seed``
            are skipped.
        alpha: The level of the verdict.

    Returns:
        One row per pair × reference × task × motif with a false-negative rate in some seed:
        method, baseline, reference, task, motif, claim, n_seeds, mean_difference (method −
        baseline; the claim says < 0), p_one_sided (the claim's direction), p_reversed,
        p_two_sided, alpha, verdict and ``seed{s}`` (that seed's difference).
    """
    if not 0 < alpha < 1:
        raise LiftGenomicsError(f"replicates: alpha must be in (0, 1), got {alpha}")
    seeds = sorted(set(per_seed["seed"]))
    rates = per_seed.pivot_table(
        index=["reference", "task", "motif", "method"],
        columns="seed",
        values="false_negative_rate",
        aggfunc="first",
        sort=False,
    ).reindex(columns=seeds)
    methods = set(per_seed["method"])
    rows = []
    for method, baseline, claim in pairs:
        if method not in methods or baseline not in methods:
            continue
        groups = dict.fromkeys((r, t, m) for r, t, m, _ in rates.index)
        for reference, task, motif in groups:
            ours = rates.loc[(reference, task, motif)].reindex([method, baseline])
            differences = ours.loc[method] - ours.loc[baseline]
            defined = differences.dropna()
            if defined.empty:
                continue
            test = sign_flip_test(defined.to_numpy())
            row = {
                "method": method,
                "baseline": baseline,
                "reference": reference,
                "task": task,
                "motif": motif,
                "claim": claim,
                "n_seeds": test.n,
                "mean_difference": test.mean,
                "p_one_sided": test.p_less,
                "p_reversed": test.p_greater,
                "p_two_sided": test.p_two_sided,
                "alpha": alpha,
                "verdict": verdict(test.p_less, test.p_greater, alpha),
            }
            row.update({f"seed{s}": differences.get(s, np.nan) for s in seeds})
            rows.append(row)
    columns = [
        "method", "baseline", "reference", "task", "motif", "claim", "n_seeds",
        "mean_difference", "p_one_sided", "p_reversed", "p_two_sided", "alpha", "verdict",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns + [f"seed{s}" for s in seeds])


def write_replicates(
    summary: pd.DataFrame, comparisons: pd.DataFrame, out_dir: str | os.PathLike
) -> tuple[Path, Path]:
    """Write ``replicates.tsv`` and ``comparisons.tsv`` atomically into ``out_dir``."""
    from liftgenomics.io import write_text_atomic

    out = Path(out_dir)
    paths = out / "replicates.tsv", out / "comparisons.tsv"
    for table, path in zip((summary, comparisons), paths, strict=True):
        write_text_atomic(path, table.to_csv(sep="\t", index=False, float_format="%.6g"))
    return paths


def summarise_runs(
    summaries: Sequence[str | os.PathLike],
    model_metrics: Sequence[str | os.PathLike],
    seeds: Sequence[int],
    out_dir: str | os.PathLike,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, Path, Path]:
    """The workflow's summary step: read the runs and write both tables.

    Args:
        summaries: One ``summary.tsv`` per seed.
        model_metrics: One model ``metrics.json`` per seed.
        seeds: The seeds, in the same order.
        out_dir: Where ``replicates.tsv`` and ``comparisons.tsv`` go.
        alpha: The level of the comparisons' verdicts.

    Returns:
        The per-method summary (for the per-seed figure, which the report draws) and the paths
        of ``replicates.tsv`` and ``comparisons.tsv``.
    """
    per_seed, model = read_runs(summaries, model_metrics, seeds)
    summary = summarise_replicates(per_seed, model)
    comparisons = compare_methods(per_seed, alpha=alpha)
    return (summary, *write_replicates(summary, comparisons, out_dir))
