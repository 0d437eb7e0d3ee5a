"""Tests for ``score --chunk/--chunks`` and ``gather-scores``: chunks gathered byte for byte
equal one process, heads of a BPNet/ChromBPNet, and every bad input through the CLI."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

from liftgenomics.cli import main
from liftgenomics.models.directory import save_model
from liftgenomics.models.registry import build_model
from liftgenomics.scoring.options import aligned_chunk_bounds

LENGTH = 30


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("gather")
    rng = np.random.default_rng(4)
    (root / "g.fa").write_text(
        "".join(f">chr{c}\n{''.join(rng.choice(list('ACGT'), 400))}\n" for c in (1, 2))
    )
    rows = [f"chr1\t{s}\t{s + 20}\tp{s}\n" for s in range(20, 360, 37)]
    rows += [f"chr2\t{s}\t{s + 10}\tq{s}\n" for s in range(30, 380, 90)]
    (root / "r.bed").write_text("".join(rows))
    architecture = {"name": "paper_cnn", "n_tasks": 2, "length": LENGTH, "filters": 3,
                    "width": 5, "hidden": 3}  # fmt: skip
    torch.manual_seed(2)
    save_model(build_model(architecture), root / "model", architecture)
    return root


def score(files, out, *extra):
    return main([
        "score", "--model", str(files / "model"), "--fasta", str(files / "g.fa"),
        "--bed", str(files / "r.bed"), "--method", "deeplift_rescale", "--references",
        "dinuc:3", "--target", "0", "1", "--batch-size", "2", "--threads", "1", "--device",
        "cpu", "--quiet", "--out", str(out), *extra,
    ])  # fmt: skip


def test_chunk_bounds_align_to_batches():
    bounds = [aligned_chunk_bounds(13, 4, i, 3) for i in range(4)]
    assert bounds == [(0, 3), (3, 6), (6, 9), (9, 13)]
    assert [aligned_chunk_bounds(5, 3, i, 4) for i in range(3)] == [(0, 0), (0, 4), (4, 5)]


@pytest.mark.filterwarnings("ignore:skipped")
def test_chunks_gathered_equal_one_process_byte_for_byte(files, tmp_path):
    assert score(files, tmp_path / "single", "--bigwig") == 0
    chunks = [tmp_path / f"c{i}" for i in range(3)]
    for i, chunk in enumerate(chunks):
        assert score(files, chunk, "--chunk", str(i), "--chunks", "3") == 0
    settings = json.loads((chunks[1] / "score.json").read_text())
    assert settings["chunk"] == 1 and settings["first_row"] > 0
    gathered = tmp_path / "gathered"
    argv = ["gather-scores", "--out", str(gathered), "--bigwig", "--chunks"]
    assert main(argv + [str(c) for c in chunks]) == 0
    names = sorted(os.listdir(tmp_path / "single"))
    assert names == sorted(os.listdir(gathered)) and "contrib.task1.bw" in names
    for name in names:
        assert (tmp_path / "single" / name).read_bytes() == (gathered / name).read_bytes(), name
    ohe = np.load(gathered / "ohe.npz")["arr_0"]
    assert ohe.shape[0] == json.loads((gathered / "score.json").read_text())["regions"]


@pytest.mark.filterwarnings("ignore:skipped")
def test_gather_refuses_wrong_chunks(files, tmp_path, capsys):
    chunks = [tmp_path / f"c{i}" for i in range(2)]
    for i, chunk in enumerate(chunks):
        assert score(files, chunk, "--chunk", str(i), "--chunks", "2") == 0
    other = tmp_path / "other"
    assert score(files, other, "--chunk", "1", "--chunks", "2", "--seed", "5") == 0
    cases = [
        ([chunks[1], chunks[0]], "given as chunk 0"),
        ([chunks[0]], "given as chunk 0 of 1"),
        ([chunks[0], other], "settings differ"),
        ([chunks[0], tmp_path / "nowhere"], "no score.json"),
    ]
    for given, message in cases:
        out = tmp_path / "out"
        capsys.readouterr()
        assert main(["gather-scores", "--out", str(out), "--chunks", *map(str, given)]) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and "\n" not in error
        assert not out.exists() or not os.listdir(out)
        shutil.rmtree(out, ignore_errors=True)


@pytest.mark.filterwarnings("ignore:skipped")
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--chunk", "3", "--chunks", "3"], "need 0 <= chunk < chunks"),
        (["--chunks", "2", "--bigwig"], "written when the chunks are gathered"),
        (["--target", "2"], "out of range"),
        (["--output", "profile"], "not BPNet's"),
        (["--profile-or-counts", "counts"], "not BPNet's"),
        (["--target", "0:9"], "exceeds the output's 2 positions"),
        (["--control", "nowhere.npy"], "not found"),
    ],
)
def test_bad_score_options_exit_2_and_write_nothing(files, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    argv = [
        "score", "--model", str(files / "model"), "--fasta", str(files / "g.fa"),
        "--bed", str(files / "r.bed"), "--quiet", "--out", str(out), *extra,
    ]  # fmt: skip
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert message in error[-1] and error[-1].startswith("liftgenomics: error:")
    assert not out.exists() or not os.listdir(out)


def test_attribute_takes_output_and_named_targets(tmp_path):
    """``attribute --output 0 --targets profile,sum`` scores BPNet's profile head twice."""
    from liftgenomics.attribution import attribute
    from liftgenomics.models.architectures import bpnet

    args = {"n_filters": 2, "n_layers": 1, "n_control_tracks": 0, "length": 120}
    torch.manual_seed(3)
    model = bpnet(**args)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 120))].transpose(0, 2, 1)
    np.savez_compressed(tmp_path / "x.npz", X)
    argv = ["attribute", "--model", "liftgenomics.models.architectures:bpnet", "--model-args",
            json.dumps(args), "--weights", str(tmp_path / "w.pt"), "--ohe",
            str(tmp_path / "x.npz"), "--output", "0", "--targets", "profile,sum", "--method",
            "deeplift_rescale", "--references", "flat", "--device", "cpu", "--out",
            str(tmp_path / "o.npz")]  # fmt: skip
    assert main(argv) == 0
    with np.load(tmp_path / "o.npz") as saved:
        hyp = saved["hyp"]
    assert hyp.shape == (2, 3, 4, 120)
    for j, target in enumerate(("profile", "sum")):
        direct = attribute(model, X, "flat", target, output=0, method="deeplift_rescale",
                           hypothetical=True, device="cpu")  # fmt: skip
        np.testing.assert_allclose(hyp[j], direct.numpy(), rtol=1e-6, atol=1e-8)
    assert not np.allclose(hyp[0], hyp[1])
