"""Read Keras ``.h5`` files: the model description and the weights of each layer.

Each file is read whole in a child process by :mod:`liftgenomics.models.h5read`.

Layouts read:

- Keras 1.x/2.x/3 (legacy ``.h5``): layer groups listed by the ``layer_names`` attribute, each
  with a ``weight_names`` attribute naming its datasets relative to the group
  (``conv1d_1/kernel:0``); a full model file keeps them under ``model_weights`` and its
  architecture in the ``model_config`` attribute. Long attributes may be split into chunks
  (``layer_names0``, ``layer_names1``, ...), as Keras writes them.
- Keras 0.x: ``layer_{i}`` groups (``nb_layers`` of them), each with ``nb_params`` datasets
  ``param_{j}``.

Arrays come back in the order Keras itself assigns them to a layer (``layer.set_weights``),
with no layout change: :mod:`liftgenomics.models.keras.build` converts them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.h5read import H5Dataset, H5File, read_h5
from liftgenomics.models.keras.config import first_line


@dataclass
class KerasWeights:
    """The weights of a Keras file.

    Attributes:
        layers: Layer name (``layer_{i}`` for Keras 0.x) -> its arrays, in Keras order.
        order: The layer names in file order (for matching by position).
        keras_version: The ``keras_version`` attribute ("" when absent).
        backend: The ``backend`` attribute ("" when absent).
    """

    layers: dict[str, list[np.ndarray]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    keras_version: str = ""
    backend: str = ""


#: What h5py raises for a damaged file (a corrupt heap, a bad string encoding, a missing object).
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, UnicodeDecodeError)
#: How much larger than its stored bytes a compressed dataset may claim to be.
MAX_COMPRESSION = 1000


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _attribute(node: Any, name: str) -> list[str] | None:
    """A string-list attribute, joined from Keras's chunks (``name0``, ``name1``...)."""
    if name in node.attrs:
        value = node.attrs[name]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in node.attrs:
            chunks.append(node.attrs[f"{name}{len(chunks)}"])
        if not chunks:
            return None
        value = np.concatenate([np.atleast_1d(chunk) for chunk in chunks])
    return [_text(item) for item in np.atleast_1d(value) if not isinstance(item, float)]


def open_h5(path: str | os.PathLike) -> H5File:
    """Read a whole HDF5 file (in a child process, with a time limit) into memory.

    Raises:
        LiftGenomicsError: naming the file, for a missing, non-HDF5 or truncated file, or one
            whose reading hangs or crashes the HDF5 library.
    """
    path = Path(path)
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: Keras file not found")
    return read_h5(
        path,
        str(path),
        not_hdf5="{where}: not a readable HDF5 file (truncated or not HDF5: {error})",
    )


def model_config(h5: Any, where: str) -> str | bytes | None:
    """The ``model_config`` attribute of a full model file (JSON text), or None.

    Raises:
        LiftGenomicsError: naming the file, for an attribute that cannot be read.
    """
    try:
        if "model_config" not in h5.attrs:
            return None
        value = h5.attrs["model_config"]
    except H5_ERRORS as error:
        raise LiftGenomicsError(
            f"{where}: cannot read the model_config attribute (damaged file: {first_line(error)})"
        ) from None
    if isinstance(value, bytes | str):
        return value
    raise LiftGenomicsError(f"{where}: the model_config attribute is not text")


def _array(group: Any, name: str, where: str, file_size: int) -> np.ndarray:
    """One weight dataset as an array, refused before reading when it cannot be weights."""
    dataset = group[name]
    label = f"{where}: weights {group.name}/{name}"
    if not isinstance(dataset, H5Dataset):
        raise LiftGenomicsError(f"{label}: not a dataset")
    if dataset.dtype.kind not in "fiu":
        raise LiftGenomicsError(f"{label}: not numbers (dtype {dataset.dtype})")
    limit = file_size * (MAX_COMPRESSION if dataset.compressed else 1) + 4096
    if dataset.size * dataset.dtype.itemsize > limit:
        raise LiftGenomicsError(
            f"{label}: shape {dataset.shape} is larger than the file holds (damaged file)"
        )
    return np.asarray(dataset)


def read_weights(h5: Any, where: str) -> KerasWeights:
    """Every layer's weights in an open Keras ``.h5`` file.

    Raises:
        LiftGenomicsError: naming the file (and the layer), for a file with neither layout or
            a dataset that cannot be read (a truncated file).
    """
    file_size = h5.file_size
    try:
        root = h5["model_weights"] if "model_weights" in h5 else h5
        result = KerasWeights(
            keras_version=_text(root.attrs.get("keras_version",
                                               h5.attrs.get("keras_version", ""))),
            backend=_text(root.attrs.get("backend", h5.attrs.get("backend", ""))),
        )  # fmt: skip
        names = _attribute(root, "layer_names")
        if names is not None:
            for name in names:
                group = root[name]
                weight_names = _attribute(group, "weight_names") or []
                result.layers[name] = [_array(group, item, where, file_size)
                                       for item in weight_names]  # fmt: skip
                result.order.append(name)
        elif "nb_layers" in root.attrs:
            for index in range(int(root.attrs["nb_layers"])):
                group = root[f"layer_{index}"]
                count = int(group.attrs.get("nb_params", 0))
                name = f"layer_{index}"
                result.layers[name] = [_array(group, f"param_{j}", where, file_size)
                                       for j in range(count)]  # fmt: skip
                result.order.append(name)
        else:
            raise LiftGenomicsError(
                f"{where}: no Keras weights in this HDF5 file (no layer_names or nb_layers "
                "attribute)"
            )
    except H5_ERRORS as error:
        raise LiftGenomicsError(
            f"{where}: cannot read the Keras weights (truncated or damaged file: "
            f"{first_line(error)})"
        ) from None
    return result
