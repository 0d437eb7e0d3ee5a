"""``--model`` specs: tell which source a spec names, before anything is read or imported.

A spec is one of:

- a liftgenomics model directory (or its ``.safetensors``/``.json`` file), written by ``train``
  (see :mod:`liftgenomics.models.directory`);
- ``path/to/models.py:factory`` or ``package.module:factory``: a user's factory (a function or
  a class), called with ``model_args`` (a JSON object, :func:`parse_model_args`) and given
  ``weights`` (see :mod:`liftgenomics.models.factory`);
- ``chrombpnet:PATH``: chrombpnet/ENCODE Keras ``.h5`` files (see
  :mod:`liftgenomics.models.chrombpnet`);
- ``keras:MODEL.h5`` (a full Keras model file) or ``keras:ARCH.json`` with ``weights`` (a
  weights ``.h5``): any Keras 0.x-2.x model of the layers :mod:`liftgenomics.models.keras` reads;
- ``bpnet-lite:FILE.torch``: a whole pickled bpnet-lite ``BPNet``/``ChromBPNet``, read without
  running it (see :mod:`liftgenomics.models.bpnet_lite`).

:func:`parse_model_spec` returns a :class:`ModelSpec`; :func:`liftgenomics.models.load.load_model`
dispatches on it. This module imports neither torch nor the user's code.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from liftgenomics.errors import LiftGenomicsError, printable

CHROMBPNET_PREFIX = "chrombpnet:"
#: Prefixed sources: prefix -> (kind, what the path after it is, for the message when it is empty).
PREFIXED_SOURCES = {
    CHROMBPNET_PREFIX: ("chrombpnet", "chrombpnet:DIR_OR_H5"),
    "keras:": ("keras", "keras:MODEL.h5 or keras:ARCH.json --weights WEIGHTS.h5"),
    "bpnet-lite:": ("bpnet-lite", "bpnet-lite:FILE.torch"),
}
_FACTORY = re.compile(r"^(?P<location>.+):(?P<factory>[A-Za-z_]\w*)$")
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``--model`` spec.

    Attributes:
        kind: ``"directory"`` (a liftgenomics model), ``"file"`` (a ``.py`` file's factory),
            ``"module"`` (an importable module's factory), ``"chrombpnet"``, ``"keras"`` or
            ``"bpnet-lite"``.
        location: The path, or the dotted module name for ``"module"``.
        factory: The factory's name for ``"file"`` and ``"module"``, else None.
    """

    kind: Literal["directory", "file", "module", "chrombpnet", "keras", "bpnet-lite"]
    location: str
    factory: str | None = None


def parse_model_spec(spec: str | os.PathLike) -> ModelSpec:
    """Tell which source a ``--model`` spec names (nothing is read or imported).

    An existing path is a model directory even if it contains a colon.

    Raises:
        LiftGenomicsError: for a prefixed source with no path or a factory spec whose module
            part is neither a ``.py`` file nor a dotted module name.
    """
    text = os.fspath(spec)
    for prefix, (kind, usage) in PREFIXED_SOURCES.items():
        if text.startswith(prefix):
            location = text[len(prefix) :]
            if not location:
                raise LiftGenomicsError(f"--model {prefix} needs a path ({usage})")
            return ModelSpec(kind, location)
    match = _FACTORY.match(text)
    if match is None or _exists(text):
        return ModelSpec("directory", text)
    location, factory = match["location"], match["factory"]
    if location.endswith(".py"):
        return ModelSpec("file", location, factory)
    if _MODULE_NAME.match(location):
        return ModelSpec("module", location, factory)
    raise LiftGenomicsError(
        f"--model {printable(text)}: not a model directory, FILE.py:factory, "
        "package.module:factory, chrombpnet:PATH, keras:PATH or bpnet-lite:PATH"
    )


def _exists(text: str) -> bool:
    """Whether ``text`` names an existing path (False for one the OS cannot even look up)."""
    try:
        return Path(text).exists()
    except (OSError, ValueError):  # a name too long, or holding a NUL
        return False


def parse_model_args(model_args: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The factory's keyword arguments from a JSON object string or a mapping.

    Raises:
        LiftGenomicsError: for invalid JSON or a JSON value that is not an object.
    """
    if model_args is None:
        return {}
    if isinstance(model_args, Mapping):
        return dict(model_args)
    try:
        value = json.loads(model_args)
    except json.JSONDecodeError as error:
        raise LiftGenomicsError(f"--model-args is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise LiftGenomicsError(
            f"--model-args must be a JSON object like '{{\"n_filters\": 64}}', got {model_args!r}"
        )
    return value
