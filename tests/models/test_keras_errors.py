"""What the Keras reader refuses: one line naming the file (and the layer and its class)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.keras import load_keras
from tests.models.keras_files import layer, write_keras2_model, write_keras2_weights

CONV = ["kernel", "bias"]
LENGTH = 10


def _config(*middle: dict) -> dict:
    layers = [
        layer("Conv1D", name="conv", filters=2, kernel_size=[3], strides=[1], padding="valid",
              dilation_rate=[1], activation="relu", use_bias=True,
              batch_input_shape=[None, LENGTH, 4]),
        *middle,
        layer("Flatten", name="flat"),
        layer("Dense", name="dense", units=1, activation="linear", use_bias=True),
    ]  # fmt: skip
    return {"class_name": "Sequential", "keras_version": "2.2.4",
            "config": {"name": "s", "layers": layers}}


def _weights(rng=None) -> dict:
    rng = rng or np.random.default_rng(0)
    return {"conv": [rng.normal(size=(3, 4, 2)), rng.normal(size=2)],
            "dense": [rng.normal(size=(16, 1)), rng.normal(size=1)]}  # fmt: skip


def _good(tmp_path):
    return write_keras2_model(tmp_path / "good.h5", _config(), _weights(),
                              {"conv": CONV, "dense": CONV})  # fmt: skip


def _truncated(tmp_path):
    data = _good(tmp_path).read_bytes()
    path = tmp_path / "truncated.h5"
    path.write_bytes(data[: len(data) // 2])
    return path


def _lambda(tmp_path):
    config = _config(layer("Lambda", name="evil", function=["print('hi')", None, None],
                           function_type="lambda"))  # fmt: skip
    return write_keras2_model(tmp_path / "lambda.h5", config, _weights(),
                              {"conv": CONV, "dense": CONV})  # fmt: skip


def _unknown(tmp_path):
    config = _config(layer("MyFancyLayer", name="fancy", units=3))
    return write_keras2_model(tmp_path / "unknown.h5", config, _weights(),
                              {"conv": CONV, "dense": CONV})  # fmt: skip


def _mismatch(tmp_path):
    weights = _weights()
    weights["dense"][0] = np.ones((15, 1))
    return write_keras2_model(tmp_path / "mismatch.h5", _config(), weights,
                              {"conv": CONV, "dense": CONV})  # fmt: skip


def _not_hdf5(tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("not hdf5 at all\n")
    return path


BAD = {
    "truncated": (_truncated, "truncated"),
    "not_hdf5": (_not_hdf5, "not a readable HDF5"),
    "lambda": (_lambda, "layer evil (Lambda)"),
    "unknown": (_unknown, "layer fancy (MyFancyLayer)"),
    "mismatch": (_mismatch, "layer dense (Dense)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_raise_one_line(tmp_path, case):
    make, message = BAD[case]
    path = make(tmp_path)
    with pytest.raises(LiftGenomicsError) as caught:
        load_keras(path)
    text = str(caught.value)
    assert "\n" not in text and str(path) in text and message in text


def _refused(tmp_path, config, weights=None, suffixes=None) -> str:
    path = write_keras2_model(tmp_path / "m.h5", config, weights or _weights(),
                              suffixes or {"conv": CONV, "dense": CONV})  # fmt: skip
    with pytest.raises(LiftGenomicsError) as caught:
        load_keras(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    return str(caught.value)


def test_refuses_recurrent_and_options(tmp_path):
    lstm = _config(layer("LSTM", name="rnn", units=2, return_sequences=True))
    assert "layer rnn (LSTM)" in _refused(tmp_path, lstm)
    bad_activation = _config(layer("Activation", name="act", activation="hard_sigmoid"))
    assert "layer act (Activation)" in _refused(tmp_path, bad_activation)
    config = _config()
    config["config"]["layers"][0]["config"]["groups"] = 2
    assert "layer conv (Conv1D)" in _refused(tmp_path, config)


def test_refuses_a_2d_kernel_that_does_not_span_the_bases(tmp_path):
    config = {"class_name": "Sequential", "keras_version": "2.2.4", "config": [
        layer("Conv2D", name="c2", filters=2, kernel_size=[2, 3], strides=[1, 1],
              padding="valid", data_format="channels_first", dilation_rate=[1, 1],
              activation="linear", use_bias=True, batch_input_shape=[None, 1, 4, LENGTH]),
    ]}  # fmt: skip
    rng = np.random.default_rng(1)
    weights = {"c2": [rng.normal(size=(2, 3, 1, 2)), rng.normal(size=2)]}
    assert "layer c2 (Conv2D)" in _refused(tmp_path, config, weights, {"c2": CONV})


def test_missing_weights_and_weights_only_file(tmp_path):
    config = _config()
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(config))
    with pytest.raises(LiftGenomicsError, match="--weights"):
        load_keras(arch)
    weights = _weights()
    del weights["dense"]
    h5 = write_keras2_weights(tmp_path / "w.h5", config, weights, {"conv": CONV})
    with pytest.raises(LiftGenomicsError, match=r"layer dense \(Dense\)"):
        load_keras(arch, weights=h5)
    with pytest.raises(LiftGenomicsError, match="weights-only"):
        load_keras(h5)


def test_never_imports_tensorflow(tmp_path):
    load_keras(_good(tmp_path))
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules


@pytest.mark.parametrize("case", ["truncated", "unknown", "lambda", "mismatch"])
@pytest.mark.parametrize("command", ["score", "attribute"])
def test_cli_refuses_bad_keras_files(tmp_path, capsys, case, command):
    from liftgenomics.cli import main

    path = BAD[case][0](tmp_path)
    out = tmp_path / "out"
    if command == "score":
        fasta = tmp_path / "x.fa"
        fasta.write_text(">a\nACGTACGTAC\n>b\nTTGACCATGA\n")
        arguments = ["score", "--model", f"keras:{path}", "--fasta", str(fasta),
                     "--out", str(out)]  # fmt: skip
    else:
        ohe = tmp_path / "x.npz"
        np.savez(ohe, X=np.eye(4, dtype=np.float32)[np.zeros((2, LENGTH), int)].transpose(0, 2, 1))
        arguments = ["attribute", "--model", f"keras:{path}", "--ohe", str(ohe),
                     "--out", str(out / "a.npz")]  # fmt: skip
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and str(path) in error
    assert not out.exists()
