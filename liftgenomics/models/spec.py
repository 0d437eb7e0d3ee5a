"""``--model`` specs: tell which source a spec names, before anything is read or imported.

A spec is one of:

- a liftgenomics model directory (or its ``.safetensors``/``.json`` file), written by ``train``
  (see :mod:`liftgenomics.models.directory`);
- ``path/to/models.py:factory`` or ``package.module:factory``: a user's factory (a function or
  a class), called with ``model_args`` (a JSON object, :func:`parse_model_args`) and given
  ``weights`` (see :mod:`liftgenomics.models.factory`);
- ``chrombpnet:PATH``: chrombpnet/ENCODE Keras ``.h5`` files (see
  :mod:`liftgenomics.models.chrombpnet`).

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

from liftgenomics.errors import LiftGenomicsError

CHROMBPNET_PREFIX = "chrombpnet:"
_FACTORY = re.compile(r"^(?P<location>.+):(?P<factory>[A-Za-z_]\w*)$")
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``--model`` spec.

    Attributes:
        kind: ``"directory"`` (a liftgenomics model), ``"file"`` (a ``.py`` file's factory),
            ``"module"`` (an importable module's factory) or ``"chrombpnet"``.
        location: The path, or the dotted module name for ``"module"``.
        factory: The factory's name for ``"file"`` and ``"module"``, else None.
    """

    kind: Literal["directory", "file", "module", "chrombpnet"]
    location: str
    factory: str | None = None


def parse_model_spec(spec: str | os.PathLike) -> ModelSpec:
    """Tell which source a ``--model`` spec names (nothing is read or imported).

    An existing path is a model directory even if it contains a colon.

    Raises:
        LiftGenomicsError: for ``chrombpnet:`` with no path or a factory spec whose module
            part is neither a ``.py`` file nor a dotted module name.
    """
    text = os.fspath(spec)
    if text.startswith(CHROMBPNET_PREFIX):
        location = text[len(CHROMBPNET_PREFIX) :]
        if not location:
            raise LiftGenomicsError("--model chrombpnet: needs a path (chrombpnet:DIR_OR_H5)")
        return ModelSpec("chrombpnet", location)
    match = _FACTORY.match(text)
    if match is None or Path(text).exists():
        return ModelSpec("directory", text)
    location, factory = match["location"], match["factory"]
    if location.endswith(".py"):
        return ModelSpec("file", location, factory)
    if _MODULE_NAME.match(location):
        return ModelSpec("module", location, factory)
    raise LiftGenomicsError(
        f"--model {text}: not a model directory, FILE.py:factory, package.module:factory or "
        "chrombpnet:PATH"
    )


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
