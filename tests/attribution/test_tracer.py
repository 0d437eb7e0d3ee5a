"""The rule plan: every form of a nonlinearity reached, genomics resolution, refusals."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from liftgenomics.attribution import (
    attribute,
    check_model,
    ops,
    pair_contributions,
    register_elementwise,
)
from liftgenomics.errors import LiftGenomicsError
from tests.toy_models import random_one_hot


class FourWays(nn.Module):
    """The same conv net with its ReLUs written as modules, functions, inline modules or one
    module reused."""

    def __init__(self, form: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.form = form
        self.conv1 = nn.Conv1d(4, 5, 3)
        self.conv2 = nn.Conv1d(5, 5, 3)
        self.head = nn.Linear(5, 2)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()

    def act(self, h: torch.Tensor, which: int) -> torch.Tensor:
        if self.form == "module":
            return (self.relu1, self.relu2)[which](h)
        if self.form == "function":
            return F.relu(h) if which == 0 else torch.relu(h)
        if self.form == "inline":
            return nn.ReLU()(h)
        return self.relu1(h)  # "reused"

    def forward(self, x):
        h = self.act(self.conv1(x), 0)
        h = self.act(self.conv2(h), 1)
        return self.head(h.mean(-1))


@pytest.mark.parametrize("method", ["deeplift_rescale", "deeplift_genomics", "guided_backprop"])
def test_module_function_inline_and_reused_forms_score_bit_identically(method):
    generator = torch.Generator().manual_seed(1)
    x = random_one_hot(3, 16, generator)
    refs = random_one_hot(6, 16, generator).reshape(3, 2, 4, 16)
    scores = [
        attribute(FourWays(form), x, refs, method=method, hypothetical=True)
        for form in ("module", "function", "inline", "reused")
    ]
    for other in scores[1:]:
        assert torch.equal(scores[0], other)


def rules_of(plan) -> list[str]:
    return [step.rule for step in plan.steps if step.kind == "elementwise"]


@pytest.mark.parametrize(
    "middle",
    [lambda: nn.Dropout(0.5), lambda: nn.BatchNorm1d(6), lambda: nn.Identity()],
    ids=["dropout", "batchnorm", "identity"],
)
def test_genomics_default_resolves_revealcancel_through_no_op_layers(middle):
    model = nn.Sequential(
        nn.Conv1d(4, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(24, 6), middle(), nn.ReLU(),
        nn.Linear(6, 1),
    )  # fmt: skip
    plan = check_model(model, "genomics", length=10)
    assert rules_of(plan) == ["rescale", "revealcancel"]
    x = random_one_hot(2, 10, torch.Generator().manual_seed(2))
    attribute(model, x, "dinuc:3", method="deeplift_genomics")  # summation checked


def test_genomics_default_refuses_a_dense_layer_it_cannot_split():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(8, 4)
            self.head = nn.Linear(4, 1)

        def forward(self, x):
            z = self.dense(x.flatten(1))
            return self.head(torch.relu(z) + z)  # the dense output also feeds the sum

    with pytest.raises(LiftGenomicsError, match="genomics default wants RevealCancel"):
        check_model(Shared(), "genomics", length=2)
    check_model(Shared(), "rescale", length=2)


def test_dropout_is_accepted_only_when_inert():
    class Functional(nn.Module):
        def __init__(self, training_flag):
            super().__init__()
            self.dense = nn.Linear(8, 1)
            self.flag = training_flag

        def forward(self, x):
            h = x.flatten(1)
            h = F.dropout(h, 0.2) if self.flag is None else F.dropout(h, 0.2, self.flag)
            return self.dense(h)

    x = random_one_hot(2, 2, torch.Generator().manual_seed(3))
    for method in ("deeplift_rescale", "guided_backprop"):
        with pytest.raises(LiftGenomicsError, match="training=True drops units"):
            attribute(Functional(None), x, "flat", method=method)
    attribute(Functional(False), x, "flat", method="deeplift_rescale")


def test_batchnorm_without_running_statistics_is_refused_by_the_check():
    model = nn.Sequential(
        nn.Conv1d(4, 3, 3), nn.BatchNorm1d(3, track_running_stats=False), nn.ReLU(),
        nn.Flatten(), nn.Linear(24, 1),
    )  # fmt: skip
    x = random_one_hot(2, 10, torch.Generator().manual_seed(4))
    for method in ("deeplift_rescale", "deeplift_revealcancel"):
        with pytest.raises(LiftGenomicsError, match="track_running_stats=False"):
            attribute(model, x, "flat", method=method)


def test_branch_on_an_optional_input_and_kwargs_wrappers_are_followed():
    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 3, 3)
            self.head = nn.Linear(3, 1)

        def forward(self, x, extra=None):
            h = torch.relu(self.conv(x))
            if extra is not None:
                h = h + torch.log(extra + 1)  # constant: never sees the sequence
            return self.head(h.mean(-1))

    class Wrapper(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *args, **kwargs):
            return self.model(*args, **kwargs)

    x = random_one_hot(3, 12, torch.Generator().manual_seed(5))
    model = Wrapper(Inner())
    plain = attribute(model, x, "dinuc:2", method="deeplift_rescale")
    extra = torch.rand(3, 3, 10)
    shifted = attribute(model, x, "dinuc:2", method="deeplift_rescale", forward_args=(extra,))
    assert plain.shape == shifted.shape == (3, 4, 12)


def test_data_dependent_paths_are_refused():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(8, 1)

        def forward(self, x):
            h = self.dense(x.flatten(1))
            if bool(h.sum() > 0):
                return torch.tanh(h) * 2
            return h

    x = random_one_hot(4, 2, torch.Generator().manual_seed(6))
    model = Branchy()
    with torch.no_grad():
        model.dense.weight.fill_(1.0)
        model.dense.bias.fill_(-1.5)
    attribute(model, x, "flat", method="deeplift_rescale")  # h > 0 for both: one path
    with pytest.raises(LiftGenomicsError, match="depends on the data"):
        attribute(model, x, "zero", method="deeplift_rescale")  # h < 0 at the reference


def test_register_elementwise_function_and_module():
    class Erfc(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(8, 3)
            self.head = nn.Linear(3, 1)

        def forward(self, x):
            return self.head(torch.special.erfc(self.dense(x.flatten(1))))

    class Swish(nn.Module):
        def forward(self, z):
            return z * torch.sigmoid(z)

    x = random_one_hot(2, 2, torch.Generator().manual_seed(7))
    with pytest.raises(LiftGenomicsError, match="erfc"):
        attribute(Erfc(), x, "flat", method="deeplift_rescale")
    register_elementwise(torch.special.erfc)
    try:
        attribute(Erfc(), x, "flat", method="deeplift_rescale")
    finally:
        ops.ELEMENTWISE.pop(torch.special.erfc)

    # A registered module is one elementwise op: Rescale gives Δy/Δz at its output, where the
    # unregistered z * sigmoid(z) is a product scored by the Shapley split.
    model = nn.Sequential(nn.Linear(1, 1), Swish())
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.zero_()
    from liftgenomics.attribution import pair_contributions

    register_elementwise(Swish)
    try:
        plan = check_model(model, "rescale", example=torch.ones(1, 1))
        assert [s.name for s in plan.steps if s.rule == "rescale"] == ["Swish"]
        c = pair_contributions(model, torch.tensor([[2.0]]), torch.zeros(1, 1, 1))
    finally:
        ops.MODULE_RULES.pop(Swish)
    assert c.item() == pytest.approx(2.0 * torch.sigmoid(torch.tensor(2.0)).item(), rel=1e-6)


def test_output_selection_errors_name_what_the_model_returned():
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(8, 2)

        def forward(self, x):
            h = self.dense(x.flatten(1))
            return {"profile": h.unsqueeze(1).expand(-1, 2, -1), "counts": h[:, :1]}

    x = random_one_hot(2, 2, torch.Generator().manual_seed(8))
    with pytest.raises(LiftGenomicsError, match=r"returned a dict with keys 'profile'.*output="):
        attribute(Pair(), x, "flat", method="deeplift_rescale")
    with pytest.raises(LiftGenomicsError, match="profile output takes target"):
        attribute(Pair(), x, "flat", method="deeplift_rescale", output="profile")
    with pytest.raises(LiftGenomicsError, match="'shape' not found"):
        attribute(Pair(), x, "flat", method="deeplift_rescale", output="shape")
    attribute(Pair(), x, "flat", "profile", method="deeplift_rescale", output="profile")
    attribute(Pair(), x, "flat", 0, method="deeplift_rescale", output="counts")


# --- found by review -------------------------------------------------------------------------


def small_conv_model(body):
    """conv -> body -> flatten -> dense, with the body a lambda of (module, h)."""

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = nn.Conv1d(4, 4, 3, padding=1)
            self.prelu = nn.PReLU(4)
            self.register_buffer("mask", torch.rand(1, 4, 12) > 0.5)
            self.register_buffer("floor", torch.full((1, 4, 1), 0.1))
            self.head = nn.LazyLinear(2)

        def forward(self, x):
            h = body(self, self.conv(x))
            return self.head(h.reshape(h.shape[0], -1))

    model = Model()
    model(torch.zeros(2, 4, 12))  # materialise the lazy layer
    return model.eval()


BODIES = {
    "prelu": lambda s, h: s.prelu(h),
    "upsample": lambda s, h: torch.relu(F.interpolate(h, scale_factor=2, mode="linear")),
    "global_max": lambda s, h: torch.relu(h).max(dim=-1).values,
    "torch_max": lambda s, h: torch.max(torch.relu(h), -1, keepdim=True)[0],
    "adaptive_max": lambda s, h: F.adaptive_max_pool1d(torch.relu(h), 1),
    "amax": lambda s, h: torch.relu(h).amax(dim=-1),
    "logaddexp": lambda s, h: torch.logaddexp(h[:, :2], h[:, 2:]),
    "glu": lambda s, h: F.glu(h, dim=1),
    "masked_fill": lambda s, h: torch.relu(h.masked_fill(s.mask, 0.0)),
    "maximum_constant": lambda s, h: torch.maximum(h, s.floor),
    "view_write": lambda s, h: _view_write(h),
}


def _view_write(h):
    y = torch.relu(h)
    h[:, 0] *= 2.0  # writes into the ReLU's input after the ReLU stored it
    return y + h


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("method", ["deeplift_rescale", "deeplift_genomics"])
def test_more_forms_score_with_summation_to_delta(body, method):
    x = random_one_hot(3, 12, torch.Generator().manual_seed(9))
    refs = random_one_hot(6, 12, torch.Generator().manual_seed(10)).reshape(3, 2, 4, 12)
    model = small_conv_model(BODIES[body])
    c = pair_contributions(model, x, refs, target=1, method=method)
    with torch.no_grad():
        delta = model(x.clone())[:, 1:2] - model(refs.reshape(6, 4, 12))[:, 1].reshape(3, 2)
    torch.testing.assert_close(c.sum(dim=(2, 3)), delta, atol=1e-5, rtol=1e-4)


def test_registered_module_gets_revealcancel_where_the_plan_says():
    class ByHand(nn.Module):
        def forward(self, z):
            return torch.where(z > 0, z, torch.zeros_like(z))

    def net(act):
        torch.manual_seed(2)
        layer = nn.Linear(4, 1)
        with torch.no_grad():
            layer.weight.copy_(torch.tensor([[1.0, -2.0, -3.0, 4.0]]))
            layer.bias.fill_(1.0)
        return nn.Sequential(layer, act, nn.Linear(1, 1))

    x = torch.tensor([[-1.0, -1.0, 1.0, 1.0]])
    register_elementwise(ByHand)
    try:
        mine = pair_contributions(
            net(ByHand()), x, torch.zeros(1, 1, 4), method="deeplift_revealcancel"
        )
    finally:
        ops.MODULE_RULES.pop(ByHand)
    relu = pair_contributions(
        net(nn.ReLU()), x, torch.zeros(1, 1, 4), method="deeplift_revealcancel"
    )
    torch.testing.assert_close(mine, relu)


def test_guided_backprop_changes_only_relu_like_ops():
    class Exp(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 1, 3, padding=1)

        def forward(self, x):
            return -torch.exp(self.conv(x)).sum((1, 2)).unsqueeze(1)

    torch.manual_seed(0)
    model = Exp().eval()
    x = random_one_hot(2, 10, torch.Generator().manual_seed(11))
    guided = attribute(model, x, None, method="guided_backprop")
    plain = attribute(model, x, None, method="grad_input")
    assert torch.equal(guided, plain) and plain.abs().max() > 0


def test_genomics_default_refuses_a_dense_layer_behind_a_non_foldable_op():
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(8, 4), nn.LayerNorm(4), nn.ReLU(), nn.Linear(4, 1)
    )
    with pytest.raises(LiftGenomicsError, match="genomics default wants RevealCancel"):
        check_model(model, "genomics", length=2)


def test_detached_weights_are_taken_at_the_input_and_said():
    class ProfileLike(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.conv = nn.Conv1d(4, 2, 3, padding=1)

        def forward(self, x):
            logits = self.conv(x).flatten(1)
            logits = logits - logits.mean(-1, keepdim=True)
            return (torch.softmax(logits, -1).detach() * logits).sum(-1, keepdim=True)

    model = ProfileLike().eval()
    x = random_one_hot(2, 10, torch.Generator().manual_seed(12))
    with pytest.warns(UserWarning, match="taken at the real input"):
        ours = attribute(model, x, "dinuc:3", method="deeplift_rescale", seed=1)
    # The same target through our own "profile" reduction of the raw logits.
    class Raw(nn.Module):
        def __init__(self, conv):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return self.conv(x)

    builtin = attribute(Raw(model.conv), x, "dinuc:3", "profile", method="deeplift_rescale", seed=1)
    torch.testing.assert_close(ours, builtin, atol=1e-6, rtol=1e-5)


def test_a_model_writing_into_its_input_leaves_the_callers_array_alone():
    class Doubles(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(8, 1)

        def forward(self, x):
            x.mul_(2)
            return self.dense(torch.relu(x).flatten(1))

    x = random_one_hot(2, 2, torch.Generator().manual_seed(13))
    before = x.clone()
    for method in ("deeplift_rescale", "grad_input", "ism", "integrated_gradients"):
        attribute(Doubles(), x, "flat", method=method)
    assert torch.equal(x, before)


def test_active_dropout_is_refused_for_every_method():
    class Noisy(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(8, 1)

        def forward(self, x):
            return self.dense(F.dropout(x.flatten(1), 0.5))

    x = random_one_hot(2, 2, torch.Generator().manual_seed(14))
    for method in ("grad_input", "integrated_gradients", "ism", "guided_backprop"):
        with pytest.raises(LiftGenomicsError, match="training=True drops units"):
            attribute(Noisy(), x, "flat", method=method)
