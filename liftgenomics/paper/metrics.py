"""Classification metrics in plain numpy: auROC and auPRC (average precision).

scikit-learn is not a dependency, so the two ranking metrics the paper reports live here. Both
handle tied scores exactly: auROC counts a tied (positive, negative) pair as one half, and
average precision moves through tied scores as one threshold, like scikit-learn's
``roc_auc_score`` and ``average_precision_score``.
"""

from __future__ import annotations

import numpy as np

from liftgenomics.errors import LiftGenomicsError


def _validate(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert to (bool labels, float64 scores), both 1-D and of equal length.

    Raises:
        LiftGenomicsError: for wrong shapes, labels that are not 0/1, non-finite scores, or
            labels of only one class (the metrics are undefined then).
    """
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise LiftGenomicsError(
            f"labels and scores must be 1-D of equal length, got shapes {y.shape} and {s.shape}"
        )
    if y.dtype != bool:
        y_float = y.astype(np.float64)
        if not np.isin(y_float, (0.0, 1.0)).all():
            raise LiftGenomicsError("labels must be 0 or 1 (or booleans)")
        y = y_float == 1.0
    if not np.isfinite(s).all():
        raise LiftGenomicsError("scores contain NaN or infinite values")
    positives = int(y.sum())
    if positives == 0 or positives == y.size:
        raise LiftGenomicsError(
            f"labels are all one class ({positives} positives of {y.size}); auROC and auPRC "
            "need both classes"
        )
    return y, s


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` with ties given the mean of the ranks they span."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    # The tie group k covers ranks (ends[k] - counts[k] + 1) .. ends[k]; its mean rank:
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0
    return mean_rank[inverse]


def auroc(labels, scores) -> float:
    """Area under the ROC curve: P(score_pos > score_neg) + 1/2 P(score_pos == score_neg).

    Computed from average ranks (the Mann-Whitney U statistic), O(n log n).

    Args:
        labels: 1-D 0/1 or boolean labels.
        scores: 1-D scores, higher meaning more likely positive.

    Returns:
        The auROC in [0, 1].

    Raises:
        LiftGenomicsError: bad shapes, non-binary labels, non-finite scores, or one class only.
    """
    y, s = _validate(labels, scores)
    ranks = _average_ranks(s)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def auprc(labels, scores) -> float:
    """Area under the precision-recall curve as average precision.

    AP = sum over distinct score thresholds t (descending) of (R_t - R_prev) * P_t, the
    step-wise sum of scikit-learn's ``average_precision_score`` (no interpolation); tied scores
    form one threshold.

    Args:
        labels: 1-D 0/1 or boolean labels.
        scores: 1-D scores, higher meaning more likely positive.

    Returns:
        The average precision in (0, 1].

    Raises:
        LiftGenomicsError: bad shapes, non-binary labels, non-finite scores, or one class only.
    """
    y, s = _validate(labels, scores)
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    hits = y[order].astype(np.float64)
    # The last index of each run of equal scores is where that threshold's counts are read.
    last_of_tie = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    true_positives = np.cumsum(hits)[last_of_tie]
    predicted_positive = last_of_tie + 1.0
    precision = true_positives / predicted_positive
    recall = true_positives / true_positives[-1]
    recall_gain = np.diff(recall, prepend=0.0)
    return float(np.sum(recall_gain * precision))
