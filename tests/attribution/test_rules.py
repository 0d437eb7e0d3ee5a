"""DeepLIFT's rules against independent oracles: hand-computed values and brute force."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from liftgenomics.attribution import pair_contributions


def test_revealcancel_published_dense_case():
    """The original deeplift's unit case: w = [1, -2, -3, 4], b = 1, x = [-1, -1, 1, 1], ref 0."""
    layer = nn.Linear(4, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0, -3.0, 4.0]]))
        layer.bias.fill_(1.0)
    model = nn.Sequential(layer, nn.ReLU())
    x = torch.tensor([[-1.0, -1.0, 1.0, 1.0]])
    c = pair_contributions(model, x, torch.zeros(1, 1, 4), method="deeplift_revealcancel")
    multipliers = c[0, 0] / x[0]
    w = torch.tensor([1.0, -2.0, -3.0, 4.0])
    expected = w * torch.tensor([2.5 / 4, 4.5 / 6, 2.5 / 4, 4.5 / 6])
    torch.testing.assert_close(multipliers, expected)
    # Rescale on the same layer: one multiplier Δy/Δz = (3 - 1)/(3 - 1) = 1 for every input.
    c = pair_contributions(model, x, torch.zeros(1, 1, 4), method="deeplift_rescale")
    torch.testing.assert_close(c[0, 0] / x[0], w)


class TwoPlayers(nn.Module):
    """f(x0, x1) for an elementwise op of two inputs: the players are the inputs themselves."""

    def __init__(self, op) -> None:
        super().__init__()
        self.op = op
        self.scale = nn.Linear(1, 1)
        with torch.no_grad():
            self.scale.weight.fill_(1.0)
            self.scale.bias.zero_()

    def forward(self, x):
        return self.scale(self.op(x[:, 0:1], x[:, 1:2]))


def brute_force_shapley(f, x, ref) -> list[float]:
    """Shapley values of each input by averaging marginal gains over all orders of arrival."""
    n = len(x)
    values = [0.0] * n
    orders = list(itertools.permutations(range(n)))
    for order in orders:
        point = list(ref)
        before = f(point)
        for player in order:
            point[player] = x[player]
            after = f(point)
            values[player] += (after - before) / len(orders)
            before = after
    return values


@pytest.mark.parametrize(
    ("op", "scalar"),
    [
        (torch.mul, lambda a, b: a * b),
        (torch.maximum, max),
        (torch.minimum, min),
        (torch.div, lambda a, b: a / b),
        (lambda a, b: a * torch.sigmoid(b), lambda a, b: a / (1 + math.exp(-b))),
    ],
    ids=["product", "maximum", "minimum", "quotient", "gate"],
)
def test_two_player_rule_equals_brute_force_shapley(op, scalar):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(5, 2, generator=generator) * 3 + 0.5
    refs = torch.rand(5, 3, 2, generator=generator) * 3 + 0.5
    model = TwoPlayers(op)
    c = pair_contributions(model, x, refs, method="deeplift_rescale")
    for i, k in itertools.product(range(5), range(3)):
        expected = brute_force_shapley(
            lambda p: scalar(p[0], p[1]), x[i].tolist(), refs[i, k].tolist()
        )
        # a * sigmoid(b): the product's split between a and sigmoid(b), then Rescale gives
        # all of Δsigmoid(b)'s share to b: the same two numbers as the brute force.
        assert c[i, k].tolist() == pytest.approx(expected, rel=1e-5, abs=1e-6)


class StackedLogSumExp(nn.Module):
    """logsumexp over three stacked inputs (ChromBPNet's count combination, with three)."""

    def forward(self, x):
        return torch.logsumexp(torch.stack([x[:, 0:1], x[:, 1:2], x[:, 2:3]]), dim=0)


def test_reduction_rule_equals_brute_force_shapley_over_three_players():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, generator=generator)
    refs = torch.randn(4, 2, 3, generator=generator)
    c = pair_contributions(StackedLogSumExp(), x, refs, method="deeplift_rescale")

    def f(p):
        return math.log(sum(math.exp(v) for v in p))

    for i, k in itertools.product(range(4), range(2)):
        expected = brute_force_shapley(f, x[i].tolist(), refs[i, k].tolist())
        assert c[i, k].tolist() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_rescale_multiplier_is_delta_ratio_and_gradient_in_the_limit():
    model = nn.Sequential(nn.Linear(1, 1), nn.Softplus())
    with torch.no_grad():
        model[0].weight.fill_(2.0)
        model[0].bias.fill_(0.5)
    x = torch.tensor([[1.0], [0.25]])
    refs = torch.tensor([[[-1.0]], [[0.25 + 2.4e-7]]])  # Δz = 4.8e-7, below the tolerance
    c = pair_contributions(model, x, refs, method="deeplift_rescale")
    z_x, z_r = 2.5, -1.5
    expected = 2.0 * (F.softplus(torch.tensor(z_x)) - F.softplus(torch.tensor(z_r))) / (z_x - z_r)
    assert c[0, 0, 0].item() == pytest.approx((expected * 2.0).item(), rel=1e-6)
    # |Δz| below the tolerance: the multiplier is the gradient at the midpoint, sigmoid(1.0).
    multiplier = c[1, 0, 0].item() / (x[1, 0] - refs[1, 0, 0]).item()
    assert multiplier == pytest.approx(2.0 * torch.sigmoid(torch.tensor(1.0)).item(), rel=1e-3)


def test_layer_norm_rule_keeps_summation_and_matches_the_composition_of_its_parts():
    """LayerNorm equals (z − μ)·rsqrt(v + ε): the fused rule must equal those ops scored one by
    one (a Shapley product, Rescale at rsqrt, a Shapley square)."""

    class Fused(nn.Module):
        def __init__(self, norm):
            super().__init__()
            self.norm = norm

        def forward(self, x):
            return self.norm(x).sum(-1, keepdim=True)

    class Written(nn.Module):
        def __init__(self, norm):
            super().__init__()
            self.norm = norm

        def forward(self, x):
            u = x - x.mean(-1, keepdim=True)
            v = (u * u).mean(-1, keepdim=True)
            y = u * torch.rsqrt(v + self.norm.eps)
            return (y * self.norm.weight + self.norm.bias).sum(-1, keepdim=True)

    torch.manual_seed(3)
    norm = nn.LayerNorm(5)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(5))
        norm.bias.copy_(torch.randn(5))
    x = torch.randn(3, 5)
    refs = torch.randn(3, 4, 5)
    fused = pair_contributions(Fused(norm), x, refs, method="deeplift_rescale")
    written = pair_contributions(Written(norm), x, refs, method="deeplift_rescale")
    with torch.no_grad():
        delta = Fused(norm)(x) - Fused(norm)(refs.reshape(12, 5)).reshape(3, 4, 1)[..., 0]
    torch.testing.assert_close(fused.sum(-1), delta.reshape(3, 4), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fused, written, atol=1e-5, rtol=1e-5)


def test_maxpool_routes_delta_to_the_argmax_hand_computed():
    """Windows of 2: Δy ≥ 0 goes to the input's argmax, Δy < 0 to the reference's."""
    model = nn.Sequential(nn.MaxPool1d(2), nn.Flatten(), nn.Linear(2, 1))
    with torch.no_grad():
        model[2].weight.fill_(1.0)
        model[2].bias.zero_()
    x = torch.tensor([[[3.0, 1.0, 0.0, 2.0]]])
    refs = torch.tensor([[[[0.0, 2.0, 5.0, 1.0]]]])
    c = pair_contributions(model, x, refs, method="deeplift_rescale")
    # window 1: y_x = 3 at 0, y_r = 2 at 1, Δy = 1 ≥ 0 -> to position 0: m = 1/(3 - 0).
    # window 2: y_x = 2 at 3, y_r = 5 at 2, Δy = -3 < 0 -> to position 2: m = -3/(0 - 5).
    expected = torch.tensor([1.0, 0.0, -3.0, 0.0])
    torch.testing.assert_close(c[0, 0, 0], expected)
