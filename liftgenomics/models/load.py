""":func:`load_model`: the one way the package loads a model, from any ``--model`` source.

It dispatches on :func:`~liftgenomics.models.spec.parse_model_spec`: a liftgenomics model
directory (:mod:`liftgenomics.models.directory`), a user's factory with a state dict
(:mod:`liftgenomics.models.factory`), a chrombpnet Keras ``.h5``
(:mod:`liftgenomics.models.chrombpnet`), any Keras model of the layers
:mod:`liftgenomics.models.keras` reads, or a pickled bpnet-lite model
(:mod:`liftgenomics.models.bpnet_lite`). No source runs pickled code.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.directory import load_model_directory


def load_model(
    spec: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    model_args: str | dict[str, Any] | None = None,
) -> nn.Module:
    """Load a model from any source, in eval mode on the CPU.

    Args:
        spec: A model directory written by :func:`~liftgenomics.models.directory.save_model`
            (or its ``.safetensors`` or ``.json`` file); ``path/to/models.py:factory`` or
            ``package.module:factory``; ``chrombpnet:DIR_OR_H5``; ``keras:MODEL.h5`` or
            ``keras:ARCH.json``; ``bpnet-lite:FILE.torch`` (see :mod:`liftgenomics.models.spec`).
        weights: For a factory spec: a ``.safetensors`` or ``.pt``/``.pth`` state dict loaded
            into the factory's module (never unpickled). For ``keras:ARCH.json``: the weights
            ``.h5``.
        model_args: For a factory spec: its keyword arguments, a JSON object string or a dict.

    Returns:
        The model (``input_length`` set where the source records it, ``metadata`` a dict).
        A ``chrombpnet:`` spec gives what :func:`liftgenomics.models.chrombpnet.load_chrombpnet`
        returns.

    Raises:
        LiftGenomicsError: a one-line message for any bad source, argument or weights file;
            ``weights``/``model_args`` with a source that takes none.
    """
    from liftgenomics.models.factory import build_factory_model
    from liftgenomics.models.spec import parse_model_spec

    parsed = parse_model_spec(spec)
    if parsed.kind in ("file", "module"):
        return build_factory_model(parsed, weights=weights, model_args=model_args)
    if parsed.kind == "keras" and model_args is None:
        from liftgenomics.models.keras import load_keras

        return load_keras(parsed.location, weights=weights)
    for option, value in (("--weights", weights), ("--model-args", model_args)):
        if value is not None:
            raise LiftGenomicsError(
                f"{option} applies to a FILE.py:factory or package.module:factory model (--weights "
                f"also to keras:ARCH.json), not "
                f"to {os.fspath(spec)}"
            )
    if parsed.kind == "chrombpnet":
        from liftgenomics.models.chrombpnet import load_chrombpnet

        return load_chrombpnet(parsed.location)
    if parsed.kind == "bpnet-lite":
        from liftgenomics.models.bpnet_lite import load_bpnet_lite

        return load_bpnet_lite(parsed.location)
    return load_model_directory(parsed.location)
