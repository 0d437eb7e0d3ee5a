"""The fused (compiled) Rescale kernel computes what the eager ops compute.

Large activations take :func:`~liftgenomics.attribution.multipliers.fused_rescale` where
``torch.compile`` works (on a GPU by default; ``LIFTGENOMICS_FUSED=1`` turns it on here for
these tests); they compare it with the eager path (``LIFTGENOMICS_FUSED=0``) and skip where no
kernel can be compiled.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import liftgenomics.attribution.kernels as kernels
import liftgenomics.attribution.multipliers as multipliers
from liftgenomics.attribution import attribute, ops
from tests.toy_models import conv_net, random_one_hot

RULES = {"relu": torch.relu, "leaky_relu": F.leaky_relu, "sigmoid": torch.sigmoid,
         "tanh": torch.tanh}


@pytest.fixture(autouse=True)
def fusion_on(monkeypatch):
    """The kernels on whatever device runs the tests (they are CUDA-only by default)."""
    monkeypatch.setenv(kernels.FUSED_ENVIRONMENT, "1")


def rule_of(module: nn.Module) -> ops.Elementwise:
    """The registry's rule for the function the module calls."""
    return ops.ELEMENTWISE[RULES[type(module).__name__.lower().replace("leakyrelu", "leaky_relu")]]


def fused_or_skip(module: nn.Module, z_r: torch.Tensor):
    kernel = multipliers.fused_rescale(rule_of(module), z_r)
    if kernel is None:
        pytest.skip("no fused kernel here (compilation failed earlier or is switched off)")
    return kernel


def activations(module: nn.Module, generator: torch.Generator):
    """(z_x, z_r, y_x, y_r) above the fusion threshold, with vanishing and zero Δz planted."""
    z_x = torch.randn(4, 1, 16, 300, generator=generator)
    z_r = torch.randn(4, 8, 16, 300, generator=generator)
    z_r[:, :, 0, :10] = z_x[:, :, 0, :10]  # Δz = 0
    z_r[:, :, 1, :10] = z_x[:, :, 1, :10] + 1e-7  # |Δz| below DELTA_EPS
    z_r[:, :, 2, :10] = -z_x[:, :, 2, :10] * 1e-8  # straddling zero, tiny
    assert z_r.numel() >= kernels.FUSED_MIN_ELEMENTS
    with torch.no_grad():
        return z_x, z_r, module(z_x), module(z_r)


@pytest.mark.parametrize(
    ("module", "exact"),
    [(nn.ReLU(), True), (nn.Sigmoid(), False), (nn.Tanh(), False)],
    ids=["relu", "sigmoid", "tanh"],
)
def test_fused_rescale_matches_eager(module, exact, monkeypatch):
    z_x, z_r, y_x, y_r = activations(module, torch.Generator().manual_seed(5))
    kernel = fused_or_skip(module, z_r)
    try:
        with torch.no_grad():
            fused = kernel(z_x, z_r, y_x, y_r)
    except Exception as error:  # no C++ compiler or similar: the engine falls back too
        pytest.skip(f"torch.compile unavailable: {type(error).__name__}")
    monkeypatch.setenv(kernels.FUSED_ENVIRONMENT, "0")
    eager = multipliers.rescale_multiplier(rule_of(module), module, z_x, z_r, y_x, y_r)
    assert fused.shape == eager.shape
    if exact:
        assert torch.equal(fused, eager)
    else:
        assert torch.allclose(fused, eager, rtol=1e-6, atol=1e-7)


def test_fused_kernel_is_not_used_for_small_activations_or_when_switched_off(monkeypatch):
    small = torch.zeros(2, 3, 4)
    relu = ops.ELEMENTWISE[torch.relu]
    assert multipliers.fused_rescale(relu, small) is None
    assert multipliers.fused_rescale(ops.ELEMENTWISE[F.gelu], torch.zeros(4, 8, 16, 300)) is None
    monkeypatch.setenv(kernels.FUSED_ENVIRONMENT, "0")
    assert multipliers.fused_rescale(relu, torch.zeros(4, 8, 16, 300)) is None


@pytest.mark.parametrize("method", ["deeplift_rescale", "deeplift_genomics"])
def test_scores_are_the_same_with_and_without_the_fused_kernel(method, monkeypatch):
    generator = torch.Generator().manual_seed(6)
    model = conv_net(channels=16, pool="max").eval()
    x = random_one_hot(4, 200, generator)
    refs = random_one_hot(32, 200, generator).reshape(4, 8, 4, 200)
    fused = attribute(model, x, refs, method=method, hypothetical=True)
    monkeypatch.setenv(kernels.FUSED_ENVIRONMENT, "0")
    eager = attribute(model, x, refs, method=method, hypothetical=True)
    assert torch.equal(fused, eager)


def test_fusion_default_cuda_always_cpu_for_large_calls(monkeypatch):
    monkeypatch.delenv(kernels.FUSED_ENVIRONMENT)
    monkeypatch.setattr(kernels, "_kernels", {})  # nothing compiled in this process yet
    large = torch.zeros(4, 8, 16, 300)
    assert not kernels.worth_fusing(large)
    with kernels.cpu_fusion(kernels.CPU_FUSION_MIN_PAIRS - 1):
        assert not kernels.worth_fusing(large)
    with kernels.cpu_fusion(kernels.CPU_FUSION_MIN_PAIRS):
        assert kernels.worth_fusing(large)
        assert not kernels.worth_fusing(torch.zeros(2, 3, 4))
    assert not kernels.worth_fusing(large)
    monkeypatch.setenv(kernels.FUSED_ENVIRONMENT, "0")
    with kernels.cpu_fusion(10**9):
        assert not kernels.worth_fusing(large)
    if torch.cuda.is_available():
        monkeypatch.delenv(kernels.FUSED_ENVIRONMENT)
        assert kernels.worth_fusing(large.cuda())
