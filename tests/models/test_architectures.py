"""Tests for liftgenomics.models.architectures: BPNet and ChromBPNet against bpnet-lite 1.1's own
classes (state dict keys, weights_only loading, outputs), Basset shapes and training through
the registry, and the fold average against a hand-computed mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.architectures import BPNet, ChromBPNet, FoldAverage, basset
from liftgenomics.models.directory import save_model
from liftgenomics.models.load import load_model
from liftgenomics.models.registry import build_model, full_architecture


def one_hot(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))]).permute(
        0, 2, 1
    )


@pytest.mark.parametrize("n_control_tracks", [0, 2])
def test_bpnet_lite_state_dict_loads_and_predicts_the_same(tmp_path, n_control_tracks):
    bpnet_lite = pytest.importorskip("bpnetlite.bpnet")
    torch.manual_seed(0)
    theirs = bpnet_lite.BPNet(n_filters=8, n_layers=3, n_outputs=2,
                              n_control_tracks=n_control_tracks, verbose=False).eval()
    torch.save(theirs.state_dict(), tmp_path / "bpnet.pt")
    ours = BPNet(n_filters=8, n_layers=3, n_outputs=2, n_control_tracks=n_control_tracks)
    state = torch.load(tmp_path / "bpnet.pt", weights_only=True)
    assert list(state) == list(ours.state_dict())
    ours.load_state_dict(state)
    ours.eval()
    X = one_hot(3, 300)
    X_ctl = torch.rand(3, n_control_tracks, 300) if n_control_tracks else None
    with torch.no_grad():
        expected, got = theirs(X, X_ctl), ours(X, X_ctl)
    assert got[0].shape == expected[0].shape == (3, 2, 300 - 2 * (47 + 14))
    assert got[1].shape == expected[1].shape == (3, 1)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_chrombpnet_matches_bpnet_lite_chrombpnet():
    lite = pytest.importorskip("bpnetlite.chrombpnet")
    bpnet_lite = pytest.importorskip("bpnetlite.bpnet")
    torch.manual_seed(1)
    bias = bpnet_lite.BPNet(n_filters=4, n_layers=2, n_outputs=1, n_control_tracks=0,
                            verbose=False)
    acc = bpnet_lite.BPNet(n_filters=8, n_layers=3, n_outputs=1, n_control_tracks=0,
                           verbose=False)
    with torch.no_grad():  # non-zero count biases so the logsumexp mixes two real terms
        bias.linear.bias.fill_(0.7)
        acc.linear.bias.fill_(-0.4)
    theirs = lite.ChromBPNet(bias, acc).eval()
    ours = ChromBPNet(BPNet(4, 2, 1, 0), BPNet(8, 3, 1, 0))
    ours.load_state_dict(theirs.state_dict())
    ours.eval()
    X = one_hot(2, 320, seed=4)
    with torch.no_grad():
        expected, got = theirs(X), ours(X)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    with torch.no_grad():
        acc_profile, acc_counts = ours.accessibility(X)
    assert torch.equal(acc_profile, acc(X)[0])


def test_registry_builds_saves_and_loads_every_architecture(tmp_path):
    for architecture in (
        {"name": "bpnet", "n_filters": 4, "n_layers": 2, "n_control_tracks": 0, "length": 200},
        {"name": "chrombpnet", "n_filters": 4, "n_layers": 2, "bias_filters": 3,
         "bias_layers": 1, "length": 200},
        {"name": "basset", "n_tasks": 2, "length": 100, "filters": [4, 4, 4],
         "widths": [5, 3, 3], "pools": [2, 2, 2], "hidden": 6},
    ):
        torch.manual_seed(2)
        model = build_model(architecture)
        directory = tmp_path / architecture["name"]
        save_model(model, directory, architecture)
        loaded = load_model(directory)
        assert loaded.input_length == architecture["length"]
        X = one_hot(2, architecture["length"])
        with torch.no_grad():
            a, b = model.eval()(X), loaded(X)
        for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,),
                        strict=True):
            assert torch.equal(x, y)
    assert full_architecture({"name": "basset"})["filters"] == (300, 200, 200)
    assert isinstance(build_model({"name": "chrombpnet", "n_filters": 4, "n_layers": 1,
                                   "bias_filters": 2, "bias_layers": 1}).accessibility, BPNet)


def test_basset_output_and_flattened_size():
    model = basset(n_tasks=3, length=200)
    # 200 -> conv19 182 -> pool3 60 -> conv11 50 -> pool4 12 -> conv7 6 -> pool4 1: 200 features
    assert model.dense1.in_features == 200
    assert model.eval()(one_hot(2, 200)).shape == (2, 3)
    with pytest.raises(LiftGenomicsError, match="too short for block 3"):
        basset(length=60)


def test_train_accepts_basset(tmp_path):
    from liftgenomics.cli import main
    from liftgenomics.paper.simulate import simulate_dataset, write_simulation
    from liftgenomics.paper.simulation_config import resolve_simulation_config

    config = resolve_simulation_config({"n_sequences": 80, "length": 100, "valid_fraction": 0.25,
                                        "test_fraction": 0.25})
    write_simulation(simulate_dataset(config), tmp_path / "data")
    architecture = ('{"name": "basset", "filters": [4, 4, 4], "widths": [5, 3, 3], '
                    '"pools": [2, 2, 2], "hidden": 6}')
    assert main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "m"),
                 "--epochs", "1", "--architecture", architecture]) == 0
    model = load_model(tmp_path / "m")
    assert isinstance(model[0], nn.Conv1d) and model.input_length == 100


def test_fold_average_is_the_mean_of_the_folds():
    class Affine(nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.scale = scale
            self.accessibility = nn.Identity()

        def forward(self, X):
            return X.sum(dim=(1, 2)) * self.scale, X[:, 0] * self.scale

    model = FoldAverage([Affine(1.0), Affine(2.0), Affine(6.0)])
    X = one_hot(2, 5)
    total, first = model(X)
    assert torch.equal(total, X.sum(dim=(1, 2)) * 3.0)  # (1 + 2 + 6) / 3
    assert torch.equal(first, X[:, 0] * 3.0)
    assert isinstance(model.accessibility, FoldAverage)
    with pytest.raises(LiftGenomicsError):
        FoldAverage([])
