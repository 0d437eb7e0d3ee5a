"""DeepLIFT and its rivals for one-hot DNA models.

:func:`attribute` is the entry point; :func:`check_model` proves a model can be scored exactly.
"""

from liftgenomics.attribution.check import check_model
from liftgenomics.attribution.engine import (
    METHODS,
    AttributionResult,
    attribute,
    attribute_with_details,
    ism_deltas,
    pair_contributions,
)

__all__ = [
    "METHODS",
    "AttributionResult",
    "attribute",
    "attribute_with_details",
    "check_model",
    "ism_deltas",
    "pair_contributions",
]
