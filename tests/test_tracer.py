"""The rule plan: every form of a nonlinearity reached, genomics resolution, refusals."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from liftgenomics.attribution import attribute, check_model, ops, register_elementwise
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
        ops._MODULE_RULES.pop(Swish)
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
