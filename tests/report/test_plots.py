"""Tests of the figures: each writes a real PNG of a plausible size, deterministically; bad input
is a one-line LiftGenomicsError and leaves no file."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import one_hot_encode
from liftgenomics.logos import (
    CLASS_COLOURS,
    DPI,
    _label_levels,
    information_content,
    plot_pwm_logos,
    plot_sequence_logos,
)
from liftgenomics.report.plots import plot_false_negatives, plot_motif_recovery

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
METHODS = ("grad_input", "deeplift_rescale", "deeplift_genomics", "ism")
LENGTH = 60


def png_size(path) -> tuple[int, int]:
    """(width, height) in pixels, read from the PNG header; asserts a non-trivial PNG."""
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5_000
    return struct.unpack(">II", data[16:24])


def expect_error(call, path, match: str) -> None:
    """``call`` raises a one-line LiftGenomicsError matching ``match`` and writes nothing."""
    with pytest.raises(LiftGenomicsError, match=match) as error:
        call()
    assert "\n" not in str(error.value)
    assert not path.exists()
    assert not list(path.parent.glob(f".{path.name}.*"))  # no temporary file left behind


@pytest.fixture
def hits() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    frames = []
    for method in METHODS:
        for task in (0, 1, 2):
            log_odds = rng.normal(4, 4, n)
            frames.append(
                pd.DataFrame(
                    {
                        "id": [f"seq{i}" for i in range(n)],
                        "class": [list(CLASS_COLOURS)[i % 4] for i in range(n)],
                        "motif": "GATA_disc1",
                        "start": np.arange(n),
                        "log_odds": log_odds,
                        "method": method,
                        "reference": "flat",
                        "task": task,
                        "score": 0.2 * log_odds + rng.normal(0, 0.5, n),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def summary() -> pd.DataFrame:
    rows = []
    for k, method in enumerate(METHODS):
        for task in (0, 1, 2):
            for motif in ("GATA_disc1", "TAL1_known1"):
                rows.append(
                    {
                        "method": method,
                        "reference": "flat",
                        "task": task,
                        "motif": motif,
                        "n_hits": 100,
                        "false_negative_rate": 0.1 * k if task == 0 else np.nan,
                        "false_positive_ratio": np.nan,
                        "auroc": 0.9,
                        "auprc": 0.5,
                    }
                )
    return pd.DataFrame(rows)


def test_motif_recovery_grid_grows_with_methods_and_tasks(tmp_path, hits):
    two = png_size(plot_motif_recovery(hits, tmp_path / "two.png", "flat", list(METHODS[:2])))
    four = png_size(plot_motif_recovery(hits, tmp_path / "four.png", "flat"))
    one_task = png_size(
        plot_motif_recovery(hits[hits["task"] == 0], tmp_path / "one.png", "flat", list(METHODS))
    )
    assert four[0] > 1.5 * two[0]  # one column per method
    assert four[1] > 2 * one_task[1]  # one row per task
    assert four[0] >= 2.6 * len(METHODS) * DPI * 0.8


def test_motif_recovery_is_deterministic(tmp_path, hits):
    first = plot_motif_recovery(hits, tmp_path / "a.png", "flat")
    second = plot_motif_recovery(hits.copy(), tmp_path / "b.png", "flat")
    assert first.read_bytes() == second.read_bytes()


def test_motif_recovery_gives_each_method_its_own_y_axis(tmp_path, hits, monkeypatch):
    """A method whose totals are 100x another's does not flatten the other's panels."""
    import liftgenomics.report.plots as plots

    drawn = []
    real_save = plots.save_figure

    def keep(figure, out):
        drawn.append(figure)
        return real_save(figure, out)

    monkeypatch.setattr(plots, "save_figure", keep)
    small, large = METHODS[0], METHODS[-1]
    scaled = hits[hits["method"].isin([small, large])].copy()
    scaled.loc[scaled["method"] == large, "score"] *= 100.0
    plot_motif_recovery(scaled, tmp_path / "scaled.png", "flat", [small, large])
    (figure,) = drawn
    chosen = scaled[scaled["log_odds"] > 0]
    tasks = sorted(chosen["task"].unique())
    axes = [a for a in figure.axes if a.get_title()]
    assert len(axes) == 2 * len(tasks)
    spans = {}
    for axis in axes:
        method, task = axis.get_title().split(" · task ")
        method = method.replace(" ", "_")
        scores = chosen[(chosen["method"] == method) & (chosen["task"] == int(task))]["score"]
        low, high = axis.get_ylim()
        data_low, data_high = min(scores.min(), 0.0), max(scores.max(), 0.0)  # 0 has a line
        assert low <= scores.min() and scores.max() <= high
        assert high - low <= 1.25 * (data_high - data_low)  # tight: its own data, not the other's
        assert axis.get_yticklabels()[0].get_visible()  # its own tick labels too
        spans.setdefault(method, []).append(high - low)
    assert max(spans[small]) * 20 < min(spans[large])


def test_motif_recovery_errors(tmp_path, hits):
    out = tmp_path / "none.png"
    expect_error(lambda: plot_motif_recovery(hits, out, "dinuc20"), out, "reference 'dinuc20'")
    only_negative = hits.assign(log_odds=-1.0)
    expect_error(lambda: plot_motif_recovery(only_negative, out, "flat"), out, "log-odds > 0")
    expect_error(
        lambda: plot_motif_recovery(hits, out, "flat", ["grad_input", "saliency"]),
        out,
        r"\['saliency'\]",
    )
    expect_error(
        lambda: plot_motif_recovery(hits.drop(columns="score"), out, "flat"),
        out,
        r"missing column\(s\) \['score'\]",
    )


def test_false_negative_bars(tmp_path, summary):
    width, height = png_size(plot_false_negatives(summary, tmp_path / "fn.png", "flat"))
    assert width > height  # a bar group per method side by side
    fewer = png_size(
        plot_false_negatives(summary, tmp_path / "fn2.png", "flat", methods=["ism", "grad_input"])
    )
    assert fewer[0] < width


def test_false_negative_bars_errors(tmp_path, summary):
    out = tmp_path / "x.png"
    expect_error(lambda: plot_false_negatives(summary, out, "gc20"), out, "reference 'gc20'")
    # Rates on another task only: the chart is of task 0, so there is nothing to draw.
    moved = summary.assign(task=summary["task"].replace({0: 5}))
    expect_error(lambda: plot_false_negatives(moved, out, "flat"), out, "task 0")
    expect_error(lambda: plot_false_negatives(summary, out, "flat", methods=["nope"]), out, "nope")
    expect_error(
        lambda: plot_false_negatives(summary.drop(columns="motif"), out, "flat"),
        out,
        "missing column",
    )


@pytest.fixture
def sequence():
    rng = np.random.default_rng(1)
    # Short enough to keep logomaker's per-letter drawing fast.
    x = one_hot_encode("".join(rng.choice(list("ACGT"), size=LENGTH)))
    hypothetical = {m: rng.normal(size=(4, LENGTH)).astype(np.float32) for m in METHODS[:2]}
    actual = {m: h * x for m, h in hypothetical.items()}
    return x, actual, hypothetical


def test_sequence_logos_layout(tmp_path, sequence):
    x, actual, hypothetical = sequence
    instances = [(5, 15, "GATA_disc1"), (30, 46, "TAL1_known1")]
    both = png_size(
        plot_sequence_logos(
            x, actual, tmp_path / "both.png", instances, "seq1 (both)", hypothetical
        )
    )
    only = png_size(plot_sequence_logos(x, actual, tmp_path / "actual.png", instances))
    assert both[1] > 1.6 * only[1]  # a hypothetical row under each actual row
    assert only[0] >= 10 * DPI  # a wide figure, whatever the length
    again = plot_sequence_logos(x, actual, tmp_path / "again.png", instances)
    assert again.read_bytes() == (tmp_path / "actual.png").read_bytes()


def test_sequence_logos_errors(tmp_path, sequence):
    x, actual, hypothetical = sequence
    out = tmp_path / "bad.png"
    short = {"m": actual["grad_input"][:, :5]}
    expect_error(lambda: plot_sequence_logos(x, short, out), out, r"expected shape \(4, 60\)")
    expect_error(lambda: plot_sequence_logos(x[None], actual, out), out, r"shape \(4, L\)")
    expect_error(lambda: plot_sequence_logos(x, {}, out), out, "at least one track")
    expect_error(
        lambda: plot_sequence_logos(x, actual, out, hypothetical={"other": x}),
        out,
        r"\['other'\]",
    )
    expect_error(
        lambda: plot_sequence_logos(x, actual, out, instances=[(55, 65, "GATA_disc1")]),
        out,
        "outside the sequence",
    )
    nan_track = {"m": np.where(x > 0, np.nan, 0.0)}
    expect_error(lambda: plot_sequence_logos(x, nan_track, out), out, "non-finite")


def test_information_content_known_values():
    uniform = np.full((2, 4), 0.25)
    certain = np.eye(4)[[0, 2]]
    assert information_content(uniform, [0.25] * 4).sum() == pytest.approx(0.0)
    assert information_content(certain, [0.25] * 4).sum(axis=1) == pytest.approx([2.0, 2.0])
    # Against the paper's background a certain C carries log2(1/0.2) bits, a certain A
    # log2(1/0.3), and a column equal to the background carries none.
    background = (0.3, 0.2, 0.2, 0.3)
    heights = information_content(np.array([[0, 1, 0, 0], [1, 0, 0, 0], background]), background)
    assert heights.sum(axis=1) == pytest.approx([np.log2(5), np.log2(1 / 0.3), 0.0])
    assert heights[0] == pytest.approx([0, np.log2(5), 0, 0])


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float64, (5, 4), elements=st.floats(0.0, 1.0)).filter(
        lambda a: (a.sum(axis=1) > 1e-3).all()
    ),
    arrays(np.float64, 4, elements=st.floats(0.05, 1.0)),
)
def test_information_content_is_nonnegative_and_proportional(raw, raw_background):
    p = raw / raw.sum(axis=1, keepdims=True)
    q = raw_background / raw_background.sum()
    heights = information_content(p, q)
    assert (heights >= 0).all()
    # Letters share a position's height in proportion to their probabilities.
    totals = heights.sum(axis=1, keepdims=True)
    assert heights == pytest.approx(p * totals, abs=1e-12)
    # The position's height is its relative entropy to the background (Gibbs: never < 0).
    kl = np.sum(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1) / q), 0), axis=1)
    assert totals[:, 0] == pytest.approx(np.clip(kl, 0, None), abs=1e-9)


def test_pwm_logos(tmp_path):
    gata = np.full((10, 4), 0.1) + 0.6 * np.eye(4)[np.arange(10) % 4]
    tal = np.full((16, 4), 0.25)
    width, height = png_size(plot_pwm_logos({"GATA": gata, "TAL": tal}, tmp_path / "pwm.png"))
    one = png_size(plot_pwm_logos({"GATA": gata}, tmp_path / "one.png"))
    assert height > 1.6 * one[1]  # a row per motif
    assert width > one[0]  # the widest motif sets the width


def test_pwm_logos_errors(tmp_path):
    out = tmp_path / "p.png"
    good = np.full((3, 4), 0.25)
    expect_error(lambda: plot_pwm_logos({"bad": np.ones(3)}, out), out, r"expected \(W, 4\)")
    expect_error(lambda: plot_pwm_logos({}, out), out, "at least one motif")
    negative = good.copy()
    negative[0, 0] = -0.1
    expect_error(lambda: plot_pwm_logos({"neg": negative}, out), out, "non-negative")
    zero = good.copy()
    zero[1] = 0
    expect_error(lambda: plot_pwm_logos({"zero": zero}, out), out, "position 2 sums to 0")
    expect_error(
        lambda: plot_pwm_logos({"ok": good}, out, background=(0.5, 0.5, 0.0, 0.0)),
        out,
        "background",
    )


def test_instance_labels_of_nearby_instances_are_staggered():
    # At 0.1 positions per point a 10-letter label is 2 × 3.1 positions wide with its margin:
    # centres 4.5 and 12.5 clear each other, 16.5 clashes with 12.5, 55 with nothing.
    boxes = [(0, 10, "GATA_disc1"), (12, 14, "GATA_disc1"), (16, 18, "GATA_disc1"), (50, 60, "T")]
    assert _label_levels(boxes, 0.1) == [0, 0, 1, 0]
    assert _label_levels(boxes, 0.01) == [0, 0, 0, 0]  # a wide figure: no clash


def test_stacked_glyphs_by_hand():
    from liftgenomics.logos import stacked_glyphs

    scores = np.array([[0.5, 0.0], [-0.25, 0.0], [1.0, -2.0], [-1.0, 0.0]])  # A C G T
    boxes = stacked_glyphs(scores, width=0.8)
    # Position 0: up from 0, smallest first: A [0, 0.5], G [0.5, 1.5]; down: C [-0.25, 0],
    # then T [-1.25, -0.25]. Position 1: G alone, [-2, 0]; zeros get no letter.
    assert boxes["A"] == [pytest.approx((-0.4, 0.0, 0.8, 0.5))]
    assert boxes["G"] == [
        pytest.approx((-0.4, 0.5, 0.8, 1.0)), pytest.approx((0.6, -2.0, 0.8, 2.0))
    ]  # fmt: skip
    assert boxes["C"] == [pytest.approx((-0.4, -0.25, 0.8, 0.25))]
    assert boxes["T"] == [pytest.approx((-0.4, -1.25, 0.8, 1.0))]


def test_sequence_logo_draws_each_base_where_it_is_stacked():
    """Each base's drawn outline spans exactly the union of its stacked boxes."""
    import matplotlib
    import matplotlib.pyplot as plt

    from liftgenomics.logos import BASE_COLOURS, _logo, stacked_glyphs

    scores = np.random.default_rng(4).normal(size=(4, 30))
    figure, axis = plt.subplots()
    _logo(axis, scores)
    drawn = {
        matplotlib.colors.to_hex(artist.get_facecolor()).upper(): artist.get_path().get_extents()
        for artist in axis.patches
    }
    plt.close(figure)
    for base, boxes in stacked_glyphs(scores).items():
        box = np.array(boxes)
        expected = [box[:, 0].min(), box[:, 1].min(), (box[:, 0] + box[:, 2]).max(),
                    (box[:, 1] + box[:, 3]).max()]  # fmt: skip
        extents = drawn[BASE_COLOURS[base].upper()]
        np.testing.assert_allclose([extents.x0, extents.y0, extents.x1, extents.y1], expected,
                                   atol=1e-6)  # fmt: skip
    low, high = axis.get_ylim()
    assert low < np.minimum(scores, 0).sum(axis=0).min()
    assert high > np.maximum(scores, 0).sum(axis=0).max()
