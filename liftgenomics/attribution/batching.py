"""Data, devices and batches for a scoring run: everything around the model's passes.

Owns the input checks (:func:`as_one_hot`), the device and dtype the model runs on
(:func:`resolve_device`, :func:`model_dtype`, :func:`prepared`), the references of each batch
(:func:`reference_source`), how many sequences a batch holds (:func:`default_batch_size`) and
how extra model inputs follow the batch (:func:`batch_rows`, :func:`repeat_rows`,
:func:`to_device`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from liftgenomics.attribution.methods import Method
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.references import ReferenceSpec, parse_reference_spec

#: (sequence, reference) pairs per batch on a CPU when the model's activations are unknown.
CPU_PAIRS_PER_BATCH = 320
#: Activation bytes per batch on a CPU (DeepLIFT: sized from the probe pass): ~320 pairs of
#: the paper CNN, one sequence's references of a BPNet.
CPU_ACTIVATION_BYTES = 48 * 2**20


def batch_rows(forward_args: tuple, start: int, stop: int, n: int) -> tuple:
    """The batch's rows of per-sequence extra inputs (other values as they are)."""
    return tuple(
        a[start:stop] if isinstance(a, torch.Tensor) and a.dim() > 0 and a.shape[0] == n else a
        for a in forward_args
    )


def repeat_rows(forward_args: tuple, rows: int, times: int) -> tuple:
    """Per-sequence extra inputs repeated for each of a sequence's ``times`` evaluations."""
    return tuple(
        a.repeat_interleave(times, dim=0)
        if isinstance(a, torch.Tensor) and a.dim() > 0 and a.shape[0] == rows
        else a
        for a in forward_args
    )


def to_device(forward_args: tuple, device, dtype) -> tuple:
    """Extra inputs on ``device``; floating ones cast to the model's ``dtype``."""
    return tuple(
        a.to(device, dtype) if isinstance(a, torch.Tensor) and a.is_floating_point()
        else a.to(device) if isinstance(a, torch.Tensor) else a
        for a in forward_args
    )


@contextlib.contextmanager
def prepared(model: nn.Module, device: torch.device | None) -> Iterator[None]:
    """Eval mode, no parameter gradients, on ``device``; all restored afterwards.

    The model goes back to the device it came from, and every submodule gets its own training
    flag back (a model partly in eval mode stays so). On a GPU, cuDNN picks deterministic
    algorithms and does not benchmark, so the same call gives the same bytes every run.
    """
    flags = [(module, module.training) for module in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    home = next((p.device for p in model.parameters()), None)
    cudnn = torch.backends.cudnn
    cudnn_flags = (cudnn.deterministic, cudnn.benchmark)
    if device is not None:
        model.to(device)
        if device.type == "cuda":
            cudnn.deterministic, cudnn.benchmark = True, False
    model.eval()
    for parameter, _ in grads:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = cudnn_flags
        for parameter, flag in grads:
            parameter.requires_grad_(flag)
        for module, flag in flags:
            module.training = flag
        if home is not None and device is not None and home != device:
            model.to(home)


def as_one_hot(X) -> torch.Tensor:
    """Validate and convert one-hot input to a float32 CPU tensor (N, 4, L)."""
    tensor = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X)
    if tensor.dim() != 3 or tensor.shape[1] != 4:
        raise LiftGenomicsError(
            f"X must be one-hot sequences of shape (N, 4, L), got {tuple(tensor.shape)}"
        )
    tensor = tensor.detach().to("cpu", torch.float32)
    column_sums = tensor.sum(dim=1)
    if not bool(((column_sums == 0) | (column_sums == 1)).all()) or bool((tensor < 0).any()):
        raise LiftGenomicsError("X must be one-hot: every column all zero (N) or a single 1")
    return tensor


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's parameters (inputs are cast to it); float32 if none."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> CUDA when available, else CPU; refuse an absent CUDA."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise LiftGenomicsError(f"unknown device {device!r}; use auto, cpu or cuda") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise LiftGenomicsError("device 'cuda' requested but CUDA is not available here")
    return resolved


def reference_source(
    references, X: torch.Tensor, seed: int, start_index: int = 0
) -> Callable[[int, int], torch.Tensor]:
    """A function (start, stop) -> references (stop − start, K, 4, L) for a slice of ``X``."""
    if references is None:
        raise LiftGenomicsError("references are required (e.g. 'dinuc:20' or 'flat')")
    if not (torch.is_tensor(references) or isinstance(references, np.ndarray)):
        return _spec_source(references, X, seed, start_index)
    n, _, length = X.shape
    refs = torch.as_tensor(references).detach().to("cpu", torch.float32)
    if refs.dim() == 2:
        refs = refs.unsqueeze(0)
    if refs.dim() == 3:
        refs = refs.unsqueeze(0).expand((n,) + tuple(refs.shape))
    if refs.dim() != 4 or refs.shape[2] != 4 or refs.shape[3] != length or refs.shape[0] != n:
        raise LiftGenomicsError(
            f"references of shape {tuple(refs.shape)} do not fit X of shape {tuple(X.shape)}; "
            "expected (N, K, 4, L), (K, 4, L) or (4, L)"
        )
    return lambda start, stop: refs[start:stop]


def _spec_source(
    references, X: torch.Tensor, seed: int, start_index: int
) -> Callable[[int, int], torch.Tensor]:
    """References generated per batch from a spec string or ``ReferenceSpec``."""
    spec = parse_reference_spec(references) if isinstance(references, str) else references
    if not isinstance(spec, ReferenceSpec):
        raise LiftGenomicsError(
            "references must be a tensor, an array or a spec such as 'dinuc:20', not "
            f"{type(references).__name__}"
        )
    X_numpy = X.numpy()

    def generate(start: int, stop: int) -> torch.Tensor:
        refs = spec.generate(X_numpy[start:stop], seed, start_index=start_index + start)
        # flat/zero/fasta specs return read-only broadcast views: materialise them.
        return torch.from_numpy(np.array(refs, dtype=np.float32))

    return generate


def default_batch_size(
    method: Method, sources, steps: int, length: int, device: torch.device, plan=None
) -> int:
    """Sequences per batch: sized by the model's activations on a CPU, by memory on a GPU.

    With a plan (DeepLIFT), a CPU batch holds about ``CPU_ACTIVATION_BYTES`` of activations
    (the probe pass counted them per sequence). Otherwise ~320 pairs. On a GPU, an eighth of
    the device's total memory: never its free memory, which other jobs change from run to run
    and with it the batches and the last bits of every score. The same model, call and device
    always get the same batches.
    """
    pairs = CPU_PAIRS_PER_BATCH
    if plan is not None and plan.elements > 0:
        bytes_per_pair = 4 * plan.elements
        pairs = int(min(4096, max(1, CPU_ACTIVATION_BYTES // bytes_per_pair)))
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        # ~ bytes of activations, multipliers and gradients per pair for a conv net of this
        # length; an eighth of the memory leaves room for the allocator, the model and a
        # neighbour on the same GPU (an out-of-memory batch is halved and retried).
        per_pair = 4 * length * 4096
        if plan is not None and plan.elements > 0:
            per_pair = 3 * 4 * plan.elements  # activations, multipliers, gradients
        pairs = max(1, min(65536, total // 8 // per_pair))
    if method.family == "ism":
        return max(1, pairs // (3 * length) or 1)
    k = 1 if sources is None else int(sources(0, 1).shape[1])
    per_sequence = k * (steps if method.family == "integrated_gradients" else 1)
    return max(1, math.ceil(pairs / per_sequence))
