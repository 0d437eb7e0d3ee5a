"""Tests for ``liftgenomics convert`` (liftgenomics.models.convert): every convertible source
(a pickled bpnet-lite model, chrombpnet .h5 files and folds, a model directory) round-trips to a
model directory whose predictions equal the source's, which loads without the reader; factory
specs and bad inputs exit 2 with one line and leave nothing behind. Also ``score`` on the real
bpnet-lite CTCF model from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from liftgenomics.cli import build_parser, main
from liftgenomics.models.architectures import paper_cnn
from liftgenomics.models.directory import save_model
from liftgenomics.models.load import load_model
from tests.models import test_bpnet_lite as bl
from tests.models import test_chrombpnet as cb

bpnetlite_names = bl.bpnetlite_names  # the fixture registering bpnet-lite's names


def outputs(model, length, seed=0):
    rng = np.random.default_rng(seed)
    X = torch.from_numpy(np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, length))])
    with torch.no_grad():
        result = model(X.transpose(1, 2).contiguous())
    if isinstance(result, dict):
        return tuple(result[key] for key in sorted(result))
    return result if isinstance(result, tuple) else (result,)


def assert_round_trip(spec, out, length):
    source = load_model(spec)
    assert main(["convert", "--model", spec, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.safetensors"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left
    converted = load_model(out)
    assert type(converted) is type(source)
    assert getattr(converted, "input_length", None) == getattr(source, "input_length", None)
    for a, b in zip(outputs(source, length), outputs(converted, length), strict=True):
        assert torch.equal(a, b)
    document = json.loads((out / "model.json").read_text())
    assert document["metadata"]["source"] == spec
    return document


def test_convert_a_bpnet_lite_pickle(tmp_path):
    bl.write_bpnet_lite(tmp_path / "m.torch", seed=2)
    spec = f"bpnet-lite:{tmp_path / 'm.torch'}"
    document = assert_round_trip(spec, tmp_path / "out", 300)
    import hashlib

    digest = hashlib.sha256((tmp_path / "m.torch").read_bytes()).hexdigest()
    assert document["metadata"]["inputs"] == {str(tmp_path / "m.torch"): digest}
    assert document["architecture"]["name"] == "bpnet"
    assert document["architecture"]["count_trimming"] == 70 - 37


def test_convert_a_bpnet_lite_chrombpnet(tmp_path):
    bias = bl.tiny_bpnet(4, n_filters=4, n_layers=2, n_outputs=1, trimming=60)
    accessibility = bl.tiny_bpnet(5, n_filters=6, n_layers=3, n_outputs=1, trimming=70)
    torch.save(bl.StandInChromBPNet(bias, accessibility), tmp_path / "c.torch")
    document = assert_round_trip(f"bpnet-lite:{tmp_path / 'c.torch'}", tmp_path / "out", 300)
    assert document["architecture"]["name"] == "chrombpnet_pair"


def test_convert_chrombpnet_files_and_folds(tmp_path):
    rng = np.random.default_rng(1)
    cb.write_h5(tmp_path / "acc.h5", [("wo_bias_", None, cb.random_weights(rng, 8, 2), 2)])
    one = assert_round_trip(f"chrombpnet:{tmp_path / 'acc.h5'}", tmp_path / "one", cb.LENGTH)
    assert one["architecture"]["name"] == "bpnet"
    bias_w, acc_w = cb.random_weights(rng, 4, 1), cb.random_weights(rng, 8, 2)
    cb.write_h5(
        tmp_path / "full.h5", [("", "model", bias_w, 1), ("wo_bias_", "model_wo_bias", acc_w, 2)]
    )
    full = assert_round_trip(f"chrombpnet:{tmp_path / 'full.h5'}", tmp_path / "full", cb.LENGTH)
    assert full["architecture"]["name"] == "chrombpnet_pair"
    cb.write_folds(tmp_path / "ENCSRTEST", 2)
    spec = f"chrombpnet:{tmp_path / 'ENCSRTEST'}"
    folds = assert_round_trip(spec, tmp_path / "folds", cb.LENGTH)
    assert folds["architecture"]["name"] == "fold_average"
    assert len(folds["metadata"]["inputs"]) == 4  # every .h5 file, with its SHA-256
    converted = load_model(tmp_path / "folds")
    source = load_model(spec)
    for a, b in zip(
        outputs(source.accessibility, cb.LENGTH),
        outputs(converted.accessibility, cb.LENGTH),
        strict=True,
    ):
        assert torch.equal(a, b)


def test_convert_a_model_directory_and_into_an_existing_one(tmp_path):
    torch.manual_seed(0)
    architecture = {
        "name": "paper_cnn",
        "n_tasks": 2,
        "length": 40,
        "filters": 6,
        "width": 5,
        "hidden": 7,
    }
    save_model(
        paper_cnn(**{k: v for k, v in architecture.items() if k != "name"}),
        tmp_path / "trained",
        architecture,
        {"epochs": 1},
    )
    document = assert_round_trip(str(tmp_path / "trained"), tmp_path / "copy", 40)
    assert document["metadata"]["source_metadata"] == {"epochs": 1}
    assert len(document["metadata"]["inputs"]) == 2
    # Converting again into the same directory replaces its two files.
    assert (
        main(["convert", "--model", str(tmp_path / "trained"), "--out", str(tmp_path / "copy")])
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == [
        "model.json",
        "model.safetensors",
    ]


def test_convert_holds_the_output_lock(tmp_path, capsys):
    """A live run's lock beside --out refuses in one line; a dead run's lock and its staging
    folder are taken over and removed."""
    import socket

    from liftgenomics.locks import lock_path

    torch.manual_seed(0)
    architecture = {"name": "paper_cnn", "n_tasks": 1, "length": 20, "filters": 2, "width": 3,
                    "hidden": 2}  # fmt: skip
    save_model(
        paper_cnn(**{k: v for k, v in architecture.items() if k != "name"}),
        tmp_path / "trained",
        architecture,
    )
    out = tmp_path / "copy"
    argv = ["convert", "--model", str(tmp_path / "trained"), "--out", str(out)]
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        lock_path(out).write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname()}))
        assert main(argv) == 2
    finally:
        sleeper.kill()
        sleeper.wait()
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and f"another run (pid {sleeper.pid})" in error[0]
    assert not out.exists()
    (tmp_path / ".copy.abcd1234.part").mkdir()  # a killed convert's staging folder
    assert main(argv) == 0  # the sleeper is dead now: its lock is stale
    assert "taking over the lock" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "trained"]


@pytest.mark.skipif(not (bl.REAL_MODELS / "deeplift-paper").is_dir(), reason="no real models")
def test_convert_a_keras_model_with_its_weights(tmp_path):
    paper = bl.REAL_MODELS / "deeplift-paper"
    stem = "keras2_conv1d_record_5_model_PQzyq_model"
    spec, weights = f"keras:{paper / (stem + 'Json.json')}", paper / (stem + "Weights.h5")
    argv = ["convert", "--model", spec, "--weights", str(weights), "--out", str(tmp_path / "k")]
    assert main(argv) == 0
    source, converted = load_model(spec, weights=weights), load_model(tmp_path / "k")
    for a, b in zip(outputs(source, 200), outputs(converted, 200), strict=True):
        assert torch.equal(a, b)
    document = json.loads((tmp_path / "k" / "model.json").read_text())
    assert document["architecture"]["name"] == "keras"
    assert sorted(document["metadata"]["inputs"]) == sorted(
        str(paper / (stem + suffix)) for suffix in ("Json.json", "Weights.h5")
    )


@pytest.mark.parametrize(
    "spec, message",
    [
        ("{tmp}/models.py:factory", "is a factory model, rebuilt by its own code; convert reads"),
        ("package.module:factory", "is a factory model"),
        ("bpnet-lite:{tmp}/absent.torch", "file not found"),
        ("bpnet-lite:{tmp}/text.torch", "not a torch.save zip archive"),
        ("chrombpnet:{tmp}/text.torch", "not an HDF5"),
        ("{tmp}/absent", "model not found"),
    ],
)
def test_bad_inputs_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, spec, message):
    (tmp_path / "models.py").write_text("def factory():\n    raise SystemExit('ran')\n")
    (tmp_path / "text.torch").write_text("not a model\n")
    out = tmp_path / "out" / "model"
    status = main(["convert", "--model", spec.format(tmp=tmp_path), "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("liftgenomics: error: ") and message in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_model_args_and_out_file_are_refused(tmp_path, capsys):
    bl.write_bpnet_lite(tmp_path / "m.torch")
    spec = f"bpnet-lite:{tmp_path / 'm.torch'}"
    assert (
        main(["convert", "--model", spec, "--model-args", "{}", "--out", str(tmp_path / "o")]) == 2
    )
    assert "--model-args applies to" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["convert", "--model", spec, "--out", str(tmp_path / "file")]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_building_the_parser_imports_no_torch():
    code = (
        "import sys; from liftgenomics.cli import build_parser; build_parser(); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
    assert "convert" in build_parser().format_help()


# --- score on the real bpnet-lite CTCF model --------------------------------------------------


@bl.real
def test_score_the_real_bpnet_lite_model_both_heads(tmp_path, ctcf_inputs):
    X0, X1, start, end = ctcf_inputs
    letters = np.array(list("ACGT"))
    with open(tmp_path / "seqs.fa", "w") as handle:
        for i, x in enumerate([X0[0], X1[0]]):
            handle.write(f">s{i}\n{''.join(letters[x.argmax(axis=0)])}\n")
    out = tmp_path / "out"
    argv = [
        "score",
        "--model",
        f"bpnet-lite:{bl.CTCF_MODEL}",
        "--fasta",
        str(tmp_path / "seqs.fa"),
        "--method",
        "deeplift_rescale",
        "--references",
        "flat",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    settings = json.loads((out / "score.json").read_text())
    assert [h["name"] for h in settings["heads"]] == ["counts", "profile"]
    rows = [line.split("\t") for line in (out / "regions.tsv").read_text().splitlines()]
    header = rows[0]
    counts = [float(row[header.index("prediction_counts")]) for row in rows[1:]]
    model = load_model(f"bpnet-lite:{bl.CTCF_MODEL}")
    with torch.no_grad():
        _, expected = model(torch.from_numpy(np.stack([X0[0], X1[0]])))
    np.testing.assert_allclose(counts, expected[:, 0].numpy(), rtol=1e-4)
    assert counts[1] > counts[0] + 1.0
    hyp = np.load(out / "hyp.counts.npz")["arr_0"]
    ohe = np.load(out / "ohe.npz")["arr_0"]
    contrib = np.abs((hyp * ohe).sum(axis=1))[1]
    assert contrib[start - 20 : end + 20].sum() / contrib.sum() > 0.3
    assert {"hyp.counts.npz", "hyp.profile.npz"} <= {p.name for p in out.iterdir()}


@pytest.fixture(scope="module")
def ctcf_inputs():
    return bl.make_ctcf_inputs()
