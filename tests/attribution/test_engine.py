"""The models genomics uses, scored exactly: BPNet, ChromBPNet, Basset, gated, exp, in-place
residual, normalised; and the rivals on a model DeepLIFT refuses, against brute force."""

from __future__ import annotations

import pytest
import torch

from liftgenomics.attribution import attribute, attribute_with_details
from liftgenomics.errors import LiftGenomicsError
from tests.toy_models import (
    Attention,
    ExpCNN,
    GatedCNN,
    InplaceResidual,
    NormCNN,
    TinyBPNet,
    TinyChromBPNet,
    basset,
    random_one_hot,
    randomize_batchnorm,
)

LENGTH = 40
CASES = {
    "bpnet_counts": (TinyBPNet, {"output": 1, "target": 0}),
    "bpnet_profile": (TinyBPNet, {"output": 0, "target": "profile"}),
    "bpnet_control": (TinyBPNet, {"output": 1, "target": 0, "control": True}),
    "chrombpnet_counts": (TinyChromBPNet, {"output": 1, "target": 0}),
    "chrombpnet_profile": (TinyChromBPNet, {"output": 0, "target": "profile"}),
    "basset": (basset, {"target": [0, 2]}),
    "gated": (GatedCNN, {"target": 1}),
    "exp": (ExpCNN, {"target": 0}),
    "inplace_residual": (InplaceResidual, {"target": 0}),
    "norms": (NormCNN, {"target": 1}),
}


def build(name: str):
    torch.manual_seed(0)
    factory, settings = CASES[name]
    model = factory()
    randomize_batchnorm(model, torch.Generator().manual_seed(1))
    settings = dict(settings)
    forward_args = ()
    if settings.pop("control", False):
        forward_args = (torch.rand(4, 2, LENGTH, generator=torch.Generator().manual_seed(2)),)
    return model.eval(), settings, forward_args


def deltas(model, x, refs, settings, forward_args) -> torch.Tensor:
    """f(x) − f(ref) per pair, computed directly (an oracle for summation-to-delta)."""
    from liftgenomics.attribution import outputs

    n, k = refs.shape[:2]
    target = outputs.parse_target(settings.get("target", 0) if not isinstance(
        settings.get("target"), list) else settings["target"][0])
    repeated = tuple(a.repeat_interleave(k, 0) for a in forward_args)
    with torch.no_grad():
        out_x = outputs.select_output(model(x, *forward_args), settings.get("output"))
        out_r = outputs.select_output(
            model(refs.reshape(n * k, 4, LENGTH), *repeated), settings.get("output")
        )
        weights = outputs.profile_weights(out_x)
        t_x = outputs.target_value(out_x, target, weights=weights)
        t_r = outputs.target_value(out_r, target, weights=weights.repeat_interleave(k, 0))
    return t_x.unsqueeze(1) - t_r.reshape(n, k)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("method", ["deeplift_rescale", "deeplift_genomics"])
def test_field_models_score_with_summation_to_delta(name, method):
    model, settings, forward_args = build(name)
    generator = torch.Generator().manual_seed(3)
    x = random_one_hot(4, LENGTH, generator)
    refs = random_one_hot(12, LENGTH, generator).reshape(4, 3, 4, LENGTH)
    result = attribute_with_details(
        model, x, refs, settings.get("target", 0), method=method,
        output=settings.get("output"), forward_args=forward_args,
    )  # fmt: skip
    assert float(result.max_error.max()) < 1e-4  # also checked per pair inside (raises)
    # The mean over references of the pair sums is the mean Δt (one-hot inputs, no N).
    first = result.scores[:, 0]
    expected = deltas(model, x, refs, settings, forward_args).mean(dim=1)
    torch.testing.assert_close(first.sum(dim=(1, 2)), expected, atol=2e-5, rtol=1e-4)


def test_profile_target_weights_are_the_inputs_softmax_hand_computed():
    model, settings, _ = build("bpnet_profile")
    x = random_one_hot(2, LENGTH, torch.Generator().manual_seed(4))
    result = attribute_with_details(model, x, "flat", "profile", method="deeplift_rescale",
                                    output=0)  # fmt: skip
    with torch.no_grad():
        logits = model(x)[0].reshape(2, -1)
        centred = logits - logits.mean(1, keepdim=True)
        expected = (torch.softmax(centred, 1) * centred).sum(1)
    torch.testing.assert_close(result.predictions[:, 0], expected)


def test_batching_and_extra_inputs_do_not_change_scores():
    model, settings, forward_args = build("bpnet_control")
    x = random_one_hot(4, LENGTH, torch.Generator().manual_seed(5))
    whole = attribute(model, x, "dinuc:3", 0, method="deeplift_rescale", output=1,
                      forward_args=forward_args, seed=3)  # fmt: skip
    split = attribute(model, x, "dinuc:3", 0, method="deeplift_rescale", output=1,
                      forward_args=forward_args, seed=3, batch_size=1)  # fmt: skip
    torch.testing.assert_close(whole, split, atol=1e-6, rtol=1e-5)


def test_attention_is_refused_for_deeplift_naming_the_line_and_the_rivals():
    x = random_one_hot(2, 12, torch.Generator().manual_seed(6))
    with pytest.raises(LiftGenomicsError, match=r"toy_models\.py:\d+ .*scores = self\.q.*ism"):
        attribute(Attention(), x, "dinuc:2", method="deeplift_genomics")


def test_rivals_on_attention_against_finite_differences_and_brute_force():
    torch.manual_seed(7)
    model = Attention().double().eval()
    x = random_one_hot(2, 12, torch.Generator().manual_seed(7)).double()
    # gradient × input's hypothetical scores are the gradient: central differences.
    grad = attribute(model, x, None, 1, method="grad_input", hypothetical=True)
    step = 1e-6
    for sequence, channel, position in [(0, 0, 0), (0, 2, 5), (1, 3, 11), (1, 1, 6)]:
        plus, minus = x.clone(), x.clone()
        plus[sequence, channel, position] += step
        minus[sequence, channel, position] -= step
        with torch.no_grad():
            numeric = (model(plus)[sequence, 1] - model(minus)[sequence, 1]) / (2 * step)
        assert grad[sequence, channel, position].item() == pytest.approx(numeric.item(), rel=1e-4,
                                                                        abs=1e-6)
    # ISM: every single-base substitution, evaluated one by one.
    ism = attribute(model, x, None, 1, method="ism", hypothetical=True)
    with torch.no_grad():
        base = model(x)[:, 1]
        for position in (0, 7):
            changes = []
            for letter in range(4):
                mutant = x.clone()
                mutant[:, :, position] = 0
                mutant[:, letter, position] = 1
                changes.append(model(mutant)[:, 1] - base)
            changes = torch.stack(changes, dim=1)
            expected = changes - changes.mean(dim=1, keepdim=True)
            torch.testing.assert_close(ism[:, :, position].double(), expected, atol=1e-5,
                                       rtol=1e-5)  # fmt: skip
    # Integrated gradients approach completeness as the steps grow.
    refs = random_one_hot(2, 12, torch.Generator().manual_seed(8)).double().unsqueeze(1)
    scores = attribute(model, x, refs, 1, method="integrated_gradients", steps=200)
    with torch.no_grad():
        delta = model(x)[:, 1] - model(refs[:, 0])[:, 1]
    torch.testing.assert_close(scores.sum(dim=(1, 2)).double(), delta, atol=1e-3, rtol=1e-3)


def test_float64_and_bfloat16_models_pass_the_summation_check():
    x = random_one_hot(2, LENGTH, torch.Generator().manual_seed(9))
    for dtype in (torch.float64, torch.bfloat16):
        torch.manual_seed(9)
        model = InplaceResidual().to(dtype).eval()
        result = attribute_with_details(model, x, "dinuc:2", method="deeplift_rescale")
        assert torch.isfinite(result.scores).all()


def test_model_goes_back_where_it_was_with_its_own_training_flags():
    model, _, _ = build("basset")
    model.train()
    model[1].eval()  # one BatchNorm frozen by its owner
    x = random_one_hot(2, LENGTH, torch.Generator().manual_seed(10))
    attribute(model, x, "flat", method="deeplift_rescale")
    assert model.training and not model[1].training and model[5].training
    assert all(p.requires_grad for p in model.parameters())
    assert next(model.parameters()).device.type == "cpu"
