"""Shared fixtures: the ``device`` fixture runs a test on CPU, and on CUDA when available."""

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Each test taking ``device`` runs once per available device."""
    return torch.device(request.param)
