"""Compiled elementwise kernels for the hot path of the rules.

The Rescale multiplier and the max-pool routing are a handful of elementwise operations over
activation-sized tensors; compiled with ``torch.compile`` they run in one pass instead of about
seven. A kernel is used only for large activations and only where it compiles here; otherwise
the caller's eager ops run. On a GPU they are always worth it. On a CPU they save ~13% of a
DeepLIFT pass (the paper's CNN, measured) but loading the compiler and compiling cost ~7
CPU-seconds per process, so the engine turns them on for a call of at least
``CPU_FUSION_MIN_PAIRS`` sequence-reference pairs only (:func:`cpu_fusion`): a workflow chunk
of 800 sequences x 20 references stays eager, a genome-scale ``score`` run is fused.
``LIFTGENOMICS_FUSED=1`` turns them on everywhere, ``0`` keeps everything eager.

Only compilation failures switch fusion off (a missing compiler, no triton, ...); anything else
(a CUDA out-of-memory error above all) propagates, so it is never hidden as "fusion failed".
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import warnings
from collections.abc import Callable, Iterator

import torch

#: Activations with at least this many elements take a fused kernel (when it works here).
FUSED_MIN_ELEMENTS = 1 << 16
#: "0": every rule in eager PyTorch ops; "1": fused kernels on every device; unset: on CUDA,
#: and on a CPU for calls of at least CPU_FUSION_MIN_PAIRS pairs.
FUSED_ENVIRONMENT = "LIFTGENOMICS_FUSED"
#: About where ~7 CPU-seconds of compiling pay back at ~0.3 ms saved per pair.
CPU_FUSION_MIN_PAIRS = 25_000
#: Below this |Δx|, relative to 1 + |x|, a multiplier Δy/Δx is replaced by its limit, the
#: gradient (float32 and float64; half precision uses 1e-3).
DELTA_EPS = 1e-6

_kernels: dict[tuple, Callable] = {}
_cpu_fusion: contextvars.ContextVar[bool] = contextvars.ContextVar("cpu_fusion", default=False)
_fusion_failed: list[str] = []


def relu_limit(z: torch.Tensor) -> torch.Tensor:
    """ReLU's derivative."""
    return (z > 0).to(z.dtype)


def sigmoid_limit(z: torch.Tensor) -> torch.Tensor:
    """The logistic function's derivative."""
    s = torch.sigmoid(z)
    return s * (1 - s)


def tanh_limit(z: torch.Tensor) -> torch.Tensor:
    """tanh's derivative."""
    t = torch.tanh(z)
    return 1 - t * t


def rescale_kernel(limit: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
    """Rescale's multiplier as one elementwise expression, for the compiler to fuse."""

    def kernel(z_x, z_r, y_x, y_r):
        delta_z = z_x - z_r
        midpoint = 0.5 * (z_x + z_r)
        small = delta_z.abs() < DELTA_EPS * (1 + midpoint.abs())
        return torch.where(small, limit(midpoint), (y_x - y_r) / delta_z)

    return kernel


def worth_fusing(tensor: torch.Tensor) -> bool:
    """Large floating activations, fusion on for the tensor's device and not failed here."""
    setting = os.environ.get(FUSED_ENVIRONMENT, "")
    wanted = setting == "1" or (setting != "0" and (tensor.is_cuda or _cpu_fusion.get()))
    return (
        wanted
        and not _fusion_failed
        and tensor.numel() >= FUSED_MIN_ELEMENTS
        and tensor.is_floating_point()
    )


@contextlib.contextmanager
def cpu_fusion(pairs: int) -> Iterator[None]:
    """Within: fused kernels on a CPU too if ``pairs`` pays for compiling them (or they are
    compiled already in this process)."""
    token = _cpu_fusion.set(pairs >= CPU_FUSION_MIN_PAIRS or bool(_kernels))
    try:
        yield
    finally:
        _cpu_fusion.reset(token)


def compiled(key: tuple, make: Callable[[], Callable]) -> Callable:
    """The compiled kernel cached under ``key`` (``make()`` gives the function to compile)."""
    if key not in _kernels:
        with _quiet_compiler():
            _kernels[key] = _quiet_first_call(torch.compile(make(), dynamic=True))
    return _kernels[key]


def fused_or_eager(kernel: Callable | None, eager: Callable, *args):
    """``kernel(*args)``, or ``eager(*args)`` where there is no kernel or it cannot compile."""
    if kernel is not None:
        try:
            return kernel(*args)
        except torch.OutOfMemoryError:
            raise
        except (RuntimeError, ImportError, OSError, AssertionError) as error:
            # torch._dynamo / inductor raise subclasses of these when no compiler or backend
            # is usable here; the eager ops compute the same values.
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
