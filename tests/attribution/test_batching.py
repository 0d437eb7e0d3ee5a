"""Batch sizes depend on the model, the call and the device, never on what else is running."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from liftgenomics.attribution import attribute
from liftgenomics.attribution.batching import default_batch_size
from liftgenomics.attribution.methods import get_method
from tests.toy_models import conv_net, random_one_hot


def test_gpu_batch_size_comes_from_total_memory_not_free_memory(monkeypatch):
    """Free memory changes with a neighbour's jobs; the batches (and so the last bits of every
    score) must not. Hand-computed: an eighth of 80 GiB over 4·length·4096 bytes per pair."""
    total = 80 * 2**30
    monkeypatch.setattr(
        torch.cuda,
        "get_device_properties",
        lambda device: types.SimpleNamespace(total_memory=total),
    )
    free = iter([70 * 2**30, 3 * 2**30])
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (next(free), total))
    method = get_method("deeplift_rescale")
    references = torch.zeros((1, 5, 4, 200))  # 5 references per sequence
    sizes = [
        default_batch_size(method, lambda start, stop: references, 1, 200, torch.device("cuda"))
        for _ in range(2)
    ]
    pairs = min(65536, total // 8 // (4 * 200 * 4096))
    assert sizes == [-(-pairs // 5)] * 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_scores_are_the_same_bytes_with_memory_taken_in_between():
    torch.manual_seed(3)
    model = conv_net(n_tasks=2, pool="max")
    X = random_one_hot(40, 60, torch.Generator().manual_seed(3))

    def scores() -> np.ndarray:
        return attribute(model, X, "dinuc:5", 0, method="deeplift_rescale", seed=1,
                         device="cuda").numpy()  # fmt: skip

    first = scores()
    ballast = torch.empty(2**30, dtype=torch.uint8, device="cuda")  # 1 GiB less free
    second = scores()
    del ballast
    np.testing.assert_array_equal(first, second)
