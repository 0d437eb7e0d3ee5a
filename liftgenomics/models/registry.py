"""The architecture registry: rebuild a model from its architecture dict.

An architecture dict (``{"name": "paper_cnn", ...}``, as ``model.json`` records it) names one
of the registered constructors (``paper_cnn``, ``basset``, ``bpnet``, ``chrombpnet``, from
:mod:`liftgenomics.models.architectures`; ``chrombpnet_pair`` and ``fold_average``, whose
arguments are nested architecture dicts) and gives its keyword arguments.
:func:`build_model` checks the name and the keys and builds a freshly initialised module;
:func:`full_architecture` fills in every constructor default: the dict that ``model.json``
saves.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.architectures import (
    ChromBPNet,
    FoldAverage,
    basset,
    bpnet,
    chrombpnet,
    paper_cnn,
)
from liftgenomics.models.keras.graph import keras_model


def chrombpnet_pair(bias: dict[str, Any], accessibility: dict[str, Any]) -> ChromBPNet:
    """A :class:`ChromBPNet` of two architecture dicts (registry entry ``chrombpnet_pair``).

    ``input_length`` is the accessibility model's (when it has one).
    """
    model = ChromBPNet(bias=build_model(bias), accessibility=build_model(accessibility))
    if hasattr(model.accessibility, "input_length"):
        model.input_length = model.accessibility.input_length
    return model


def fold_average(folds: list[dict[str, Any]]) -> FoldAverage:
    """A :class:`FoldAverage` of architecture dicts (registry entry ``fold_average``)."""
    if not isinstance(folds, list) or not folds:
        raise LiftGenomicsError("fold_average: folds must be a non-empty list of architectures")
    return FoldAverage([build_model(fold) for fold in folds])


#: Architecture name -> constructor taking the architecture dict's other keys as arguments.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "paper_cnn": paper_cnn,
    "bpnet": bpnet,
    "chrombpnet": chrombpnet,
    "basset": basset,
    "chrombpnet_pair": chrombpnet_pair,
    "fold_average": fold_average,
    "keras": keras_model,
}



def build_model(architecture: dict[str, Any]) -> nn.Module:
    """Build a freshly initialised model from an architecture dict.

    Args:
        architecture: ``{"name": <registered name>, **constructor arguments}``, e.g.
            ``{"name": "paper_cnn", "n_tasks": 3, "length": 200}``; absent arguments take the
            constructor's defaults.

    Returns:
        The model (in training mode, on the CPU), with an ``input_length`` attribute.

    Raises:
        LiftGenomicsError: for a missing or unknown name, an unknown argument, or a bad value.
    """
    constructor, arguments = _resolve(architecture)
    return constructor(**arguments)


def full_architecture(architecture: dict[str, Any]) -> dict[str, Any]:
    """The architecture dict with every constructor default filled in (what gets saved).

    Raises:
        LiftGenomicsError: for a missing or unknown name or an unknown argument.
    """
    constructor, arguments = _resolve(architecture)
    defaults = {
        key: parameter.default
        for key, parameter in inspect.signature(constructor).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    return {"name": architecture["name"], **defaults, **arguments}


def _resolve(architecture: dict[str, Any]) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    """(constructor, its arguments) for an architecture dict, checking the name and the keys."""
    if not isinstance(architecture, dict):
        raise LiftGenomicsError(
            f"architecture must be a dict with a 'name', got {type(architecture).__name__}"
        )
    arguments = dict(architecture)
    name = arguments.pop("name", None)
    if name not in ARCHITECTURES:
        raise LiftGenomicsError(
            f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        )
    constructor = ARCHITECTURES[name]
    accepted = set(inspect.signature(constructor).parameters)
    unknown = sorted(set(arguments) - accepted)
    if unknown:
        raise LiftGenomicsError(
            f"architecture {name!r}: unknown argument(s) {', '.join(unknown)}; accepted: "
            f"{', '.join(sorted(accepted))}"
        )
    return constructor, arguments
