"""The Keras reader on real trained models written by others (skipped where they are absent)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from liftgenomics.genome.sequence import one_hot_encode_batch
from liftgenomics.models.keras import load_keras

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-models"
PAPER = REAL / "deeplift-paper"
PAPER_JSON = PAPER / "keras2_conv1d_record_5_model_PQzyq_modelJson.json"
PAPER_WEIGHTS = PAPER / "keras2_conv1d_record_5_model_PQzyq_modelWeights.h5"
DRAGONN = REAL / "dragonn-ctcf"
DRAGONN_JSON = DRAGONN / "in_vivo_ctcf_balanced_arch.arch.json"
DRAGONN_WEIGHTS = DRAGONN / "in_vivo_ctcf_balanced_model.weights.hd5"

needs_paper = pytest.mark.skipif(
    not PAPER_WEIGHTS.is_file(), reason=f"the DeepLIFT paper model is not at {PAPER}"
)
needs_dragonn = pytest.mark.skipif(
    not DRAGONN_WEIGHTS.is_file(), reason=f"the DragoNN CTCF model is not at {DRAGONN}"
)


@pytest.fixture(scope="module")
def paper_model():
    return load_keras(PAPER_JSON, weights=PAPER_WEIGHTS)


def _test_set() -> tuple[torch.Tensor, np.ndarray]:
    with gzip.open(PAPER / "test.txt.gz", "rt") as handle:
        test_ids = set(handle.read().split())
    with gzip.open(PAPER / "sequences.simdata.gz", "rt") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in handle]
    name, sequence = header.index("seqName"), header.index("sequence")
    tasks = [header.index(f"task{t}") for t in (1, 2, 3)]
    chosen = [row for row in rows if row[name] in test_ids]
    assert len(chosen) == 800
    x = torch.from_numpy(one_hot_encode_batch([row[sequence] for row in chosen]))
    labels = np.array([[int(row[t]) for t in tasks] for row in chosen])
    return x, labels


@needs_paper
def test_paper_model_test_accuracy(paper_model):
    x, labels = _test_set()
    assert paper_model.input_length == 200 and paper_model.default_output == "logits"
    with torch.no_grad():
        out = paper_model(x)
    probabilities = out["activated"].numpy()
    np.testing.assert_allclose(probabilities, torch.sigmoid(out["logits"]).numpy(), atol=1e-7)
    accuracy = ((probabilities > 0.5) == labels).mean(axis=0) * 100
    np.testing.assert_allclose(accuracy, [94.8, 93.9, 97.2], atol=0.15)


@needs_paper
def test_deeplift_on_the_paper_model(paper_model):
    from liftgenomics.attribution import attribute

    x, _ = _test_set()
    x = x[:8]
    references = torch.full((8, 1, 4, 200), 0.25)
    scores = attribute(paper_model, x, references, target=0, method="deeplift_genomics")
    assert scores.shape == (8, 4, 200) and torch.isfinite(scores).all()
    # Summation to delta on the logit (the engine also checks this and raises otherwise).
    with torch.no_grad():
        delta = paper_model(x)["logits"][:, 0] - paper_model(references[:, 0])["logits"][:, 0]
    torch.testing.assert_close(scores.sum(dim=(1, 2)), delta, atol=1e-3, rtol=1e-3)


@needs_dragonn
def test_dragonn_ctcf_motif_versus_shuffled_background():
    from liftgenomics.genome.shuffles import dinucleotide_shuffle
    from liftgenomics.motifs.meme import get_motif

    model = load_keras(DRAGONN_JSON, weights=DRAGONN_WEIGHTS)
    assert model.input_length == 1000 and model.metadata["keras_version"] == "0"
    probabilities = get_motif("CTCF_known1").probabilities
    consensus = "".join("ACGT"[i] for i in probabilities.argmax(axis=1))
    rng = np.random.default_rng(0)
    background = ["".join(rng.choice(list("ACGT"), 1000)) for _ in range(20)]
    shuffled = dinucleotide_shuffle(one_hot_encode_batch(background), 1, seed=1)[:, 0]
    start = 500 - len(consensus) // 2
    pasted = [s[:start] + consensus + s[start + len(consensus) :] for s in background]
    with torch.no_grad():
        p_motif = model(torch.from_numpy(one_hot_encode_batch(pasted)))["activated"]
        p_shuffled = model(torch.as_tensor(shuffled))["activated"]
    assert float(p_motif.median()) > 0.9
    assert float(p_shuffled.median()) < 0.1
