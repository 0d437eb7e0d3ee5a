"""Tests for liftgenomics.models: the paper CNN, the registry, and safetensors save/load."""

import json

import pytest
import torch
import torch.fx
from safetensors.torch import load_file, save_file
from torch import nn

from liftgenomics.attribution import check_model
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.architectures import paper_cnn
from liftgenomics.models.directory import save_model
from liftgenomics.models.load import load_model
from liftgenomics.models.registry import ARCHITECTURES, build_model, full_architecture

SMALL = {"name": "paper_cnn", "n_tasks": 2, "length": 40, "filters": 6, "width": 5, "hidden": 7}


def _one_hot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    bases = torch.randint(0, 4, (n, length), generator=generator)
    return nn.functional.one_hot(bases, 4).permute(0, 2, 1).float()


def test_paper_cnn_layers_and_output_shape():
    model = paper_cnn()
    assert model.input_length == 200
    assert model.n_tasks == 3
    assert [type(m) for m in model] == [
        nn.Conv1d,
        nn.ReLU,
        nn.Conv1d,
        nn.ReLU,
        nn.AdaptiveAvgPool1d,
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        nn.Dropout,
        nn.Linear,
    ]
    assert (model.conv1.in_channels, model.conv1.out_channels, model.conv1.kernel_size) == (
        4,
        50,
        (11,),
    )
    assert model.conv1.padding == (0,) and model.conv2.padding == (0,)
    assert (model.dense1.in_features, model.dense1.out_features) == (50, 50)
    assert (model.dense2.in_features, model.dense2.out_features) == (50, 3)
    assert model.dropout.p == 0.5
    # Valid convolutions leave 200 - 2 * 10 = 180 positions to pool; slicing gives a Sequential.
    assert model[:4](_one_hot(2, 200)).shape == (2, 50, 180)
    model.eval()
    out = model(_one_hot(5, 200))
    assert out.shape == (5, 3)


def test_output_is_logits_not_probabilities():
    model = paper_cnn(n_tasks=1).eval()
    with torch.no_grad():
        model.dense2.bias.fill_(5.0)  # a logit of about 5 is far outside [0, 1]
    out = model(_one_hot(4, 200))
    assert (out > 1.0).all()
    assert not any(isinstance(m, nn.Sigmoid | nn.Softmax) for m in model.modules())


def test_pooling_is_the_mean_over_positions():
    model = paper_cnn(**{k: v for k, v in SMALL.items() if k != "name"}).eval()
    x = _one_hot(3, 40)
    features = model.relu2(model.conv2(model.relu1(model.conv1(x))))
    assert features.shape[-1] == 40 - 2 * 4
    torch.testing.assert_close(model.flatten(model.pool(features)), features.mean(dim=-1))


def test_glorot_uniform_weights_and_zero_biases():
    torch.manual_seed(0)
    model = paper_cnn()
    for layer in (model.conv1, model.conv2, model.dense1, model.dense2):
        weight = layer.weight
        receptive = weight[0, 0].numel() if weight.dim() == 3 else 1
        fan_in, fan_out = weight.shape[1] * receptive, weight.shape[0] * receptive
        bound = (6.0 / (fan_in + fan_out)) ** 0.5
        assert weight.abs().max() <= bound
        # Uniform on [-b, b]: the largest of many draws comes close to b; std is b / sqrt(3).
        assert weight.abs().max() > 0.9 * bound
        assert weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.15)
        assert torch.count_nonzero(layer.bias) == 0


def test_every_nonlinearity_is_a_distinct_module_called_once():
    model = paper_cnn()
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 3
    assert len({id(m) for m in relus}) == 3
    graph = torch.fx.symbolic_trace(model).graph
    called = [n.target for n in graph.nodes if n.op == "call_module"]
    relu_calls = [t for t in called if isinstance(model.get_submodule(t), nn.ReLU)]
    assert sorted(relu_calls) == ["relu1", "relu2", "relu3"]
    # No functional nonlinearity sneaks in.
    assert [n.op for n in graph.nodes if n.op in ("call_function", "call_method")] == []


def test_fx_traced_model_computes_the_same_outputs():
    model = paper_cnn().eval()
    traced = torch.fx.symbolic_trace(model)
    x = _one_hot(4, 200)
    torch.testing.assert_close(traced(x), model(x))


@pytest.mark.parametrize("mode", ["rescale", "revealcancel", "genomics", "guided"])
def test_attribution_engine_accepts_the_model(mode):
    model = paper_cnn()
    plan = check_model(model, mode)
    if mode == "genomics":
        # RevealCancel after the fully connected layer, Rescale after the convolutions.
        rules = [step.rule for step in plan.steps if step.kind == "elementwise"]
        assert rules == ["rescale", "rescale", "revealcancel"]


def test_build_model_fills_defaults_and_passes_arguments():
    model = build_model({"name": "paper_cnn", "n_tasks": 2, "length": 100})
    assert type(model) is nn.Sequential
    assert model.input_length == 100
    assert model.dense2.out_features == 2
    assert model.conv1.out_channels == 50
    assert full_architecture({"name": "paper_cnn", "n_tasks": 2}) == {
        "name": "paper_cnn",
        "n_tasks": 2,
        "length": 200,
        "filters": 50,
        "width": 11,
        "hidden": 50,
        "dropout": 0.5,
    }


def test_build_model_unknown_name_lists_known_ones():
    with pytest.raises(LiftGenomicsError, match="unknown architecture 'resnet'.*paper_cnn"):
        build_model({"name": "resnet"})
    with pytest.raises(LiftGenomicsError, match="unknown architecture None"):
        build_model({"n_tasks": 3})
    assert "paper_cnn" in ARCHITECTURES


@pytest.mark.parametrize(
    ("architecture", "message"),
    [
        ({"name": "paper_cnn", "kernels": 3}, "unknown argument.*kernels"),
        ({"name": "paper_cnn", "filters": 0}, "filters must be a positive integer"),
        ({"name": "paper_cnn", "length": 20}, "too short"),
        ({"name": "paper_cnn", "dropout": 1.0}, "dropout"),
        (["paper_cnn"], "must be a dict"),
    ],
)
def test_build_model_bad_arguments(architecture, message):
    with pytest.raises(LiftGenomicsError, match=message):
        build_model(architecture)


def test_save_load_round_trip_gives_identical_outputs(tmp_path, device):
    torch.manual_seed(3)
    model = build_model(SMALL).to(device).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))  # biases away from their zero init
    save_model(model, tmp_path / "m", SMALL, {"epochs_run": 4, "tasks": ["a", "b"]})
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.json", "model.safetensors"]
    x = _one_hot(6, 40).to(device)
    expected = model(x).cpu()
    for path in (
        tmp_path / "m",
        tmp_path / "m" / "model.json",
        tmp_path / "m" / "model.safetensors",
    ):
        loaded = load_model(path)
        assert not loaded.training
        assert next(loaded.parameters()).device.type == "cpu"
        assert loaded.input_length == 40
        assert loaded.metadata == {"epochs_run": 4, "tasks": ["a", "b"]}
        assert torch.equal(loaded(x.cpu()), expected)
    document = json.loads((tmp_path / "m" / "model.json").read_text())
    assert document["format"] == "liftgenomics-model"
    assert document["version"] == 1
    assert document["architecture"] == full_architecture(SMALL)


def test_save_and_load_leave_the_global_rng_alone(tmp_path):
    model = build_model(SMALL)
    torch.manual_seed(11)
    state = torch.random.get_rng_state()
    save_model(model, tmp_path, SMALL, {})
    load_model(tmp_path)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_save_refuses_mismatched_architecture_and_bad_metadata(tmp_path):
    model = build_model(SMALL)
    with pytest.raises(LiftGenomicsError, match="dense2.weight has shape"):
        save_model(model, tmp_path, {**SMALL, "n_tasks": 3}, {})
    with pytest.raises(LiftGenomicsError, match="not JSON-serialisable"):
        save_model(model, tmp_path, SMALL, {"when": object()})
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def saved(tmp_path):
    directory = tmp_path / "model"
    save_model(build_model(SMALL), directory, SMALL, {})
    return directory


def test_load_missing_files(saved, tmp_path):
    with pytest.raises(LiftGenomicsError, match="nowhere.*not found"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(LiftGenomicsError, match="other.safetensors: model not found"):
        load_model(tmp_path / "other.safetensors")
    (saved / "model.safetensors").rename(tmp_path / "moved.safetensors")
    with pytest.raises(LiftGenomicsError, match="moved.json: model description.*not found"):
        load_model(tmp_path / "moved.safetensors")
    (tmp_path / "moved.safetensors").rename(saved / "model.safetensors")
    (saved / "model.json").unlink()
    with pytest.raises(LiftGenomicsError, match="model.json: model description.*not found"):
        load_model(saved)
    save_model(build_model(SMALL), saved, SMALL, {})
    (saved / "model.safetensors").unlink()
    with pytest.raises(LiftGenomicsError, match="model.safetensors: model weights file not found"):
        load_model(saved)


def test_load_refuses_wrong_path_kind(tmp_path):
    (tmp_path / "weights.pt").write_bytes(b"\x80\x04")
    with pytest.raises(LiftGenomicsError, match="weights.pt: not a model"):
        load_model(tmp_path / "weights.pt")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "model.json:1: not a liftgenomics model file \\(invalid JSON"),
        ('{"format": "keras", "version": 1}', "not a liftgenomics model file"),
        ("[1, 2]", "not a liftgenomics model file"),
        ('{"format": "liftgenomics-model", "version": 9}', "version 9 is not supported"),
        ('{"format": "liftgenomics-model", "version": 1}', 'no "architecture"'),
    ],
)
def test_load_refuses_json_that_is_not_ours(saved, text, message):
    (saved / "model.json").write_text(text)
    with pytest.raises(LiftGenomicsError, match=message) as info:
        load_model(saved)
    assert "\n" not in str(info.value)


def test_load_refuses_unknown_architecture_naming_the_file(saved):
    document = json.loads((saved / "model.json").read_text())
    document["architecture"]["name"] = "transformer"
    (saved / "model.json").write_text(json.dumps(document))
    with pytest.raises(LiftGenomicsError, match="model.json: unknown architecture 'transformer'"):
        load_model(saved)


def test_load_refuses_corrupt_safetensors(saved):
    document = json.loads((saved / "model.json").read_text())
    del document["weights_sha256"]  # reach the safetensors reader itself
    (saved / "model.json").write_text(json.dumps(document))
    (saved / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(LiftGenomicsError, match="model.safetensors: not a readable safetensors"):
        load_model(saved)


def test_load_refuses_weights_from_another_save(saved):
    path = saved / "model.safetensors"
    state = load_file(str(path))
    state["dense2.bias"] = state["dense2.bias"] + 1.0
    save_file(state, str(path))
    with pytest.raises(LiftGenomicsError, match="SHA-256 differs"):
        load_model(saved)


def _rewrite_weights(directory, edit) -> None:
    """Replace the weights with ``edit(state)`` and drop the hash so the shape checks run."""
    path = directory / "model.safetensors"
    state = load_file(str(path))
    edit(state)
    save_file(state, str(path))
    document = json.loads((directory / "model.json").read_text())
    del document["weights_sha256"]
    (directory / "model.json").write_text(json.dumps(document))


def test_load_refuses_weights_that_do_not_match_the_architecture(saved):
    _rewrite_weights(saved, lambda s: s.pop("conv2.weight"))
    with pytest.raises(LiftGenomicsError, match="model.safetensors.*missing conv2.weight"):
        load_model(saved)


def test_load_refuses_unexpected_weights(saved):
    _rewrite_weights(saved, lambda s: s.update(extra=torch.zeros(2)))
    with pytest.raises(LiftGenomicsError, match="model.safetensors.*unexpected extra"):
        load_model(saved)


def test_load_refuses_wrong_shapes(saved):
    _rewrite_weights(saved, lambda s: s.update({"dense1.weight": torch.zeros(7, 5)}))
    with pytest.raises(LiftGenomicsError, match=r"dense1.weight has shape \(7, 5\), expected"):
        load_model(saved)
