"""DeepLIFT's multiplier arithmetic, and the autograd functions that carry it backwards.

Owns the numbers of the rules: the tolerance under which a quotient Δy/Δz becomes its limit,
the pairing of input and reference activations (:class:`PairContext`), the Rescale and
RevealCancel multipliers of an elementwise function, the routing of max pooling, and one
``torch.autograd.Function`` per rule whose backward multiplies by the precomputed multipliers.
:mod:`liftgenomics.attribution.rules` computes them at each op of the reference pass.

Pairing: the real input's values have b rows where the reference's have b·K (sequence-major);
:class:`PairContext` views them as (b, 1, ...) and (b, K, ...) along whatever axis carries the
batch, so every pair broadcasts without copies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from liftgenomics.attribution import kernels, ops
from liftgenomics.attribution.kernels import DELTA_EPS
from liftgenomics.errors import LiftGenomicsError


def tolerance(z: torch.Tensor) -> float:
    """Below this |Δz|/(1 + |z|) a quotient Δy/Δz is replaced by its limit (by dtype)."""
    if z.dtype in (torch.float16, torch.bfloat16):
        return 1e-3
    return DELTA_EPS


def vanishing(delta: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """Where |Δ| is too small, relative to the values it separates, for a quotient."""
    return delta.abs() < tolerance(delta) * (1 + 0.5 * (z_a + z_b).abs())


@dataclass(frozen=True)
class PairContext:
    """b sequences, K references each; ``consume``: backward may overwrite its multipliers."""

    sequences: int
    pairs: int
    consume: bool = False

    def views(self, x: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` as (…, b, 1, s, …) and ``r`` as (…, b, K, s, …), ready to broadcast."""
        if self.pairs == 1 and x.shape == r.shape:
            return x, r
        differing = [d for d in range(r.dim()) if x.dim() == r.dim() and x.shape[d] != r.shape[d]]
        if (
            len(differing) != 1
            or r.shape[differing[0]] != self.pairs * x.shape[differing[0]]
            or x.shape[differing[0]] % self.sequences
        ):
            raise LiftGenomicsError(
                f"cannot pair an activation of shape {tuple(x.shape)} (inputs) with "
                f"{tuple(r.shape)} (references): the batch axis was merged or reduced; "
                "DeepLIFT needs the batch kept as an axis of its own"
            )
        d = differing[0]
        s = x.shape[d] // self.sequences
        head, tail = tuple(x.shape[:d]), tuple(x.shape[d + 1 :])
        x_view = x.reshape(head + (self.sequences, 1, s) + tail)
        r_view = r.reshape(head + (self.sequences, self.pairs, s) + tail)
        return x_view, r_view

    def expand(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """The input's values repeated for each of its references, in ``r``'s shape."""
        x_view, r_view = self.views(x, r)
        return x_view.expand(r_view.shape).reshape(r.shape)


# ---------------------------------------------------------------------------------------------
# Elementwise functions: f(z) from the call, f'(z), Rescale and RevealCancel multipliers.


def elementwise_fn(func, args, kwargs, dependent: torch.Tensor) -> Callable:
    """f(z): the call with its sequence-dependent argument replaced by z."""
    args = list(args)
    for position, value in enumerate(args):
        if value is dependent:
            return lambda z: func(*args[:position], z, *args[position + 1 :], **kwargs)
    for key, value in kwargs.items():
        if value is dependent:
            return lambda z: func(*args, **{**kwargs, key: z})
    raise LiftGenomicsError(f"internal: no sequence-dependent argument in {ops.op_name(func)}")


def elementwise_derivative(rule: ops.Elementwise, f: Callable, z: torch.Tensor) -> torch.Tensor:
    """f'(z), in closed form when the rule has one, else by autograd."""
    if rule.derivative is not None:
        return rule.derivative(z)
    with torch.enable_grad():
        leaf = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(f(leaf).sum(), leaf)
    return grad


def fused_rescale(rule: ops.Elementwise, z_r: torch.Tensor) -> Callable | None:
    """A compiled kernel for Rescale on ``rule`` (relu, sigmoid, tanh), or None.

    None for small activations, other nonlinearities, ``LIFTGENOMICS_FUSED=0`` and after a
    compilation failed in this process.
    """
    limits = {"relu": kernels.relu_limit, "sigmoid": kernels.sigmoid_limit,
              "tanh": kernels.tanh_limit}  # fmt: skip
    if rule.name not in limits or not kernels.worth_fusing(z_r) or tolerance(z_r) != DELTA_EPS:
        return None
    return kernels.compiled((rule.name,), lambda: kernels.rescale_kernel(limits[rule.name]))


def rescale_multiplier(
    rule: ops.Elementwise,
    f: Callable,
    z_x: torch.Tensor,
    z_r: torch.Tensor,
    y_x: torch.Tensor,
    y_r: torch.Tensor,
    shape: torch.Size | None = None,
) -> torch.Tensor:
    """Rescale: m = Δy/Δz, and f'(midpoint) where |Δz| < tolerance (broadcasting x to r).

    ``shape``: the shape f takes (the reference activation's, before pairing), for
    functions with tensor arguments (PReLU's weights, clamp bounds) that must broadcast.
    """
    eager = functools.partial(_rescale_eager, rule, f, shape)
    return kernels.fused_or_eager(fused_rescale(rule, z_r), eager, z_x, z_r, y_x, y_r)


def _rescale_eager(rule, f, shape, z_x, z_r, y_x, y_r) -> torch.Tensor:
    delta_z = z_x - z_r
    small = vanishing(delta_z, z_x, z_r)
    multiplier = (y_x - y_r).div_(delta_z.masked_fill_(small, 1.0))
    if bool(small.any()):
        where = small.nonzero(as_tuple=True)
        if rule.derivative is not None:
            # Only the (few) elements with a vanishing difference need the gradient limit.
            midpoint = 0.5 * (z_x.expand_as(multiplier)[where] + z_r.expand_as(multiplier)[where])
            limit = rule.derivative(midpoint)
        else:  # f may broadcast tensor arguments: evaluate it in its own shape
            midpoint = (0.5 * (z_x + z_r)).expand_as(multiplier)
            full = elementwise_derivative(rule, f, midpoint.reshape(shape or multiplier.shape))
            limit = full.reshape(multiplier.shape)[where]
        multiplier[where] = limit.to(multiplier.dtype)
    return multiplier


def revealcancel_multipliers(
    rule: ops.Elementwise,
    f: Callable,
    z_r: torch.Tensor,
    delta_pos: torch.Tensor,
    delta_neg: torch.Tensor,
    y_x: torch.Tensor,
    y_r: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RevealCancel: the Shapley split of Δy between Δz⁺ and Δz⁻, as multipliers m⁺, m⁻.

    Δy⁺ = ½[f(z₀+Δz⁺) − f(z₀)] + ½[f(z₀+Δz⁻+Δz⁺) − f(z₀+Δz⁻)] and Δy⁻ mirrored, with
    f(z₀+Δz⁻+Δz⁺) taken as the recorded f(x) so that Δy⁺ + Δy⁻ = Δy exactly.
    """
    y_pos = f(z_r + delta_pos)
    y_neg = f(z_r + delta_neg)
    dy_pos = 0.5 * ((y_pos - y_r) + (y_x - y_neg))
    dy_neg = 0.5 * ((y_neg - y_r) + (y_x - y_pos))
    small_pos = vanishing(delta_pos, z_r, z_r + delta_pos)
    small_neg = vanishing(delta_neg, z_r, z_r + delta_neg)
    m_pos = dy_pos / torch.where(small_pos, torch.ones_like(delta_pos), delta_pos)
    m_neg = dy_neg / torch.where(small_neg, torch.ones_like(delta_neg), delta_neg)
    # Limits as a part -> 0: the mean of the gradients at the two points the part moves between.
    if bool(small_pos.any()):
        limit = 0.5 * (
            elementwise_derivative(rule, f, z_r)
            + elementwise_derivative(rule, f, z_r + delta_neg)
        )
        m_pos = torch.where(small_pos, limit, m_pos)
    if bool(small_neg.any()):
        limit = 0.5 * (
            elementwise_derivative(rule, f, z_r)
            + elementwise_derivative(rule, f, z_r + delta_pos)
        )
        m_neg = torch.where(small_neg, limit, m_neg)
    return m_pos, m_neg


# ---------------------------------------------------------------------------------------------
# Autograd functions. Each returns a tensor passed in a list (not as an input), so autograd
# sees a fresh output that the model may modify in place (``h += skip``).


class Multiply(torch.autograd.Function):
    """Value ``holder[0]``; backward multiplies by a precomputed multiplier."""

    @staticmethod
    def forward(ctx, z_r, multiplier, holder, consume=False):
        ctx.consume = consume
        ctx.save_for_backward(multiplier)
        return holder[0]

    @staticmethod
    def backward(ctx, grad):
        (multiplier,) = ctx.saved_tensors
        if ctx.consume:
            return multiplier.mul_(grad), None, None, None
        return grad * multiplier, None, None, None


class Guided(torch.autograd.Function):
    """Guided backpropagation: the gradient with negative incoming signal zeroed."""

    @staticmethod
    def forward(ctx, z, slope, holder):
        ctx.save_for_backward(slope)
        return holder[0]

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return grad.clamp(min=0) * slope, None, None


class ShapleyPair(torch.autograd.Function):
    """f(a, b) with multipliers m_a, m_b (output-shaped), summed over broadcast axes."""

    @staticmethod
    def forward(ctx, a_r, b_r, m_a, m_b, holder):
        ctx.shapes = (a_r.shape, b_r.shape)
        ctx.save_for_backward(m_a, m_b)
        return holder[0]

    @staticmethod
    def backward(ctx, grad):
        m_a, m_b = ctx.saved_tensors
        shape_a, shape_b = ctx.shapes
        return (
            (grad * m_a).sum_to_size(shape_a),
            (grad * m_b).sum_to_size(shape_b),
            None,
            None,
            None,
        )


class ReduceSplit(torch.autograd.Function):
    """A reduction over ``dim`` with per-slice multipliers ``m`` (input-shaped)."""

    @staticmethod
    def forward(ctx, z_r, multiplier, holder, dim, keepdim):
        ctx.dim, ctx.keepdim = dim, keepdim
        ctx.save_for_backward(multiplier)
        return holder[0]

    @staticmethod
    def backward(ctx, grad):
        (multiplier,) = ctx.saved_tensors
        if not ctx.keepdim:
            grad = grad.unsqueeze(ctx.dim)
        return grad * multiplier, None, None, None, None


class MaxPoolRoute(torch.autograd.Function):
    """Max pooling: each window's Δy routed to one input with multiplier Δy/Δx there."""

    @staticmethod
    def forward(ctx, a_r, index, multiplier, holder, consume=False):
        ctx.input_shape = a_r.shape
        ctx.consume = consume
        ctx.save_for_backward(index, multiplier)
        return holder[0]

    @staticmethod
    def backward(ctx, grad):
        index, multiplier = ctx.saved_tensors
        result = torch.zeros(ctx.input_shape, dtype=grad.dtype, device=grad.device)
        routed = multiplier.mul_(grad) if ctx.consume else grad * multiplier
        result.scatter_add_(-1, index, routed)
        return result, None, None, None, None


class RevealCancelLinear(torch.autograd.Function):
    """A weighted layer feeding a RevealCancel nonlinearity, with the Linear rule's ± split.

    Backward receives m(Δy, t) at the nonlinearity's output and returns, for each input i of
    the weighted layer, 1{wΔa>0}·w·m⁺·g + 1{wΔa<0}·w·m⁻·g (½w(m⁺+m⁻)g where Δa = 0),
    computed as ½[Wᵀ(g⁺ + g⁻) + sign(Δa)·|W|ᵀ(g⁺ − g⁻)].
    """

    @staticmethod
    def forward(ctx, a_r, weight, delta_a, m_pos, m_neg, holder):
        ctx.transpose = holder[1]
        ctx.save_for_backward(weight, delta_a, m_pos, m_neg)
        return holder[0]

    @staticmethod
    def backward(ctx, grad):
        weight, delta_a, m_pos, m_neg = ctx.saved_tensors
        g_pos = grad * m_pos
        g_neg = grad * m_neg
        total = ctx.transpose(g_pos + g_neg, weight)
        split = ctx.transpose(g_pos - g_neg, weight.abs())
        return 0.5 * (total + torch.sign(delta_a) * split), None, None, None, None, None


class NormRule(torch.autograd.Function):
    """LayerNorm/RMSNorm as (z − μ)·s·γ + β with exact rules for each piece (see module)."""

    @staticmethod
    def forward(ctx, z_r, direct, cross, m_s, scale_u, holder):
        ctx.dims, ctx.centre = holder[1], holder[2]
        ctx.save_for_backward(direct, cross, m_s, scale_u)
        return holder[0]

    @staticmethod
    def backward(ctx, grad):
        direct, cross, m_s, scale_u = ctx.saved_tensors
        g_s = (grad * cross).sum(dim=ctx.dims, keepdim=True)
        g_u = grad * direct + g_s * m_s * scale_u
        if ctx.centre:
            g_u = g_u - g_u.mean(dim=ctx.dims, keepdim=True)
        return g_u, None, None, None, None, None


class AxisMaxRoute(torch.autograd.Function):
    """Max over one axis: each Δy routed to one element along it (see :func:`maxpool_route`)."""

    @staticmethod
    def forward(ctx, a_r, index, multiplier, holder, dim, keepdim):
        ctx.dim, ctx.keepdim, ctx.moved_shape = dim, keepdim, holder[1]
        ctx.save_for_backward(index, multiplier)
        return holder[0]

    @staticmethod
    def backward(ctx, grad):
        index, multiplier = ctx.saved_tensors
        if not ctx.keepdim:
            grad = grad.unsqueeze(ctx.dim)
        routed = grad.movedim(ctx.dim, -1) * multiplier
        result = torch.zeros(ctx.moved_shape, dtype=grad.dtype, device=grad.device)
        result.scatter_add_(-1, index, routed)
        return result.movedim(-1, ctx.dim), None, None, None, None, None


def maxpool_route(a_x, a_r, y_x, y_r, index_x, index_r, context: PairContext):
    """Where each pooling window's Δy goes, and with which multiplier.

    With i* the input's argmax and j* the reference's: if Δy ≥ 0 it goes to i* with
    m = Δy/Δx(i*) ∈ [0, 1]; otherwise to j* with m = Δy/Δx(j*) ∈ (0, 1]. Both keep
    summation-to-delta exact and bounded (unlike the gradient's routing to i* alone, which the
    original deeplift uses and which breaks summation-to-delta when the two argmaxes differ);
    when the argmaxes agree m = 1, the gradient. This is captum's and tangermeme's split.
    """
    ax, ar = context.views(a_x, a_r)
    yx, yr = context.views(y_x, y_r)
    ix, ir = context.views(index_x, index_r)
    kernel = kernels.compiled(("maxpool",), lambda: _route) if kernels.worth_fusing(a_r) else None
    index, multiplier = kernels.fused_or_eager(kernel, _route, ax, ar, yx, yr, ix, ir)
    return index.reshape(y_r.shape), multiplier.reshape(y_r.shape)


def _route(a_x, a_r, y_x, y_r, index_x, index_r) -> tuple[torch.Tensor, torch.Tensor]:
    delta_y = y_x - y_r
    index = torch.where(delta_y >= 0, index_x, index_r)
    # Δx where the window's Δy goes: at i* x is y_x, at j* the reference is y_r.
    denominator = torch.gather(a_x.expand_as(a_r), -1, index).sub_(torch.gather(a_r, -1, index))
    zero = denominator == 0
    return index, delta_y.div_(denominator).masked_fill_(zero, 1.0)
