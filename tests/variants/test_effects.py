"""Allele predictions and variant scores against hand-computed and scipy oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.special import softmax as scipy_softmax
from torch import nn

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import one_hot_encode
from liftgenomics.variants import effects
from liftgenomics.variants.effects import (
    LOGITS,
    PAIR_COLUMNS,
    PROFILE_COUNTS,
    AllelePredictions,
    predict_alleles,
    profile_center,
    realigned_positions,
    variant_scores,
)
from liftgenomics.variants.records import Variant
from tests.toy_models import TinyChromBPNet, conv_net, random_one_hot

LENGTH = 40
CENTER = LENGTH // 2


def snp(allele1: str = "A", allele2: str = "C", name: str = "v") -> Variant:
    return Variant("chr1", 1000, allele1, allele2, name)


def windows(*sequences: str) -> np.ndarray:
    return np.stack([one_hot_encode(s) for s in sequences])


def with_motif(site: str, at: int, background: str = "C") -> str:
    """A LENGTH-long window of ``background`` with ``site`` written at ``at``."""
    sequence = list(background * LENGTH)
    sequence[at : at + len(site)] = site
    return "".join(sequence)


class GataCounter(nn.Module):
    """log counts = a + b · (exact GATA matches starting in [start, stop)); flat profile.

    The detector is a width-4 convolution with the GATA one-hot as its weights and bias −3:
    4 − 3 = 1 at an exact match, ≤ 0 (ReLU: 0) elsewhere. It reads one strand only, so the
    reverse complement of a window with GATA (TATC) scores no match.
    """

    def __init__(self, a: float = 0.5, b: float = 0.8, region=(10, 30), profile_length=20):
        super().__init__()
        self.a, self.b, self.region, self.profile_length = a, b, region, profile_length
        self.conv = nn.Conv1d(4, 1, 4)
        with torch.no_grad():
            self.conv.weight.zero_()
            for k, base in enumerate("GATA"):
                self.conv.weight[0, "ACGT".index(base), k] = 1.0
            self.conv.bias.fill_(-3.0)

    def forward(self, x):
        hits = torch.relu(self.conv(x))[:, 0, self.region[0] : self.region[1]]
        log_counts = self.a + self.b * hits.sum(dim=1, keepdim=True)
        profile = torch.zeros(x.shape[0], 1, self.profile_length, dtype=x.dtype)
        return profile, log_counts


# --- logFC of a motif detector, in closed form ------------------------------------------------


def test_logfc_of_a_snp_breaking_making_and_missing_the_motif():
    model = GataCounter(b=0.8)
    # Variant at CENTER: T->C breaks GATA (18..21), C->T makes GACA into GATA; the third
    # variant lies outside its window's motif (GATA at 12..15).
    X1 = windows(with_motif("GATA", 18), with_motif("GACA", 18), with_motif("GATA", 12))
    X2 = windows(with_motif("GACA", 18), with_motif("GATA", 18), with_motif("GATA", 12)[:CENTER]
                 + "A" + with_motif("GATA", 12)[CENTER + 1 :])  # fmt: skip
    variants = [snp("T", "C", "break"), snp("C", "T", "make"), snp("C", "A", "outside")]
    predictions = predict_alleles(model, X1, X2, forward_only=True, device="cpu")
    scores = variant_scores(predictions, variants, LENGTH)
    expected = np.array([-0.8, 0.8, 0.0]) / math.log(2)
    np.testing.assert_allclose(scores["logfc"], expected, atol=1e-6)
    np.testing.assert_allclose(scores["abs_logfc"], np.abs(expected), atol=1e-6)
    np.testing.assert_allclose(
        scores["allele1_pred_counts"], np.exp([0.5 + 0.8, 0.5, 0.5 + 0.8]), rtol=1e-6
    )
    np.testing.assert_allclose(scores["jsd"], 0.0, atol=1e-7)  # flat profiles


def test_forward_and_reverse_counts_are_averaged_in_count_space():
    a, b = 0.5, 0.8
    model = GataCounter(a=a, b=b)
    X1 = windows(with_motif("GATA", 18))
    X2 = windows(with_motif("GACA", 18))
    scores = variant_scores(predict_alleles(model, X1, X2, device="cpu"), [snp("T", "C")], LENGTH)
    # The reverse complement (…GGTATCGG…) holds no GATA: its log count is a.
    counts1 = (math.exp(a + b) + math.exp(a)) / 2
    counts2 = math.exp(a)
    np.testing.assert_allclose(scores["allele1_pred_counts"], [counts1], rtol=1e-6)
    np.testing.assert_allclose(scores["allele2_pred_counts"], [counts2], rtol=1e-6)
    np.testing.assert_allclose(scores["logfc"], [math.log2(2 / (1 + math.exp(b)))], rtol=1e-6)


# --- strand averaging on a model that is not rc-symmetric -------------------------------------


class StrandedProfile(nn.Module):
    """A random conv net returning a profile (N, S, Lout) (or (N, Lout)) and log counts (N, C)."""

    def __init__(self, strands: int = 2, counts: int = 2, trim: int = 5, flat: bool = False):
        super().__init__()
        generator = torch.Generator().manual_seed(3)
        self.conv = nn.Conv1d(4, 6, 5, padding=2)
        self.head = nn.Conv1d(6, strands, 3, padding=1)
        self.count = nn.Linear(6, counts)
        for p in self.parameters():
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=generator))
        self.trim, self.flat = trim, flat

    def forward(self, x):
        h = torch.relu(self.conv(x))
        profile = self.head(h)[:, :, self.trim : x.shape[2] - self.trim]
        profile = profile[:, 0] if self.flat else profile
        return profile, self.count(h.mean(dim=2)) * 0.1


def by_hand(model, X):
    """Forward and reverse-complement outputs as float64 arrays (reverse by numpy indexing)."""
    with torch.no_grad():
        forward = model(torch.from_numpy(X))
        reverse = model(torch.from_numpy(np.ascontiguousarray(X[:, ::-1, ::-1])))
    return [t.double().numpy() for t in forward], [t.double().numpy() for t in reverse]


@pytest.mark.parametrize("strands,counts", [(2, 2), (1, 1), (2, 1)])
def test_profile_logits_and_counts_averaged_over_strands(strands, counts):
    model = StrandedProfile(strands, counts)
    generator = torch.Generator().manual_seed(0)
    X1 = random_one_hot(7, LENGTH, generator).numpy()
    X2 = random_one_hot(7, LENGTH, generator).numpy()
    predictions = predict_alleles(model, X1, X2, batch_size=3, device="cpu")
    assert predictions.kind == PROFILE_COUNTS and len(predictions) == 7
    for X, profile, count in ((X1, predictions.profile1, predictions.counts1),
                              (X2, predictions.profile2, predictions.counts2)):  # fmt: skip
        (fp, fc), (rp, rc) = by_hand(model, X)
        rp = rp[:, ::-1, ::-1] if strands == 2 else rp[:, :, ::-1]
        rc = np.exp(rc)[:, ::-1] if counts == 2 and strands == 2 else np.exp(rc)
        assert np.abs(fp - rp).max() > 0.1  # the model is not rc-symmetric
        np.testing.assert_allclose(profile, (fp + rp) / 2, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(count, (np.exp(fc) + rc) / 2, rtol=1e-5)


def test_forward_only_and_flat_profiles():
    model = StrandedProfile(strands=1, counts=1, flat=True)
    generator = torch.Generator().manual_seed(1)
    X1 = random_one_hot(4, LENGTH, generator).numpy()
    X2 = random_one_hot(4, LENGTH, generator).numpy()
    predictions = predict_alleles(model, X1, X2, forward_only=True, device="cpu")
    (fp, fc), _ = by_hand(model, X1)
    assert predictions.profile1.shape == (4, 1, LENGTH - 10) and predictions.forward_only
    np.testing.assert_allclose(predictions.profile1[:, 0], fp, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predictions.counts1, np.exp(fc), rtol=1e-5)
    both = predict_alleles(model, X1, X2, device="cpu")
    (_, _), (rp, _) = by_hand(model, X1)
    np.testing.assert_allclose(both.profile1[:, 0], (fp + rp[:, ::-1]) / 2, rtol=1e-5, atol=1e-5)


def test_dict_output_and_batches_give_the_same_predictions():
    class AsDict(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            profile, counts = self.inner(x)
            return {"counts": counts, "profile": profile}

    torch.manual_seed(0)
    model = TinyChromBPNet()
    generator = torch.Generator().manual_seed(2)
    X1 = random_one_hot(5, LENGTH, generator).numpy()
    X2 = random_one_hot(5, LENGTH, generator).numpy()
    tuple_predictions = predict_alleles(model, X1, X2, batch_size=2, device="cpu")
    dict_predictions = predict_alleles(AsDict(model), X1, X2, device="cpu")
    for name in ("profile1", "profile2", "counts1", "counts2"):
        np.testing.assert_allclose(
            getattr(tuple_predictions, name), getattr(dict_predictions, name), rtol=1e-5, atol=1e-6
        )
    scores = variant_scores(tuple_predictions, [snp(name=str(i)) for i in range(5)], LENGTH)
    assert list(scores) == list(PAIR_COLUMNS)
    assert all(values.shape == (5,) for values in scores.values())
    np.testing.assert_allclose(scores["abs_logfc_x_jsd"], scores["abs_logfc"] * scores["jsd"])
    np.testing.assert_allclose(scores["logfc_x_jsd"], scores["logfc"] * scores["jsd"])


def test_multiple_count_outputs_are_summed():
    counts1 = np.array([[1.0, 3.0]])
    counts2 = np.array([[2.0, 6.0]])
    profile = np.zeros((1, 2, 10))
    predictions = AllelePredictions(PROFILE_COUNTS, counts1, counts2, profile, profile)
    scores = variant_scores(predictions, [snp()], 14)
    assert scores["allele1_pred_counts"][0] == 4.0 and scores["allele2_pred_counts"][0] == 8.0
    assert scores["logfc"][0] == pytest.approx(1.0)


# --- classifiers ------------------------------------------------------------------------------


def test_classifier_logits_averaged_and_task_columns():
    torch.manual_seed(0)
    model = conv_net(n_tasks=2).eval()
    generator = torch.Generator().manual_seed(4)
    X1 = random_one_hot(6, LENGTH, generator).numpy()
    X2 = random_one_hot(6, LENGTH, generator).numpy()
    predictions = predict_alleles(model, X1, X2, device="cpu")
    assert predictions.kind == LOGITS
    f1, r1 = by_hand_single(model, X1)
    f2, r2 = by_hand_single(model, X2)
    logit1, logit2 = (f1 + r1) / 2, (f2 + r2) / 2
    np.testing.assert_allclose(predictions.logits1, logit1, rtol=1e-5, atol=1e-6)
    scores = variant_scores(predictions, [snp() for _ in range(6)], LENGTH)
    assert list(scores) == [
        f"{name}_task{t}"
        for t in range(2)
        for name in ("allele1_logit", "allele2_logit", "logit_diff", "prob_diff", "abs_logit_diff")
    ]
    np.testing.assert_allclose(scores["logit_diff_task1"], logit2[:, 1] - logit1[:, 1], atol=1e-5)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    np.testing.assert_allclose(
        scores["prob_diff_task0"], sigmoid(logit2[:, 0]) - sigmoid(logit1[:, 0]), atol=1e-6
    )
    assert effects.tested_columns(list(scores)) == ["abs_logit_diff_task0", "abs_logit_diff_task1"]


def by_hand_single(model, X):
    with torch.no_grad():
        forward = model(torch.from_numpy(X)).double().numpy()
        reverse = model(torch.from_numpy(np.ascontiguousarray(X[:, ::-1, ::-1]))).double().numpy()
    return forward, reverse


def test_keras_style_logits_output_is_the_default():
    class Split(nn.Module):
        default_output = "logits"

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            logits = self.inner(x)
            return {"logits": logits, "activated": torch.sigmoid(logits)}

    torch.manual_seed(0)
    inner = conv_net(n_tasks=3).eval()
    generator = torch.Generator().manual_seed(5)
    X1 = random_one_hot(3, LENGTH, generator).numpy()
    X2 = random_one_hot(3, LENGTH, generator).numpy()
    plain = predict_alleles(inner, X1, X2, device="cpu")
    split = predict_alleles(Split(inner), X1, X2, device="cpu")
    np.testing.assert_allclose(split.logits1, plain.logits1, rtol=1e-6)
    activated = predict_alleles(Split(inner), X1, X2, device="cpu", output="activated")
    assert activated.logits1.min() >= 0 and activated.logits1.max() <= 1


def test_output_index_and_refusals():
    model = GataCounter()
    X = windows(with_motif("GATA", 18))
    counts_only = predict_alleles(model, X, X, output=1, forward_only=True, device="cpu")
    assert counts_only.kind == LOGITS
    np.testing.assert_allclose(counts_only.logits1, [[0.5 + 0.8]], rtol=1e-6)
    with pytest.raises(LiftGenomicsError, match="profile, counts"):
        predict_alleles(model, X, X, output=0, device="cpu")
    with pytest.raises(LiftGenomicsError, match="differ in shape"):
        predict_alleles(model, X, X[:, :, :-1], device="cpu")
    with pytest.raises(LiftGenomicsError, match="batch_size"):
        predict_alleles(model, X, X, batch_size=0, device="cpu")
    predictions = predict_alleles(model, X, X, device="cpu")
    with pytest.raises(LiftGenomicsError, match="2 variants for 1 predictions"):
        variant_scores(predictions, [snp(), snp()], LENGTH)


# --- JSD --------------------------------------------------------------------------------------


@pytest.mark.parametrize("strands", [1, 2])
def test_jsd_matches_scipy_on_softmaxed_profiles(strands):
    rng = np.random.default_rng(0)
    profile1 = rng.normal(size=(6, strands, 30)) * 2
    profile2 = rng.normal(size=(6, strands, 30)) * 2
    predictions = AllelePredictions(
        PROFILE_COUNTS, np.ones((6, 1)), np.ones((6, 1)), profile1, profile2
    )
    scores = variant_scores(predictions, [snp() for _ in range(6)], 50)
    expected = [
        jensenshannon(scipy_softmax(p2.ravel()), scipy_softmax(p1.ravel()), base=2)
        for p1, p2 in zip(profile1, profile2, strict=True)
    ]
    np.testing.assert_allclose(scores["jsd"], expected, rtol=1e-10)
    np.testing.assert_array_equal(scores["jsd"], scores["original_jsd"])
    np.testing.assert_allclose(scores["logfc"], 0.0)


def test_realigned_positions_by_hand():
    # L = 14, Lout = 9: trimming 2, the variant's first base at output 7 - 2 = 5 (not 9 // 2).
    assert profile_center(14, 9) == 5
    assert profile_center(2114, 1000) == 500
    deletion = realigned_positions(3, 1, 5, 9)  # e.g. ACG -> A
    assert deletion[0].tolist() == [0, 1, 2, 3, 4, 5, 8]
    assert deletion[1].tolist() == [0, 1, 2, 3, 4, 5, 6]
    insertion = realigned_positions(0, 2, 5, 9)  # - -> TT
    assert insertion[0].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert insertion[1].tolist() == [0, 1, 2, 3, 4, 7, 8]
    # chrombpnet's case (the variant at Lout // 2) as its adjust_indel_jsd slices it.
    index1, index2 = realigned_positions(4, 2, 10, 20)
    assert index1.tolist() == list(range(12)) + list(range(14, 20))
    assert index2.tolist() == list(range(18))


@pytest.mark.parametrize("strands", [1, 2])
def test_indel_jsd_on_a_hand_made_profile(strands):
    rng = np.random.default_rng(1)
    profile1 = rng.normal(size=(2, strands, 9))
    profile2 = rng.normal(size=(2, strands, 9))
    variants = [Variant("chr1", 10, "ACG", "A", "del"), Variant("chr1", 10, "-", "TT", "ins")]
    predictions = AllelePredictions(
        PROFILE_COUNTS, np.ones((2, 1)), np.ones((2, 1)), profile1, profile2
    )
    scores = variant_scores(predictions, variants, 14)
    kept = [([0, 1, 2, 3, 4, 5, 8], [0, 1, 2, 3, 4, 5, 6]), ([0, 1, 2, 3, 4, 5, 6],
            [0, 1, 2, 3, 4, 7, 8])]  # fmt: skip
    for i, (index1, index2) in enumerate(kept):
        p1 = scipy_softmax(profile1[i].ravel()).reshape(strands, 9)[:, index1].ravel()
        p2 = scipy_softmax(profile2[i].ravel()).reshape(strands, 9)[:, index2].ravel()
        assert scores["jsd"][i] == pytest.approx(jensenshannon(p1, p2, base=2), rel=1e-10)
        original = jensenshannon(
            scipy_softmax(profile1[i].ravel()), scipy_softmax(profile2[i].ravel()), base=2
        )
        assert scores["original_jsd"][i] == pytest.approx(original, rel=1e-10)
    assert effects.tested_columns(list(scores)) == ["abs_logfc", "jsd", "abs_logfc_x_jsd"]


class Pointwise(nn.Module):
    """Profile logit at output j from the base at input j + trim alone; counts from the sum."""

    def __init__(self, trim: int = 5):
        super().__init__()
        self.trim = trim
        self.weights = nn.Conv1d(4, 1, 1, bias=False)
        with torch.no_grad():
            self.weights.weight.copy_(torch.tensor([[[0.3], [-1.2], [2.0], [0.7]]]))

    def forward(self, x):
        profile = self.weights(x)[:, :, self.trim : x.shape[2] - self.trim]
        return profile, profile.sum(dim=2) * 0.01


def test_realignment_undoes_an_indels_shift_end_to_end():
    rng = np.random.default_rng(2)
    genome = "".join(rng.choice(list("ACGT"), size=200))
    at = 100  # 0-based position of the variant's first base
    left = genome[at - CENTER : at]
    deletion = (genome[at : at + 2], "")
    insertion = ("", "GTC")
    X1, X2, variants = [], [], []
    for bases1, bases2 in (deletion, insertion):
        right = genome[at + len(bases1) :]
        X1.append((left + bases1 + right)[:LENGTH])
        X2.append((left + bases2 + right)[:LENGTH])
        variants.append(Variant("chr1", at, bases1 or "-", bases2 or "-", f"{bases1}>{bases2}"))
    predictions = predict_alleles(Pointwise(), windows(*X1), windows(*X2), device="cpu")
    scores = variant_scores(predictions, variants, LENGTH)
    assert (scores["original_jsd"] > 0.01).all()
    np.testing.assert_allclose(scores["jsd"], 0.0, atol=1e-6)
