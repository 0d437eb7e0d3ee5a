"""Tests of liftgenomics.motifs.discovery and ``liftgenomics motifs``.

The planted-motif case has a known answer: GATA_disc1 instances sampled from its PWM sit at known
places in random sequences, and the hypothetical scores are the motif's log-odds there and tiny
noise elsewhere, so every bit of signal is the planted motif. TF-MoDISco runs once per module
(its numba kernels compile on first use, which dominates the run time).
"""

import json
import socket

import numpy as np
import pandas as pd
import pytest

from liftgenomics.cli import main
from liftgenomics.motifs.discovery import (
    discover_motifs,
    load_inputs,
    region_names,
    write_discovery,
)
from liftgenomics.motifs.grading import grade_discovery
from liftgenomics.motifs.meme import format_meme, load_encode_compendium
from liftgenomics.motifs.modisco import DiscoveryOptions, trim_bounds, trimmed_span
from liftgenomics.motifs.tomtom import benjamini_hochberg, load_database

PLANTED = "GATA_disc1"
N, LENGTH = 100, 60
#: Small-data settings: a handful of seqlets per cluster, one Leiden run, short flanks.
SMALL = {
    "nearest_neighbors_to_compute": 50,
    "merging_max_seqlets_subsample": 100,
    "subcluster_perplexity": 10,
    "trim_to_window_size": 10,
    "initial_flank_to_add": 3,
    "min_num_to_trim_to": 10,
}


def small_options(**changes) -> DiscoveryOptions:
    options = DiscoveryOptions(window=10, flank=5, min_seqlets=20, leiden_runs=1, extra=dict(SMALL))
    for key, value in changes.items():
        setattr(options, key, value)
    return options


def planted_case(seed: int = 0):
    """(one-hot, hypothetical, starts) with one sampled GATA_disc1 per sequence."""
    motif = load_encode_compendium()[PLANTED]
    probabilities = motif.probabilities / motif.probabilities.sum(axis=1, keepdims=True)
    width = motif.width
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (N, LENGTH))
    starts = rng.integers(15, LENGTH - width - 15, N)
    for row in range(N):
        for j in range(width):
            codes[row, starts[row] + j] = rng.choice(4, p=probabilities[j])
    one_hot = np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1)
    hypothetical = rng.normal(0.0, 0.01, one_hot.shape).astype(np.float32)
    log_odds = np.log((probabilities * 0.99 + 0.0025) / 0.25)
    for row in range(N):
        hypothetical[row, :, starts[row] : starts[row] + width] = log_odds.T
    return one_hot, hypothetical, starts


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The planted case through the files and the writer, against the whole compendium.

    (The CLI's success path is the workflow's discover rule; its defaults suit real data, not
    60-bp toys, so this fixture sets the small-data options through the Python API.)
    """
    root = tmp_path_factory.mktemp("planted")
    one_hot, hypothetical, starts = planted_case()
    np.savez_compressed(root / "ohe.npz", one_hot)
    np.savez_compressed(root / "hyp.npz", hypothetical)
    one_hot, hypothetical = load_inputs(root / "ohe.npz", root / "hyp.npz")
    names = region_names(root / "ohe.npz", len(one_hot))
    result = discover_motifs(one_hot, hypothetical, load_database(None), small_options(), names)
    # What a SIGKILLed earlier run leaves: its staging folder (no ``finally`` ran) and its lock.
    (root / ".out.k2_9zzzz.part").mkdir()
    (root / ".out.k2_9zzzz.part" / "modisco.h5").write_bytes(b"half")
    dead = {"pid": 999999999, "host": socket.gethostname()}
    (root / ".out.lock").write_text(json.dumps(dead))
    with pytest.warns(UserWarning, match="taking over the lock"):
        write_discovery(result, root / "out", window=10)
    return root, 0, starts


def test_a_killed_runs_staging_folder_and_lock_are_gone(planted):
    root, _, _ = planted
    assert sorted(p.name for p in root.iterdir()) == ["hyp.npz", "ohe.npz", "out"]


def test_planted_motif_is_found_and_named(planted):
    root, status, starts = planted
    assert status == 0
    out = root / "out"
    for name in ("modisco.h5", "patterns.tsv", "seqlets.tsv", "tomtom.tsv", "motifs.html"):
        assert (out / name).is_file(), name
    patterns = pd.read_csv(out / "patterns.tsv", sep="\t")
    positive = patterns[patterns["sign"] == "+"]
    assert len(positive) == 1
    assert positive["match1"].iloc[0] == PLANTED
    assert positive["q1"].iloc[0] < 0.05
    assert (out / "logos" / f"{positive['pattern'].iloc[0]}.cwm.png").is_file()
    # No regions.tsv beside ohe.npz: rows are named row{i}.
    seqlets = pd.read_csv(out / "seqlets.tsv", sep="\t")
    assert seqlets["region"].str.fullmatch(r"row\d+").all()


def test_planted_seqlets_sit_on_the_planted_instances(planted):
    root, _, starts = planted
    patterns = pd.read_csv(root / "out" / "patterns.tsv", sep="\t")
    seqlets = pd.read_csv(root / "out" / "seqlets.tsv", sep="\t")
    matches = pd.read_csv(root / "out" / "tomtom.tsv", sep="\t")
    width = load_encode_compendium()[PLANTED].width
    instances = pd.DataFrame(
        {"id": [f"row{i}" for i in range(N)], "start": starts, "end": starts + width,
         "motif": PLANTED}
    )  # fmt: skip
    # Independent check of precision: every trimmed seqlet core lies within 2 bp of an instance.
    own = seqlets[seqlets["pattern"] == patterns["pattern"].iloc[0]]
    offsets = own["start"].to_numpy() - starts[own["row"].to_numpy()]
    assert np.all(np.abs(offsets) <= 2)
    graded = grade_discovery(
        patterns, seqlets, matches, instances, [f"row{i}" for i in range(N)], [PLANTED]
    )
    row = graded.iloc[0]
    assert row["recovered"] and row["rank"] == 1
    assert row["seqlet_precision"] == pytest.approx(1.0)
    # Seqlets too close to a sequence end cannot be widened to the pattern and are dropped.
    assert row["instance_recall"] >= 0.6
    assert row["instance_recall"] == pytest.approx(own["row"].nunique() / N)
    assert row["spurious_patterns"] == len(patterns) - 1


def test_same_seed_same_patterns_in_process():
    one_hot, hypothetical, _ = planted_case()
    database = load_database(None)
    first = discover_motifs(one_hot, hypothetical, database, small_options(seed=3))
    second = discover_motifs(one_hot, hypothetical, database, small_options(seed=3))
    pd.testing.assert_frame_equal(first.seqlets_table, second.seqlets_table)
    assert [p.name for p in first.patterns] == [p.name for p in second.patterns]
    np.testing.assert_array_equal(first.patterns[0].cwm, second.patterns[0].cwm)


# --------------------------------------------------------------------------- pure helpers


def test_benjamini_hochberg_by_hand():
    # p sorted: .01 .02 .03 .5 -> p*m/i = .04 .04 .04 .5; keeps the input order.
    q = benjamini_hochberg(np.array([0.5, 0.01, 0.03, 0.02]))
    np.testing.assert_allclose(q, [0.5, 0.04, 0.04, 0.04])
    # Step-up: sorted .1 .2 .3 -> .3 .3 .3 (each is the minimum of p*m/i from its rank on).
    np.testing.assert_allclose(benjamini_hochberg(np.array([0.1, 0.3, 0.2])), [0.3, 0.3, 0.3])


def test_trim_bounds_and_trimmed_span():
    cwm = np.zeros((10, 4))
    cwm[3, 0], cwm[5, 2], cwm[6, 1] = 1.0, -0.5, 0.2  # 0.2 < 0.3 of the max: trimmed off
    assert trim_bounds(cwm) == (3, 6)
    assert trimmed_span(100, 110, False, (3, 6)) == (103, 106)
    # Reverse complement: pattern position 0 is the seqlet's last base.
    assert trimmed_span(100, 110, True, (3, 6)) == (104, 107)


def test_grade_by_hand():
    """Recovery arithmetic on a hand-made run: two truth motifs, three patterns."""
    patterns = pd.DataFrame(
        {"pattern": ["pos_0", "pos_1", "neg_0"], "rank": [1, 2, 3], "n_seqlets": [4, 2, 1]}
    )
    matches = pd.DataFrame(
        {
            "pattern": ["pos_0", "pos_0", "pos_1", "neg_0"],
            "target": ["TAL", "GATA", "GATA", "OTHER"],
            "p_value": [1e-9, 1e-6, 1e-8, 1e-9],
            "q_value": [1e-6, 1e-3, 1e-5, 1e-6],
        }
    )
    seqlets = pd.DataFrame(
        {
            "region": ["a", "a", "b", "c", "b", "c", "d"],
            "start": [10, 50, 0, 30, 40, 5, 0],
            "end": [20, 60, 10, 40, 48, 15, 5],
            "pattern": ["pos_0"] * 4 + ["pos_1"] * 2 + ["neg_0"],
        }
    )
    instances = pd.DataFrame(
        {
            "id": ["a", "b", "c", "c", "b", "e"],
            "start": [15, 5, 100, 10, 47, 0],
            "end": [25, 12, 110, 20, 60, 10],
            "motif": ["TAL", "TAL", "TAL", "GATA", "GATA", "GATA"],
        }
    )
    graded = grade_discovery(
        patterns, seqlets, matches, instances, ["a", "b", "c"], ["GATA", "TAL"]
    ).set_index("motif")
    # pos_0 matches TAL better than GATA: TAL's; pos_1 is GATA's; neg_0 matches neither.
    assert graded.loc["TAL", "pattern"] == "pos_0" and graded.loc["GATA", "pattern"] == "pos_1"
    assert list(graded["spurious_patterns"]) == [1, 1]
    assert list(graded["n_patterns"]) == [3, 3]
    assert graded.loc["GATA", "rank"] == 2 and graded.loc["GATA", "n_seqlets"] == 2
    # pos_0's seqlets on TAL: a[10,20) yes, a[50,60) no, b[0,10) yes (b[5,12)), c[30,40) no.
    assert graded.loc["TAL", "seqlet_precision"] == pytest.approx(2 / 4)
    # pos_1 on GATA: b[40,48) touches b[47,60) (one base); c[5,15) touches c[10,20).
    assert graded.loc["GATA", "seqlet_precision"] == pytest.approx(1.0)
    # Instances in positive sequences (a, b, c): TAL a, b, c[100,110) -> 2 of 3 covered;
    # GATA c[10,20), b[47,60) -> both; e is not positive, so it does not count.
    assert graded.loc["TAL", "instance_recall"] == pytest.approx(2 / 3)
    assert graded.loc["GATA", "instance_recall"] == pytest.approx(1.0)
    assert graded["recovered"].all()


def test_grade_nothing_recovered():
    patterns = pd.DataFrame({"pattern": ["pos_0"], "rank": [1], "n_seqlets": [3]})
    matches = pd.DataFrame(
        {"pattern": ["pos_0"], "target": ["GATA"], "p_value": [0.01], "q_value": [0.2]}
    )
    seqlets = pd.DataFrame({"region": ["a"], "start": [0], "end": [5], "pattern": ["pos_0"]})
    instances = pd.DataFrame({"id": ["a"], "start": [50], "end": [60], "motif": ["GATA"]})
    row = grade_discovery(patterns, seqlets, matches, instances, ["a"], ["GATA"]).iloc[0]
    assert not row["recovered"] and row["spurious_patterns"] == 1
    assert np.isnan(row["seqlet_precision"]) and row["instance_recall"] == 0.0


def test_load_database_reads_a_meme_file(tmp_path):
    compendium = load_encode_compendium()
    path = tmp_path / "db.meme"
    path.write_text(format_meme([compendium[PLANTED], compendium["TAL1_known1"]]))
    database = load_database(path)
    assert list(database) == [PLANTED, "TAL1_known1"]
    np.testing.assert_allclose(
        database[PLANTED].probabilities, compendium[PLANTED].probabilities, atol=1e-6
    )


# --------------------------------------------------------------------------- CLI bad inputs


def _write_inputs(root, one_hot, hypothetical):
    np.savez_compressed(root / "ohe.npz", one_hot)
    np.savez_compressed(root / "hyp.npz", hypothetical)
    return ["--ohe", str(root / "ohe.npz"), "--hyp", str(root / "hyp.npz")]


def _expect_error(capsys, argv, out_dir, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_cli_shape_mismatch(tmp_path, capsys):
    inputs = _write_inputs(tmp_path, np.zeros((3, 4, 20)), np.zeros((3, 4, 21)))
    out = tmp_path / "out"
    _expect_error(capsys, ["motifs", *inputs, "--out", str(out)], out, "do not match")


def test_cli_unreadable_meme(tmp_path, capsys):
    one_hot, hypothetical, _ = planted_case()
    inputs = _write_inputs(tmp_path, one_hot[:5], hypothetical[:5])
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\n\nMOTIF x\nletter-probability matrix: alength= 4 w= 2\n0.5\n")
    out = tmp_path / "out"
    argv = ["motifs", *inputs, "--out", str(out), "--motifs", str(bad)]
    _expect_error(capsys, argv, out, "bad.meme")


def test_cli_too_few_seqlets(tmp_path, capsys):
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, (12, 60))
    one_hot = np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1)
    hypothetical = rng.normal(0, 1, one_hot.shape).astype(np.float32)
    inputs = _write_inputs(tmp_path, one_hot, hypothetical)
    out = tmp_path / "out"
    argv = ["motifs", *inputs, "--out", str(out), "--window", "10"]
    _expect_error(capsys, argv, out, "too few seqlets")


@pytest.mark.parametrize("pairs", [["deeplift_genomics"], ["deeplift_genomics:"], [":flat"]])
def test_cli_grade_bad_pairs(tmp_path, capsys, pairs):
    out = tmp_path / "discovery.tsv"
    argv = ["grade-motifs", "--simulation", str(tmp_path), "--discovery", str(tmp_path),
            "--pairs", *pairs, "--tasks", "0", "--out", str(out)]  # fmt: skip
    _expect_error(capsys, argv, out, "expected METHOD:REFERENCE")


def test_report_section_headline(tmp_path):
    from liftgenomics.report.html import discovery_section

    table = pd.DataFrame(
        {
            "method": ["a", "a", "b", "b"],
            "reference": ["r"] * 4,
            "task": [0] * 4,
            "motif": ["GATA", "TAL", "GATA", "TAL"],
            "recovered": [True, True, True, False],
            "pattern": ["pos_0", "pos_1", "pos_0", ""],
            "seqlet_precision": [0.9, 0.8, 0.5, float("nan")],
        }
    )
    page = discovery_section(table, tmp_path)
    headline = page.split("</p>")[0]
    assert "<b>a (r)</b>" in headline and "b (r)" not in headline
    # The logo table has one row per run; logos missing on disk show as the missing mark.
    assert page.count("<td class='text'>a / r / task 0</td>") == 1
    assert page.count("<td class='text'>b / r / task 0</td>") == 1


def test_labelled_rows_by_name_and_index(tmp_path):
    from liftgenomics.motifs.discovery import labelled_rows

    labels = tmp_path / "test.labels.tsv"
    labels.write_text("id\ttask0\ttask1\nseq7\t1\t0\nseq2\t0\t1\nseq5\t1\t1\n")
    names = ["seq2", "seq5", "seq7"]  # another order than the file's
    assert labelled_rows(names, labels, "task0").tolist() == [1, 2]
    assert labelled_rows(names, labels, "1").tolist() == [0, 1]


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("id\ttask0\nseq0\t1\nseq1\t0\n", "task3", "no label column 'task3'"),
        ("id\ttask0\nseq0\t1\nseq1\t2\n", "task0", "only 0 and 1"),
        ("id\ttask0\nseq0\t1\n", "task0", "1 of the 2 rows have no label"),
    ],
)
def test_labelled_rows_refuses(tmp_path, text, column, message):
    from liftgenomics.errors import LiftGenomicsError
    from liftgenomics.motifs.discovery import labelled_rows

    labels = tmp_path / "labels.tsv"
    labels.write_text(text)
    with pytest.raises(LiftGenomicsError, match=message):
        labelled_rows(["seq0", "seq1"], labels, column)


def test_seqlets_of_selected_rows_keep_the_input_rows():
    from liftgenomics.motifs.discovery import seqlets_table
    from liftgenomics.motifs.modisco import Pattern

    ppm = np.full((6, 4), 0.25)
    pattern = Pattern("pos_0", "+", ppm, ppm, ppm, (1, 5), [(0, 10, 16, False), (1, 3, 9, True)])
    table = seqlets_table([pattern], ["a", "b", "c", "d"], rows=[1, 3])
    assert table["region"].tolist() == ["b", "d"]
    assert table["row"].tolist() == [1, 3]
    # Trimmed cores: [start + 1, start + 5) forward; from the end on the reverse strand.
    assert table[["start", "end", "strand"]].values.tolist() == [[11, 15, "+"], [4, 8, "-"]]


def test_cli_labels_without_label(tmp_path, capsys):
    one_hot, hypothetical, _ = planted_case()
    inputs = _write_inputs(tmp_path, one_hot[:5], hypothetical[:5])
    out = tmp_path / "out"
    argv = ["motifs", *inputs, "--out", str(out), "--labels", str(tmp_path / "x.tsv")]
    _expect_error(capsys, argv, out, "--labels and --label go together")


def test_cli_scores_without_signal(tmp_path, capsys):
    """All-zero scores break modisco-lite's seqlet thresholds: a clear error, or empty tables."""
    codes = np.random.default_rng(2).integers(0, 4, (12, 120))
    one_hot = np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1)
    inputs = _write_inputs(tmp_path, one_hot, np.zeros_like(one_hot))
    out = tmp_path / "out"
    _expect_error(capsys, ["motifs", *inputs, "--out", str(out)], out, "found no pattern")
    assert main(["motifs", *inputs, "--out", str(out), "--allow-empty"]) == 0
    assert pd.read_csv(out / "patterns.tsv", sep="\t").empty
    assert pd.read_csv(out / "seqlets.tsv", sep="\t").empty
