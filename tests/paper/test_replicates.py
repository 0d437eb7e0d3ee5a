"""Tests of the replicate summary and the paired sign-flip comparisons.

Oracles: p-values counted by hand over the listed sign patterns, means and standard deviations
worked out on paper, and the 2^n-pattern bounds of the exact test (1/32 one-sided, 2/32
two-sided for 5 seeds).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from liftgenomics.cli import main
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.paper.replicates import (
    compare_methods,
    read_runs,
    sign_flip_test,
    summarise_replicates,
    verdict,
)
from liftgenomics.report.html import write_report
from liftgenomics.report.replicate_section import ReplicateResults

GATA, TAL = "GATA_disc1", "TAL1_known1"


# --- the exact sign-flip test ---


def test_five_negative_differences_reach_one_in_32_one_sided_and_two_in_32_two_sided():
    test = sign_flip_test([-0.01, -0.02, -0.005, -0.03, -0.001])
    assert test.n == 5
    assert test.p_less == 1 / 32  # only the observed all-negative pattern is as low
    assert test.p_two_sided == 2 / 32  # ... and its mirror image as extreme in |sum|
    assert test.p_greater == 1.0
    assert test.mean == pytest.approx(-0.066 / 5)


def test_p_values_counted_by_hand():
    # d = (-3, -1, 2), observed sum -2. The 8 sums of (±3, ±1, ±2):
    # 6, 2, 4, 0, 0, -4, -2, -6.  ≤ -2: three; ≥ -2: six; |s| ≥ 2: six.
    test = sign_flip_test([-3.0, -1.0, 2.0])
    assert (test.p_less, test.p_greater, test.p_two_sided) == (3 / 8, 6 / 8, 6 / 8)


def test_a_zero_difference_doubles_the_extreme_count():
    # Flipping a zero changes nothing: the all-negative pattern and its zero-flipped twin are
    # both at the observed minimum, so the smallest p with one zero in five is 2/32.
    test = sign_flip_test([0.0, -1.0, -2.0, -3.0, -4.0])
    assert test.p_less == 2 / 32
    assert test.p_two_sided == 4 / 32


def test_all_zero_differences_show_nothing():
    test = sign_flip_test([0.0, 0.0, 0.0])
    assert (test.p_less, test.p_greater, test.p_two_sided) == (1.0, 1.0, 1.0)
    assert verdict(test.p_less, test.p_greater, 0.05) == "not shown"


def test_sums_equal_up_to_rounding_are_ties():
    # (-0.3, 0.1, 0.2): the sums +0.3-0.1-0.2 and -0.3+0.1+0.2 are 0 on paper but ±3e-17 in
    # floating point; both tie with the observed sum. ≤ observed: 0, 0, -0.2, -0.4, -0.6.
    assert 0.3 - 0.1 - 0.2 != 0.0  # the rounding the test must absorb
    test = sign_flip_test([-0.3, 0.1, 0.2])
    assert test.p_less == 5 / 8
    assert test.p_greater == 5 / 8


def test_sign_flip_test_rejects_bad_input():
    with pytest.raises(LiftGenomicsError, match="at least one"):
        sign_flip_test([])
    with pytest.raises(LiftGenomicsError, match="finite"):
        sign_flip_test([0.1, np.nan])
    with pytest.raises(LiftGenomicsError, match="at most 20"):
        sign_flip_test(np.ones(21))


def test_verdicts():
    assert verdict(1 / 32, 1.0, 0.05) == "holds"
    assert verdict(1.0, 1 / 32, 0.05) == "reversed"
    assert verdict(2 / 32, 31 / 32, 0.05) == "not shown"
    assert verdict(2 / 32, 31 / 32, 0.1) == "holds"


# --- the summary over seeds ---


def per_seed_table(rates: dict[tuple[str, str, str], list[float]]) -> pd.DataFrame:
    """Summary rows for task 0 from (method, reference, motif) -> FN rate per seed 0, 1, ..."""
    rows = []
    for (method, reference, motif), values in rates.items():
        for seed, value in enumerate(values):
            rows.append(
                {
                    "method": method,
                    "reference": reference,
                    "task": 0,
                    "motif": motif,
                    "false_negative_rate": value,
                    "false_positive_ratio": np.nan,
                    "auroc": 0.9 + 0.01 * seed,
                    "seed": seed,
                }
            )
    return pd.DataFrame(rows)


def test_summary_mean_sd_min_max_by_hand():
    per_seed = per_seed_table(
        {
            ("deeplift_genomics", "flat", GATA): [0.1, 0.2, 0.4],
            ("deeplift_genomics", "flat", TAL): [0.0, np.nan, 0.5],
        }
    )
    model = pd.DataFrame({"seed": [0, 1, 2], "task": ["task0"] * 3, "auroc": [0.98, 0.99, np.nan]})
    table = summarise_replicates(per_seed, model)
    fn = table[table["metric"] == "false_negative_rate"].set_index("motif")
    gata = fn.loc[GATA]
    # mean 0.7/3; deviations -2/15, -1/30, 1/6 -> squares sum 0.04667, / 2 -> sd 0.152753
    assert gata["mean"] == pytest.approx(0.7 / 3)
    assert gata["sd"] == pytest.approx(math.sqrt(0.07 / 3), rel=1e-9)
    assert gata["sd"] == pytest.approx(0.152753, abs=1e-6)
    assert (gata["min"], gata["max"], gata["n_seeds"]) == (0.1, 0.4, 3)
    assert [gata["seed0"], gata["seed1"], gata["seed2"]] == [0.1, 0.2, 0.4]
    tal = fn.loc[TAL]  # the undefined seed is left out of n, mean and sd
    assert (tal["n_seeds"], tal["mean"], tal["min"], tal["max"]) == (2, 0.25, 0.0, 0.5)
    assert tal["sd"] == pytest.approx(math.sqrt(0.125))
    assert np.isnan(tal["seed1"])
    # The false-positive ratio is undefined everywhere: no row for it.
    assert "false_positive_ratio" not in set(table["metric"])
    aurocs = table[table["metric"] == "auroc"]
    assert len(aurocs) == 2 and aurocs["mean"].tolist() == pytest.approx([0.91, 0.91])
    model_row = table[table["metric"] == "test_auroc"].iloc[0]
    assert (model_row["method"], model_row["task"], model_row["n_seeds"]) == ("model", 0, 2)
    assert model_row["mean"] == pytest.approx(0.985)
    assert np.isnan(model_row["seed2"])


def test_a_single_seed_has_no_sd():
    no_model = pd.DataFrame(columns=["seed", "task", "auroc"])
    table = summarise_replicates(per_seed_table({("ism", "flat", GATA): [0.3]}), no_model)
    row = table[table["metric"] == "false_negative_rate"].iloc[0]
    assert row["mean"] == 0.3 and np.isnan(row["sd"])


# --- paired comparisons ---


def five_seed_rates() -> pd.DataFrame:
    return per_seed_table(
        {
            # genomics below Rescale in every seed: the claim holds one-sided (p = 1/32).
            ("deeplift_genomics", "flat", GATA): [0.01, 0.01, 0.02, 0.005, 0.01],
            ("deeplift_rescale", "flat", GATA): [0.03, 0.02, 0.05, 0.01, 0.04],
            # genomics above gradient x input in every seed: reversed.
            ("grad_input", "flat", GATA): [0.00, 0.00, 0.01, 0.00, 0.00],
            # RevealCancel equal to Rescale in one seed, below in the rest: p = 2/32.
            ("deeplift_revealcancel", "flat", GATA): [0.01, 0.02, 0.01, 0.00, 0.02],
        }
    )


def test_comparisons_differences_p_values_and_verdicts():
    table = compare_methods(five_seed_rates(), alpha=0.05)
    # integrated gradients is not in the table: its pair is skipped.
    pairs = list(zip(table["method"], table["baseline"], strict=True))
    assert pairs == [
        ("deeplift_genomics", "deeplift_rescale"),
        ("deeplift_genomics", "grad_input"),
        ("deeplift_revealcancel", "deeplift_rescale"),
    ]
    rows = table.set_index(["method", "baseline"])
    vs_rescale = rows.loc[("deeplift_genomics", "deeplift_rescale")]
    diffs = [vs_rescale[f"seed{s}"] for s in range(5)]
    assert diffs == pytest.approx([-0.02, -0.01, -0.03, -0.005, -0.03])
    assert vs_rescale["mean_difference"] == pytest.approx(-0.019)
    assert vs_rescale["p_one_sided"] == 1 / 32 and vs_rescale["p_two_sided"] == 2 / 32
    assert vs_rescale["verdict"] == "holds"
    vs_gi = rows.loc[("deeplift_genomics", "grad_input")]
    assert vs_gi["mean_difference"] == pytest.approx(0.009)
    assert vs_gi["p_reversed"] == 1 / 32 and vs_gi["verdict"] == "reversed"
    rc = rows.loc[("deeplift_revealcancel", "deeplift_rescale")]
    # differences -0.02, 0, -0.04, -0.01, -0.02: the zero doubles the extreme count.
    assert rc["p_one_sided"] == 2 / 32 and rc["verdict"] == "not shown"
    assert set(table["alpha"]) == {0.05} and set(table["reference"]) == {"flat"}


def test_a_seed_undefined_for_either_method_is_left_out():
    per_seed = per_seed_table(
        {
            ("deeplift_genomics", "flat", TAL): [0.0, np.nan, 0.0, 0.0],
            ("deeplift_rescale", "flat", TAL): [0.1, 0.2, 0.1, 0.1],
        }
    )
    row = compare_methods(per_seed).iloc[0]
    assert row["n_seeds"] == 3 and np.isnan(row["seed1"])
    assert row["p_one_sided"] == 1 / 8


def test_compare_rejects_bad_alpha():
    with pytest.raises(LiftGenomicsError, match="alpha"):
        compare_methods(five_seed_rates(), alpha=0.0)


# --- files, the CLI and the report ---


def write_runs(tmp_path, per_seed: pd.DataFrame) -> tuple[list[str], list[str], list[int]]:
    summaries, metrics = [], []
    seeds = sorted(set(per_seed["seed"]))
    for seed in seeds:
        run = tmp_path / f"seed{seed}"
        run.mkdir()
        table = per_seed[per_seed["seed"] == seed].drop(columns="seed")
        table.assign(n_hits=10, auprc=0.5).to_csv(run / "summary.tsv", sep="\t", index=False)
        aurocs = {"task0": 0.95 + 0.01 * seed, "task1": 0.9, "task2": None}
        (run / "metrics.json").write_text(json.dumps({"auroc": aurocs}))
        summaries.append(str(run / "summary.tsv"))
        metrics.append(str(run / "metrics.json"))
    return summaries, metrics, seeds


def test_cli_writes_both_tables_and_the_figure(tmp_path):
    summaries, metrics, seeds = write_runs(tmp_path, five_seed_rates())
    out, figure = tmp_path / "metrics", tmp_path / "fn.png"
    status = main(
        ["replicates", "--summaries", *summaries, "--model-metrics", *metrics,
         "--seeds", *map(str, seeds), "--out", str(out), "--figure", str(figure)]
    )  # fmt: skip
    assert status == 0
    summary = pd.read_csv(out / "replicates.tsv", sep="\t")
    comparisons = pd.read_csv(out / "comparisons.tsv", sep="\t")
    assert figure.read_bytes().startswith(b"\x89PNG")
    model = summary[summary["metric"] == "test_auroc"].set_index("task")
    assert model.loc[0, "mean"] == pytest.approx(0.97)
    assert model.loc[2, "n_seeds"] == 0  # undefined in every seed
    assert len(comparisons) == 3 and comparisons["p_one_sided"].min() == 1 / 32

    page = write_report(
        tmp_path / "r.html",
        summary=five_seed_rates().drop(columns="seed"),
        figures={},
        settings={},
        replicates=ReplicateResults.read(out / "replicates.tsv", out / "comparisons.tsv", figure),
    ).read_text(encoding="utf-8")
    assert "Replicates: 5 seeds" in page and "one-sided" in page
    assert page.count('<td class="text">holds</td>') == 1
    assert page.count('<td class="text">reversed</td>') == 1
    assert "0.997" in page and "1/32 = 0.0312" in page


def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    summaries, metrics, _ = write_runs(tmp_path, five_seed_rates())
    out = tmp_path / "metrics"
    status = main(
        ["replicates", "--summaries", *summaries, "--model-metrics", *metrics,
         "--seeds", "0", "1", "--out", str(out)]
    )  # fmt: skip
    assert status == 2
    assert "5 summaries, 5 model metrics and 2 seeds" in capsys.readouterr().err
    assert not out.exists()


def test_read_runs_names_a_missing_file(tmp_path):
    with pytest.raises(LiftGenomicsError, match="nowhere.tsv: summary not found"):
        read_runs([tmp_path / "nowhere.tsv"], [tmp_path / "m.json"], [0])
