"""Toy models for the attribution rules: the paper's analytic examples and small random nets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def scalar_linear(weight: float, bias: float) -> nn.Linear:
    """y = weight * x + bias on a single input."""
    layer = nn.Linear(1, 1)
    with torch.no_grad():
        layer.weight.fill_(weight)
        layer.bias.fill_(bias)
    return layer


def threshold_model() -> nn.Module:
    """The paper's y = ReLU(x - 10) (figure 1): the gradient jumps, DeepLIFT gives Δy."""
    return nn.Sequential(scalar_linear(1.0, -10.0), nn.ReLU(), scalar_linear(1.0, 0.0))


def saturation_model() -> nn.Module:
    """The paper's f(x) = 1 - ReLU(1 - x) (figure 2): zero gradient at x = 2."""
    return nn.Sequential(scalar_linear(-1.0, 1.0), nn.ReLU(), scalar_linear(-1.0, 1.0))


class MinModel(nn.Module):
    """min(i1, i2) = i1 - ReLU(i1 - i2): the paper's AND/min network (figure 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.difference = nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.difference.weight.copy_(torch.tensor([[1.0, -1.0]]))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] - self.relu(self.difference(x))


class FunctionalReLU(nn.Module):
    """Calls F.relu: invisible to module hooks, so the engine must refuse it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 3)
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(F.relu(self.conv(x)).mean(dim=-1))


class SigmoidCall(nn.Module):
    """Calls torch.sigmoid inside forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 3)
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.sigmoid(self.conv(x)).mean(dim=-1))


class ReusedReLU(nn.Module):
    """One ReLU instance called twice: one record, two activations."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(4, 3, 3)
        self.conv2 = nn.Conv1d(3, 3, 3)
        self.relu = nn.ReLU()
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.relu(self.conv2(self.relu(self.conv1(x)))).mean(dim=-1))


class Gated(nn.Module):
    """Multiplies two activations: nonlinear with no DeepLIFT rule here."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 3)
        self.gate = nn.Conv1d(4, 3, 3)
        self.sigmoid = nn.Sigmoid()
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((self.conv(x) * self.sigmoid(self.gate(x))).mean(dim=-1))


class Residual(nn.Module):
    """A residual block with a concatenation: linear glue between supported layers."""

    def __init__(self, channels: int = 6) -> None:
        super().__init__()
        self.stem = nn.Conv1d(4, channels, 5, padding=2)
        self.act1 = nn.ReLU()
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)
        self.norm = nn.BatchNorm1d(channels)
        self.act2 = nn.ELU()
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(2 * channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act1(self.stem(x))
        h2 = h + self.act2(self.norm(self.conv(h)))
        both = torch.cat([h, h2], dim=1)
        return self.head(self.pool(both).flatten(1))


def conv_net(
    channels: int = 5,
    width: int = 3,
    pool: str = "avg",
    activation: type[nn.Module] = nn.ReLU,
    hidden: int = 4,
    n_tasks: int = 3,
    batchnorm: bool = False,
) -> nn.Sequential:
    """A small Conv -> act -> pool -> Conv -> act -> global avg -> Linear -> act -> Linear net."""
    layers: list[nn.Module] = [nn.Conv1d(4, channels, width)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(channels))
    layers.append(activation())
    if pool == "max":
        layers.append(nn.MaxPool1d(3, stride=2))  # kernel > stride: overlapping windows
    else:
        layers.append(nn.AvgPool1d(2))
    layers += [
        nn.Conv1d(channels, channels, width),
        activation(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(channels, hidden),
        activation(),
        nn.Dropout(0.5),
        nn.Linear(hidden, n_tasks),
    ]
    return nn.Sequential(*layers)


def randomize_batchnorm(model: nn.Module, generator: torch.Generator) -> None:
    """Give BatchNorm layers non-trivial running statistics and affine parameters."""
    for layer in model.modules():
        if isinstance(layer, nn.BatchNorm1d):
            with torch.no_grad():
                n = layer.num_features
                layer.running_mean.copy_(torch.randn(n, generator=generator) * 0.3)
                layer.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                layer.weight.copy_(torch.randn(n, generator=generator))
                layer.bias.copy_(torch.randn(n, generator=generator) * 0.1)


def random_one_hot(n: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 4, length) random one-hot sequences."""
    index = torch.randint(0, 4, (n, length), generator=generator)
    return F.one_hot(index, 4).permute(0, 2, 1).float()
