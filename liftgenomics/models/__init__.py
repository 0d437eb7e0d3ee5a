"""Models and their readers: the paper's CNN and the genomics architectures, the registry that
rebuilds them, and one reader per model source (a liftgenomics model directory, a user's
factory with a state dict, a chrombpnet Keras ``.h5``, a pickled bpnet-lite model read without
running it), and :func:`~liftgenomics.models.convert.convert_model`, which saves any of them as
a model directory.

:func:`load_model` is the one entry: it reads any ``--model`` spec without running pickled
code. It is imported on first use, so that importing a torch-free sibling (the spec parser) stays
light.
"""

from __future__ import annotations

__all__ = ["load_model"]


def __getattr__(name: str):
    if name == "load_model":
        from liftgenomics.models.load import load_model

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
