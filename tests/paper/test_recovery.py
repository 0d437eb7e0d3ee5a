"""Tests of the motif-recovery metrics on small hand-built inputs with known answers."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import load_one_hot, one_hot_encode, one_hot_encode_batch
from liftgenomics.io import save_npz_atomic
from liftgenomics.paper.recovery import (
    evaluate_attributions,
    false_negative_rate,
    false_positive_ratio,
    find_hits,
    instance_mask,
    per_base_recovery,
    position_scores,
    score_hits,
    window_totals,
)
from liftgenomics.paper.simulate import simulate_dataset, write_simulation
from liftgenomics.paper.simulation_config import resolve_simulation_config


def test_position_scores_project_onto_the_base_present():
    x = one_hot_encode("ACGT")[None]
    hyp = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    # A at 0 -> hyp[0, 0, 0]; C at 1 -> hyp[0, 1, 1]; ...
    assert position_scores(hyp, x).tolist() == [[0.0, 5.0, 10.0, 15.0]]
    with pytest.raises(LiftGenomicsError, match="do not match"):
        position_scores(hyp[:, :, :3], x)


def test_window_totals_known_sums_and_padding():
    scores = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    totals = window_totals(scores, np.array([[0, 2, -1]]), 3)
    assert totals[0, :2].tolist() == [6.0, 12.0]
    assert math.isnan(totals[0, 2])


def test_find_and_score_hits_on_a_planted_kmer():
    # A 3-mer "GAT" matrix: log-odds 1 for the matching base, -1 otherwise.
    matrix = -np.ones((3, 4))
    matrix[0, 2] = matrix[1, 0] = matrix[2, 3] = 1.0
    sequences = ["CCGATCCCGATC", "CCCCCCCCCCCC"]
    x = one_hot_encode_batch(sequences)
    hits = find_hits(x, ["s0", "s1"], ["gata", "neither"], {"GAT": matrix}, n=2)
    first = hits[hits["id"] == "s0"].sort_values("start")
    assert first["start"].tolist() == [2, 8]
    assert first["log_odds"].tolist() == [3.0, 3.0]
    scores = np.zeros((2, 12))
    scores[0, 2:5] = [0.5, 0.25, 0.25]
    totals = score_hits(hits, scores)
    by_start = dict(
        zip(hits.loc[hits["id"] == "s0", "start"], totals[hits["id"] == "s0"], strict=True)
    )
    assert by_start == {2: 1.0, 8: 0.0}


def test_false_negative_rate_counts_strong_hits_at_or_below_zero():
    log_odds = np.array([8.0, 9.0, 7.0, 3.0, 12.0])
    totals = np.array([1.0, 0.0, -2.0, -5.0, 0.5])
    # strong: 8, 9, 7, 12 -> totals 1, 0, -2, 0.5 -> two of four <= 0
    assert false_negative_rate(log_odds, totals) == 0.5
    assert math.isnan(false_negative_rate(np.array([1.0]), np.array([1.0])))


def test_false_positive_ratio_relative_to_own_task():
    log_odds = np.array([8.0, 8.0, 2.0])
    own = np.array([2.0, 4.0, 100.0])
    other = np.array([0.3, -0.1, 50.0])
    assert false_positive_ratio(log_odds, other, own) == pytest.approx(0.1 / 3.0)
    assert math.isnan(false_positive_ratio(log_odds, other, np.zeros(3)))


def test_instance_mask_and_per_base_recovery():
    instances = pd.DataFrame(
        {"id": ["a", "b"], "start": [1, 0], "end": [3, 2], "motif": ["M", "N"]}
    )
    mask = instance_mask(["a", "b"], 5, instances, "M")
    assert mask.tolist() == [[False, True, True, False, False], [False] * 5]
    scores = np.array([[0.0, 2.0, 3.0, 1.0, 0.0], [9.0, 9.0, 0.0, 0.0, 0.0]])
    positives = mask
    negatives = ~instance_mask(["a", "b"], 5, instances)
    auc, aupr = per_base_recovery(scores, positives, negatives)
    assert auc == 1.0 and aupr == 1.0
    assert all(math.isnan(v) for v in per_base_recovery(scores, mask & False, negatives))


def test_evaluate_attributions_on_a_tiny_simulation(tmp_path):
    config = resolve_simulation_config({"n_sequences": 80, "length": 100})
    write_simulation(simulate_dataset(config), tmp_path / "sim")
    x = load_one_hot(tmp_path / "sim" / "test.ohe.npz")
    instances = pd.read_csv(tmp_path / "sim" / "test.motifs.tsv", sep="\t", dtype={"id": str})
    ids = pd.read_csv(tmp_path / "sim" / "test.classes.tsv", sep="\t", dtype={"id": str})["id"]
    # An oracle attribution: 1 on every embedded base, 0 elsewhere; and its negation.
    oracle = instance_mask(list(ids), x.shape[2], instances).astype(np.float32)
    files = {}
    for name, sign in (("oracle", 1.0), ("anti", -1.0)):
        for task in range(3):
            path = tmp_path / name / f"task{task}.hyp.npz"
            save_npz_atomic(path, sign * x * oracle[:, None, :])
            files[(name, "flat", task)] = path
    hits, summary = evaluate_attributions(tmp_path / "sim", files)
    assert set(hits.columns) >= {
        "id",
        "class",
        "motif",
        "start",
        "log_odds",
        "method",
        "reference",
        "task",
        "score",
    }
    assert len(hits) == 2 * 3 * len(hits[(hits.method == "oracle") & (hits.task == 0)])
    rows = summary.set_index(["method", "task", "motif"])
    for motif in ("GATA_disc1", "TAL1_known1"):
        assert rows.loc[("oracle", 0, motif), "false_negative_rate"] < 0.1
        assert rows.loc[("anti", 0, motif), "false_negative_rate"] > 0.9
        assert rows.loc[("oracle", 0, motif), "auroc"] == 1.0
        assert rows.loc[("anti", 0, motif), "auroc"] == 0.0
    # The oracle scores every motif on every task, so its false-positive ratio is 1.
    assert rows.loc[("oracle", 1, "TAL1_known1"), "false_positive_ratio"] == pytest.approx(1.0)
    assert math.isnan(rows.loc[("oracle", 1, "GATA_disc1"), "false_positive_ratio"])


def test_method_references_restrict_the_grid(tmp_path):
    from liftgenomics.paper.recovery import (
        attribution_paths,
        methods_scored_at,
        parse_method_references,
    )

    methods, references = ["ism", "integrated_gradients"], ["flat", "dinuc20", "gc20"]
    restricted = parse_method_references(["integrated_gradients=flat,gc20"], methods, references)
    assert restricted == {"integrated_gradients": ["flat", "gc20"]}
    assert methods_scored_at(methods, "dinuc20", restricted) == ["ism"]
    assert methods_scored_at(methods, "gc20", restricted) == methods
    paths = attribution_paths(tmp_path, methods, references, [0, 2], restricted)
    assert sorted(k for k in paths if k[0] == "integrated_gradients") == [
        ("integrated_gradients", "flat", 0), ("integrated_gradients", "flat", 2),
        ("integrated_gradients", "gc20", 0), ("integrated_gradients", "gc20", 2),
    ]  # fmt: skip
    assert len(paths) == 3 * 2 + 2 * 2
    assert paths[("ism", "dinuc20", 2)] == tmp_path / "ism" / "dinuc20" / "task2.hyp.npz"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("integrated_gradients", "expected METHOD=REFERENCE"),
        ("integrated_gradients=", "expected METHOD=REFERENCE"),
        ("deeplift=flat", "method 'deeplift' is not among"),
        ("ism=dinuc:20", "['dinuc:20'] not among the references"),
    ],
)
def test_method_references_bad_items(item, message):
    from liftgenomics.paper.recovery import parse_method_references

    with pytest.raises(LiftGenomicsError, match=re.escape(message)):
        parse_method_references([item], ["ism", "integrated_gradients"], ["flat", "dinuc20"])
