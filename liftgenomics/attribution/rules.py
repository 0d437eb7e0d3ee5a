"""DeepLIFT's rules as autograd functions, attached to a model through module hooks.

The engine runs two forward passes through the *unchanged* model: the real inputs (one per
sequence, no autograd) and the references (K per sequence, with autograd). During the first,
:class:`RuleHooks` records each hooked layer's input and output; during the second, each hooked
layer's output is replaced by an autograd function whose value is the reference's output and
whose backward applies the DeepLIFT multiplier of the (input, reference) pair instead of the
gradient. One ``backward`` of the target then yields m(Δx, Δt) at the input for every pair.

Why this is exact: DeepLIFT's multipliers obey the chain rule, linear layers (dense,
convolution, average pooling, eval-mode BatchNorm) have their weights as multipliers when the
positive and negative parts of their output carry the same multiplier, and that is the case
everywhere except in front of a RevealCancel nonlinearity. There the weighted layer and the
nonlinearity are handled together (:class:`_RevealCancelLinear`).

Shapes: the real-input pass has a batch of ``b`` sequences, the reference pass ``b * K``
references ordered sequence-major; recorded real-input activations are viewed as ``(b, 1, ...)``
and reference activations as ``(b, K, ...)`` so pairs broadcast without copies.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import warnings
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from liftgenomics.attribution.check import ModelPlan, RevealCancelChain

#: Below this |Δx| a multiplier Δy/Δx is replaced by its limit, the gradient.
DELTA_EPS = 1e-6


def derivative(module: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """The elementwise derivative f'(z) of a supported nonlinearity module."""
    if isinstance(module, nn.ReLU):
        return (z > 0).to(z.dtype)
    if isinstance(module, nn.LeakyReLU):
        return torch.where(z > 0, 1.0, module.negative_slope).to(z.dtype)
    if isinstance(module, nn.Sigmoid):
        s = torch.sigmoid(z)
        return s * (1 - s)
    if isinstance(module, nn.Tanh):
        t = torch.tanh(z)
        return 1 - t * t
    with torch.enable_grad():
        leaf = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(module.forward(leaf).sum(), leaf)
    return grad


#: Activations with at least this many elements take the fused kernel (when it works here).
FUSED_MIN_ELEMENTS = 1 << 16
#: Set to "0" to keep every rule in eager PyTorch ops.
FUSED_ENVIRONMENT = "LIFTGENOMICS_FUSED"
_fused_kernels: dict[tuple, Callable] = {}
_fusion_failed: list[str] = []


def _relu_limit(z: torch.Tensor) -> torch.Tensor:
    return (z > 0).to(z.dtype)


def _sigmoid_limit(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1 - s)


def _tanh_limit(z: torch.Tensor) -> torch.Tensor:
    t = torch.tanh(z)
    return 1 - t * t


def _rescale_kernel(limit: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
    """Rescale's multiplier as one elementwise expression, for the compiler to fuse."""

    def kernel(z_x, z_r, y_x, y_r):
        delta_z = z_x - z_r
        gradient = limit(0.5 * (z_x + z_r))
        return torch.where(delta_z.abs() < DELTA_EPS, gradient, (y_x - y_r) / delta_z)

    return kernel


def _closed_form_limit(module: nn.Module) -> tuple[tuple, Callable] | None:
    """(cache key, f') for the nonlinearities whose derivative :func:`derivative` writes out."""
    if type(module) is nn.ReLU:
        return ("relu",), _relu_limit
    if type(module) is nn.LeakyReLU:
        slope = float(module.negative_slope)
        return ("leaky_relu", slope), lambda z: torch.where(z > 0, 1.0, slope).to(z.dtype)
    if type(module) is nn.Sigmoid:
        return ("sigmoid",), _sigmoid_limit
    if type(module) is nn.Tanh:
        return ("tanh",), _tanh_limit
    return None


def fused_rescale(module: nn.Module, z_r: torch.Tensor) -> Callable | None:
    """A compiled kernel for :func:`rescale_multiplier` on ``module``, or None.

    None for small activations (compiling would cost more than it saves), for modules
    without a closed-form derivative, when ``LIFTGENOMICS_FUSED=0``, and after a compilation
    failed in this process. The kernel computes exactly the eager expressions: Δy/Δz, and
    f'(midpoint) where |Δz| < ``DELTA_EPS``, in one pass instead of about seven.
    """
    closed_form = _closed_form_limit(module)
    if closed_form is None or not _worth_fusing(z_r):
        return None
    key, limit = closed_form
    return _compiled(key, lambda: _rescale_kernel(limit))


def _worth_fusing(tensor: torch.Tensor) -> bool:
    return (
        not _fusion_failed
        and tensor.numel() >= FUSED_MIN_ELEMENTS
        and tensor.is_floating_point()
        and os.environ.get(FUSED_ENVIRONMENT, "1") != "0"
    )


def _compiled(key: tuple, make: Callable[[], Callable]) -> Callable:
    """The compiled kernel cached under ``key`` (``make()`` gives the function to compile)."""
    if key not in _fused_kernels:
        with _quiet_compiler():
            _fused_kernels[key] = _quiet_first_call(torch.compile(make(), dynamic=True))
    return _fused_kernels[key]


def _fused_or_eager(kernel: Callable | None, eager: Callable, *args):
    """``kernel(*args)``, or ``eager(*args)`` where there is no kernel or it cannot compile."""
    if kernel is not None:
        try:
            return kernel(*args)
        except Exception as error:  # no compiler, no triton, ...: the eager ops
            _disable_fusion(error)
    return eager(*args)


@contextlib.contextmanager
def _quiet_compiler() -> Iterator[None]:
    """Hide the deprecation warnings torch's compiler stack emits while it loads."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit", category=DeprecationWarning)
        yield


def _quiet_first_call(kernel: Callable) -> Callable:
    """``kernel``, with :func:`_quiet_compiler` around its first call (which compiles it)."""
    called = []

    def run(*args):
        if called:
            return kernel(*args)
        with _quiet_compiler():
            result = kernel(*args)
        called.append(True)
        return result

    return run


def _disable_fusion(error: Exception) -> None:
    """Use the eager ops from now on, saying once why."""
    _fusion_failed.append(f"{type(error).__name__}: {error}".splitlines()[0])
    logging.getLogger(__name__).info(
        "fused kernels unavailable (%s); using eager ops", _fusion_failed[0]
    )


def rescale_multiplier(
    module: nn.Module,
    z_x: torch.Tensor,
    z_r: torch.Tensor,
    y_x: torch.Tensor,
    y_r: torch.Tensor,
) -> torch.Tensor:
    """Rescale: m = Δy/Δz, the gradient at the midpoint where |Δz| < ``DELTA_EPS``.

    ``z_x``/``y_x`` may broadcast against ``z_r``/``y_r`` (one input, K references). This is
    the hot path. Large activations of a nonlinearity with a closed-form derivative go
    through one fused, compiled kernel (:func:`fused_rescale`), which computes the same
    quotients and limits in one pass; otherwise it allocates three activation-sized tensors
    and works in place after that.
    """
    eager = functools.partial(_rescale_eager, module)
    return _fused_or_eager(fused_rescale(module, z_r), eager, z_x, z_r, y_x, y_r)


def _rescale_eager(module, z_x, z_r, y_x, y_r) -> torch.Tensor:
    """:func:`rescale_multiplier` in eager ops (three activation-sized tensors, in place)."""
    delta_z = z_x - z_r
    small = delta_z.abs() < DELTA_EPS
    multiplier = (y_x - y_r).div_(delta_z.masked_fill_(small, 1.0))
    if bool(small.any()):
        # Only the (few) elements with a vanishing difference need the gradient limit.
        where = small.nonzero(as_tuple=True)
        midpoint = 0.5 * (z_x.expand_as(z_r)[where] + z_r[where])
        multiplier[where] = derivative(module, midpoint)
    return multiplier


def revealcancel_multipliers(
    module: nn.Module,
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
    f = module.forward  # no hooks
    y_pos = f(z_r + delta_pos)
    y_neg = f(z_r + delta_neg)
    dy_pos = 0.5 * ((y_pos - y_r) + (y_x - y_neg))
    dy_neg = 0.5 * ((y_neg - y_r) + (y_x - y_pos))
    small_pos = delta_pos.abs() < DELTA_EPS
    small_neg = delta_neg.abs() < DELTA_EPS
    m_pos = dy_pos / torch.where(small_pos, torch.ones_like(delta_pos), delta_pos)
    m_neg = dy_neg / torch.where(small_neg, torch.ones_like(delta_neg), delta_neg)
    # Limits as a part -> 0: the mean of the gradients at the two points the part moves between.
    if bool(small_pos.any()):
        limit = 0.5 * (derivative(module, z_r) + derivative(module, z_r + delta_neg))
        m_pos = torch.where(small_pos, limit, m_pos)
    if bool(small_neg.any()):
        limit = 0.5 * (derivative(module, z_r) + derivative(module, z_r + delta_pos))
        m_neg = torch.where(small_neg, limit, m_neg)
    return m_pos, m_neg


class _Multiply(torch.autograd.Function):
    """Value of the reference's output; backward multiplies by a precomputed multiplier.

    With ``consume`` (the graph is walked back only once) the product is written over the
    multiplier, which is not needed again, instead of into a new activation-sized tensor.
    """

    @staticmethod
    def forward(ctx, z_r, y_r, multiplier, consume=False):
        ctx.consume = consume
        ctx.save_for_backward(multiplier)
        return y_r

    @staticmethod
    def backward(ctx, grad):
        (multiplier,) = ctx.saved_tensors
        if ctx.consume:
            product = multiplier.mul_(grad.reshape(multiplier.shape))
            return product.reshape(grad.shape), None, None, None
        return grad * multiplier.reshape(grad.shape), None, None, None


class _StraightThrough(torch.autograd.Function):
    """Value of the reference's output; backward passes the multiplier through unchanged."""

    @staticmethod
    def forward(ctx, z_r, y_r):
        return y_r

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _Guided(torch.autograd.Function):
    """Guided backpropagation: the gradient with negative incoming signal zeroed."""

    @staticmethod
    def forward(ctx, z, y, slope):
        ctx.save_for_backward(slope)
        return y

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return grad.clamp(min=0) * slope, None, None


def _transpose_weighted(
    layer: nn.Module, weight: torch.Tensor, grad: torch.Tensor, input_shape: torch.Size
) -> torch.Tensor:
    """Apply the transpose of ``layer``'s linear map, with ``weight``, to ``grad``."""
    if isinstance(layer, nn.Linear):
        return grad @ weight
    padding = layer.padding
    if layer.padding_mode == "zeros" and not isinstance(padding, str):
        return torch.nn.grad.conv1d_input(
            input_shape, weight, grad, layer.stride, padding, layer.dilation, layer.groups
        )
    if padding == "valid" and layer.padding_mode == "zeros":
        return torch.nn.grad.conv1d_input(
            input_shape, weight, grad, layer.stride, 0, layer.dilation, layer.groups
        )
    # Other paddings ('same', reflect, circular) are linear too: take the vector-Jacobian product.
    with torch.enable_grad():
        probe = torch.zeros(input_shape, dtype=grad.dtype, device=grad.device, requires_grad=True)
        (result,) = torch.autograd.grad(layer._conv_forward(probe, weight, None), probe, grad)
    return result


def _apply_weighted(layer: nn.Module, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``layer``'s linear map with ``weight`` and no bias."""
    if isinstance(layer, nn.Linear):
        return F.linear(x, weight)
    return layer._conv_forward(x, weight, None)


def _effective_weight(chain: RevealCancelChain) -> torch.Tensor:
    """The weighted layer's weight with an eval-mode BatchNorm1d folded in."""
    weight = chain.weighted.weight
    norm = chain.batchnorm
    if norm is None:
        return weight
    scale = torch.ones_like(norm.running_var) if norm.weight is None else norm.weight
    scale = scale / torch.sqrt(norm.running_var + norm.eps)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    return weight * scale.reshape(shape)


class _RevealCancelLinear(torch.autograd.Function):
    """A weighted layer feeding a RevealCancel nonlinearity, with the Linear rule's ± split.

    Backward receives m(Δy, t) at the nonlinearity's output (the nonlinearity itself passes it
    straight through) and returns, for each input i of the weighted layer,
    1{wΔa>0}·w·m⁺·g + 1{wΔa<0}·w·m⁻·g (½w(m⁺+m⁻)g where Δa = 0), computed as
    ½[Wᵀ(g⁺ + g⁻) + sign(Δa)·|W|ᵀ(g⁺ − g⁻)].
    """

    @staticmethod
    def forward(ctx, a_r, z_r, layer, weight, delta_a, m_pos, m_neg):
        ctx.layer = layer
        ctx.input_shape = a_r.shape
        ctx.save_for_backward(weight, delta_a, m_pos, m_neg)
        return z_r

    @staticmethod
    def backward(ctx, grad):
        weight, delta_a, m_pos, m_neg = ctx.saved_tensors
        grad = grad.reshape(m_pos.shape)
        g_pos = grad * m_pos
        g_neg = grad * m_neg
        flat = (-1,) + tuple(ctx.input_shape[1:])
        out_flat = (-1,) + tuple(g_pos.shape[2:])
        total = _transpose_weighted(
            ctx.layer, weight, (g_pos + g_neg).reshape(out_flat), ctx.input_shape
        )
        split = _transpose_weighted(
            ctx.layer, weight.abs(), (g_pos - g_neg).reshape(out_flat), ctx.input_shape
        )
        sign = torch.sign(delta_a).reshape(flat)
        return 0.5 * (total + sign * split), None, None, None, None, None, None


class _MaxPoolRoute(torch.autograd.Function):
    """Max pooling: each window's Δy routed to one input with multiplier Δy/Δx there.

    ``consume`` as for :class:`_Multiply`.
    """

    @staticmethod
    def forward(ctx, a_r, y_r, index, multiplier, consume=False):
        ctx.input_shape = a_r.shape
        ctx.consume = consume
        ctx.save_for_backward(index, multiplier)
        return y_r

    @staticmethod
    def backward(ctx, grad):
        index, multiplier = ctx.saved_tensors
        result = torch.zeros(ctx.input_shape, dtype=grad.dtype, device=grad.device)
        routed = multiplier.mul_(grad) if ctx.consume else grad * multiplier
        result.scatter_add_(-1, index, routed)
        return result, None, None, None, None


def _pool_with_indices(layer: nn.MaxPool1d, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``layer``'s max pooling of ``a`` and the index of each window's maximum."""
    return F.max_pool1d(
        a,
        layer.kernel_size,
        layer.stride,
        layer.padding,
        layer.dilation,
        layer.ceil_mode,
        return_indices=True,
    )


def _pool_indices(layer: nn.MaxPool1d, a: torch.Tensor) -> torch.Tensor:
    return _pool_with_indices(layer, a)[1]


def maxpool_route(
    layer: nn.MaxPool1d,
    a_x: torch.Tensor,
    a_r: torch.Tensor,
    y_x: torch.Tensor,
    y_r: torch.Tensor,
    index_x: torch.Tensor,
    pairs: int,
    index_r: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each pooling window's Δy goes, and with which multiplier.

    With i* the input's argmax and j* the reference's: if Δy ≥ 0 it goes to i* with
    m = Δy/Δx(i*) ∈ [0, 1]; otherwise to j* with m = Δy/Δx(j*) ∈ (0, 1]. Both keep
    summation-to-delta exact and bounded (unlike dividing by an arbitrary Δx); when the two
    argmaxes agree m = 1, the gradient. ``index_r`` (the reference's argmaxes, as the pooling
    returned them) is computed here when not given.
    """
    if index_r is None:
        index_r = _pool_indices(layer, a_r)
    b = a_x.shape[0]
    shape = (b, pairs) + tuple(y_r.shape[1:])
    arguments = (
        a_x.unsqueeze(1),
        a_r.reshape((b, pairs) + tuple(a_r.shape[1:])),
        y_x.unsqueeze(1),
        y_r.reshape(shape),
        index_x.unsqueeze(1),
        index_r.reshape(shape),
    )
    kernel = _compiled(("maxpool",), lambda: _route) if _worth_fusing(a_r) else None
    index, multiplier = _fused_or_eager(kernel, _route, *arguments)
    flat = (-1,) + tuple(y_r.shape[1:])
    return index.reshape(flat), multiplier.reshape(flat)


def _route(a_x, a_r, y_x, y_r, index_x, index_r) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`maxpool_route` on (b, K, ...) pairs (``*_x`` broadcast from (b, 1, ...)).

    Eager ops, or compiled into one pass over the pooled windows for large activations.
    """
    delta_y = y_x - y_r
    index = torch.where(delta_y >= 0, index_x, index_r)
    # Δx where the window's Δy goes: at i* x is y_x, at j* the reference is y_r.
    denominator = torch.gather(a_x.expand_as(a_r), -1, index).sub_(torch.gather(a_r, -1, index))
    zero = denominator == 0
    return index, delta_y.div_(denominator).masked_fill_(zero, 1.0)


class RuleHooks:
    """Attach DeepLIFT (or guided backprop) rules to a model's modules for one scoring run.

    Use as a context manager; set :attr:`phase` to ``"input"`` for the real-input pass and to
    ``"reference"`` for the reference pass, and :attr:`pairs` to K (references per sequence).
    In the ``"guided"`` phase every nonlinearity backpropagates guided gradients.
    """

    def __init__(self, model: nn.Module, plan: ModelPlan) -> None:
        self.model = model
        self.plan = plan
        self.phase = "input"
        self.pairs = 1
        #: True when each reference pass is walked back once (one target): the backward
        #: then overwrites the saved multipliers instead of allocating new tensors.
        self.single_backward = False
        self._handles: list = []
        self._record: dict[nn.Module, tuple] = {}
        self._chain_inputs: dict[nn.Module, torch.Tensor] = {}
        self._inplace: list[nn.Module] = []
        self._pool_index: dict[nn.Module, torch.Tensor] = {}
        self._own_forward: dict[nn.Module, object] = {}

    def __enter__(self) -> RuleHooks:
        for layer in list(self.plan.rescale) + list(self.plan.revealcancel):
            # An in-place nonlinearity would overwrite the input we record.
            if getattr(layer, "inplace", False):
                layer.inplace = False
                self._inplace.append(layer)
            self._handles.append(layer.register_forward_hook(self._nonlinear_hook))
        for layer, chain in self.plan.revealcancel.items():
            self._handles.append(
                chain.weighted.register_forward_pre_hook(self._make_chain_pre_hook(layer))
            )
            self._handles.append(
                chain.last.register_forward_hook(self._make_chain_hook(layer, chain))
            )
        for layer in self.plan.maxpool:
            self._handles.append(layer.register_forward_hook(self._maxpool_hook))
            # The scoring passes pool once, keeping the argmaxes (see _pool_forward).
            self._own_forward[layer] = layer.__dict__.get("forward")
            layer.forward = self._pool_forward(layer)
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        for layer in self._inplace:
            layer.inplace = True
        for layer, forward in self._own_forward.items():
            del layer.forward
            if forward is not None:
                layer.forward = forward
        self._own_forward.clear()
        self._pool_index.clear()
        self._handles.clear()
        self._record.clear()
        self._chain_inputs.clear()

    def _pair_view(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.reshape((-1, self.pairs) + tuple(tensor.shape[1:]))

    def _nonlinear_hook(self, layer, inputs, output):
        z = inputs[0]
        if self.phase == "input":
            self._record[layer] = (z.detach(), output.detach())
            return None
        if self.phase == "guided":
            return _Guided.apply(z, output.detach(), derivative(layer, z.detach()))
        if layer in self.plan.revealcancel:
            return _StraightThrough.apply(z, output.detach())
        z_x, y_x = self._record[layer]
        with torch.no_grad():
            multiplier = rescale_multiplier(
                layer,
                z_x.unsqueeze(1),
                self._pair_view(z.detach()),
                y_x.unsqueeze(1),
                self._pair_view(output.detach()),
            )
        return _Multiply.apply(z, output.detach(), multiplier, self.single_backward)

    def _make_chain_pre_hook(self, nonlinear: nn.Module):
        def hook(layer, inputs):
            if self.phase == "input":
                self._chain_inputs[nonlinear] = inputs[0].detach()
            elif self.phase == "reference":
                self._chain_inputs[(nonlinear, "reference")] = inputs[0]
            return None

        return hook

    def _make_chain_hook(self, nonlinear: nn.Module, chain: RevealCancelChain):
        def hook(layer, inputs, output):
            if self.phase != "reference":
                return None
            a_r = self._chain_inputs.pop((nonlinear, "reference"))
            a_x = self._chain_inputs[nonlinear]
            # The nonlinearity recorded its input (our output) and output in the input pass.
            z_x, y_x = self._record[nonlinear]
            with torch.no_grad():
                weight = _effective_weight(chain).detach()
                a_r_pairs = self._pair_view(a_r.detach())
                delta_a = a_x.unsqueeze(1) - a_r_pairs
                z_r = output.detach()
                z_r_pairs = self._pair_view(z_r)
                delta_z = z_x.unsqueeze(1) - z_r_pairs
                spread = self._pair_view(
                    _apply_weighted(chain.weighted, weight.abs(), delta_a.abs().reshape(a_r.shape))
                )
                delta_pos = 0.5 * (delta_z + spread)
                delta_neg = 0.5 * (delta_z - spread)
                y_r = nonlinear.forward(z_r_pairs)
                m_pos, m_neg = revealcancel_multipliers(
                    nonlinear, z_r_pairs, delta_pos, delta_neg, y_x.unsqueeze(1), y_r
                )
            return _RevealCancelLinear.apply(
                a_r, z_r, chain.weighted, weight, delta_a, m_pos, m_neg
            )

        return hook

    def _pool_forward(self, layer: nn.MaxPool1d):
        """``layer``'s forward, keeping the argmaxes in the scoring passes.

        In the input and reference passes the pooling runs once, without autograd (the hook
        attaches the DeepLIFT rule), and its indices are kept for the hook, which would
        otherwise pool the (large) input a second time to find them.
        """
        plain = type(layer).forward

        def forward(a: torch.Tensor) -> torch.Tensor:
            if self.phase not in ("input", "reference"):
                return plain(layer, a)
            with torch.no_grad():
                output, index = _pool_with_indices(layer, a)
            self._pool_index[layer] = index
            return output

        return forward

    def _maxpool_hook(self, layer, inputs, output):
        if self.phase not in ("input", "reference"):
            return None
        a = inputs[0]
        index = self._pool_index.pop(layer, None)
        if index is None:
            index = _pool_indices(layer, a.detach())
        if self.phase == "input":
            self._record[layer] = (a.detach(), output.detach(), index)
            return None
        a_x, y_x, index_x = self._record[layer]
        with torch.no_grad():
            index, multiplier = maxpool_route(
                layer, a_x, a.detach(), y_x, output.detach(), index_x, self.pairs, index
            )
        return _MaxPoolRoute.apply(a, output.detach(), index, multiplier, self.single_backward)
