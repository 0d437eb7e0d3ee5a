"""Write the small Keras ChromBPNet fixture in tests/data/chrombpnet/ (needs TensorFlow; not CI).

Run once in a throwaway environment, never the project's (TensorFlow is no dependency):

    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu tf-keras h5py
    TF_USE_LEGACY_KERAS=1 /tmp/tfvenv/bin/python benchmarks/make_chrombpnet_fixture.py

The models are built as chrombpnet's own training code builds them (``bpnet_model.py`` for the
bias model, ``chrombpnet_with_bias_model.py`` for the ``wo_bias_`` accessibility model and the
full model; the same layer names, valid convolutions, crops, ``gap`` and the logsumexp count
combination), tiny (input 200, output 90), with random weights and biases, and saved the way
chrombpnet saves them (``model.save(...h5)``; the accessibility model re-wrapped from the full
model as ``save_model_without_bias`` does). ``predictions.npz`` holds Keras' own predictions on
a few random one-hot sequences; ``tests/models/test_chrombpnet.py`` checks ours against them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from tf_keras.layers import (  # noqa: E402
    Add,
    Concatenate,
    Conv1D,
    Cropping1D,
    Dense,
    Flatten,
    GlobalAvgPool1D,
    Input,
    Lambda,
    add,
)

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "chrombpnet"
INPUT_LENGTH, OUTPUT_LENGTH = 200, 90


def bpnet(filters: int, n_dil_layers: int, prefix: str, model_name: str | None) -> keras.Model:
    """chrombpnet's BPNet with its layer names (``prefix`` "" or "wo_bias_")."""
    head = f"{prefix}bpnet_" if prefix else ""
    inp = Input(shape=(INPUT_LENGTH, 4), name="sequence")
    x = Conv1D(filters, 21, padding="valid", activation="relu", name=f"{prefix}bpnet_1st_conv")(
        inp
    )
    for i in range(1, n_dil_layers + 1):
        conv_x = Conv1D(
            filters,
            3,
            padding="valid",
            activation="relu",
            dilation_rate=2**i,
            name=f"{prefix}bpnet_{i}conv",
        )(x)
        crop = (x.shape[1] - conv_x.shape[1]) // 2
        x = Cropping1D(crop, name=f"{prefix}bpnet_{i}crop")(x)
        x = add([conv_x, x])
    prof = Conv1D(1, 75, padding="valid", name=f"{head}prof_out_precrop")(x)
    crop = prof.shape[1] // 2 - OUTPUT_LENGTH // 2
    crop_name = f"{prefix}bpnet_logitt_before_flatten" if prefix else (
        "logits_profile_predictions_preflatten"
    )
    prof = Cropping1D(crop, name=crop_name)(prof)
    profile_out = Flatten(name=f"{head}logits_profile_predictions")(prof)
    gap = GlobalAvgPool1D(name="gap")(x)
    count_out = Dense(1, name=f"{head}logcount_predictions")(gap)
    return keras.Model(inputs=[inp], outputs=[profile_out, count_out], name=model_name)


def randomise(model: keras.Model, rng: np.random.Generator) -> None:
    """Random weights and non-zero biases (Keras' zero biases would hide a bias bug)."""
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in weights])


def main() -> int:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    OUT.mkdir(parents=True, exist_ok=True)

    bias = bpnet(4, 1, "", None)
    randomise(bias, rng)
    bias.save(OUT / "bias.h5")
    bias = keras.models.load_model(OUT / "bias.h5", compile=False)  # as chrombpnet reloads it

    accessibility = bpnet(8, 2, "wo_bias_", "model_wo_bias")
    randomise(accessibility, rng)
    inp = Input(shape=(INPUT_LENGTH, 4), name="sequence")
    bias_output, output_wo_bias = bias(inp), accessibility(inp)
    profile_out = Add(name="logits_profile_predictions")([output_wo_bias[0], bias_output[0]])
    concat = Concatenate(axis=-1)([output_wo_bias[1], bias_output[1]])
    count_out = Lambda(
        lambda x: tf.math.reduce_logsumexp(x, axis=-1, keepdims=True), name="logcount_predictions"
    )(concat)
    full = keras.Model(inputs=[inp], outputs=[profile_out, count_out])
    full.save(OUT / "full.h5")
    # save_model_without_bias: the accessibility submodel re-wrapped and saved on its own.
    wo_bias = full.get_layer("model_wo_bias")
    nobias = keras.Model(inputs=wo_bias.inputs, outputs=[wo_bias.output[0], wo_bias.output[1]])
    nobias.save(OUT / "nobias.h5")

    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (5, INPUT_LENGTH))]  # (N, L, 4)
    predictions = {"X": X.transpose(0, 2, 1)}  # stored channels-first, as liftgenomics uses
    for name, model in (("bias", bias), ("nobias", nobias), ("full", full)):
        profile, counts = model.predict(X, verbose=0)
        predictions[f"{name}_profile"] = profile.astype(np.float64)
        predictions[f"{name}_counts"] = counts.astype(np.float64)
    np.savez_compressed(OUT / "predictions.npz", **predictions)
    for path in sorted(OUT.iterdir()):
        print(f"{path.name}: {path.stat().st_size} bytes")
    print("tensorflow", tf.__version__, "tf_keras", keras.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
