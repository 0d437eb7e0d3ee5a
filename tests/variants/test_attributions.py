"""Allele attributions: the allele difference is the model's own change, with nothing left over,
only when both alleles share references; the variant SHAP .h5 layout; ref-over-alt logos."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from liftgenomics.attribution import attribute
from liftgenomics.attribution.engine import AttributionOptions
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.references import flat, parse_reference_spec
from liftgenomics.variants import attributions
from liftgenomics.variants.attributions import (
    allele_attributions,
    plot_allele_logos,
    read_variant_shap_h5,
    write_variant_shap_h5,
)
from liftgenomics.variants.records import Variant
from tests.toy_models import TinyBPNet, conv_net, random_one_hot

LENGTH = 40
CENTRE = LENGTH // 2
N = 4
METHODS = ("deeplift_rescale", "deeplift_genomics")


def alleles(n: int = N, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random allele1 windows and allele2 windows with a SNP at the centre of each."""
    X1 = random_one_hot(n, LENGTH, torch.Generator().manual_seed(seed))
    X2 = X1.clone()
    for i in range(n):
        base = int(X1[i, :, CENTRE].argmax())
        X2[i, :, CENTRE] = 0.0
        X2[i, (base + 1 + i % 3) % 4, CENTRE] = 1.0
    return X1, X2


def deletion_like(X1: torch.Tensor) -> torch.Tensor:
    """allele2 windows laid out as a 1-bp deletion at the centre: the right flank moves left."""
    X2 = X1.clone()
    X2[:, :, CENTRE:-1] = X1[:, :, CENTRE + 1 :]
    X2[:, :, -1] = 0.0
    X2[:, 0, -1] = 1.0
    return X2


def build(name: str):
    """A toy model, its head (output, target) and the model's own explained value."""
    torch.manual_seed(0)
    if name == "conv_net":
        model = conv_net(n_tasks=3).eval()
        return model, None, 1, lambda X: model(X)[:, 1]
    model = TinyBPNet().eval()
    return model, 1, 0, lambda X: model(X)[1][:, 0]


def totals(contrib: np.ndarray) -> np.ndarray:
    return contrib.astype(np.float64).sum(axis=(1, 2))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", ["conv_net", "bpnet_counts"])
@pytest.mark.parametrize("layout", ["snp", "deletion"])
def test_allele_difference_is_the_models_own_change(method, name, layout):
    model, output, target, explained = build(name)
    X1, X2 = alleles()
    if layout == "deletion":
        X2 = deletion_like(X1)
    options = AttributionOptions(method=method, device="cpu", seed=7)
    result = allele_attributions(model, X1, X2, output, target, options, "dinuc:8")
    with torch.no_grad():  # the oracle: the model's own forward pass, not the engine
        f1, f2 = explained(X1).double().numpy(), explained(X2).double().numpy()
    np.testing.assert_allclose(
        totals(result.contrib2) - totals(result.contrib1), f2 - f1, rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(result.pred1, f1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.pred2, f2, rtol=1e-5, atol=1e-6)
    assert (result.diff_error < 1e-4).all()
    for hyp, contrib, X in ((result.hyp1, result.contrib1, X1), (result.hyp2, result.contrib2, X2)):
        assert hyp.shape == contrib.shape == (N, 4, LENGTH) and contrib.dtype == np.float32
        np.testing.assert_array_equal(contrib, hyp * X.numpy())


@pytest.mark.parametrize("method", METHODS)
def test_different_references_per_allele_break_the_identity(method):
    model, output, target, explained = build("conv_net")
    with torch.no_grad():
        model[-1].weight.mul_(50.0)  # outputs of order 0.1, so the leftover shows plainly
    X1, X2 = alleles()
    spec = parse_reference_spec("dinuc:8")
    settings = {"method": method, "device": "cpu", "output": output}
    own1 = attribute(model, X1, spec.generate(X1, 0), target, **settings).numpy()
    own2 = attribute(model, X2, spec.generate(X2, 1), target, **settings).numpy()
    with torch.no_grad():
        change = (explained(X2) - explained(X1)).double().numpy()
    leftover = np.abs(totals(own2) - totals(own1) - change)
    shared = allele_attributions(
        model, X1, X2, output, target, AttributionOptions(method=method, device="cpu"), "dinuc:8"
    )
    left_shared = np.abs(totals(shared.contrib2) - totals(shared.contrib1) - change)
    # Each side sums to its own f(x) − mean f(r): with different r the means do not cancel.
    assert leftover.max() > 1e-2 and left_shared.max() < 1e-5


class LinearConv(nn.Module):
    """f(x) = Σ conv(x): linear in the input, so DeepLIFT is exactly w · (x − r̄)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 1, 5, padding=2)

    def forward(self, x):
        return self.conv(x).sum(dim=-1)


def effective_weights(conv: nn.Conv1d, length: int) -> np.ndarray:
    """(4, L): how much each (base, position) adds to Σ_o conv(x)[o], by hand."""
    w = conv.weight.detach().double().numpy()[0]  # (4, k)
    pad, k = conv.padding[0], w.shape[1]
    weights = np.zeros((4, length))
    for out in range(length + 2 * pad - k + 1):
        for j in range(k):
            position = out + j - pad
            if 0 <= position < length:
                weights[:, position] += w[:, j]
    return weights


@pytest.mark.parametrize("references", ["flat", "dinuc:4"])
@pytest.mark.parametrize("method", METHODS)
def test_linear_model_contributions_are_weights_times_difference(references, method):
    torch.manual_seed(3)
    model = LinearConv().eval()
    X1, X2 = alleles(seed=2)
    options = AttributionOptions(method=method, device="cpu", seed=5, start_index=11)
    result = allele_attributions(model, X1, X2, None, 0, options, references)
    weights = effective_weights(model.conv, LENGTH)
    if references == "flat":
        mean_ref = np.broadcast_to(flat(LENGTH), (N, 4, LENGTH))
    else:  # drawn once from allele1, seeded by seed and each variant's global index
        mean_ref = parse_reference_spec(references).generate(X1, 5, start_index=11).mean(axis=1)
    for X, hyp, contrib in ((X1, result.hyp1, result.contrib1), (X2, result.hyp2, result.contrib2)):
        x = X.double().numpy()
        hand = weights[None] - (weights[None] * mean_ref).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(hyp, hand, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(contrib, hand * x, rtol=1e-4, atol=1e-5)
    base1 = X1[:, :, CENTRE].argmax(dim=1).numpy()
    base2 = X2[:, :, CENTRE].argmax(dim=1).numpy()
    expected = weights[base2, CENTRE] - weights[base1, CENTRE]  # the weight change at the SNP
    np.testing.assert_allclose(
        totals(result.contrib2) - totals(result.contrib1), expected, rtol=1e-4, atol=1e-5
    )
    difference = result.contrib2 - result.contrib1
    difference[:, :, CENTRE] = 0.0
    assert np.abs(difference).max() < 1e-5  # nothing changes away from the SNP


def test_blocks_do_not_change_any_score(monkeypatch):
    model, output, target, _ = build("conv_net")
    X1, X2 = alleles(n=5)
    options = AttributionOptions(device="cpu", seed=2, start_index=3)
    whole = allele_attributions(model, X1, X2, output, target, options, "dinuc:3")
    monkeypatch.setattr(attributions, "REFERENCE_BLOCK_BYTES", 16 * 3 * LENGTH * 2)  # 2 rows
    blocked = allele_attributions(model, X1, X2, output, target, options, "dinuc:3")
    for name in ("hyp1", "hyp2", "pred1", "pred2"):
        np.testing.assert_allclose(
            getattr(blocked, name), getattr(whole, name), rtol=1e-6, atol=1e-7
        )


def test_profile_target_and_methods_without_summation_are_not_checked():
    torch.manual_seed(0)
    model = TinyBPNet().eval()
    X1, X2 = alleles()
    profile = allele_attributions(
        model, X1, X2, 0, "profile", AttributionOptions(device="cpu"), "dinuc:4"
    )
    assert np.isnan(profile.diff_error).all()
    gradient = allele_attributions(
        model, X1, X2, 1, 0, AttributionOptions(method="grad_input", device="cpu")
    )
    assert np.isnan(gradient.diff_error).all() and gradient.contrib1.shape == (N, 4, LENGTH)


def with_shifted_allele2(monkeypatch, shift: float) -> None:
    """The engine's allele2 predictions moved by ``shift``: the difference no longer adds up."""
    real = attributions.attribute_with_details
    calls = []

    def shifted(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(1)
        if len(calls) % 2 == 0:
            result.predictions[2:3] += shift
        return result

    monkeypatch.setattr(attributions, "attribute_with_details", shifted)


def test_a_failed_difference_check_names_the_variant(monkeypatch):
    model, output, target, _ = build("conv_net")
    X1, X2 = alleles()
    with_shifted_allele2(monkeypatch, 0.5)
    options = AttributionOptions(device="cpu", start_index=100)
    with pytest.raises(LiftGenomicsError, match=r"variant 102: contributions") as caught:
        allele_attributions(model, X1, X2, output, target, options, "flat")
    assert "\n" not in str(caught.value)
    warn = AttributionOptions(device="cpu", start_index=100, on_violation="warn")
    with pytest.warns(UserWarning, match="allele-difference check failed: variant 102"):
        result = allele_attributions(model, X1, X2, output, target, warn, "flat")
    assert result.diff_error[2] == pytest.approx(0.5, rel=1e-3)


@pytest.mark.parametrize("X2_shape", [(N, 4, LENGTH + 1), (N + 1, 4, LENGTH), (N, LENGTH)])
def test_windows_of_different_shapes_are_one_line_errors(X2_shape):
    model, output, target, _ = build("conv_net")
    X1, _ = alleles()
    with pytest.raises(LiftGenomicsError, match="allele windows differ in shape") as caught:
        allele_attributions(model, X1, np.zeros(X2_shape, np.float32), output, target)
    assert "\n" not in str(caught.value)


def test_references_must_be_a_spec():
    model, output, target, _ = build("conv_net")
    X1, X2 = alleles()
    with pytest.raises(LiftGenomicsError, match="reference spec"):
        allele_attributions(model, X1, X2, output, target, None, np.zeros((4, LENGTH)))


# ---------------------------------------------------------------------------------------------
# The variant SHAP file


def shap_arrays(n: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    X1, X2 = (x.numpy() for x in alleles(n, seed))
    X1[0, :, 1] = 0.0  # an N column
    hyp1, hyp2 = (rng.normal(size=(n, 4, LENGTH)).astype(np.float32) for _ in range(2))
    return {
        "X1": X1,
        "X2": X2,
        "hyp1": hyp1,
        "hyp2": hyp2,
        "contrib1": hyp1 * X1,
        "contrib2": hyp2 * X2,
    }


def test_variant_shap_file_has_chrombpnets_layout(tmp_path):
    arrays = shap_arrays()
    ids = ["rs1", "chr1:101:A:G", "välj"]
    path = write_variant_shap_h5(tmp_path / "out" / "variant_shap.counts.h5", ids, **arrays)
    assert sorted(p.name for p in path.parent.iterdir()) == ["variant_shap.counts.h5"]
    with h5py.File(path, "r") as handle:
        expected = {
            "raw/seq": ((6, 4, LENGTH), np.int8),
            "shap/seq": ((6, 4, LENGTH), np.float16),
            "projected_shap/seq": ((6, 4, LENGTH), np.float16),
            "variant_ids": ((6,), np.dtype("S12")),
            "alleles": ((6,), np.int8),
        }
        for name, (shape, dtype) in expected.items():
            assert handle[name].shape == shape and handle[name].dtype == dtype, name
        raw = handle["raw/seq"][()]
        np.testing.assert_array_equal(raw[:3], arrays["X1"])
        np.testing.assert_array_equal(raw[3:], arrays["X2"])
        shap = handle["shap/seq"][()]
        np.testing.assert_array_equal(shap[:3], arrays["hyp1"].astype(np.float16))
        np.testing.assert_array_equal(shap[3:], arrays["hyp2"].astype(np.float16))
        projected = handle["projected_shap/seq"][()]
        np.testing.assert_array_equal(projected[:3], arrays["contrib1"].astype(np.float16))
        np.testing.assert_array_equal(projected[3:], arrays["contrib2"].astype(np.float16))
        assert [v.decode("utf-8") for v in handle["variant_ids"][()]] == ids + ids
        assert handle["alleles"][()].tolist() == [0, 0, 0, 1, 1, 1]
        # What finemo extract-regions-h5 reads: the centre of raw/seq and shap/seq.
        centre = handle["raw/seq"][:, :, CENTRE - 5 : CENTRE + 5]
        assert centre.shape == (6, 4, 10)
    back = read_variant_shap_h5(path)
    assert back.variant_ids == ids
    np.testing.assert_array_equal(back.X2, arrays["X2"])
    np.testing.assert_array_equal(back.hyp1, arrays["hyp1"].astype(np.float16))
    np.testing.assert_array_equal(back.contrib2, arrays["contrib2"].astype(np.float16))


def test_variant_shap_file_round_trips_allele_attributions(tmp_path):
    model, output, target, _ = build("conv_net")
    X1, X2 = alleles()
    result = allele_attributions(
        model, X1, X2, output, target, AttributionOptions(device="cpu"), "dinuc:4"
    )
    ids = [f"v{i}" for i in range(N)]
    path = write_variant_shap_h5(
        tmp_path / "v.h5", ids, result.contrib1, result.contrib2, X1, X2, result.hyp1, result.hyp2
    )
    back = read_variant_shap_h5(path)
    np.testing.assert_allclose(back.contrib1, result.contrib1, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(back.hyp2, result.hyp2, rtol=1e-3, atol=1e-4)


def test_variant_shap_file_refuses_bad_input(tmp_path):
    arrays = shap_arrays()
    with pytest.raises(LiftGenomicsError, match="2 variant ids for 3 variants"):
        write_variant_shap_h5(tmp_path / "a.h5", ["a", "b"], **arrays)
    short = dict(arrays, hyp2=arrays["hyp2"][:, :, :-1])
    with pytest.raises(LiftGenomicsError, match="hyp2 has shape"):
        write_variant_shap_h5(tmp_path / "b.h5", ["a", "b", "c"], **short)
    huge = dict(arrays, contrib1=arrays["contrib1"] * 1e6)
    with pytest.raises(LiftGenomicsError, match="float16's range"):
        write_variant_shap_h5(tmp_path / "c.h5", ["a", "b", "c"], **huge)
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    (tmp_path / "d.h5").write_text("not hdf5")
    with pytest.raises(LiftGenomicsError, match="cannot read"):
        read_variant_shap_h5(tmp_path / "d.h5")
    with h5py.File(tmp_path / "e.h5", "w") as handle:
        handle["raw/seq"] = np.zeros((2, 4, 3), np.int8)
    with pytest.raises(LiftGenomicsError, match="missing shap/seq"):
        read_variant_shap_h5(tmp_path / "e.h5")


# ---------------------------------------------------------------------------------------------
# Logos


@pytest.mark.parametrize(
    "variant",
    [
        Variant("chr1", 1000, "A", "G", "rs1"),
        Variant("chr1", 1000, "-", "TT", "ins"),
        Variant("chr1", 1000, "ACG", "-", "del"),
    ],
)
def test_allele_logos_are_a_png(tmp_path, variant):
    arrays = shap_arrays(n=1)
    path = plot_allele_logos(
        tmp_path / "logo.png", arrays["contrib1"][0], arrays["contrib2"][0], variant, window=10
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_allele_logos_share_y_limits(monkeypatch, tmp_path):
    import matplotlib.pyplot as plt

    captured = {}
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda figure: captured.setdefault("figure", figure))
    contrib1 = np.zeros((4, LENGTH))
    contrib2 = np.zeros((4, LENGTH))
    contrib1[0, CENTRE] = 3.0
    contrib2[2, CENTRE + 2] = -1.0
    plot_allele_logos(tmp_path / "l.png", contrib1, contrib2, Variant("c", 5, "A", "G", "v"), 5)
    axes = captured["figure"].axes
    assert axes[0].get_ylim() == axes[1].get_ylim()
    low, high = axes[0].get_ylim()
    assert low < -1.0 and high > 3.0
    assert axes[1].get_xlim() == (-5.5, 5.5)
    real_close(captured["figure"])


def test_allele_logos_refuse_bad_scores(tmp_path):
    variant = Variant("c", 5, "A", "G", "v")
    with pytest.raises(LiftGenomicsError, match="differ"):
        plot_allele_logos(tmp_path / "x.png", np.zeros((4, 10)), np.zeros((4, 11)), variant)
    with pytest.raises(LiftGenomicsError, match="non-finite"):
        plot_allele_logos(tmp_path / "x.png", np.full((4, 10), np.nan), np.zeros((4, 10)), variant)
    assert not (tmp_path / "x.png").exists()
