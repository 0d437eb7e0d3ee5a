"""The Keras reader on tiny files written here, each checked against a NumPy forward pass."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.directory import load_model_directory, save_model
from liftgenomics.models.keras import load_keras
from liftgenomics.models.load import load_model
from tests.models.keras_files import (
    layer,
    np_batch_norm,
    np_conv1d,
    np_pool,
    np_theano_conv2d,
    one_hot_channels_last,
    relu,
    sigmoid,
    softmax,
    write_keras0_weights,
    write_keras2_model,
    write_keras2_weights,
)

CONV = ["kernel", "bias"]
BN = ["gamma", "beta", "moving_mean", "moving_variance"]


def _run(model, x_cl: np.ndarray):
    """The module's output on channels-last one-hot sequences (N, L, 4)."""
    with torch.no_grad():
        return model(torch.tensor(x_cl.transpose(0, 2, 1), dtype=torch.float32))


def _sequential_model(rng):
    length = 24
    weights = {
        "conv_a": [rng.normal(size=(4, 4, 6)), rng.normal(size=6)],
        "bn": [
            rng.uniform(0.5, 2, 6),
            rng.normal(size=6),
            rng.normal(size=6),
            rng.uniform(0.5, 2, 6),
        ],  # fmt: skip
        "conv_b": [rng.normal(size=(3, 6, 5)), rng.normal(size=5)],
        "dense": [rng.normal(size=(4 * 5, 2)) * 0.3, rng.normal(size=2)],
    }
    config = {
        "class_name": "Sequential",
        "keras_version": "2.2.4",
        "config": {"name": "seq", "layers": [
            layer("Conv1D", name="conv_a", filters=6, kernel_size=[4], strides=[1],
                  padding="same", dilation_rate=[1], activation="relu", use_bias=True,
                  batch_input_shape=[None, length, 4]),
            layer("BatchNormalization", name="bn", axis=-1, epsilon=1e-3, center=True,
                  scale=True),
            layer("MaxPooling1D", name="pool", pool_size=[2], strides=[2], padding="valid"),
            layer("Dropout", name="drop", rate=0.5),
            layer("Conv1D", name="conv_b", filters=5, kernel_size=[3], strides=[1],
                  padding="valid", dilation_rate=[2], activation="linear", use_bias=True),
            layer("AveragePooling1D", name="avg", pool_size=[2], strides=[2], padding="valid"),
            layer("Flatten", name="flat"),
            layer("Dense", name="dense", units=2, activation="sigmoid", use_bias=True),
        ]},
    }  # fmt: skip
    return config, weights, length


def _sequential_numpy(x: np.ndarray, w) -> np.ndarray:
    h = relu(np_conv1d(x, w["conv_a"][0], w["conv_a"][1], padding="same"))
    h = np_batch_norm(h, *w["bn"], eps=1e-3)
    h = np_pool(h, 2, 2, "max")
    h = np_conv1d(h, w["conv_b"][0], w["conv_b"][1], dilation=2)
    h = np_pool(h, 2, 2, "mean")
    return h.reshape(-1) @ w["dense"][0] + w["dense"][1]  # Keras flattens (L, C) row-major


def test_keras2_sequential_full_model_matches_numpy(tmp_path):
    rng = np.random.default_rng(0)
    config, weights, length = _sequential_model(rng)
    path = write_keras2_model(
        tmp_path / "m.h5",
        config,
        weights,
        {"conv_a": CONV, "conv_b": CONV, "dense": CONV, "bn": BN},
    )
    model = load_keras(path)
    assert model.input_length == length and not model.training
    assert model.default_output == "logits"
    assert model.metadata["keras_version"] == "2.2.4"
    x = one_hot_channels_last(5, length, seed=1)
    out = _run(model, x)
    expected = np.stack([_sequential_numpy(row, weights) for row in x])
    np.testing.assert_allclose(out["logits"].numpy(), expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(out["activated"].numpy(), sigmoid(expected), atol=1e-6)
    json.dumps(model.architecture)
    flatten = next(node for node in model.architecture["nodes"] if node["op"] == "flatten")
    assert flatten["order"] == "channel"  # its transpose is folded into the Dense kernel


def test_keras2_json_plus_weights_and_directory_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    config, weights, length = _sequential_model(rng)
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(config))
    h5 = write_keras2_weights(
        tmp_path / "w.h5",
        config,
        weights,
        {"conv_a": CONV, "conv_b": CONV, "dense": CONV, "bn": BN},
    )
    model = load_model(f"keras:{arch}", weights=h5)
    x = one_hot_channels_last(3, length, seed=3)
    expected = np.stack([_sequential_numpy(row, weights) for row in x])
    np.testing.assert_allclose(_run(model, x)["logits"].numpy(), expected, atol=1e-5)
    save_model(model, tmp_path / "saved", model.architecture, model.metadata)
    again = load_model_directory(tmp_path / "saved")
    assert again.default_output == "logits" and again.input_length == length
    torch.testing.assert_close(_run(again, x)["logits"], _run(model, x)["logits"])


def _functional_config(length: int, keras3: bool) -> dict:
    def inbound(*names):
        if keras3:
            tensors = [{"class_name": "__keras_tensor__",
                        "config": {"shape": [None], "dtype": "float32",
                                   "keras_history": [n, 0, 0]}} for n in names]  # fmt: skip
            return [{"args": [tensors if len(tensors) > 1 else tensors[0]], "kwargs": {}}]
        return [[[n, 0, 0, {}] for n in names]]

    def node(cls, name, inputs, **config):
        entry = {"class_name": cls, "name": name, "config": {"name": name, **config},
                 "inbound_nodes": inbound(*inputs) if inputs else []}  # fmt: skip
        if keras3:
            entry["module"] = "keras.layers"
        return entry

    conv = {"strides": [1], "dilation_rate": [1], "use_bias": True}
    layers = [
        node("InputLayer", "seq", [], **({"batch_shape": [None, length, 4]} if keras3
                                         else {"batch_input_shape": [None, length, 4]})),
        node("Conv1D", "a", ["seq"], filters=3, kernel_size=[5], padding="same",
             activation="relu", **conv),
        node("Conv1D", "b", ["seq"], filters=3, kernel_size=[5], padding="same",
             activation="linear", **conv),
        node("Add", "sum", ["a", "b"]),
        node("Conv1D", "c", ["seq"], filters=3, kernel_size=[1], padding="valid",
             activation="sigmoid", **conv),
        node("Multiply", "gate", ["sum", "c"]),
        node("Concatenate", "cat", ["gate", "b"], axis=-1),
        node("Cropping1D", "crop", ["cat"], cropping=[2, 1]),
        node("ZeroPadding1D", "zpad", ["crop"], padding=[1, 0]),
        node("GlobalAveragePooling1D", "gap", ["zpad"]),
        node("Dense", "head", ["gap"], units=2, activation="linear", use_bias=True),
        node("GlobalMaxPooling1D", "gmp", ["cat"]),
        node("Dense", "head2", ["gmp"], units=1, activation="tanh", use_bias=True),
    ]  # fmt: skip
    outputs = [["head", 0, 0], ["head2", 0, 0]]
    return {"class_name": "Functional" if keras3 else "Model",
            "keras_version": "3.3.3" if keras3 else "2.2.4",
            "config": {"name": "f", "layers": layers, "input_layers": [["seq", 0, 0]],
                       "output_layers": outputs}}  # fmt: skip


@pytest.mark.parametrize("keras3", [False, True])
def test_functional_merges_match_numpy(tmp_path, keras3):
    rng = np.random.default_rng(4)
    length = 16
    weights = {
        "a": [rng.normal(size=(5, 4, 3)), rng.normal(size=3)],
        "b": [rng.normal(size=(5, 4, 3)), rng.normal(size=3)],
        "c": [rng.normal(size=(1, 4, 3)), rng.normal(size=3)],
        "head": [rng.normal(size=(6, 2)), rng.normal(size=2)],
        "head2": [rng.normal(size=(6, 1)), rng.normal(size=1)],
    }
    config = _functional_config(length, keras3)
    path = write_keras2_model(tmp_path / "f.h5", config, weights,
                              {name: CONV for name in weights})  # fmt: skip
    model = load_keras(path)
    x = one_hot_channels_last(4, length, seed=5)
    first, second = _run(model, x)
    for row, (y1, y2) in zip(x, zip(first.numpy(), second.numpy(), strict=True), strict=True):
        a = relu(np_conv1d(row, *weights["a"], padding="same"))
        b = np_conv1d(row, *weights["b"], padding="same")
        c = sigmoid(np_conv1d(row, *weights["c"]))
        cat = np.concatenate([(a + b) * c, b], axis=-1)
        cropped = np.concatenate([np.zeros((1, 6)), cat[2:-1]])
        np.testing.assert_allclose(y1, cropped.mean(0) @ weights["head"][0] + weights["head"][1],
                                   atol=1e-5)  # fmt: skip
        np.testing.assert_allclose(
            y2, np.tanh(cat.max(0) @ weights["head2"][0] + weights["head2"][1]), atol=1e-5
        )


def test_keras3_softmax_head_and_strided_same_conv(tmp_path):
    rng = np.random.default_rng(6)
    length = 15
    conv = {"strides": [2], "dilation_rate": [1], "use_bias": True}
    config = {
        "class_name": "Sequential", "keras_version": "3.3.3",
        "config": {"name": "s", "layers": [
            {"module": "keras.layers", "class_name": "InputLayer",
             "config": {"name": "in", "batch_shape": [None, length, 4]}},
            layer("Conv1D", name="conv", filters=4, kernel_size=[4], padding="same",
                  activation="elu", **conv),
            layer("Flatten", name="flat"),
            layer("Dense", name="out", units=3, activation="softmax", use_bias=True),
        ]},
    }  # fmt: skip
    weights = {"conv": [rng.normal(size=(4, 4, 4)), rng.normal(size=4)],
               "out": [rng.normal(size=(8 * 4, 3)), rng.normal(size=3)]}  # fmt: skip
    path = write_keras2_model(tmp_path / "k3.h5", config, weights, {"conv": CONV, "out": CONV})
    model = load_keras(path)
    x = one_hot_channels_last(3, length, seed=7)
    out = _run(model, x)
    for row, logits, probs in zip(x, out["logits"].numpy(), out["activated"].numpy(),
                                  strict=True):  # fmt: skip
        h = np_conv1d(row, *weights["conv"], stride=2, padding="same")
        h = np.where(h > 0, h, np.exp(h) - 1)
        z = h.reshape(-1) @ weights["out"][0] + weights["out"][1]
        np.testing.assert_allclose(logits, z, atol=1e-5)
        np.testing.assert_allclose(probs, softmax(z), atol=1e-6)


def _keras0_config(length: int) -> dict:
    def conv(rows, cols):
        return {
            "name": "Convolution2D",
            "custom_name": "convolution2d",
            "nb_filter": 3,
            "nb_row": rows,
            "nb_col": cols,
            "subsample": [1, 1],
            "border_mode": "valid",
            "dim_ordering": "th",
            "activation": "linear",
            "input_shape": [1, 4, length],
        }

    return {"name": "Sequential", "class_mode": "binary", "layers": [
        conv(4, 5),
        {"name": "Activation", "activation": "relu"},
        {"name": "Dropout", "p": 0.1},
        conv(1, 3),
        {"name": "Activation", "activation": "relu"},
        {"name": "MaxPooling2D", "pool_size": [1, 2], "strides": [1, 2], "dim_ordering": "th",
         "border_mode": "valid"},
        {"name": "Flatten"},
        {"name": "Dense", "output_dim": 1, "activation": "linear", "input_dim": None},
        {"name": "Activation", "activation": "sigmoid"},
    ]}  # fmt: skip


def test_keras0_theano_convolution2d_is_a_true_convolution(tmp_path):
    rng = np.random.default_rng(8)
    length = 20
    k1, b1 = rng.normal(size=(3, 1, 4, 5)), rng.normal(size=3)
    k2, b2 = rng.normal(size=(3, 3, 1, 3)), rng.normal(size=3)
    pooled = (length - 4 - 2) // 2
    w, b = rng.normal(size=(3 * pooled, 1)), rng.normal(size=1)
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(_keras0_config(length)))
    h5 = write_keras0_weights(tmp_path / "w.hd5",
                              [[k1, b1], [], [], [k2, b2], [], [], [], [w, b], []])  # fmt: skip
    model = load_keras(arch, weights=h5)
    assert model.input_length == length and model.metadata["keras_version"] == "0"
    x = one_hot_channels_last(4, length, seed=9)
    out = _run(model, x)
    for row, logit in zip(x, out["logits"].numpy(), strict=True):
        image = row.T[None]  # (1, 4, L): the bases are the rows
        h = relu(np_theano_conv2d(image, k1, b1))  # (3, 1, L-4)
        h = relu(np_theano_conv2d(h, k2, b2))  # (3, 1, L-6)
        h = h[:, :, : pooled * 2].reshape(3, 1, pooled, 2).max(axis=3)
        np.testing.assert_allclose(logit, h.reshape(-1) @ w + b, atol=1e-5)  # channel-major
    np.testing.assert_allclose(out["activated"].numpy(), sigmoid(out["logits"].numpy()), rtol=1e-5)


def test_keras1_convolution1d_with_legacy_names(tmp_path):
    rng = np.random.default_rng(10)
    length = 12
    config = {"class_name": "Sequential", "keras_version": "1.2.2", "config": [
        layer("Convolution1D", name="c1", nb_filter=3, filter_length=3, border_mode="same",
              subsample_length=1, activation="tanh", bias=True,
              batch_input_shape=[None, length, 4]),
        layer("MaxPooling1D", name="p1", pool_length=3, stride=None, border_mode="valid"),
        layer("Flatten", name="f1"),
        layer("Dense", name="d1", output_dim=2, activation="linear", bias=True),
    ]}  # fmt: skip
    kernel = rng.normal(size=(3, 1, 4, 3))  # Keras 1.1+: (k, 1, in, out)
    weights = {"c1": [kernel, rng.normal(size=3)], "d1": [rng.normal(size=(12, 2)),
                                                         rng.normal(size=2)]}  # fmt: skip
    arch = tmp_path / "a.json"
    arch.write_text(json.dumps(config))
    h5 = write_keras2_weights(
        tmp_path / "w.h5", config, weights, {"c1": ["W", "b"], "d1": ["W", "b"]}
    )
    model = load_keras(arch, weights=h5)
    x = one_hot_channels_last(3, length, seed=11)
    out = _run(model, x)
    assert isinstance(out, torch.Tensor)
    for row, y in zip(x, out.numpy(), strict=True):
        h = np.tanh(np_conv1d(row, kernel[:, 0], weights["c1"][1], padding="same"))
        h = np_pool(h, 3, 3, "max")
        np.testing.assert_allclose(y, h.reshape(-1) @ weights["d1"][0] + weights["d1"][1],
                                   atol=1e-5)  # fmt: skip


def test_registry_rebuilds_the_architecture(tmp_path):
    from liftgenomics.models.registry import build_model

    rng = np.random.default_rng(12)
    config, weights, _ = _sequential_model(rng)
    path = write_keras2_model(
        tmp_path / "m.h5",
        config,
        weights,
        {"conv_a": CONV, "conv_b": CONV, "dense": CONV, "bn": BN},
    )
    model = load_keras(path)
    fresh = build_model(json.loads(json.dumps(model.architecture)))
    assert fresh.state_dict().keys() == model.state_dict().keys()
    fresh.load_state_dict(model.state_dict())
    x = torch.rand(2, 4, 24)
    torch.testing.assert_close(fresh.eval()(x)["logits"], model(x)["logits"])


def test_same_pooling_tf_conv2d_reshape_and_deeplift(tmp_path):
    """Channels-last Conv2D on (1, L, 4), "same" pools with uneven padding, Reshape, DeepLIFT."""
    from liftgenomics.attribution import attribute
    from tests.models.keras_files import np_pool_same

    rng = np.random.default_rng(13)
    length = 13
    config = {"class_name": "Sequential", "keras_version": "2.2.4", "config": [
        layer("Reshape", name="to2d", target_shape=[1, length, 4],
              batch_input_shape=[None, length, 4]),
        layer("Conv2D", name="c2", filters=3, kernel_size=[1, 3], strides=[1, 1],
              padding="same", data_format="channels_last", dilation_rate=[1, 1],
              activation="relu", use_bias=True),
        layer("MaxPooling2D", name="mp", pool_size=[1, 4], strides=[1, 3], padding="same",
              data_format="channels_last"),
        layer("Reshape", name="back", target_shape=[5, 3]),
        layer("AveragePooling1D", name="ap", pool_size=[2], strides=[2], padding="same"),
        layer("Flatten", name="flat"),
        layer("Dense", name="d", units=1, activation="sigmoid", use_bias=True),
    ]}  # fmt: skip
    kernel = rng.normal(size=(1, 3, 4, 3))
    weights = {"c2": [kernel, rng.normal(size=3)], "d": [rng.normal(size=(9, 1)),
                                                         rng.normal(size=1)]}  # fmt: skip
    with pytest.raises(LiftGenomicsError, match="Reshape"):  # (L, 4) -> (1, L, 4): refused
        load_keras(write_keras2_model(tmp_path / "r.h5", config, weights,
                                      {"c2": CONV, "d": CONV}))  # fmt: skip
    del config["config"][0]
    config["config"][0]["config"]["batch_input_shape"] = [None, 1, length, 4]
    model = load_keras(write_keras2_model(tmp_path / "m.h5", config, weights,
                                          {"c2": CONV, "d": CONV}))  # fmt: skip
    x = one_hot_channels_last(4, length, seed=14)
    out = _run(model, x)
    for row, logit in zip(x, out["logits"].numpy(), strict=True):
        h = relu(np_conv1d(row, kernel[0], weights["c2"][1], padding="same"))
        h = np_pool_same(h, 4, 3, "max")  # (5, 3)
        h = np_pool_same(h, 2, 2, "mean")  # (3, 3)
        np.testing.assert_allclose(logit, h.reshape(-1) @ weights["d"][0] + weights["d"][1],
                                   atol=1e-5)  # fmt: skip
    one_hot = torch.tensor(x.transpose(0, 2, 1), dtype=torch.float32)
    scores = attribute(model, one_hot, torch.full((4, 1, 4, length), 0.25), target=0,
                       method="deeplift_genomics")  # fmt: skip
    with torch.no_grad():
        delta = out["logits"][:, 0] - model(torch.full((4, 4, length), 0.25))["logits"][:, 0]
    torch.testing.assert_close(scores.sum(dim=(1, 2)), delta, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["tf_keras2", "keras3"])
def test_files_written_by_real_keras_match_keras_predictions(name):
    """Written once by tests/data/keras/make_fixtures.py (TensorFlow, in a throwaway venv)."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "data" / "keras"
    model = load_keras(folder / f"{name}.h5")
    saved = np.load(folder / f"{name}.npz")
    assert model.metadata["keras_version"] == str(saved["version"])
    out = _run(model, saved["x"])
    np.testing.assert_allclose(out["logits"].numpy(), saved["logits"], atol=1e-5)
    np.testing.assert_allclose(out["activated"].numpy(), saved["y"], atol=1e-6)


def _legacy_functional_config(length: int) -> dict:
    def node(cls, name, inputs, **config):  # Keras 1 inbound nodes: [[name, node, tensor]]
        return {"class_name": cls, "name": name, "config": {"name": name, **config},
                "inbound_nodes": [[[n, 0, 0] for n in inputs]] if inputs else []}  # fmt: skip

    def conv(name, size, padding, dilation=1, stride=1):
        return node(
            "Conv1D",
            name,
            ["seq"],
            filters=3,
            kernel_size=[size],
            padding=padding,
            dilation_rate=[dilation],
            strides=[stride],
            activation="linear",
        )

    layers = [
        node("InputLayer", "seq", [], batch_input_shape=[None, length, 4]),
        conv("a", 4, "same", dilation=2),  # even kernel, dilated: span 7
        conv("b", 4, "same"),  # even kernel: one more zero on the right
        conv("s", 4, "same", stride=3),
        conv("causal", 3, "causal", dilation=2),
        node("Merge", "sum", ["a", "b"], mode="sum", concat_axis=-1),
        node("Merge", "cat", ["sum", "causal"], mode="concat", concat_axis=1),  # the length
        node("BatchNormalization", "bn1", ["cat"], axis=-1, epsilon=0.01, center=False),
        node("BatchNormalization", "bn2", ["bn1"], axis=2, epsilon=1e-3, scale=False),
        node("Dense", "per_position", ["bn2"], units=2, activation="tanh"),
        node("AveragePooling1D", "ap", ["per_position"], pool_size=[3], strides=[1],
             padding="same"),  # symmetric "same": edge windows average 2 values
        node("MaxPooling1D", "mp", ["ap"], pool_size=[2], strides=[3], padding="same"),
        node("Cropping1D", "crop", ["mp"], cropping=[1, 2]),
        node("Flatten", "flat", ["crop"]),
        node("Flatten", "flat_s", ["s"]),
        node("Concatenate", "features", ["flat", "flat_s"], axis=-1),
        node("Dense", "out", ["features"], units=2, activation="softmax"),
        node("Dense", "out2", ["flat"], units=1, activation="linear"),
    ]  # fmt: skip
    return {"class_name": "Model", "keras_version": "1.2.2",
            "config": {"name": "f", "layers": layers, "input_layers": [["seq", 0, 0]],
                       "output_layers": [["out", 0, 0], ["out2", 0, 0]]}}  # fmt: skip


def test_padding_merge_batchnorm_and_flatten_edge_cases_match_numpy(tmp_path):
    """Even/dilated/strided "same" and causal convolutions, Keras 1 Merge (sum, concat on the
    length axis), BatchNormalization without gamma or beta, Dense on a sequence, "same" pools,
    Cropping1D then Flatten, and two outputs."""
    from tests.models.keras_files import np_pool_same

    rng = np.random.default_rng(15)
    length = 17
    weights = {
        **{name: [rng.normal(size=(4, 4, 3)), rng.normal(size=3)] for name in "abs"},
        "causal": [rng.normal(size=(3, 4, 3)), rng.normal(size=3)],
        "bn1": [rng.uniform(0.5, 2, 3), rng.normal(size=3), rng.uniform(0.5, 2, 3)],
        "bn2": [rng.normal(size=3), rng.normal(size=3), rng.uniform(0.5, 2, 3)],
        "per_position": [rng.normal(size=(3, 2)), rng.normal(size=2)],
        "out": [rng.normal(size=(9 * 2 + 6 * 3, 2)), rng.normal(size=2)],
        "out2": [rng.normal(size=(9 * 2, 1)), rng.normal(size=1)],
    }
    suffixes = {name: CONV for name in weights}
    suffixes["bn1"] = ["gamma", "moving_mean", "moving_variance"]
    suffixes["bn2"] = ["beta", "moving_mean", "moving_variance"]
    model = load_keras(write_keras2_model(tmp_path / "f.h5", _legacy_functional_config(length),
                                          weights, suffixes))  # fmt: skip
    x = one_hot_channels_last(3, length, seed=16)
    first, second = _run(model, x)
    w = weights
    for row, y1, y2 in zip(x, first.numpy(), second.numpy(), strict=True):
        summed = np_conv1d(row, *w["a"], dilation=2, padding="same") + np_conv1d(
            row, *w["b"], padding="same"
        )
        causal = np_conv1d(np.concatenate([np.zeros((4, 4)), row]), *w["causal"], dilation=2)
        h = np.concatenate([summed, causal])  # (34, 3)
        gamma, mean, var = w["bn1"]
        h = gamma * (h - mean) / np.sqrt(var + 0.01)
        beta, mean, var = w["bn2"]
        h = (h - mean) / np.sqrt(var + 1e-3) + beta
        h = np.tanh(h @ w["per_position"][0] + w["per_position"][1])
        h = np_pool_same(np_pool_same(h, 3, 1, "mean"), 2, 3, "max")[1:-2]  # (9, 2)
        strided = np_conv1d(row, *w["s"], stride=3, padding="same")  # (6, 3)
        features = np.concatenate([h.reshape(-1), strided.reshape(-1)])
        np.testing.assert_allclose(y1, softmax(features @ w["out"][0] + w["out"][1]), atol=1e-5)
        np.testing.assert_allclose(y2, h.reshape(-1) @ w["out2"][0] + w["out2"][1], atol=1e-5)
