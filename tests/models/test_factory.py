"""Tests for liftgenomics.models.spec/factory: spec parsing, factory models from a .py file or a
module with safetensors / .pt state dicts and JSON arguments, the input-length probe, and every
bad model source through the ``score`` command (one line, exit status 2, no output)."""

from __future__ import annotations

import os
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from liftgenomics.cli import main
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.directory import save_model
from liftgenomics.models.factory import check_input_length
from liftgenomics.models.load import load_model
from liftgenomics.models.registry import build_model
from liftgenomics.models.spec import ModelSpec, parse_model_spec
from liftgenomics.models.state import read_state_dict
from liftgenomics.scoring.pipeline import score_regions

LENGTH = 40
MODELS_PY = textwrap.dedent(
    """
    from torch import nn


    class Tiny(nn.Module):
        def __init__(self, n_filters=3, n_tasks=2, length=40):
            super().__init__()
            self.conv = nn.Conv1d(4, n_filters, 5)
            self.relu = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool1d(1)
            self.flatten = nn.Flatten()
            self.dense = nn.Linear(n_filters, n_tasks)
            self.input_length = length

        def forward(self, x):
            return self.dense(self.flatten(self.pool(self.relu(self.conv(x)))))


    def make(n_filters=3, n_tasks=2):
        return Tiny(n_filters, n_tasks)


    not_callable = 3
    """
)


@pytest.fixture
def user_model(tmp_path):
    """models.py with a factory, a model from it with random weights, and its saved weights."""
    path = tmp_path / "models.py"
    path.write_text(MODELS_PY)
    sys.path.insert(0, str(tmp_path))
    try:
        import importlib

        module = importlib.import_module("models")
        torch.manual_seed(5)
        model = module.make(n_filters=4)
        for parameter in model.parameters():
            torch.nn.init.normal_(parameter)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("models", None)
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save(state, tmp_path / "w.pt")
    return path, model.eval(), state


def outputs_equal(a, b):
    rng = np.random.default_rng(0)
    X = torch.from_numpy(np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, LENGTH))])
    X = X.permute(0, 2, 1)
    with torch.no_grad():
        return torch.equal(a(X), b(X))


def test_parse_model_spec(tmp_path):
    assert parse_model_spec("chrombpnet:a/b.h5") == ModelSpec("chrombpnet", "a/b.h5")
    assert parse_model_spec("dir/models.py:make") == ModelSpec("file", "dir/models.py", "make")
    assert parse_model_spec("pkg.mod:Net") == ModelSpec("module", "pkg.mod", "Net")
    assert parse_model_spec("runs/model") == ModelSpec("directory", "runs/model")
    odd = tmp_path / "a:b"
    odd.mkdir()
    assert parse_model_spec(odd).kind == "directory"  # an existing path wins
    with pytest.raises(LiftGenomicsError, match="not a model directory, FILE.py:factory"):
        parse_model_spec("some/dir:make")
    with pytest.raises(LiftGenomicsError, match="needs a path"):
        parse_model_spec("chrombpnet:")


@pytest.mark.parametrize("weights", ["w.safetensors", "w.pt"])
@pytest.mark.parametrize("model_args", ['{"n_filters": 4}', {"n_filters": 4}])
def test_file_factory_with_weights_round_trip(user_model, weights, model_args):
    path, model, _ = user_model
    loaded = load_model(f"{path}:make", weights=path.parent / weights, model_args=model_args)
    assert not loaded.training and loaded.input_length == LENGTH
    assert loaded.metadata["source"] == f"{path}:make"
    assert outputs_equal(model, loaded)


def test_class_as_factory_and_checkpoint_dict(user_model, tmp_path):
    path, model, state = user_model
    torch.save({"epoch": 3, "state_dict": state}, tmp_path / "ckpt.pth")
    loaded = load_model(f"{path}:Tiny", weights=tmp_path / "ckpt.pth", model_args={"n_filters": 4})
    assert outputs_equal(model, loaded)


def test_module_factory(user_model, monkeypatch):
    path, model, _ = user_model
    monkeypatch.syspath_prepend(str(path.parent))
    monkeypatch.delitem(sys.modules, "models", raising=False)
    loaded = load_model("models:make", weights=path.parent / "w.safetensors",
                        model_args='{"n_filters": 4}')
    assert outputs_equal(model, loaded)


def test_model_directory_still_loads(tmp_path):
    architecture = {"name": "paper_cnn", "n_tasks": 2, "length": LENGTH, "filters": 3, "width": 5,
                    "hidden": 4}
    model = build_model(architecture)
    save_model(model, tmp_path / "m", architecture)
    assert outputs_equal(model.eval(), load_model(tmp_path / "m"))
    with pytest.raises(LiftGenomicsError, match="--weights applies to a FILE.py:factory"):
        load_model(tmp_path / "m", weights=tmp_path / "w.pt")


def test_pickled_model_is_refused_with_how_to_save_a_state_dict(user_model, tmp_path):
    path, _, _ = user_model
    torch.save(torch.nn.Linear(2, 2), tmp_path / "whole.pt")
    with pytest.raises(LiftGenomicsError, match=r"pickled.*torch.save\(model.state_dict\(\)"):
        read_state_dict(tmp_path / "whole.pt")


def test_check_input_length():
    conv = torch.nn.Sequential(torch.nn.Conv1d(4, 2, 9), torch.nn.Flatten())
    check_input_length(conv, 20)
    with pytest.raises(LiftGenomicsError, match="does not accept regions of length 5"):
        check_input_length(conv, 5)
    conv.input_length = 20
    with pytest.raises(LiftGenomicsError, match="takes inputs of length 20, not length 30"):
        check_input_length(conv, 30)
    from liftgenomics.models.architectures import BPNet

    bpnet = BPNet(4, 2, 1, 0)  # trims 10 + 37 + 6 = 53 positions from each side
    bpnet.train()
    check_input_length(bpnet, 107)
    assert bpnet.training  # the probe restores the training flag
    with pytest.raises(LiftGenomicsError, match=r"output of shape \(1, 1, 0\)"):
        check_input_length(bpnet, 106)


# --- every bad model source through `liftgenomics score` --------------------------------------


@pytest.fixture
def genome(tmp_path):
    rng = np.random.default_rng(2)
    fasta = tmp_path / "genome.fa"
    fasta.write_text(">chr1\n" + "".join(rng.choice(list("ACGT"), 200)) + "\n")
    bed = tmp_path / "peaks.narrowPeak"
    bed.write_text("chr1\t20\t80\tp1\t0\t.\t1\t1\t1\t30\nchr1\t100\t140\tp2\t0\t.\t1\t1\t1\t-1\n")
    return fasta, bed


def bad_sources(tmp_path, path):
    """case -> (extra arguments, expected message)."""
    state = {key: value for key, value in read_state_dict(path.parent / "w.pt").items()}
    missing = dict(state)
    missing.pop("conv.bias")
    torch.save(missing, tmp_path / "missing.pt")
    torch.save({**state, "extra.weight": torch.zeros(1)}, tmp_path / "unexpected.pt")
    save_file({**state, "conv.weight": torch.zeros(4, 4, 3)}, str(tmp_path / "shape.safetensors"))
    torch.save(torch.nn.Linear(2, 2), tmp_path / "whole.pt")
    (tmp_path / "empty.h5").write_bytes(b"")
    import h5py

    h5py.File(tmp_path / "nolayers.h5", "w").close()
    (tmp_path / "broken.py").write_text("import no_such_module_here\n")
    f4 = ["--model-args", '{"n_filters": 4}']
    return {
        "missing file": (["--model", f"{tmp_path}/nowhere.py:make"], "model file not found"),
        "missing factory": (["--model", f"{path}:nope"], "no factory named 'nope'"),
        "not callable": (["--model", f"{path}:not_callable"], "is not callable"),
        "missing module": (["--model", "no_such_pkg_xyz.models:make"], "cannot import"),
        "import fails": (["--model", f"{tmp_path}/broken.py:make"], "importing it failed"),
        "bad args": (["--model", f"{path}:make", "--model-args", '{"n_filter": 4}'],
                     "unexpected keyword argument 'n_filter'"),
        "args not json": (["--model", f"{path}:make", "--model-args", "{n_filters: 4}"],
                          "--model-args is not valid JSON"),
        "missing key": (["--model", f"{path}:make", "--weights", str(tmp_path / "missing.pt"),
                         *f4], "missing conv.bias"),
        "unexpected key": (["--model", f"{path}:make", "--weights",
                            str(tmp_path / "unexpected.pt"), *f4], "unexpected extra.weight"),
        "shape": (["--model", f"{path}:make", "--weights", str(tmp_path / "shape.safetensors"),
                   *f4], "conv.weight has shape (4, 4, 3), expected (4, 4, 5)"),
        "pickled model": (["--model", f"{path}:make", "--weights", str(tmp_path / "whole.pt")],
                          "torch.save(model.state_dict(), path)"),
        "missing weights": (["--model", f"{path}:make", "--weights", str(tmp_path / "no.pt")],
                            "weights file not found"),
        "h5 not hdf5": (["--model", f"chrombpnet:{tmp_path / 'empty.h5'}"], "not an HDF5"),
        "h5 without layers": (["--model", f"chrombpnet:{tmp_path / 'nolayers.h5'}"],
                              "no layer 'bpnet_1st_conv'"),
        "weights for a directory": (["--model", str(tmp_path), "--weights", "w.pt"],
                                    "--weights applies to a FILE.py:factory"),
        "length differs": (["--model", f"{path}:make", "--length", "60"],
                           "takes inputs of length 40, not length 60"),
    }


CASES = [
    "missing file", "missing factory", "not callable", "missing module", "import fails",
    "bad args", "args not json", "missing key", "unexpected key", "shape", "pickled model",
    "missing weights", "h5 not hdf5", "h5 without layers", "weights for a directory",
    "length differs",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_model_source_is_one_line_status_2_and_no_output(case, user_model, genome, tmp_path,
                                                             capsys):
    path, _, _ = user_model
    fasta, bed = genome
    arguments, message = bad_sources(tmp_path, path)[case]
    out = tmp_path / "out"
    status = main(["score", "--fasta", str(fasta), "--bed", str(bed), "--out", str(out),
                   "--references", "flat", "--quiet", *arguments])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err.startswith("liftgenomics: error: ") and "\n" not in err, err
    assert message in err, err
    assert not out.exists() or os.listdir(out) == []


def test_score_a_py_model_with_safetensors_from_the_cli(user_model, genome, tmp_path):
    """A new user's one command: --model models.py:make --weights --model-args. The files are
    those of scoring the same module object through the Python API."""
    path, model, _ = user_model
    fasta, bed = genome
    common = ["--fasta", str(fasta), "--bed", str(bed), "--references", "dinuc:3", "--quiet",
              "--target", "all"]
    assert main(["score", "--model", f"{path}:make", "--weights",
                 str(path.parent / "w.safetensors"), "--model-args", '{"n_filters": 4}',
                 "--out", str(tmp_path / "cli"), *common]) == 0
    score_regions(model, fasta, tmp_path / "api", bed_path=bed, references="dinuc:3",
                  target="all", progress=False)
    names = sorted(os.listdir(tmp_path / "api"))
    assert names == sorted(os.listdir(tmp_path / "cli")) and "hyp.task1.npz" in names
    for name in names:
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "api" / name).read_bytes()


def test_attribute_takes_a_factory_model(user_model, tmp_path):
    path, model, _ = user_model
    rng = np.random.default_rng(1)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (4, LENGTH))].transpose(0, 2, 1)
    np.savez_compressed(tmp_path / "x.npz", X)
    assert main(["attribute", "--model", f"{path}:make", "--weights", str(path.parent / "w.pt"),
                 "--model-args", '{"n_filters": 4}', "--ohe", str(tmp_path / "x.npz"),
                 "--references", "flat", "--targets", "0,1", "--out",
                 str(tmp_path / "c.npz")]) == 0
    with torch.no_grad():
        expected = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "c.npz")["predictions"], expected, rtol=1e-6)
