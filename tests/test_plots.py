"""Tests of the figures: each writes a real PNG, bad input is a clear error with no file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.plots import (
    information_content,
    plot_false_negatives,
    plot_motif_recovery,
    plot_pwm_logos,
    plot_sequence_logos,
)
from liftgenomics.sequence import one_hot_encode

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def hits() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for method in ("grad_input", "deeplift_rescale"):
        for task in (0, 1):
            for i in range(30):
                rows.append(
                    {
                        "id": f"seq{i}",
                        "class": ["both", "neither", "gata_only"][i % 3],
                        "motif": "GATA_disc1",
                        "start": i,
                        "log_odds": rng.normal(5, 4),
                        "method": method,
                        "reference": "flat",
                        "task": task,
                        "score": rng.normal(),
                    }
                )
    return pd.DataFrame(rows)


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5_000


def test_motif_recovery_grid(tmp_path, hits):
    out = plot_motif_recovery(hits, tmp_path / "grid.png", "flat")
    assert_png(out)
    with pytest.raises(LiftGenomicsError, match="no motif hits"):
        plot_motif_recovery(hits, tmp_path / "none.png", "dinuc20")
    assert not (tmp_path / "none.png").exists()


def test_false_negative_bars(tmp_path):
    summary = pd.DataFrame(
        {
            "method": ["a", "a", "b", "b"],
            "reference": "flat",
            "task": 0,
            "motif": ["M", "N", "M", "N"],
            "false_negative_rate": [0.1, 0.2, 0.0, 0.05],
        }
    )
    assert_png(plot_false_negatives(summary, tmp_path / "fn.png", "flat"))
    with pytest.raises(LiftGenomicsError, match="no false-negative rates"):
        plot_false_negatives(summary, tmp_path / "x.png", "gc20")


def test_sequence_logos_and_shape_errors(tmp_path):
    x = one_hot_encode("ACGTACGTACGTACGTACGT")
    track = np.random.default_rng(1).normal(size=(4, 20))
    out = plot_sequence_logos(
        x,
        {"m": track * x},
        tmp_path / "logo.png",
        instances=[(2, 8, "GATA")],
        title="t",
        hypothetical={"m": track},
    )
    assert_png(out)
    with pytest.raises(LiftGenomicsError, match=r"expected shape \(4, 20\)"):
        plot_sequence_logos(x, {"m": track[:, :5]}, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_information_content_and_pwm_logos(tmp_path):
    uniform = np.full((2, 4), 0.25)
    certain = np.eye(4)[[0, 2]]
    background = (0.25, 0.25, 0.25, 0.25)
    assert information_content(uniform, background).sum() == pytest.approx(0.0)
    assert information_content(certain, background).sum(axis=1) == pytest.approx([2.0, 2.0])
    assert_png(plot_pwm_logos({"A": certain, "U": uniform}, tmp_path / "pwm.png", background))
    with pytest.raises(LiftGenomicsError, match="expected \\(W, 4\\)"):
        plot_pwm_logos({"bad": np.ones(3)}, tmp_path / "p.png")
