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
    return {
        "class_name": "Sequential",
        "keras_version": "2.2.4",
        "config": {"name": "s", "layers": layers},
    }


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


def _set(path: list, value):
    """A JSON mutation: set config[path...] = value."""

    def mutate(config: dict) -> None:
        target = config
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


_FIRST = ["config", "layers", 0, "config"]
JSON_MUTATIONS = [
    _set([*_FIRST, "filters"], "abc"),
    _set([*_FIRST, "kernel_size"], [-3]),
    _set([*_FIRST, "strides"], [0]),
    _set([*_FIRST, "dilation_rate"], [-2]),
    _set([*_FIRST, "batch_input_shape"], 5),
    _set([*_FIRST, "batch_input_shape"], [None, "a", "b", "c"]),
    _set([*_FIRST, "batch_input_shape"], [None, 10.0, 4.0]),
    _set([*_FIRST, "activation"], {"config": "relu"}),
    _set(["config", "layers", 2, "config", "units"], 1.5),
    _set(["config", "layers", 0, "config"], "abc"),
    _set(["config"], 3),
    _set(["config", "layers"], [1, 2]),
    _set(["class_name"], "Model"),
]


def _h5_mutations():
    kernel = "model_weights/conv/conv/kernel:0"

    def replace(h5, **dataset):
        del h5[kernel]
        h5.create_dataset(kernel, **dataset)

    return [
        lambda h5: replace(h5, data=np.array([b"abc"] * 24).reshape(3, 4, 2)),
        lambda h5: replace(h5, data=np.ones((3, 4, 2), dtype=complex)),
        lambda h5: replace(h5, shape=(100000, 100000, 100), dtype="f4", chunks=(10, 10, 10)),
        lambda h5: h5["model_weights"].attrs.__setitem__("layer_names", np.array([b"\xff"])),
        lambda h5: h5.attrs.__setitem__("model_config", np.array([b"a", b"b"])),
        lambda h5: h5.attrs.__setitem__("model_config", b"\xff\xfe{}"),
    ]


def test_mutated_files_load_or_raise_one_line(tmp_path):
    """Truncated, byte-flipped, mistyped and oversized files: each loads or raises one line."""
    import random

    import h5py

    rng = random.Random(0)
    good = _good(tmp_path)
    data = good.read_bytes()
    cases: list[tuple[object, object]] = []
    for index, offset in enumerate([0, 8, 100, 800, 2000, len(data) // 2, len(data) - 1]):
        path = tmp_path / f"truncated{index}.h5"
        path.write_bytes(data[:offset])
        cases.append((path, None))
    for index in range(24):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        path = tmp_path / f"flipped{index}.h5"
        path.write_bytes(bytes(flipped))
        cases.append((path, None))
    for index, mutate in enumerate(JSON_MUTATIONS):
        config = _config()
        mutate(config)
        path = tmp_path / f"arch{index}.json"
        path.write_text(json.dumps(config))
        cases.append((path, good))
    for name, text in [("empty", b""), ("binary", b"\xff\xfe{\x80}"),
                       ("deep", b"[" * 100000 + b"]" * 100000)]:  # fmt: skip
        path = tmp_path / f"{name}.json"
        path.write_bytes(text)
        cases.append((path, good))
    for index, mutate in enumerate(_h5_mutations()):
        path = write_keras2_model(tmp_path / f"mutated{index}.h5", _config(), _weights(),
                                  {"conv": CONV, "dense": CONV})  # fmt: skip
        with h5py.File(path, "a") as h5:
            mutate(h5)
        cases.append((path, None))
    refused = 0
    for path, weights in cases:
        try:
            load_keras(path, weights)
        except LiftGenomicsError as error:
            refused += 1
            assert "\n" not in str(error) and str(path) in str(error), (path, str(error))
    assert refused >= len(cases) - 24  # only some byte flips (in unused bytes) may load
