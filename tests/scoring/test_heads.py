"""Tests for liftgenomics.scoring.heads: what ``score`` explains, resolved from hand-built
outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.scoring.heads import (
    Head,
    file_names,
    group_by_output,
    is_bpnet_pair,
    planned_hyp_files,
    resolve_heads,
    split_targets,
)

PAIR = (torch.zeros(1, 2, 30), torch.zeros(1, 1))
LOGITS = torch.zeros(1, 3)


def test_bpnet_pair_defaults_to_both_heads_in_chrombpnet_order():
    heads = resolve_heads(PAIR)
    assert heads == [Head("counts", 1, 0, True), Head("profile", 0, "profile", True)]
    assert file_names(heads)["counts"] == {
        "hyp": "hyp.counts.npz", "contrib": "contrib.counts.npz", "bigwig": "contrib.counts.bw"
    }


def test_named_heads_keep_their_name_alone_and_use_dict_keys():
    assert file_names(resolve_heads(PAIR, profile_or_counts=["profile"]))["profile"]["hyp"] == (
        "hyp.profile.npz"
    )
    raw = {"profile": torch.zeros(1, 1, 9), "counts": torch.zeros(1, 1)}
    assert resolve_heads(raw, output="counts") == [Head("counts", "counts", 0, True)]
    assert resolve_heads(raw) == [
        Head("counts", "counts", 0, True), Head("profile", "profile", "profile", True)
    ]


def test_output_and_targets():
    assert resolve_heads(PAIR, output="profile") == [Head("profile", 0, "profile", True)]
    assert resolve_heads(PAIR, output="1") == [Head("task0", 1, 0)]
    heads = resolve_heads(PAIR, output="profile", target=["sum", "3:9"])
    assert [h.name for h in heads] == ["sum", "window3-9"]
    assert [h.target for h in heads] == ["sum", "3:9"]
    assert [h.name for h in resolve_heads(LOGITS, target="all")] == ["task0", "task1", "task2"]
    single = resolve_heads(LOGITS, target=["2"])
    assert single == [Head("task2", None, 2)] and file_names(single)["task2"]["hyp"] == "hyp.npz"
    assert group_by_output(heads) == [(0, heads)]


def test_split_targets():
    assert split_targets(["0,1", "profile", "5:9"]) == [0, 1, "profile", "5:9"]
    assert split_targets(None) is None


@pytest.mark.parametrize(
    ("raw", "kwargs", "message"),
    [
        (LOGITS, {"profile_or_counts": ["counts"]}, "not BPNet's"),
        (PAIR, {"profile_or_counts": ["counts"], "target": "0"}, "leave out"),
        (PAIR, {"profile_or_counts": ["peaks"]}, "unknown head"),
        (PAIR, {"output": "5"}, "not an index"),
        (PAIR, {"output": "scores"}, "give an index"),
        (LOGITS, {"target": "3"}, "out of range"),
        (PAIR, {"output": "counts", "target": "1"}, "out of range"),
        (PAIR, {"output": "profile", "target": "0:31"}, "exceeds"),
        (PAIR, {"output": "profile", "target": "0"}, "profile output"),
        (LOGITS, {"target": ["0", "0"]}, "twice"),
        ((torch.zeros(1, 2), torch.zeros(1, 3)), {}, "choose one"),
    ],
)
def test_bad_choices_are_one_line_errors(raw, kwargs, message):
    with pytest.raises(LiftGenomicsError, match=message) as error:
        resolve_heads(raw, **kwargs)
    assert "\n" not in str(error.value)


def test_is_bpnet_pair():
    assert is_bpnet_pair(PAIR) and not is_bpnet_pair(LOGITS)
    assert not is_bpnet_pair((torch.zeros(1, 2, 3), torch.zeros(1, 2)))


def test_planned_files_match_the_resolved_ones():
    for kwargs in (
        {"profile_or_counts": ["counts", "profile"]},
        {"output": "counts"},
        {"output": "profile", "target": ["profile", "sum"]},
    ):
        resolved = {n: f["hyp"] for n, f in file_names(resolve_heads(PAIR, **kwargs)).items()}
        assert planned_hyp_files(**kwargs) == resolved
    assert planned_hyp_files(target=[0]) == {"task0": "hyp.npz"}
    assert planned_hyp_files() is None and planned_hyp_files(target="all") is None


def test_chrombpnet_scores_its_accessibility_model_both_heads(tmp_path):
    """A full ChromBPNet .h5, scored by default: both heads of the accessibility model, whose
    explained values match the Keras model's own predictions (TensorFlow, recorded)."""
    import numpy as np

    from liftgenomics.cli import main

    data = Path(__file__).parents[1] / "data" / "chrombpnet"
    keras = np.load(data / "predictions.npz")
    X = keras["X"]
    letters = np.array(list("ACGT"))
    with open(tmp_path / "seqs.fa", "w") as handle:
        for i, x in enumerate(X):
            bases = np.where(x.sum(axis=0) == 0, "N", letters[x.argmax(axis=0)])
            handle.write(f">s{i}\n{''.join(bases)}\n")
    out = tmp_path / "out"
    argv = ["score", "--model", f"chrombpnet:{data / 'full.h5'}", "--fasta",
            str(tmp_path / "seqs.fa"), "--method", "deeplift_rescale", "--references", "flat",
            "--device", "cpu", "--quiet", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    settings = json.loads((out / "score.json").read_text())
    assert settings["scored_model"] == "accessibility"
    assert [h["name"] for h in settings["heads"]] == ["counts", "profile"]
    rows = [line.split("\t") for line in (out / "regions.tsv").read_text().splitlines()]
    counts = [float(row[6]) for row in rows[1:]]
    profile = [float(row[7]) for row in rows[1:]]
    np.testing.assert_allclose(counts, keras["nobias_counts"][:, 0], rtol=1e-4)
    logits = keras["nobias_profile"].astype(np.float64)
    centred = logits - logits.mean(axis=1, keepdims=True)
    weights = np.exp(centred) / np.exp(centred).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(profile, (weights * centred).sum(axis=1), rtol=1e-4, atol=1e-5)
    assert {"hyp.counts.npz", "hyp.profile.npz"} <= {p.name for p in out.iterdir()}
