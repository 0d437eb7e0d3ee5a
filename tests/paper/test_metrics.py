"""Tests for liftgenomics.paper.metrics: auROC and average precision against hand-computed
answers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.paper.metrics import auprc, auroc


def test_auroc_known_answer_without_ties():
    # Positives 0.35, 0.8; negatives 0.1, 0.4: 3 of the 4 pairs are ordered correctly.
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_auroc_counts_ties_as_half():
    # Positives 3, 2, 1; negatives 3, 2. Pairs: (3,3)=1/2 (3,2)=1 (2,3)=0 (2,2)=1/2 (1,.)=0.
    assert auroc([1, 0, 1, 0, 1], [3, 3, 2, 2, 1]) == pytest.approx(2 / 6)


def test_auroc_extremes_and_all_tied():
    assert auroc([0, 0, 1, 1], [1, 2, 3, 4]) == 1.0
    assert auroc([0, 0, 1, 1], [4, 3, 2, 1]) == 0.0
    assert auroc([0, 1, 0, 1, 1], [7, 7, 7, 7, 7]) == 0.5


def test_auprc_known_answer_without_ties():
    # Descending: 0.8 (pos) P=1 R=1/2; 0.4 (neg); 0.35 (pos) P=2/3 R=1. AP = 1/2 + 1/3.
    assert auprc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(5 / 6)


def test_auprc_treats_a_tie_as_one_threshold():
    # Thresholds 3: P=1/2 R=1/3; 2: P=2/4 R=2/3; 1: P=3/5 R=1.
    expected = (1 / 3) * (1 / 2) + (1 / 3) * (2 / 4) + (1 / 3) * (3 / 5)
    assert auprc([1, 0, 1, 0, 1], [3, 3, 2, 2, 1]) == pytest.approx(expected)
    # Everything tied: one threshold, precision = prevalence.
    assert auprc([0, 1, 0, 1, 1], [7, 7, 7, 7, 7]) == pytest.approx(3 / 5)


def test_auprc_perfect_ranking_is_one():
    assert auprc([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]) == 1.0


def test_boolean_labels_accepted():
    assert auroc(np.array([False, True]), [0.0, 1.0]) == 1.0


@pytest.mark.parametrize("metric", [auroc, auprc])
@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_one_class_is_an_error(metric, labels):
    with pytest.raises(LiftGenomicsError, match="one class"):
        metric(labels, [0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "0 or 1"),
        ([0, 1], [0.1, 0.2, 0.3], "equal length"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
        ([0, 1], [0.1, np.nan], "NaN"),
    ],
)
def test_bad_input_is_an_error(labels, scores, message):
    with pytest.raises(LiftGenomicsError, match=message):
        auroc(labels, scores)


def _pairwise_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """P(score_pos > score_neg) + 1/2 P(tie) over all (positive, negative) pairs."""
    positives = scores[labels == 1]
    negatives = scores[labels == 0]
    wins = (positives[:, None] > negatives[None, :]).mean()
    ties = (positives[:, None] == negatives[None, :]).mean()
    return float(wins + 0.5 * ties)


def _threshold_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision by its definition: loop over distinct thresholds, high to low."""
    total, previous_recall = 0.0, 0.0
    for threshold in sorted(set(scores.tolist()), reverse=True):
        predicted = scores >= threshold
        true_positives = np.sum(predicted & (labels == 1))
        recall = true_positives / np.sum(labels == 1)
        total += (recall - previous_recall) * true_positives / np.sum(predicted)
        previous_recall = recall
    return total


labelled_scores = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda y: 0 < sum(y) < n),
        # Few distinct values, so ties are common.
        st.lists(st.integers(-3, 3).map(float) | st.floats(-5, 5), min_size=n, max_size=n),
    )
)


@settings(max_examples=200, deadline=None)
@given(labelled_scores)
def test_auroc_equals_pairwise_probability(case):
    labels, scores = (np.array(v) for v in case)
    assert auroc(labels, scores) == pytest.approx(_pairwise_auroc(labels, scores), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(labelled_scores)
def test_auprc_equals_threshold_definition(case):
    labels, scores = (np.array(v) for v in case)
    expected = _threshold_average_precision(labels, scores)
    assert auprc(labels, scores) == pytest.approx(expected, abs=1e-12)


def test_auroc_invariant_to_monotone_transform():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = rng.normal(size=500) + labels
    for transform in (np.exp, lambda s: 3 * s - 1, np.tanh):
        assert auroc(labels, transform(scores)) == pytest.approx(auroc(labels, scores))
        assert auprc(labels, transform(scores)) == pytest.approx(auprc(labels, scores))


def test_auroc_of_separated_gaussians_matches_theory():
    # Scores N(0,1) vs N(d,1): auROC = Phi(d / sqrt(2)); d = 1 gives 0.7602.
    rng = np.random.default_rng(1)
    n = 20000
    labels = np.repeat([0, 1], n)
    scores = np.concatenate([rng.normal(size=n), rng.normal(1.0, 1.0, size=n)])
    assert auroc(labels, scores) == pytest.approx(0.7602, abs=0.01)
    # A brute-force check on a subsample pins the ranks path on real-valued data too.
    idx = np.r_[0:300, n : n + 300]
    sub_labels, sub_scores = labels[idx], scores[idx]
    assert auroc(sub_labels, sub_scores) == pytest.approx(_pairwise_auroc(sub_labels, sub_scores))
