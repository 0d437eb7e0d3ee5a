"""Read Keras models (Keras 0.x to 3, ``.h5``/JSON) into PyTorch with h5py: ``--model keras:``.

:func:`load_keras` reads a full model ``.h5`` (with a ``model_config`` attribute) or an
architecture ``.json`` plus a weights ``.h5``, and returns a
:class:`~liftgenomics.models.keras.graph.KerasGraph` that takes one-hot (N, 4, L) sequences.
TensorFlow is never imported and nothing in the files is executed: the architecture is read as
JSON (:mod:`.config`), the weights with h5py (:mod:`.weights`), each layer is lowered to a
standard torch op (:mod:`.layers`, :mod:`.build`) and run by :mod:`.graph`.

A final sigmoid or softmax is split off: the model returns ``{"logits", "activated"}`` and
explains the logits by default (``default_output = "logits"``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from liftgenomics.errors import LiftGenomicsError, printable
from liftgenomics.models.keras.build import Lowered, lower
from liftgenomics.models.keras.config import KerasModel, parse_config, parse_json
from liftgenomics.models.keras.graph import KerasGraph, keras_model
from liftgenomics.models.keras.layout import WEIGHTED
from liftgenomics.models.keras.weights import (
    KerasWeights,
    model_config,
    open_h5,
    read_weights,
)

__all__ = ["KerasGraph", "keras_model", "load_keras"]


def load_keras(path: str | os.PathLike, weights: str | os.PathLike | None = None) -> nn.Module:
    """Load a Keras model into a PyTorch module, in eval mode on the CPU.

    Args:
        path: A full Keras model ``.h5`` (``model.save``), or an architecture ``.json``
            (``model.to_json()``, any Keras from 0.x on).
        weights: The weights ``.h5`` (``model.save_weights``) for an architecture ``.json``;
            for a full model file, weights that replace the file's own.

    Returns:
        A :class:`~liftgenomics.models.keras.graph.KerasGraph` with ``input_length``,
        ``metadata`` (``source``, ``files``, ``keras_version``) and ``architecture`` (the
        registry dict that rebuilds it) set.

    Raises:
        LiftGenomicsError: one line naming the file (and the layer and its class), for a
            missing, truncated or non-HDF5 file, a layer or option that is not supported, or
            weights that do not fit the architecture.
    """
    path = Path(path)
    files = [path]
    if path.suffix.lower() == ".keras":
        raise LiftGenomicsError(
            f"{path}: Keras 3 .keras archives are not read; save the model as .h5 "
            "(model.save('model.h5')) or pass its architecture JSON with --weights"
        )
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise LiftGenomicsError(f"{path}: Keras architecture file not found")
        if weights is None:
            raise LiftGenomicsError(
                f"{path}: an architecture JSON needs its weights: pass --weights WEIGHTS.h5"
            )
        try:
            text = path.read_bytes()
        except OSError as error:
            raise LiftGenomicsError(f"{path}: cannot read ({error.strerror})") from None
        document = parse_json(text, str(path))
        file_weights = None
    else:
        with open_h5(path) as h5:
            text = model_config(h5, str(path))
            if text is None:
                raise LiftGenomicsError(
                    f"{path}: a weights-only Keras file (no model_config): pass the "
                    "architecture as keras:ARCH.json with --weights " + str(path)
                )
            document = parse_json(text, str(path))
            file_weights = read_weights(h5, str(path)) if weights is None else None
    if weights is not None:
        weights = Path(weights)
        files.append(weights)
        with open_h5(weights) as h5:
            file_weights = read_weights(h5, str(weights))
    where = " + ".join(str(f) for f in files)
    model = parse_config(document, where, file_weights.keras_version or None)
    matched = match_weights(model, file_weights, where)
    lowered = lower(model, matched, where, flip=_flips(model, file_weights))
    module = build(lowered, where)
    module.metadata = {
        "source": f"keras:{path}",
        "files": [str(f) for f in files],
        "keras_version": model.keras_version,
    }
    module.architecture = lowered.architecture()
    return module


def _flips(model: KerasModel, weights: KerasWeights) -> bool:
    """Whether the model ran Theano's true convolution (its kernels are flipped)."""
    if weights.backend:
        return weights.backend == "theano"
    if model.major == 0:
        return True
    return any(layer.config.get("data_format") == "channels_first" and
               layer.cls in ("Conv1D", "Conv2D") for layer in model.layers)  # fmt: skip


def match_weights(model: KerasModel, weights: KerasWeights, where: str
                  ) -> dict[str, list[np.ndarray]]:  # fmt: skip
    """Each graph layer's arrays: by layer name, else (as Keras does) by position.

    Raises:
        LiftGenomicsError: when neither the names nor the number of weighted layers match.
    """
    weighted = [layer for layer in model.layers if layer.cls in WEIGHTED]
    if all(weights.layers.get(layer.name) for layer in weighted):
        return dict(weights.layers)
    stored = [name for name in weights.order if weights.layers[name]]
    if len(stored) != len(weighted):
        missing = next(layer for layer in weighted if not weights.layers.get(layer.name))
        raise LiftGenomicsError(
            f"{where}: {missing.label}: no weights for this layer (the weights file holds "
            f"{len(stored)} weighted layers, the architecture {len(weighted)})"
        )
    matched = {name: arrays for name, arrays in weights.layers.items() if not arrays}
    for layer, name in zip(weighted, stored, strict=True):
        matched[layer.name] = weights.layers[name]
    return matched


def build(lowered: Lowered, where: str) -> KerasGraph:
    """The module for a lowered graph, with its weights loaded, in eval mode."""
    with torch.random.fork_rng(devices=[]):
        module = keras_model(**{k: v for k, v in lowered.architecture().items() if k != "name"})
    state = module.state_dict()
    for name, arrays in lowered.state.items():
        if name not in module.keys:
            continue  # pruned: not on the path to an output
        for key, array in arrays.items():
            full = f"layers.{module.keys[name]}.{key}"
            tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
            if full not in state or state[full].shape != tensor.shape:
                raise LiftGenomicsError(
                    f"{where}: layer {printable(name)}: weights {key} do not fit"
                )
            if not torch.isfinite(tensor).all():
                raise LiftGenomicsError(
                    f"{where}: layer {printable(name)}: weights {key} are not finite"
                )
            state[full] = tensor
    module.load_state_dict(state)
    return module.eval()
