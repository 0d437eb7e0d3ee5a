"""DeepLIFT and its rivals for one-hot DNA models.

:func:`attribute` is the entry point; :func:`check_model` proves a model can be scored exactly;
:func:`register_elementwise` gives one more elementwise nonlinearity the DeepLIFT rules.
"""

from liftgenomics.attribution.check import check_model
from liftgenomics.attribution.engine import (
    AttributionOptions,
    AttributionResult,
    attribute,
    attribute_with_details,
    ism_deltas,
    pair_contributions,
)
from liftgenomics.attribution.methods import METHODS
from liftgenomics.attribution.ops import register_elementwise

__all__ = [
    "METHODS",
    "AttributionOptions",
    "AttributionResult",
    "attribute",
    "attribute_with_details",
    "check_model",
    "ism_deltas",
    "pair_contributions",
    "register_elementwise",
]
