"""The attribution methods, in one registry.

Each entry says how a method is computed (its family), which DeepLIFT rule mode it uses,
whether it needs references and whether its scores must satisfy summation-to-delta (checked
per (sequence, reference) pair by the engine).
"""

from __future__ import annotations

from dataclasses import dataclass

from liftgenomics.errors import LiftGenomicsError


@dataclass(frozen=True)
class Method:
    """One attribution method."""

    name: str
    family: str  # "deeplift", "gradient", "integrated_gradients", "ism"
    rule_mode: str | None = None  # the tracer's rule mode ("rescale", ..., "guided")
    needs_references: bool = True
    checks_summation: bool = False
    description: str = ""


REGISTRY: dict[str, Method] = {
    method.name: method
    for method in (
        Method("grad_input", "gradient", None, False, False,
               "gradient × input (the paper's; no reference)"),
        Method("guided_backprop", "gradient", "guided", False, False,
               "guided backpropagation × input (no reference)"),
        Method("grad_input_delta", "gradient", None, True, False,
               "gradient × (input − reference): mean-centred gradient × input for a flat "
               "reference (what grad_input was before it became the paper's)"),
        Method("integrated_gradients", "integrated_gradients", None, True, False,
               "integrated gradients from each reference (midpoint rule)"),
        Method("ism", "ism", None, False, False, "in-silico mutagenesis"),
        Method("deeplift_rescale", "deeplift", "rescale", True, True,
               "DeepLIFT, Rescale at every nonlinearity"),
        Method("deeplift_revealcancel", "deeplift", "revealcancel", True, True,
               "DeepLIFT, RevealCancel at every nonlinearity"),
        Method("deeplift_genomics", "deeplift", "genomics", True, True,
               "DeepLIFT's genomics default: RevealCancel after dense layers, Rescale elsewhere"),
    )
}  # fmt: skip
#: Method names: the paper's seven, then our variants.
METHODS = tuple(REGISTRY)
#: Methods that score any differentiable model (no rule check).
ANY_MODEL = ("grad_input", "integrated_gradients", "ism")


def get_method(name: str) -> Method:
    """The registry entry for ``name`` (a one-line error for an unknown one)."""
    if name not in REGISTRY:
        raise LiftGenomicsError(
            f"unknown attribution method {name!r}; expected one of {', '.join(METHODS)}"
        )
    return REGISTRY[name]
