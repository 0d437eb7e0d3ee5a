"""Model check: can DeepLIFT score this model exactly?

:func:`check_model` runs the model once on a probe sequence with every op intercepted
(:mod:`liftgenomics.attribution.tracer`) and resolves the rule of each op on the path from the
sequence to the explained output. Where no exact rule applies it refuses before anything is
scored, naming the op and the model's source line; :func:`~liftgenomics.attribution.attribute`
runs the same check on the first sequence of every scoring run.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from liftgenomics.attribution import outputs, tracer
from liftgenomics.attribution.batching import model_dtype, prepared
from liftgenomics.attribution.plan import RULE_MODES, Plan, resolve_plan

__all__ = ["RULE_MODES", "Plan", "check_model"]


def check_model(
    model: nn.Module,
    mode: str = "rescale",
    example: torch.Tensor | None = None,
    forward_args: Sequence = (),
    output: int | str | None = None,
    length: int = 200,
) -> Plan:
    """Check that DeepLIFT can score ``model`` exactly and plan the rule of every op.

    Args:
        model: The model.
        mode: ``"rescale"``, ``"revealcancel"``, ``"genomics"`` or ``"guided"``.
        example: One-hot input(s) to probe with (default: one all-A sequence of ``length``).
        forward_args: Extra model inputs for the probe.
        output: The output index/key to explain.
        length: Sequence length of the default probe.

    Returns:
        The plan: every op that sees the sequence, with its rule.

    Raises:
        LiftGenomicsError: naming the op and its source line where no exact rule applies.
    """
    if example is None:
        example = torch.zeros(1, 4, length)
        example[:, 0] = 1.0
    with prepared(model, None):
        dtype = model_dtype(model)
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        probed, raw = tracer.probe(model, example.to(device, dtype).clone(), tuple(forward_args))
        selected = outputs.select_output(raw, output)
        return resolve_plan(mode, probed, selected)
