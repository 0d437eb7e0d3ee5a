"""DeepLIFT and its rivals for one-hot DNA models.

:func:`attribute` is the entry point; :func:`check_model` proves a model can be scored exactly;
:func:`register_elementwise` gives one more elementwise nonlinearity the DeepLIFT rules.

The names below are imported on first use (PEP 562), so that ``METHODS`` loads without
torch: the command line's light subcommands (gather, evaluate, report) start in a fraction of
a second instead of paying torch's ~2 s import, once per workflow job.
"""

from __future__ import annotations

import importlib

from liftgenomics.attribution.methods import METHODS

_LAZY = {
    "check_model": "liftgenomics.attribution.check",
    "AttributionOptions": "liftgenomics.attribution.engine",
    "AttributionResult": "liftgenomics.attribution.engine",
    "attribute": "liftgenomics.attribution.engine",
    "attribute_with_details": "liftgenomics.attribution.engine",
    "ism_deltas": "liftgenomics.attribution.rivals",
    "pair_contributions": "liftgenomics.attribution.engine",
    "register_elementwise": "liftgenomics.attribution.ops",
}

__all__ = ["METHODS", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
