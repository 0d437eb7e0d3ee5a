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


# --- models as the field writes them (the engine issue's "done when" list) -----------------


class TinyBPNet(nn.Module):
    """bpnet-lite's BPNet in miniature: inline ReLU(), dilated residual convolutions, an
    optional control track (``if X_ctl is not None``), a (profile, counts) tuple."""

    def __init__(self, filters: int = 6, layers: int = 2, trimming: int = 4, n_controls: int = 2):
        super().__init__()
        self.trimming = trimming
        self.iconv = nn.Conv1d(4, filters, 5, padding=2)
        self.rconvs = nn.ModuleList(
            nn.Conv1d(filters, filters, 3, padding=2**i, dilation=2**i)
            for i in range(1, layers + 1)
        )
        self.fconv = nn.Conv1d(filters + n_controls, 2, 7, padding=3)
        self.linear = nn.Linear(filters + 1, 1)

    def forward(self, X, X_ctl=None):
        start, end = self.trimming, X.shape[2] - self.trimming
        X = torch.nn.ReLU()(self.iconv(X))  # older bpnet-lite: a module built inside forward
        for conv in self.rconvs:
            X = torch.add(X, torch.nn.ReLU()(conv(X)))
        if X_ctl is None:
            X_w_ctl = torch.cat([X, torch.zeros_like(X[:, :2])], dim=1)
        else:
            X_w_ctl = torch.cat([X, X_ctl], dim=1)
        y_profile = self.fconv(X_w_ctl)[:, :, start:end]
        X = torch.mean(X[:, :, start - 2 : end + 2], dim=2)
        if X_ctl is not None:
            X_ctl = torch.sum(X_ctl[:, :, start - 2 : end + 2], dim=(1, 2)).unsqueeze(-1)
            X = torch.cat([X, torch.log(X_ctl + 1)], dim=-1)
        else:
            X = torch.cat([X, torch.zeros_like(X[:, :1])], dim=-1)
        return y_profile, self.linear(X)


class TinyChromBPNet(nn.Module):
    """A bias model and an accessibility model: profiles add, counts by logsumexp."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = TinyBPNet(filters=3, layers=1)
        self.accessibility = TinyBPNet(filters=5, layers=2)

    def forward(self, X):
        acc_profile, acc_counts = self.accessibility(X)
        bias_profile, bias_counts = self.bias(X)
        counts = torch.logsumexp(torch.stack([acc_counts, bias_counts]), dim=0)
        return acc_profile + bias_profile, counts


def basset(length: int = 40, n_tasks: int = 3) -> nn.Sequential:
    """Basset-style: conv, BatchNorm, ReLU, max pooling (twice), dense with dropout."""
    pooled = ((length - 4) // 3 - 2) // 2
    return nn.Sequential(
        nn.Conv1d(4, 6, 5),
        nn.BatchNorm1d(6),
        nn.ReLU(inplace=True),
        nn.MaxPool1d(3),
        nn.Conv1d(6, 4, 3),
        nn.BatchNorm1d(4),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Flatten(),
        nn.Linear(4 * pooled, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(8, n_tasks),
    )


class GatedCNN(nn.Module):
    """A gated linear unit: conv(x) * sigmoid(gate(x)), then a dense head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 5, padding=2)
        self.gate = nn.Conv1d(4, 6, 5, padding=2)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        h = self.conv(x) * torch.sigmoid(self.gate(x))
        return self.head(h.mean(-1))


class ExpCNN(nn.Module):
    """An exponential first-layer activation (Koo & Ploenzke), functional form."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 5, 5)
        self.conv2 = nn.Conv1d(5, 4, 3)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.exp(self.conv(x) * 0.3)
        h = F.max_pool1d(h, 2)
        h = F.gelu(self.conv2(h), approximate="tanh")
        return self.head(h.mean(-1))


class InplaceResidual(nn.Module):
    """``h = relu(conv(x)); h += skip`` (an in-place residual) and an in-place ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv1d(4, 6, 3, padding=1)
        self.conv = nn.Conv1d(6, 6, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        skip = self.relu(self.stem(x))
        h = F.relu(self.conv(skip))
        h += skip
        return self.head(h.mean(-1))


class NormCNN(nn.Module):
    """LayerNorm over channels and RMSNorm, with a SiLU: normalisation layers in the path."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 5, padding=2)
        self.norm = nn.LayerNorm(6)
        self.rms = nn.RMSNorm(6)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        h = self.norm(self.conv(x).transpose(1, 2))
        h = self.rms(F.silu(h))
        return self.head(h.mean(1))


class Attention(nn.Module):
    """Self-attention over positions: softmax(QKᵀ)V, which DeepLIFT cannot score exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv1d(4, 4, 3, padding=1)
        self.q = nn.Linear(4, 4)
        self.k = nn.Linear(4, 4)
        self.v = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = self.embed(x).transpose(1, 2)
        scores = self.q(h) @ self.k(h).transpose(1, 2)
        h = torch.softmax(scores / 2.0, dim=-1) @ self.v(h)
        return self.head(h.mean(1))
