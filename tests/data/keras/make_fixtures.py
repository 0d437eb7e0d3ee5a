"""Write the real-Keras fixtures in this folder (run once, by hand, never by the tests).

Needs TensorFlow, which liftgenomics never depends on: install it into a throwaway venv,

    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu tf-keras
    /tmp/tfvenv/bin/python tests/data/keras/make_fixtures.py

It writes, for Keras 2 (tf-keras) and Keras 3 (keras), a small functional genomics model saved
as a legacy ``.h5`` (``{name}.h5``) and Keras's own predictions on fixed one-hot inputs
(``{name}.npz``: ``x`` (N, L, 4), ``y`` the model's outputs, ``logits`` before the sigmoid).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
LENGTH = 40


def build(keras, seed: int):
    layers = keras.layers
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(LENGTH, 4), name="seq")
    a = layers.Conv1D(6, 5, padding="same", activation="relu", name="conv_a")(inputs)
    a = layers.BatchNormalization(name="bn")(a)
    b = layers.Conv1D(6, 4, padding="same", dilation_rate=2, name="conv_b")(inputs)
    h = layers.Add(name="add")([a, b])
    h = layers.Activation("relu", name="relu")(h)
    h = layers.MaxPooling1D(3, strides=2, padding="same", name="pool")(h)
    c = layers.Conv1D(4, 3, name="conv_c")(h)
    g = layers.Conv1D(4, 3, activation="sigmoid", name="gate")(h)
    h = layers.Multiply(name="mul")([c, g])
    shifted = layers.ZeroPadding1D((2, 0), name="pad")(layers.Cropping1D((0, 2), name="crop")(h))
    h = layers.Concatenate(name="cat")([h, shifted])
    h = layers.Dropout(0.3, name="drop")(h)
    flat = layers.Flatten(name="flat")(h)
    logits = layers.Dense(3, name="dense")(flat)
    out = layers.Activation("sigmoid", name="out")(logits)
    model = keras.Model(inputs, out, name="tiny")
    # Non-trivial batch-norm statistics.
    bn = model.get_layer("bn")
    rng = np.random.default_rng(seed)
    bn.set_weights([rng.uniform(0.5, 2, 6), rng.normal(size=6), rng.normal(size=6),
                    rng.uniform(0.5, 2, 6)])
    return model, keras.Model(inputs, logits)


def main() -> None:
    import keras as keras3
    import tf_keras

    rng = np.random.default_rng(0)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (8, LENGTH))]
    for name, keras in (("tf_keras2", tf_keras), ("keras3", keras3)):
        model, logit_model = build(keras, seed=1)
        path = HERE / f"{name}.h5"
        if name == "keras3":
            keras.saving.save_model(model, path)
        else:
            model.save(path, save_format="h5")
        np.savez(HERE / f"{name}.npz", x=x, y=model.predict(x, verbose=0),
                 logits=logit_model.predict(x, verbose=0), version=keras.__version__)
        print(path, keras.__version__)


if __name__ == "__main__":
    main()
