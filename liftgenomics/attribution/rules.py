"""DeepLIFT's rules as the reference pass applies them, one ``apply_*`` function per rule.

Each rule op of the reference pass (see :mod:`liftgenomics.attribution.tracer`) returns the
reference's output wrapped in an autograd function whose backward multiplies by the DeepLIFT
multiplier of the (input, reference) pair instead of the local gradient:

- Rescale: m = Δy/Δz, the gradient at the midpoint where |Δz| is below a tolerance.
- RevealCancel with the Linear rule's ± split in front of it (:class:`RevealCancelLinear`).
- Two sequence-dependent inputs (a·b, maximum, a/b): the two-player Shapley split, exact.
- A reduction over a few slices (logsumexp of the accessibility and bias counts): Shapley over
  the slices by enumeration.
- Max pooling: each window's Δy goes to the input's argmax (Δy ≥ 0) or the reference's.
- LayerNorm / RMSNorm: the norm written as (z − μ)·s with s = (v + ε)^{-1/2}, v the mean
  square, each piece with its exact rule (a Shapley product, Rescale for s(v), a Shapley
  square), composed into one backward.

Every rule keeps summation-to-delta exact for every pair; the engine checks it. The multipliers'
arithmetic and the autograd functions are :mod:`liftgenomics.attribution.multipliers`'; this
module owns the ``apply_*`` functions that the reference pass of
:mod:`liftgenomics.attribution.tracer` calls at each rule op.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from liftgenomics.attribution import multipliers, ops
from liftgenomics.attribution.multipliers import (
    AxisMaxRoute,
    MaxPoolRoute,
    Multiply,
    NormRule,
    PairContext,
    ReduceSplit,
    RevealCancelLinear,
    ShapleyPair,
    elementwise_fn,
    maxpool_route,
    revealcancel_multipliers,
    tolerance,
)
from liftgenomics.errors import LiftGenomicsError


def apply_rescale(step, func, args, kwargs, recorded, context: PairContext, mode):
    """Rescale at one elementwise op of the reference pass."""
    (z_r,) = mode.dependent(args, kwargs)
    return rescale_at(step, elementwise_fn(func, args, kwargs, z_r), z_r, recorded, context)


def rescale_at(step, f: Callable, z_r, recorded, context: PairContext):
    """Rescale for y = f(z) at the reference's ``z_r`` (``recorded``: the input's z, y)."""
    z_x, y_x = recorded
    with torch.no_grad():
        y_r = f(z_r.detach())
        zx, zr = context.views(z_x, z_r.detach())
        yx, yr = context.views(y_x, y_r)
        multiplier = multipliers.rescale_multiplier(step.elementwise, f, zx, zr, yx, yr, y_r.shape)
    return Multiply.apply(z_r, multiplier.reshape(y_r.shape), [y_r], context.consume)


def _effective_weight(weighted_args, norm_calls) -> torch.Tensor:
    """The weighted layer's weight with eval-mode batch norms folded in."""
    weight = weighted_args[1]
    for func, args, kwargs in norm_calls:
        if func not in ops.BATCH_NORM:
            continue  # inert dropout, contiguous, casts: the identity
        names = ("input", "running_mean", "running_var", "weight", "bias", "training",
                 "momentum", "eps")  # fmt: skip
        bound = dict(zip(names, args, strict=False)) | kwargs
        variance = bound["running_var"]
        gamma = bound.get("weight")
        scale = torch.ones_like(variance) if gamma is None else gamma
        scale = scale / torch.sqrt(variance + bound.get("eps", 1e-5))
        weight = weight * scale.reshape((-1,) + (1,) * (weight.dim() - 1))
    return weight


def _weighted_maps(func, args, kwargs):
    """(apply(a, w), transpose(g, w)) for the weighted call ``func(*args, **kwargs)``."""
    rest = args[3:]
    extra = {k: v for k, v in kwargs.items() if k not in ("weight", "bias")}
    input_shape = args[0].shape

    def apply(a, w):
        return func(a, w, None, *rest, **extra)

    if func in (F.linear,):
        return apply, lambda g, w: g @ w

    stride, padding, dilation, groups = (list(rest) + [1, 0, 1, 1][len(rest) :])[:4]
    stride = extra.get("stride", stride)
    padding = extra.get("padding", padding)
    dilation = extra.get("dilation", dilation)
    groups = extra.get("groups", groups)
    if not isinstance(padding, str):

        def transpose(g, w):
            return torch.nn.grad.conv1d_input(input_shape, w, g, stride, padding, dilation, groups)

        return apply, transpose

    def transpose_any(g, w):  # 'same'/'valid' padding: the vector-Jacobian product
        with torch.enable_grad():
            probe = torch.zeros(input_shape, dtype=g.dtype, device=g.device, requires_grad=True)
            (result,) = torch.autograd.grad(apply(probe, w), probe, g)
        return result

    return apply, transpose_any


def apply_revealcancel(step, func, args, kwargs, recorded, context: PairContext, mode):
    """RevealCancel at one elementwise op, with the weighted layer in front of it."""
    (z_r,) = mode.dependent(args, kwargs)
    f = elementwise_fn(func, args, kwargs, z_r)
    return revealcancel_at(step, f, z_r, recorded, context, mode)


def revealcancel_at(step, f: Callable, z_r, recorded, context: PairContext, mode):
    """RevealCancel for y = f(z) at ``z_r``, splitting the weighted layer's Δ into ±."""
    z_x, y_x = recorded
    head = step.chain[0]
    weighted_args, weighted_kwargs = mode.chain_inputs.pop(head)
    norm_calls = [
        (mode.plan.steps[i].func, *mode.chain_inputs.pop(i)) for i in step.chain[1:]
    ]
    a_r = weighted_args[0]
    a_x = mode.recorded[head][0]
    weighted_func = mode.plan.steps[head].func
    with torch.no_grad():
        weight = _effective_weight(weighted_args, norm_calls).detach()
        apply, transpose = _weighted_maps(weighted_func, weighted_args, weighted_kwargs)
        delta_a = context.expand(a_x, a_r.detach()) - a_r.detach()
        spread = apply(delta_a.abs(), weight.abs())
        zr = z_r.detach()
        delta_z = context.expand(z_x, zr) - zr
        delta_pos = 0.5 * (delta_z + spread)
        delta_neg = 0.5 * (delta_z - spread)
        y_r = f(zr)
        m_pos, m_neg = revealcancel_multipliers(
            step.elementwise, f, zr, delta_pos, delta_neg, context.expand(y_x, y_r), y_r
        )
    return RevealCancelLinear.apply(a_r, weight, delta_a, m_pos, m_neg, [y_r, transpose])


def apply_shapley(func, args, kwargs, recorded, context: PairContext, mode):
    """The exact two-player Shapley split of f(a, b) between Δa and Δb."""
    a_r, b_r = mode.dependent(args, kwargs)
    a_x, b_x, y_x = recorded
    name = getattr(func, "__name__", "")
    with torch.no_grad():
        ar, br = a_r.detach(), b_r.detach()
        f = _binary(func, args, kwargs, a_r, b_r)
        y_r = f(ar, br)
        shape = y_r.shape
        ax = context.expand(a_x, ar)
        bx = context.expand(b_x, br)
        if name in ("mul", "multiply", "__mul__", "__rmul__", "__imul__", "mul_"):
            # φ_a = Δa·(b + b_r)/2 exactly: no quotient, no limit.
            m_a = (0.5 * (bx + br)).expand(shape)
            m_b = (0.5 * (ax + ar)).expand(shape)
        else:
            yx = context.expand(y_x, y_r)
            f_xr = f(ax, br)
            f_rx = f(ar, bx)
            phi_a = 0.5 * ((f_xr - y_r) + (yx - f_rx))
            phi_b = 0.5 * ((f_rx - y_r) + (yx - f_xr))
            m_a = _quotient(phi_a, (ax - ar).expand(shape), lambda: _partial(f, ar, br, 0))
            m_b = _quotient(phi_b, (bx - br).expand(shape), lambda: _partial(f, ar, br, 1))
    return ShapleyPair.apply(a_r, b_r, m_a.contiguous(), m_b.contiguous(), [y_r])


def _binary(func, args, kwargs, a_r, b_r) -> Callable:
    positions = [i for i, value in enumerate(args) if value is a_r or value is b_r]
    if len(positions) != 2:
        raise LiftGenomicsError(f"internal: {ops.op_name(func)} needs two positional tensors")
    i, j = positions

    def f(a, b):
        values = list(args)
        values[i], values[j] = a, b
        return func(*values, **kwargs)

    return f


def _partial(f, a, b, which: int) -> torch.Tensor:
    with torch.enable_grad():
        a = a.detach().requires_grad_(which == 0)
        b = b.detach().requires_grad_(which == 1)
        out = f(a, b)
        (grad,) = torch.autograd.grad(out.sum(), a if which == 0 else b)
    return grad.expand(out.shape) if grad.shape != out.shape else grad


def _quotient(numerator, denominator, limit: Callable[[], torch.Tensor]) -> torch.Tensor:
    small = denominator.abs() < tolerance(denominator)
    result = numerator / torch.where(small, torch.ones_like(denominator), denominator)
    if bool(small.any()):
        # A player that barely moves contributes ~0 whatever its multiplier; the gradient
        # keeps that multiplier bounded.
        result = torch.where(small, limit().expand(result.shape), result)
    return result


def apply_reduce(func, args, kwargs, recorded, context: PairContext, mode):
    """Shapley over the slices of a short reduced axis (``logsumexp(stack([a, b]), 0)``)."""
    (z_r,) = mode.dependent(args, kwargs)
    z_x, y_x = recorded
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    if isinstance(dim, list | tuple):
        if len(dim) != 1:
            raise LiftGenomicsError(f"{ops.op_name(func)} over several axes has no rule here")
        dim = dim[0]
    if dim is None:
        raise LiftGenomicsError(f"{ops.op_name(func)} over all axes has no rule here")
    dim = dim % z_r.dim()
    players = z_r.shape[dim]
    if players > ops.MAX_REDUCE_PLAYERS:
        raise LiftGenomicsError(
            f"{ops.op_name(func)} over an axis of {players} sequence-dependent values: the exact "
            f"Shapley split is limited to {ops.MAX_REDUCE_PLAYERS}; {ops.NO_RULE_HINT}"
        )

    def f(values):
        return func(values, dim, True)

    with torch.no_grad():
        zr = z_r.detach()
        zx = context.expand(z_x, zr)
        delta = zx - zr
        phi = torch.zeros_like(zr)
        shape = [1] * zr.dim()
        shape[dim] = players
        cache: dict[tuple, torch.Tensor] = {}

        def value(subset: tuple) -> torch.Tensor:
            if subset not in cache:
                mask = torch.zeros(players, dtype=torch.bool, device=zr.device)
                mask[list(subset)] = True
                cache[subset] = f(torch.where(mask.reshape(shape), zx, zr))
            return cache[subset]

        for player in range(players):
            others = [p for p in range(players) if p != player]
            share = torch.zeros_like(value(()))
            for size in range(players):
                weight = (
                    math.factorial(size) * math.factorial(players - size - 1)
                    / math.factorial(players)
                )
                for subset in itertools.combinations(others, size):
                    with_player = tuple(sorted(subset + (player,)))
                    share = share + weight * (value(with_player) - value(subset))
            phi.narrow(dim, player, 1).copy_(share)
        y_r = func(zr, dim, keepdim)
        small = delta.abs() < tolerance(zr)
        multiplier = phi / torch.where(small, torch.ones_like(delta), delta)
        if bool(small.any()):
            with torch.enable_grad():
                leaf = (0.5 * (zx + zr)).requires_grad_(True)
                (grad,) = torch.autograd.grad(f(leaf).sum(), leaf)
            multiplier = torch.where(small, grad, multiplier)
    return ReduceSplit.apply(z_r, multiplier, [y_r], dim, keepdim)


def pool_with_indices(args, kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``max_pool1d`` call's output and the index of each window's maximum."""
    kwargs = dict(kwargs)
    kwargs.pop("return_indices", None)
    return F.max_pool1d_with_indices(*args, **kwargs)


def apply_maxpool(args, kwargs, recorded, context: PairContext):
    """Route each window's Δy (see :func:`maxpool_route`)."""
    a_r = args[0]
    a_x, y_x, index_x = recorded
    with torch.no_grad():
        y_r, index_r = pool_with_indices((a_r.detach(),) + tuple(args[1:]), kwargs)
        index, multiplier = maxpool_route(a_x, a_r.detach(), y_x, y_r, index_x, index_r, context)
    return MaxPoolRoute.apply(a_r, index, multiplier, [y_r], context.consume)


def apply_max_route(func, args, kwargs, recorded, context: PairContext):
    """Global max pooling (``x.max(dim)``, ``amax`` over a long axis, adaptive max to 1)."""
    a_r = args[0]
    a_x = recorded[0]
    name = getattr(func, "__name__", "")
    if func in ops.ADAPTIVE_MAX:
        dim, keepdim = -1, True
    else:
        dim = args[1] if len(args) > 1 else kwargs.get("dim")
        dim = dim[0] if isinstance(dim, list | tuple) else dim
        keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    dim = dim % a_r.dim()
    with torch.no_grad():
        ax = a_x.movedim(dim, -1)
        ar = a_r.detach().movedim(dim, -1)
        y_x, index_x = ax.max(dim=-1, keepdim=True)
        y_r, index_r = ar.max(dim=-1, keepdim=True)
        index, multiplier = maxpool_route(ax, ar, y_x, y_r, index_x, index_r, context)
        values = y_r.movedim(-1, dim)
        indices = index_r.movedim(-1, dim)
        if not keepdim:
            values, indices = values.squeeze(dim), indices.squeeze(dim)
    out = AxisMaxRoute.apply(a_r, index, multiplier, [values, ar.shape], dim, keepdim)
    if name == "max":
        return torch.return_types.max((out, indices))
    return out


def apply_norm(rule: str, args, kwargs, recorded, context: PairContext):
    """LayerNorm / RMSNorm, exact (see :class:`NormRule` and the module docstring)."""
    names = ("input", "normalized_shape", "weight", "bias", "eps")
    if rule == "rms_norm":
        names = ("input", "normalized_shape", "weight", "eps")
    bound = dict(zip(names, args, strict=False)) | kwargs
    z_r = bound["input"]
    z_x = recorded[0]
    normalized = bound["normalized_shape"]
    count = len(normalized) if isinstance(normalized, list | tuple | torch.Size) else 1
    dims = tuple(range(-count, 0))
    eps = bound.get("eps")
    if eps is None:
        eps = torch.finfo(z_r.dtype).eps
    gamma = bound.get("weight")
    beta = bound.get("bias")
    centre = rule == "layer_norm"
    with torch.no_grad():
        zr = z_r.detach()
        zx = context.expand(z_x, zr)
        u_x = zx - zx.mean(dim=dims, keepdim=True) if centre else zx
        u_r = zr - zr.mean(dim=dims, keepdim=True) if centre else zr
        v_x = (u_x * u_x).mean(dim=dims, keepdim=True)
        v_r = (u_r * u_r).mean(dim=dims, keepdim=True)
        s_x = torch.rsqrt(v_x + eps)
        s_r = torch.rsqrt(v_r + eps)
        scale = torch.ones_like(zr) if gamma is None else gamma.expand_as(zr)
        y_r = u_r * s_r * scale
        if beta is not None:
            y_r = y_r + beta
        direct = scale * 0.5 * (s_x + s_r)
        cross = scale * 0.5 * (u_x + u_r)
        delta_v = v_x - v_r
        small = delta_v.abs() < tolerance(zr)
        m_s = (s_x - s_r) / torch.where(small, torch.ones_like(delta_v), delta_v)
        m_s = torch.where(small, -0.5 * torch.rsqrt(0.5 * (v_x + v_r) + eps) ** 3, m_s)
        n = math.prod(zr.shape[d] for d in dims)
        scale_u = (u_x + u_r) / n
    return NormRule.apply(z_r, direct, cross, m_s, scale_u, [y_r, dims, centre])


def frozen_at_input(r_value: torch.Tensor, x_value: torch.Tensor, context: PairContext):
    """A detached tensor: the real input's value for each of its references (a constant)."""
    return context.expand(x_value, r_value).detach()
