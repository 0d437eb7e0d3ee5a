"""A tiny PyTorch model for the regions workflow test: a user's ``.py`` file with a factory.

``liftgenomics score --model tiny_model.py:tiny_cnn --weights tiny_model.safetensors``
imports this file and calls ``tiny_cnn(**model_args)``; the weights are read without running
code. Written as a bioinformatician would: a conv layer, a dilated conv, global average, dense.
"""

import torch
from torch import nn


class TinyCNN(nn.Module):
    """Two convolutions and a dense layer: logits (N, n_tasks) for one-hot DNA (N, 4, L)."""

    def __init__(self, n_filters: int = 8, n_tasks: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(4, n_filters, 9, padding=4)
        self.conv2 = nn.Conv1d(n_filters, n_filters, 5, padding=4, dilation=2)
        self.dense = nn.Linear(n_filters, n_tasks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x))
        h = torch.relu(self.conv2(h))
        return self.dense(h.mean(dim=2))


def tiny_cnn(n_filters: int = 8, n_tasks: int = 2) -> TinyCNN:
    """The factory ``--model tiny_model.py:tiny_cnn`` names."""
    return TinyCNN(n_filters, n_tasks)
