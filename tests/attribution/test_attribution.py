"""Tests of the DeepLIFT engine: the paper's analytic examples, exact identities and refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import liftgenomics.attribution.multipliers as multipliers
from liftgenomics.attribution import (
    METHODS,
    attribute,
    attribute_with_details,
    check_model,
    ism_deltas,
    pair_contributions,
)
from liftgenomics.errors import LiftGenomicsError
from tests.toy_models import (
    FunctionalReLU,
    Gated,
    MinModel,
    Residual,
    ReusedReLU,
    SigmoidCall,
    conv_net,
    random_one_hot,
    randomize_batchnorm,
    saturation_model,
    threshold_model,
)

DEEPLIFT = ["deeplift_rescale", "deeplift_revealcancel", "deeplift_genomics"]
SETTINGS = settings(max_examples=20, deadline=None)


def scalar(value: float) -> torch.Tensor:
    return torch.tensor([[value]])


def zero_reference(n: int = 1, k: int = 1, dims: int = 1) -> torch.Tensor:
    return torch.zeros(n, k, dims)


# --- the paper's examples ---------------------------------------------------------------


@pytest.mark.parametrize("x", [5.0, 10.5, 13.0])
def test_threshold_deeplift_gives_delta_where_gradient_jumps(x):
    model = threshold_model()
    reference = torch.full((1, 1, 1), 0.0)
    expected = max(x - 10.0, 0.0)  # ReLU(x - 10) - ReLU(0 - 10)
    for method in DEEPLIFT:
        c = pair_contributions(model, scalar(x), reference, method=method)
        assert c.item() == pytest.approx(expected, abs=1e-6)
    grad_input = pair_contributions(model, scalar(x), reference, method="grad_input")
    # gradient x input: 0 below the threshold, x above it (a jump of 10 at x = 10)
    assert grad_input.item() == pytest.approx(x if x > 10 else 0.0, abs=1e-6)


def test_saturation_gradient_zero_deeplift_one():
    model = saturation_model()
    x, reference = scalar(2.0), zero_reference()
    assert model(x).item() - model(reference[:, 0]).item() == pytest.approx(1.0)
    assert pair_contributions(model, x, reference, method="grad_input").item() == 0.0
    for method in DEEPLIFT:
        assert pair_contributions(model, x, reference, method=method).item() == pytest.approx(1.0)


@pytest.mark.parametrize(("i1", "i2"), [(3.0, 5.0), (5.0, 3.0), (2.0, 2.0), (4.0, 1.0)])
def test_min_network_rescale_gives_all_to_one_revealcancel_splits(i1, i2):
    model = MinModel()
    x, reference = torch.tensor([[i1, i2]]), torch.zeros(1, 1, 2)
    rescale = pair_contributions(model, x, reference, method="deeplift_rescale")[0, 0]
    reveal = pair_contributions(model, x, reference, method="deeplift_revealcancel")[0, 0]
    smallest = min(i1, i2)
    assert reveal.tolist() == pytest.approx([smallest / 2, smallest / 2], abs=1e-6)
    assert rescale.sum().item() == pytest.approx(smallest, abs=1e-6)
    if i1 != i2:
        assert sorted(rescale.tolist()) == pytest.approx([0.0, smallest], abs=1e-6)


# --- exact identities ---------------------------------------------------------------------


def test_rescale_on_one_hidden_layer_mlp_equals_hand_computed_multipliers():
    generator = torch.Generator().manual_seed(1)
    length = 6
    model = nn.Sequential(nn.Flatten(), nn.Linear(4 * length, 7), nn.ReLU(), nn.Linear(7, 2))
    x = random_one_hot(3, length, generator)
    refs = random_one_hot(6, length, generator).reshape(3, 2, 4, length)
    w1, b1 = model[1].weight.detach(), model[1].bias.detach()
    w2 = model[3].weight.detach()
    contributions = pair_contributions(model, x, refs, target=1, method="deeplift_rescale")
    for i in range(3):
        for k in range(2):
            s_x = w1 @ x[i].flatten() + b1
            s_r = w1 @ refs[i, k].flatten() + b1
            ratio = (s_x.clamp(min=0) - s_r.clamp(min=0)) / (s_x - s_r)
            multipliers = w2[1] @ torch.diag(ratio) @ w1
            expected = (x[i] - refs[i, k]).flatten() * multipliers
            assert torch.allclose(contributions[i, k].flatten(), expected, atol=1e-5)


def linear_model(length: int) -> nn.Module:
    """A model with no nonlinearity: every method must agree."""
    return nn.Sequential(
        nn.Conv1d(4, 3, 3), nn.AvgPool1d(2), nn.Flatten(), nn.Linear(3 * ((length - 2) // 2), 2)
    )


def test_linear_model_all_methods_agree_and_hypothetical_is_exact_change(device):
    generator = torch.Generator().manual_seed(2)
    length = 12
    model = linear_model(length)
    x = random_one_hot(4, length, generator)
    refs = random_one_hot(12, length, generator).reshape(4, 3, 4, length)
    kwargs = {"target": 1, "device": device, "hypothetical": True}
    with_references = [*DEEPLIFT, "integrated_gradients", "grad_input_delta"]
    results = {m: attribute(model, x, refs, method=m, **kwargs) for m in with_references}
    first = results["deeplift_rescale"]
    for method, scores in results.items():
        assert torch.allclose(scores, first, atol=1e-5), method
    # The paper's gradient x input has no reference: its hypothetical scores are the gradient,
    # here f(e_b at p) - f(0 at p) with every other position fixed, for every sequence alike.
    probe = torch.zeros(1, 4, length)
    with torch.no_grad():
        empty = model.cpu()(probe)[0, 1]
        for method in ("grad_input", "guided_backprop"):
            scores = attribute(model, x, None, method=method, **kwargs).cpu()
            for position in (0, 5, length - 1):
                for base in range(4):
                    one = probe.clone()
                    one[0, base, position] = 1
                    expected = (model(one)[0, 1] - empty).item()
                    assert scores[:, base, position].tolist() == pytest.approx(
                        [expected] * 4, abs=1e-5
                    ), method
    # hypothetical[b, p] = mean over references of f(ref with base b at p) - f(ref)
    model = model.cpu()
    with torch.no_grad():
        for i in range(2):
            for position in (0, 5, length - 1):
                for base in range(4):
                    changed = refs[i].clone()
                    changed[:, :, position] = 0
                    changed[:, base, position] = 1
                    expected = (model(changed)[:, 1] - model(refs[i])[:, 1]).mean()
                    assert first[i, base, position].item() == pytest.approx(
                        expected.item(), abs=1e-5
                    )


def test_ism_on_linear_model_equals_weight_differences():
    generator = torch.Generator().manual_seed(3)
    length = 9
    model = nn.Sequential(nn.Flatten(), nn.Linear(4 * length, 2)).eval()
    x = random_one_hot(3, length, generator)
    weights = model[1].weight.detach()[0].reshape(4, length)
    deltas, _ = ism_deltas(model, x, [0])
    present = weights.unsqueeze(0).mul(x).sum(dim=1, keepdim=True)  # w at the base present
    assert torch.allclose(deltas[:, 0], weights.unsqueeze(0) - present, atol=1e-5)


def test_integrated_gradients_converges_to_completeness():
    generator = torch.Generator().manual_seed(4)
    torch.manual_seed(4)
    model = conv_net(activation=nn.Softplus).eval()
    x = random_one_hot(3, 20, generator)
    refs = random_one_hot(6, 20, generator).reshape(3, 2, 4, 20)
    with torch.no_grad():
        delta = model(x)[:, 0].unsqueeze(1) - model(refs.reshape(6, 4, 20))[:, 0].reshape(3, 2)

    def error(steps: int) -> float:
        c = pair_contributions(model, x, refs, method="integrated_gradients", steps=steps)
        return (c.sum(dim=(2, 3)) - delta).abs().max().item()

    coarse, fine = error(1), error(200)
    assert fine < 1e-4 * max(1.0, delta.abs().max().item()) or fine < coarse / 100
    assert fine < coarse


def test_guided_backprop_on_mlp_matches_hand_computation():
    generator = torch.Generator().manual_seed(5)
    torch.manual_seed(5)
    length = 5
    model = nn.Sequential(nn.Flatten(), nn.Linear(4 * length, 6), nn.ReLU(), nn.Linear(6, 1))
    x = random_one_hot(1, length, generator)
    refs = torch.zeros(1, 1, 4, length)
    w1, b1, w2 = model[1].weight.detach(), model[1].bias.detach(), model[3].weight.detach()
    hidden = w1 @ x.flatten() + b1
    guided = w1.T @ ((hidden > 0).float() * w2[0].clamp(min=0))
    c = pair_contributions(model, x, refs, method="guided_backprop")
    assert torch.allclose(c.flatten(), x.flatten() * guided, atol=1e-6)


# --- properties over random models ----------------------------------------------------------


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    pool=st.sampled_from(["avg", "max"]),
    activation=st.sampled_from(
        [nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.Softplus]
    ),
    method=st.sampled_from(DEEPLIFT),
    batchnorm=st.booleans(),
)
def test_summation_to_delta_on_random_models(seed, pool, activation, method, batchnorm):
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = conv_net(pool=pool, activation=activation, batchnorm=batchnorm)
    randomize_batchnorm(model, generator)
    model.eval()
    x = random_one_hot(3, 24, generator)
    refs = random_one_hot(9, 24, generator).reshape(3, 3, 4, 24)
    c = pair_contributions(model, x, refs, target=2, method=method)
    with torch.no_grad():
        delta = model(x)[:, 2].unsqueeze(1) - model(refs.reshape(9, 4, 24))[:, 2].reshape(3, 3)
    assert torch.allclose(c.sum(dim=(2, 3)), delta, atol=1e-5, rtol=1e-4)
    # The projected scores keep the mean delta (one-hot inputs, no N).
    scores = attribute(model, x, refs, target=2, method=method)
    assert torch.allclose(scores.sum(dim=(1, 2)), delta.mean(dim=1), atol=1e-5, rtol=1e-4)
    hyp = attribute(model, x, refs, target=2, method=method, hypothetical=True)
    assert torch.allclose(hyp * x, scores, atol=1e-6)


@SETTINGS
@given(seed=st.integers(0, 2**16))
def test_revealcancel_through_batchnorm_equals_folded_conv(seed):
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    with_norm = conv_net(batchnorm=True)
    randomize_batchnorm(with_norm, generator)
    with_norm.eval()
    conv, norm = with_norm[0], with_norm[1]
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    folded = nn.Conv1d(4, conv.out_channels, conv.kernel_size[0])
    with torch.no_grad():
        folded.weight.copy_(conv.weight * scale[:, None, None])
        folded.bias.copy_((conv.bias - norm.running_mean) * scale + norm.bias)
    without = nn.Sequential(folded, *list(with_norm)[2:]).eval()
    x = random_one_hot(2, 20, generator)
    refs = random_one_hot(4, 20, generator).reshape(2, 2, 4, 20)
    a = attribute(with_norm, x, refs, method="deeplift_revealcancel", hypothetical=True)
    b = attribute(without, x, refs, method="deeplift_revealcancel", hypothetical=True)
    assert torch.allclose(a, b, atol=1e-5)


def test_residual_model_scores_with_summation_to_delta():
    generator = torch.Generator().manual_seed(6)
    torch.manual_seed(6)
    model = Residual()
    randomize_batchnorm(model, generator)
    x = random_one_hot(3, 16, generator)
    refs = random_one_hot(6, 16, generator).reshape(3, 2, 4, 16)
    for method in ("deeplift_rescale", "deeplift_genomics"):
        result = attribute_with_details(model, x, refs, [0, 1, 2], method=method)
        assert result.max_error.max().item() < 1e-5
    # RevealCancel everywhere needs a weighted layer in front of every nonlinearity.
    check_model(model, "revealcancel")


# --- batching, targets, devices ---------------------------------------------------------------


def test_batching_targets_and_centering_are_consistent(device):
    generator = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    model = conv_net(pool="max")
    x = random_one_hot(7, 24, generator)
    refs = random_one_hot(21, 24, generator).reshape(7, 3, 4, 24)
    for method in METHODS:
        together = attribute(model, x, refs, [0, 1, 2], method=method, device=device)
        split = attribute(model, x, refs, [0, 1, 2], method=method, batch_size=2, device=device)
        assert torch.allclose(together, split, atol=1e-5), method
        single = attribute(model, x, refs, 1, method=method, device=device)
        assert torch.allclose(together[:, 1], single, atol=1e-5), method
        if method == "guided_backprop":
            continue  # clamping makes guided backprop nonlinear in the target
        centred = attribute(
            model, x, refs, 1, method=method, mean_center_logits=True, device=device
        )
        assert torch.allclose(centred, single - together.mean(dim=1), atol=1e-5), method


def test_shared_reference_shapes_broadcast():
    generator = torch.Generator().manual_seed(8)
    model = conv_net()
    x = random_one_hot(4, 20, generator)
    flat = torch.tensor([0.3, 0.2, 0.2, 0.3]).reshape(4, 1).expand(4, 20)
    a = attribute(model, x, flat, method="deeplift_genomics")
    b = attribute(model, x, flat.expand(4, 1, 4, 20), method="deeplift_genomics")
    c = attribute(model, x, flat.unsqueeze(0), method="deeplift_genomics")
    assert torch.equal(a, b) and torch.equal(a, c)


def test_model_state_is_restored():
    model = conv_net().train()
    generator = torch.Generator().manual_seed(9)
    attribute(model, random_one_hot(2, 20, generator), torch.zeros(4, 20), method="grad_input")
    assert model.training
    assert all(p.requires_grad for p in model.parameters())


def test_ism_scores_are_centred_deltas():
    generator = torch.Generator().manual_seed(10)
    model = conv_net().eval()
    x = random_one_hot(2, 15, generator)
    hyp = attribute(model, x, None, 0, method="ism", hypothetical=True)
    deltas, _ = ism_deltas(model, x, [0])
    assert torch.allclose(hyp, deltas[:, 0] - deltas[:, 0].mean(dim=1, keepdim=True), atol=1e-6)
    assert torch.allclose((deltas[:, 0] * x).abs().sum(), torch.tensor(0.0))


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (nn.Sequential(nn.Flatten(), nn.Linear(40, 2), nn.Sigmoid()), "ends in sigmoid"),
        (
            nn.Sequential(nn.Flatten(), nn.Linear(40, 2), nn.Sigmoid(), nn.Flatten()),
            "ends in sigmoid",
        ),
        (nn.Sequential(nn.Flatten(), nn.Linear(40, 2), nn.Softmax(dim=1)), "softmax"),
        (nn.Sequential(nn.Conv1d(4, 2, 3), nn.LSTM(8, 2, batch_first=True)), "recurrent"),
    ],
)
def test_unsupported_models_are_refused(model, message):
    generator = torch.Generator().manual_seed(11)
    x = random_one_hot(2, 10, generator)
    recurrent = isinstance(model[-1], nn.LSTM)
    output, target = (0, "sum") if recurrent else (None, 0)
    for method in ("deeplift_rescale", "deeplift_genomics"):
        with pytest.raises(LiftGenomicsError, match=message):
            attribute(model, x, torch.zeros(4, 10), target, method=method, output=output)


@pytest.mark.parametrize("model", [FunctionalReLU(), SigmoidCall(), ReusedReLU(), Gated()])
def test_functional_reused_and_gated_models_now_score_exactly(model):
    """What the fx-based check refused: F.relu, torch.sigmoid, one ReLU twice, a gate."""
    generator = torch.Generator().manual_seed(11)
    torch.manual_seed(11)
    x = random_one_hot(3, 12, generator)
    refs = random_one_hot(6, 12, generator).reshape(3, 2, 4, 12)
    for method in ("deeplift_rescale", "deeplift_genomics", "deeplift_revealcancel"):
        if isinstance(model, Gated) and method == "deeplift_revealcancel":
            continue  # the gate's product is not fed by a weighted layer alone
        c = pair_contributions(model, x, refs, target=1, method=method)
        with torch.no_grad():
            delta = model(x)[:, 1:2] - model(refs.reshape(6, 4, 12))[:, 1].reshape(3, 2)
        assert torch.allclose(c.sum(dim=(2, 3)), delta, atol=1e-5), method


def test_refusal_names_the_source_line():
    class SoftmaxInside(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(4, 2, 3)

        def forward(self, x):
            return torch.softmax(self.conv(x), dim=-1).sum(-1)

    line = r"test_attribution\.py:\d+ \(return torch\.softmax"
    with pytest.raises(LiftGenomicsError, match=line):
        check_model(SoftmaxInside(), length=10)


def test_revealcancel_refuses_a_nonlinearity_without_weighted_input():
    model = nn.Sequential(
        nn.Conv1d(4, 2, 3), nn.AvgPool1d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 1)
    )
    with pytest.raises(LiftGenomicsError, match="RevealCancel needs"):
        check_model(model, "revealcancel", length=10)
    check_model(model, "genomics", length=10)  # Rescale there is fine


def test_summation_violation_raises_or_warns(monkeypatch):
    generator = torch.Generator().manual_seed(12)
    model = conv_net()
    x = random_one_hot(3, 20, generator)
    refs = random_one_hot(6, 20, generator).reshape(3, 2, 4, 20)
    real = multipliers.rescale_multiplier

    def broken(*args):  # a rule bug: multipliers 10% too large
        return real(*args) * 1.1

    monkeypatch.setattr(multipliers, "rescale_multiplier", broken)
    with pytest.raises(LiftGenomicsError, match=r"summation-to-delta violated: sequence \d+"):
        attribute(model, x, refs, method="deeplift_rescale")
    with pytest.warns(UserWarning, match="summation-to-delta"):
        attribute(model, x, refs, method="deeplift_rescale", on_violation="warn")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "shap"}, "unknown attribution method"),
        ({"target": 5}, "out of range"),
        ({"references": torch.zeros(3, 4, 11)}, "do not fit"),
        ({"X": np.zeros((2, 5, 10), dtype=np.float32)}, "shape \\(N, 4, L\\)"),
        ({"X": np.full((2, 4, 10), 0.5, dtype=np.float32)}, "one-hot"),
        ({"device": "cuda:0" if not torch.cuda.is_available() else "tpu"}, "device"),
        ({"batch_size": -1}, "batch size must be >= 1"),
        ({"batch_size": 0}, "batch size must be >= 1"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    generator = torch.Generator().manual_seed(13)
    arguments = {
        "model": conv_net(),
        "X": random_one_hot(2, 10, generator),
        "references": torch.zeros(4, 10),
    }
    arguments.update(kwargs)
    with pytest.raises(LiftGenomicsError, match=message):
        attribute(**arguments)


def test_reference_specs_do_not_depend_on_batching_or_chunking():
    generator = torch.Generator().manual_seed(14)
    torch.manual_seed(14)
    model = conv_net()
    x = random_one_hot(6, 30, generator)
    for spec in ("dinuc:3", "gc:2", "flat", "zero"):
        whole = attribute(model, x, spec, [0, 2], method="deeplift_rescale", seed=5)
        batched = attribute(model, x, spec, [0, 2], method="deeplift_rescale", seed=5, batch_size=4)
        tail = attribute_with_details(
            model, x[4:], spec, [0, 2], method="deeplift_rescale", seed=5, start_index=4
        )
        assert torch.equal(whole, batched), spec
        assert torch.equal(whole[4:], tail.scores), spec
    seed5 = attribute(model, x, "dinuc:3", 0, method="deeplift_rescale", seed=5)
    seed6 = attribute(model, x, "dinuc:3", 0, method="deeplift_rescale", seed=6)
    assert not torch.allclose(seed5, seed6)
