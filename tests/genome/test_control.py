"""Tests for liftgenomics.genome.control: control tracks read from bigWigs written here, array rows,
zeros with a warning, and the control reaching the model through ``score``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from liftgenomics.attribution import attribute
from liftgenomics.cli import main
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.control import ArrayInputs, ZeroControl, open_extra_inputs
from liftgenomics.genome.regions import Region
from liftgenomics.models.architectures import bpnet

pyBigWig = pytest.importorskip("pyBigWig")


def write_bigwig(path, entries, sizes=(("chr1", 100), ("chr2", 50))):
    """A bigWig with ``entries`` = [(chrom, start, values)]."""
    handle = pyBigWig.open(str(path), "w")
    handle.addHeader(list(sizes))
    for chrom, start, values in entries:
        handle.addEntries(chrom, start, values=[float(v) for v in values], span=1, step=1)
    handle.close()
    return str(path)


def test_bigwig_rows_by_hand(tmp_path):
    plus = write_bigwig(tmp_path / "p.bw", [("chr1", 10, [1, 2, 3]), ("chr1", 95, [7, 8])])
    minus = write_bigwig(tmp_path / "m.bw", [("chr1", 12, [5])], sizes=(("chr1", 100),))
    source = open_extra_inputs(f"{plus},{minus}", None, 3)
    regions = [
        Region("a", "chr1", 8, 14),  # data at 10, 11, 12 (plus) and 12 (minus)
        Region("b", "chr1", 96, 102),  # runs off chr1 (length 100): zeros past the end
        Region("c", "chr2", -2, 4),  # no data on chr2; chr2 absent from the minus bigWig
    ]
    (rows,) = source.rows(regions, 0, 6)
    expected = np.zeros((3, 2, 6), dtype=np.float32)
    expected[0, 0, 2:5] = [1, 2, 3]
    expected[0, 1, 4] = 5
    expected[1, 0, 0] = 8  # position 96 holds 8; 97 on nothing, 100 on off the chromosome
    np.testing.assert_array_equal(rows, expected)
    source.close()


def test_array_rows_and_zeros(tmp_path):
    data = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    np.save(tmp_path / "x.npy", data)
    source = open_extra_inputs(str(tmp_path / "x.npy"), None, 5)
    assert isinstance(source, ArrayInputs)
    np.testing.assert_array_equal(source.rows([None, None], 3, 3)[0], data[3:5])
    with pytest.warns(UserWarning, match="all-zero control"):
        zeros = open_extra_inputs(None, bpnet(2, 1, length=120), 5)
    assert isinstance(zeros, ZeroControl)
    assert zeros.rows([None] * 4, 0, 7)[0].shape == (4, 2, 7)
    assert open_extra_inputs(None, bpnet(2, 1, n_control_tracks=0, length=120), 5).rows(
        [None], 0, 7
    ) == ()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: f"{p}/missing.bw", "not found"),
        (lambda p: f"{p}/x.npy", "one row per scored region"),
        (lambda p: f"{p}/one.bw", "1 tracks, but the model takes 2"),
        (lambda p: f"{p}/bad.bw", "not a readable bigWig"),
    ],
)
def test_bad_controls(tmp_path, make, message):
    np.save(tmp_path / "x.npy", np.zeros((3, 2, 4), dtype=np.float32))
    write_bigwig(tmp_path / "one.bw", [("chr1", 0, [1])])
    (tmp_path / "bad.bw").write_text("not a bigwig")
    with pytest.raises(LiftGenomicsError, match=message):
        open_extra_inputs(make(tmp_path), bpnet(2, 1, length=120), 4)


def test_model_without_control_refuses_one(tmp_path):
    path = write_bigwig(tmp_path / "a.bw", [("chr1", 0, [1])])
    with pytest.raises(LiftGenomicsError, match="takes no control"):
        open_extra_inputs(f"{path},{path}", bpnet(2, 1, n_control_tracks=0, length=120), 1)


def test_score_passes_the_control_to_the_model(tmp_path):
    """Scores with a bigWig control = attribute() given the control built by hand."""
    rng = np.random.default_rng(2)
    sequence = "".join(rng.choice(list("ACGT"), 300))
    fasta = tmp_path / "g.fa"
    fasta.write_text(">chr1\n" + sequence + "\n")
    (tmp_path / "r.bed").write_text("chr1\t40\t60\tr1\nchr1\t150\t170\tr2\n")
    plus_values = rng.poisson(2.0, 300).astype(float)
    plus = write_bigwig(tmp_path / "p.bw", [("chr1", 0, plus_values)], (("chr1", 300),))
    minus = write_bigwig(tmp_path / "m.bw", [("chr1", 100, [4.0] * 50)], (("chr1", 300),))
    torch.manual_seed(0)
    model = bpnet(n_filters=3, n_layers=1, length=120)
    weights = tmp_path / "w.pt"
    torch.save(model.state_dict(), weights)
    out = tmp_path / "out"
    status = main([
        "score", "--model", "liftgenomics.models.architectures:bpnet", "--weights", str(weights),
        "--model-args", '{"n_filters": 3, "n_layers": 1, "length": 120}',
        "--fasta", str(fasta), "--bed", str(tmp_path / "r.bed"), "--control", f"{plus},{minus}",
        "--method", "deeplift_rescale", "--references", "flat", "--output", "counts",
        "--device", "cpu", "--quiet", "--out", str(out),
    ])  # fmt: skip
    assert status == 0
    # By hand: regions centred on 50 and 160, 120 bp: [-10, 110) runs off -> skipped;
    # [100, 220) is scored. Control rows over [100, 220).
    settings = json.loads((out / "score.json").read_text())
    assert settings["regions"] == 1 and settings["skipped"] == 1
    control = np.zeros((1, 2, 120), dtype=np.float32)
    control[0, 0] = plus_values[100:220]
    control[0, 1, :50] = 4.0
    X = np.zeros((1, 4, 120), dtype=np.float32)
    X[0, ["ACGT".index(b) for b in sequence[100:220]], np.arange(120)] = 1
    expected = attribute(
        model, X, "flat", 0, forward_args=(torch.from_numpy(control),), output=1,
        method="deeplift_rescale", hypothetical=True, device="cpu",
    )  # fmt: skip
    hyp = np.load(out / "hyp.counts.npz")["arr_0"]
    np.testing.assert_allclose(hyp, expected.numpy(), rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        counts = model(torch.from_numpy(X), torch.from_numpy(control))[1]
        counts_zero = model(torch.from_numpy(X), torch.zeros(1, 2, 120))[1]
    assert float(counts) != pytest.approx(float(counts_zero))  # the control matters
    row = (out / "regions.tsv").read_text().splitlines()[1].split("\t")
    assert float(row[6]) == pytest.approx(float(counts), rel=1e-5)
