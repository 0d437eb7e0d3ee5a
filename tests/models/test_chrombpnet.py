"""Tests for liftgenomics.models.chrombpnet: Keras-layout .h5 files written here with h5py (names as
chrombpnet writes them) against a NumPy forward pass of the same weights (valid convolutions,
crops, residual adds, global average, dense); the fold average; the committed Keras fixture
against Keras' own predictions; and bad files."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.architectures import BPNet, ChromBPNet, FoldAverage
from liftgenomics.models.chrombpnet import load_chrombpnet
from liftgenomics.models.load import load_model

LENGTH, OUT = 200, 90
FIXTURE = Path(__file__).parents[1] / "data" / "chrombpnet"


def random_weights(rng, filters, n_layers):
    """Keras-shaped weights of a chrombpnet BPNet: conv kernels (width, in, out)."""
    weights = {
        "1st_conv": (rng.normal(0, 0.3, (21, 4, filters)), rng.normal(0, 0.3, filters)),
        "prof": (rng.normal(0, 0.1, (75, filters, 1)), rng.normal(0, 0.3, 1)),
        "count": (rng.normal(0, 0.3, (filters, 1)), rng.normal(0, 0.3, 1)),
    }
    for i in range(1, n_layers + 1):
        kernel = rng.normal(0, 0.3, (3, filters, filters))
        weights[f"{i}conv"] = (kernel, rng.normal(0, 0.3, filters))
    return weights


def keras_names(prefix, weights):
    """Layer name -> (kernel, bias) as chrombpnet names them for this prefix."""
    head = f"{prefix}bpnet_" if prefix else ""
    names = {}
    for key, value in weights.items():
        if key == "prof":
            names[f"{head}prof_out_precrop"] = value
        elif key == "count":
            names[f"{head}logcount_predictions"] = value
        else:
            names[f"{prefix}bpnet_{key}"] = value
    return names


def crop_of(filters_layers):
    """The profile crop that takes a BPNet of n_layers from input LENGTH to OUT positions."""
    n_layers = filters_layers
    profile = LENGTH - 20 - 2 * sum(2**i for i in range(1, n_layers + 1)) - 74
    return (profile - OUT) // 2


def config_layers(prefix, n_layers, crop):
    """The Keras model_config entries the reader looks at (input, convs, crops)."""
    crop_name = f"{prefix}bpnet_logitt_before_flatten" if prefix else (
        "logits_profile_predictions_preflatten"
    )
    layers = [
        {"class_name": "InputLayer", "config": {"name": "sequence",
                                                "batch_input_shape": [None, LENGTH, 4]}},
        {"class_name": "Conv1D", "config": {"name": f"{prefix}bpnet_1st_conv",
                                            "padding": "valid", "dilation_rate": [1]}},
    ]
    for i in range(1, n_layers + 1):
        layers.append({"class_name": "Conv1D", "config": {
            "name": f"{prefix}bpnet_{i}conv", "padding": "valid", "dilation_rate": [2**i]}})
        layers.append({"class_name": "Cropping1D", "config": {
            "name": f"{prefix}bpnet_{i}crop", "cropping": [2**i, 2**i]}})
    layers.append({"class_name": "Cropping1D", "config": {"name": crop_name,
                                                          "cropping": [crop, crop]}})
    return layers


def write_h5(path, parts, *, config=True, drop=None):
    """Write a Keras-layout .h5: parts = [(prefix, submodel group or None, weights, n_layers)].

    A standalone model stores model_weights/{layer}/{layer}/kernel:0; a submodel of a full
    model stores model_weights/{submodel}/{layer}/kernel:0.
    """
    layers = []
    with h5py.File(path, "w") as h5:
        root = h5.create_group("model_weights")
        for prefix, submodel, weights, n_layers in parts:
            for name, (kernel, bias) in keras_names(prefix, weights).items():
                if name == drop:
                    continue
                group = root.require_group(submodel or name).create_group(name)
                group["kernel:0"] = kernel.astype(np.float32)
                group["bias:0"] = bias.astype(np.float32)
            sub = config_layers(prefix, n_layers, crop_of(n_layers))
            if submodel:
                layers.append({"class_name": "Functional",
                               "config": {"name": submodel, "layers": sub}})
            else:
                layers.extend(sub)
        if config:
            h5.attrs["model_config"] = json.dumps(
                {"class_name": "Functional", "config": {"name": "model", "layers": layers}}
            )


def numpy_bpnet(X, weights, n_layers, crop):
    """Keras' forward pass, channels last: X (N, L, 4) -> profile (N, OUT), counts (N,)."""

    def conv(x, kernel, bias, dilation=1):
        width = kernel.shape[0]
        out_len = x.shape[1] - (width - 1) * dilation
        out = np.broadcast_to(bias, (x.shape[0], out_len, kernel.shape[2])).copy()
        for j in range(width):
            out += x[:, j * dilation : j * dilation + out_len] @ kernel[j]
        return out

    h = np.maximum(conv(X, *weights["1st_conv"]), 0)
    for i in range(1, n_layers + 1):
        c = np.maximum(conv(h, *weights[f"{i}conv"], dilation=2**i), 0)
        margin = (h.shape[1] - c.shape[1]) // 2
        h = c + h[:, margin : h.shape[1] - margin]
    profile = conv(h, *weights["prof"])
    profile = profile[:, crop : profile.shape[1] - crop, 0]
    counts = h.mean(axis=1) @ weights["count"][0] + weights["count"][1]
    return profile, counts[:, 0]


@pytest.fixture(scope="module")
def sequences():
    rng = np.random.default_rng(11)
    return np.eye(4)[rng.integers(0, 4, (3, LENGTH))]  # (N, L, 4)


def predict(model, sequences):
    with torch.no_grad():
        profile, counts = model(torch.from_numpy(sequences.transpose(0, 2, 1)).float())
    assert profile.shape == (len(sequences), 1, OUT) and counts.shape == (len(sequences), 1)
    return profile[:, 0].double().numpy(), counts[:, 0].double().numpy()


def assert_close(ours, expected):
    for a, b in zip(ours, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


@pytest.mark.parametrize("prefix", ["", "wo_bias_"])
def test_one_model_matches_numpy(tmp_path, sequences, prefix):
    rng = np.random.default_rng(1)
    weights = random_weights(rng, 8, 2)
    write_h5(tmp_path / "m.h5", [(prefix, None, weights, 2)])
    model = load_model(f"chrombpnet:{tmp_path / 'm.h5'}")
    assert isinstance(model, BPNet) and not model.training
    assert model.input_length == LENGTH
    assert_close(predict(model, sequences), numpy_bpnet(sequences, weights, 2, crop_of(2)))


def full_oracle(sequences, bias_w, acc_w):
    bias_profile, bias_counts = numpy_bpnet(sequences, bias_w, 1, crop_of(1))
    acc_profile, acc_counts = numpy_bpnet(sequences, acc_w, 2, crop_of(2))
    counts = np.logaddexp(acc_counts, bias_counts)
    return (acc_profile + bias_profile, counts), (acc_profile, acc_counts)


def test_full_model_file_adds_profiles_and_logsumexps_counts(tmp_path, sequences):
    rng = np.random.default_rng(2)
    bias_w, acc_w = random_weights(rng, 4, 1), random_weights(rng, 8, 2)
    write_h5(tmp_path / "full.h5", [("", "model", bias_w, 1),
                                    ("wo_bias_", "model_wo_bias", acc_w, 2)])
    model = load_chrombpnet(tmp_path / "full.h5")
    assert isinstance(model, ChromBPNet)
    full, accessibility = full_oracle(sequences, bias_w, acc_w)
    assert_close(predict(model, sequences), full)
    assert_close(predict(model.accessibility, sequences), accessibility)


def write_folds(root, n_folds, seed=3):
    """ENCODE's layout: fold_N/model.{bias_scaled,chrombpnet_nobias}.fold_N.ENCSRTEST.h5."""
    rng = np.random.default_rng(seed)
    folds = []
    for fold in range(n_folds):
        bias_w, acc_w = random_weights(rng, 4, 1), random_weights(rng, 8, 2)
        directory = root / f"fold_{fold}"
        directory.mkdir(parents=True)
        write_h5(directory / f"model.bias_scaled.fold_{fold}.ENCSRTEST.h5", [("", None, bias_w, 1)])
        write_h5(directory / f"model.chrombpnet_nobias.fold_{fold}.ENCSRTEST.h5",
                 [("wo_bias_", None, acc_w, 2)])
        folds.append((bias_w, acc_w))
    return folds


def test_fold_directory_and_tarball_give_the_fold_average(tmp_path, sequences):
    folds = write_folds(tmp_path / "ENCSRTEST", 3)
    oracles = [full_oracle(sequences, bias_w, acc_w) for bias_w, acc_w in folds]
    full = [np.mean([o[0][k] for o in oracles], axis=0) for k in range(2)]
    accessibility = [np.mean([o[1][k] for o in oracles], axis=0) for k in range(2)]
    archive = tmp_path / "ENCSRTEST.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "ENCSRTEST", arcname="ENCSRTEST")
    for spec in (tmp_path / "ENCSRTEST", archive):
        model = load_model(f"chrombpnet:{spec}")
        assert isinstance(model, FoldAverage) and len(model.folds) == 3
        assert model.input_length == LENGTH
        assert_close(predict(model, sequences), full)
        assert_close(predict(model.accessibility, sequences), accessibility)


def test_keras_fixture_matches_keras_predictions():
    """The .h5 files TensorFlow wrote (benchmarks/make_chrombpnet_fixture.py) give Keras'
    own predictions: accessibility (wo_bias_), bias, and the full nested model."""
    expected = np.load(FIXTURE / "predictions.npz")
    X = torch.from_numpy(expected["X"])
    for name, kind in (("bias", BPNet), ("nobias", BPNet), ("full", ChromBPNet)):
        model = load_model(f"chrombpnet:{FIXTURE / f'{name}.h5'}")
        assert isinstance(model, kind) and model.input_length == LENGTH
        with torch.no_grad():
            profile, counts = model(X)
        for ours, theirs in ((profile[:, 0], expected[f"{name}_profile"]),
                             (counts, expected[f"{name}_counts"])):
            ours = ours.double().numpy()
            assert ours.shape == theirs.shape
            assert np.abs(ours - theirs).max() <= 1e-4 * np.abs(theirs).max()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("not hdf5"), "not an HDF5"),
        (lambda p: h5py.File(p, "w").close(), "no layer 'bpnet_1st_conv'"),
        (lambda p: write_h5(p, [("wo_bias_", None, random_weights(np.random.default_rng(0), 8, 2),
                                 2)], drop="wo_bias_bpnet_logcount_predictions"),
         "no layer 'wo_bias_bpnet_logcount_predictions'"),
    ],
    ids=["not hdf5", "no layers", "missing head"],
)
def test_bad_h5_files_are_one_line_errors(tmp_path, make, message):
    path = tmp_path / "m.h5"
    make(path)
    with pytest.raises(LiftGenomicsError, match=message) as error:
        load_chrombpnet(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_folds_of_mixed_kinds_and_empty_folders_are_refused(tmp_path):
    write_folds(tmp_path / "mixed", 2)
    (tmp_path / "mixed" / "fold_1" / "model.bias_scaled.fold_1.ENCSRTEST.h5").unlink()
    with pytest.raises(LiftGenomicsError, match="folds of different kinds"):
        load_chrombpnet(tmp_path / "mixed")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LiftGenomicsError, match="no .h5 model file"):
        load_chrombpnet(tmp_path / "empty")
    with pytest.raises(LiftGenomicsError, match="chrombpnet model not found"):
        load_model(f"chrombpnet:{tmp_path / 'nowhere'}")


def test_a_weights_only_file_has_no_crop_and_no_fixed_length(tmp_path, sequences):
    """save_weights files record no model_config: no profile crop, any input length."""
    rng = np.random.default_rng(6)
    weights = random_weights(rng, 8, 2)
    write_h5(tmp_path / "w.h5", [("wo_bias_", None, weights, 2)], config=False)
    model = load_chrombpnet(tmp_path / "w.h5")
    assert getattr(model, "input_length", None) is None
    with torch.no_grad():
        profile, counts = model(torch.from_numpy(sequences.transpose(0, 2, 1)).float())
    expected = numpy_bpnet(sequences, weights, 2, 0)
    assert profile.shape[-1] == OUT + 2 * crop_of(2)
    assert_close((profile[:, 0].double().numpy(), counts[:, 0].double().numpy()), expected)


def test_a_same_padded_layout_is_refused(tmp_path):
    write_h5(tmp_path / "m.h5", [("", None, random_weights(np.random.default_rng(0), 8, 2), 2)])
    with h5py.File(tmp_path / "m.h5", "r+") as h5:
        h5.attrs["model_config"] = h5.attrs["model_config"].replace('"valid"', '"same"', 1)
    with pytest.raises(LiftGenomicsError, match="padding 'same'"):
        load_chrombpnet(tmp_path / "m.h5")
