"""DeepLIFT's rivals: gradients (plain or guided), integrated gradients and in-silico mutagenesis.

Each function runs the model's passes for one batch and yields, per target of an
:class:`~liftgenomics.attribution.outputs.Explained`, the raw material of the scores (a
gradient, a path-averaged gradient, mutation deltas) with the explained value at the input;
:mod:`liftgenomics.attribution.scorer` turns them into contributions.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from liftgenomics.attribution import tracer
from liftgenomics.attribution.batching import repeat_rows
from liftgenomics.attribution.outputs import Explained, Target, parse_target


def gradients(
    model: nn.Module, xb: torch.Tensor, args: tuple, explained: Explained, guided: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (gradient at x (b, ...), t(x)) per target (guided: through guided ReLUs)."""
    x = xb.clone().requires_grad_(True)
    with torch.enable_grad():
        if guided:
            mode = tracer.RuleMode("guided")
            with mode:
                raw = model(mode.watch(x.clone()), *args)
        else:
            raw = model(x.clone(), *args)
        values, _ = explained.at_input(raw)
        last = len(values) - 1
        for j, chosen in enumerate(values):
            (grad,) = torch.autograd.grad(chosen.sum(), x, retain_graph=j < last)
            yield grad, chosen.detach()


def integrated_gradient_means(
    model: nn.Module,
    xb: torch.Tensor,
    refs: torch.Tensor,
    args: tuple,
    explained: Explained,
    steps: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (mean gradient on the path (b, K, ...), t(x)) per target (midpoint rule)."""
    b, k = refs.shape[:2]
    alphas = (torch.arange(steps, device=xb.device, dtype=xb.dtype) + 0.5) / steps
    delta_x = xb.unsqueeze(1) - refs
    shape = (1, 1, steps) + (1,) * (xb.dim() - 1)
    points = refs.unsqueeze(2) + alphas.reshape(shape) * delta_x.unsqueeze(2)
    points = points.reshape((b * k * steps,) + tuple(xb.shape[1:])).requires_grad_(True)
    with torch.no_grad():
        values_x, weights = explained.at_input(model(xb.clone(), *args))
    weights_p = None if weights is None else weights.repeat_interleave(k * steps, dim=0)
    with torch.enable_grad():
        raw = model(points.clone(), *repeat_rows(args, b, k * steps))
        values = explained(raw, weights_p)
        last = len(values) - 1
        for j, (chosen, chosen_x) in enumerate(zip(values, values_x, strict=True)):
            (grad,) = torch.autograd.grad(chosen.sum(), points, retain_graph=j < last)
            mean_grad = grad.reshape((b, k, steps) + tuple(xb.shape[1:])).mean(dim=2)
            yield mean_grad, chosen_x


def mutation_deltas(
    model: nn.Module,
    xb: torch.Tensor,
    explained: Explained,
    chunk: int = 1024,
    forward_args: tuple = (),
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`ism_deltas` for a resolved :class:`Explained`."""
    rows = xb.shape[0]
    with torch.no_grad():
        values_x, weights = explained.at_input(model(xb.clone(), *forward_args))
        base = torch.stack(values_x, dim=1)
        seq, channel, position = torch.nonzero(xb == 0, as_tuple=True)
        deltas = torch.zeros(
            (rows, len(explained.targets)) + tuple(xb.shape[1:]),
            dtype=torch.float32, device=xb.device,
        )  # fmt: skip
        for start in range(0, seq.numel(), chunk):
            s = seq[start : start + chunk]
            c = channel[start : start + chunk]
            p = position[start : start + chunk]
            mutants = xb[s].clone()
            index = torch.arange(s.numel(), device=xb.device)
            mutants[index, :, p] = 0.0
            mutants[index, c, p] = 1.0
            args = tuple(
                a[s] if isinstance(a, torch.Tensor) and a.dim() > 0 and a.shape[0] == rows else a
                for a in forward_args
            )
            values = explained(model(mutants, *args), None if weights is None else weights[s])
            for j, value in enumerate(values):
                deltas[s, j, c, p] = (value - base[s, j]).float()
    return deltas, base


def ism_deltas(
    model: nn.Module,
    xb: torch.Tensor,
    targets,
    center: bool = False,
    chunk: int = 1024,
    forward_args: tuple = (),
    output: int | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """In-silico mutagenesis: t(x with base b at p) − t(x) for every position and base.

    Args:
        model: The model (eval mode, on ``xb``'s device).
        xb: (b, 4, L) one-hot sequences.
        targets: Targets (indices or :class:`~liftgenomics.attribution.outputs.Target`).
        center: Explain t_i − mean_j t_j.
        chunk: Mutants per forward pass.
        forward_args: Extra per-sequence model inputs (gathered for each mutant).
        output: The output index/key to explain.

    Returns:
        deltas (b, T, 4, L), zero at the base present, and the values at ``xb`` (b, T).
    """
    parsed = [t if isinstance(t, Target) else parse_target(t) for t in targets]
    return mutation_deltas(model, xb, Explained.resolve(parsed, output, center), chunk,
                           forward_args)  # fmt: skip
