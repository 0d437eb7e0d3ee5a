"""Tests for liftgenomics.motifs.{pwm,meme,scan}: parsers, smoothing, log-odds, scanning and top
hits."""

import dataclasses
import gzip
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import one_hot_encode, one_hot_encode_batch
from liftgenomics.motifs.meme import (
    format_meme,
    get_motif,
    load_encode_compendium,
    read_encode_motifs,
    read_meme,
)
from liftgenomics.motifs.pwm import Motif, log_odds, smooth
from liftgenomics.motifs.scan import scan, top_hits

# The paper's two motifs as printed in shared/data/paper_motifs.meme (raw compendium numbers).
PAPER_MEME = """MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.300 C 0.200 G 0.200 T 0.300

MOTIF GATA_disc1 GATA1_K562b_encode-Snyder_seq_hsa_r1:MDscan#1#Intergenic

letter-probability matrix: alength= 4 w= 10 nsites= 100 E= 0
 0.322751  0.185185  0.359788  0.132275
 0.137566  0.476190  0.322751  0.063492
 0.666667  0.100529  0.000000  0.232804
 0.000000  0.000000  1.000000  0.000000
 1.000000  0.000000  0.000000  0.000000
 0.000000  0.000000  0.000000  1.000000
 0.878307  0.000000  0.000000  0.121693
 0.973545  0.026455  0.000000  0.000000
 0.000000  0.052910  0.947090  0.000000
 0.243386  0.248677  0.507937  0.000000

MOTIF TAL1_known1 TAL1_1_Tal-1beta:E47_transfac_M00065

letter-probability matrix: alength= 4 w= 16 nsites= 100 E= 0
 0.230000  0.350000  0.280000  0.140000
 0.150000  0.300000  0.230000  0.320000
 0.140000  0.230000  0.440000  0.190000
 0.660000  0.090000  0.140000  0.110000
 0.610000  0.300000  0.030000  0.060000
 0.000000  1.000000  0.000000  0.000000
 1.000000  0.000000  0.000000  0.000000
 0.000000  0.000000  1.000000  0.000000
 0.860000  0.010000  0.100000  0.030000
 0.000000  0.000000  0.000000  1.000000
 0.000000  0.000000  1.000000  0.000000
 0.010000  0.030000  0.610000  0.350000
 0.030000  0.170000  0.010000  0.790000
 0.200000  0.430000  0.170000  0.200000
 0.270000  0.230000  0.310000  0.190000
 0.230000  0.260000  0.320000  0.190000
"""

# Rows of shared/data/paper_motifs_pseudocount0.001.meme (smoothed, six printed digits).
SMOOTHED_ROWS = {
    ("GATA_disc1", 0): [0.322678, 0.185250, 0.359678, 0.132393],
    ("GATA_disc1", 2): [0.666250, 0.100678, 0.000250, 0.232821],
    ("GATA_disc1", 9): [0.243393, 0.248678, 0.507679, 0.000250],
    ("TAL1_known1", 4): [0.609640, 0.299950, 0.030220, 0.060190],
    ("TAL1_known1", 11): [0.010240, 0.030220, 0.609640, 0.349900],
    ("TAL1_known1", 15): [0.230020, 0.259990, 0.319930, 0.190060],
}
BACKGROUND = np.array([0.3, 0.2, 0.2, 0.3])


@pytest.fixture
def paper_motifs(tmp_path):
    path = tmp_path / "paper.meme"
    path.write_text(PAPER_MEME)
    return read_meme(path)


def write(tmp_path, text, name="motifs.meme"):
    path = tmp_path / name
    path.write_text(text)
    return path


def random_motif(rng, width):
    return Motif("m", rng.dirichlet(np.ones(4), size=width))


# --------------------------------------------------------------------------- Motif


def test_motif_is_frozen_and_read_only():
    motif = Motif("m", [[0.25] * 4, [1, 0, 0, 0]])
    assert motif.probabilities.dtype == np.float64
    assert motif.width == 2
    assert motif.consensus == "AA"
    with pytest.raises(dataclasses.FrozenInstanceError):
        motif.name = "other"
    with pytest.raises(ValueError):
        motif.probabilities[0, 0] = 1.0


@pytest.mark.parametrize(
    "matrix", [[[0.5, 0.5, 0.5, 0.5]], [[0.25] * 3], np.zeros((0, 4)), [[1.5, -0.5, 0, 0]]]
)
def test_motif_rejects_bad_matrices(matrix):
    with pytest.raises(LiftGenomicsError, match="motif 'm'"):
        Motif("m", matrix)


# --------------------------------------------------------------------------- compendium


def test_compendium_has_the_paper_motifs_exactly(paper_motifs):
    compendium = load_encode_compendium()
    assert len(compendium) == 2067
    for name, expected in paper_motifs.items():
        motif = compendium[name]
        assert motif.name == name
        np.testing.assert_array_equal(motif.probabilities, expected.probabilities)
    assert compendium["GATA_disc1"].width == 10
    assert compendium["TAL1_known1"].width == 16
    assert compendium["GATA_disc1"].description.startswith("GATA1_K562b_encode-Snyder")


def test_compendium_is_cached_but_callers_get_their_own_dict():
    first = load_encode_compendium()
    first.pop("GATA_disc1")
    second = load_encode_compendium()
    assert "GATA_disc1" in second
    assert second["TAL1_known1"] is first["TAL1_known1"]


def test_smoothed_paper_motifs_match_the_published_digits():
    compendium = load_encode_compendium()
    for (name, row), expected in SMOOTHED_ROWS.items():
        smoothed = smooth(compendium[name], 0.001).probabilities[row]
        np.testing.assert_array_equal(np.round(smoothed, 6), expected)


def test_read_encode_motifs_plain_and_gzip(tmp_path):
    text = ">A1 first motif\nG 0.1 0.1 0.7 0.1\nN 0.25 0.25 0.25 0.25\n\n>B2\nA 1 0 0 0\n"
    plain = write(tmp_path, text, "m.txt")
    packed = tmp_path / "m.txt.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    for path in (plain, packed):
        motifs = read_encode_motifs(path)
        assert list(motifs) == ["A1", "B2"]
        assert motifs["A1"].description == "first motif"
        np.testing.assert_array_equal(motifs["A1"].probabilities[0], [0.1, 0.1, 0.7, 0.1])
        assert motifs["B2"].width == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A 1 0 0 0\n", r"m\.txt:1: probability row before"),
        (">X\nA 1 0 0\n", r"m\.txt:2: expected 'IUPAC"),
        (">X\nA 1 0 0 x\n", r"m\.txt:2: expected four probabilities"),
        (">X\nA 0.5 0.1 0.1 0.1\n", r"m\.txt:2: probabilities sum to 0\.8"),
        (">X\nA 1 0 0 0\n>Y\n>Z\nC 0 1 0 0\n", r"m\.txt:3: motif 'Y' has no probability rows"),
        (">X\nA 1 0 0 0\n>X\nA 1 0 0 0\n", r"m\.txt:3: duplicate motif name 'X'"),
        ("\n\n", r"m\.txt: no motifs"),
        (">\nA 1 0 0 0\n", r"m\.txt:1: motif header without a name"),
    ],
)
def test_read_encode_motifs_errors_name_the_line(tmp_path, text, message):
    with pytest.raises(LiftGenomicsError, match=message):
        read_encode_motifs(write(tmp_path, text, "m.txt"))


def test_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(LiftGenomicsError, match="nope.meme: MEME file not found"):
        read_meme(tmp_path / "nope.meme")
    with pytest.raises(LiftGenomicsError, match="nope.txt: motif file not found"):
        read_encode_motifs(tmp_path / "nope.txt")


# --------------------------------------------------------------------------- MEME


def test_read_meme_paper_file(paper_motifs):
    assert list(paper_motifs) == ["GATA_disc1", "TAL1_known1"]
    gata = paper_motifs["GATA_disc1"]
    assert gata.width == 10
    assert gata.description == "GATA1_K562b_encode-Snyder_seq_hsa_r1:MDscan#1#Intergenic"
    np.testing.assert_array_equal(gata.probabilities[2], [0.666667, 0.100529, 0.0, 0.232804])
    assert paper_motifs["TAL1_known1"].consensus == "CTGAACAGATGGTCGG"


def test_read_meme_without_w_and_with_log_odds_and_url(tmp_path):
    text = (
        "MEME version 5\n\nALPHABET= ACGT\n\nMOTIF one\n"
        "log-odds matrix: alength= 4 w= 2\n 1 2 3 4\n 5 6 7 8\n"
        "letter-probability matrix: alength= 4\n 0.1 0.2 0.3 0.4\n\n 1 0 0 0\n"
        "URL http://example.org\n\nMOTIF two alt\nletter-probability matrix:\n0.25 0.25 0.25 0.25\n"
    )
    motifs = read_meme(write(tmp_path, text))
    assert motifs["one"].width == 2
    np.testing.assert_array_equal(motifs["one"].probabilities[1], [1, 0, 0, 0])
    assert motifs["two"].description == "alt"
    assert motifs["two"].width == 1


HEADER = "MEME version 4\n\nALPHABET= ACGT\n\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ALPHABET= ACDEFGHIKLMNPQRSTVWY\n", r":1: only the DNA alphabet"),
        (
            HEADER + "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 0.5\n",
            r":7: expected four",
        ),
        (
            HEADER + "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 0.5 0.5\n",
            r":7: probabilities sum to 2",
        ),
        (HEADER + "MOTIF a\nletter-probability matrix: alength= 20 w= 1\n", r":6: alength= 20"),
        (HEADER + "MOTIF a\nletter-probability matrix: w= 2\n1 0 0 0\n", r"has 1 rows, expected"),
        (HEADER + "MOTIF a\n\nMOTIF b\n", r":5: motif 'a' has no letter-probability matrix"),
        (HEADER + "letter-probability matrix: w= 1\n", r":5: letter-probability matrix before"),
        (HEADER + "MOTIF a\n0.25 0.25 0.25 0.25\n", r":6: numeric row outside"),
        (HEADER + "MOTIF\n", r":5: MOTIF line without an identifier"),
        (HEADER, r"no MOTIF entries"),
        (HEADER + "MOTIF a\nletter-probability matrix: w= x\n", r":6: w= must be an integer"),
        (
            HEADER + "MOTIF a\nletter-probability matrix:\n1 0 0 0\nMOTIF a\n"
            "letter-probability matrix:\n1 0 0 0\n",
            r":8: duplicate motif name 'a' \(first on line 5\)",
        ),
    ],
)
def test_read_meme_errors_name_file_and_line(tmp_path, text, message):
    with pytest.raises(LiftGenomicsError, match=r"motifs\.meme" + ".*" + message):
        read_meme(write(tmp_path, text))


def test_row_sum_error_names_the_row_line(tmp_path):
    text = HEADER + "MOTIF a\nletter-probability matrix: w= 2\n1 0 0 0\n0.3 0.3 0.3 0.3\n"
    with pytest.raises(LiftGenomicsError, match=r"motifs\.meme:8: probabilities sum to 1\.2"):
        read_meme(write(tmp_path, text))


# --------------------------------------------------------------------------- get_motif


def test_get_motif_default_source_and_custom_source(paper_motifs):
    assert get_motif("TAL1_known1").width == 16
    assert get_motif("GATA_disc1", paper_motifs) is paper_motifs["GATA_disc1"]


@pytest.mark.parametrize(
    ("name", "suggestion"), [("GATA1_disc1", "GATA_disc1"), ("tal1_known1", "TAL1_known1")]
)
def test_get_motif_unknown_name_lists_close_names(name, suggestion):
    with pytest.raises(LiftGenomicsError, match=f"unknown motif '{name}'.*closest: .*{suggestion}"):
        get_motif(name)


def test_get_motif_unknown_without_close_names(paper_motifs):
    with pytest.raises(LiftGenomicsError, match=r"unknown motif 'zzz' \(2 motifs known\)$"):
        get_motif("zzz", paper_motifs)


# --------------------------------------------------------------------------- smooth / log-odds


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), c=st.floats(0, 1))
def test_smooth_formula_keeps_rows_normalised(seed, c):
    motif = random_motif(np.random.default_rng(seed), 5)
    smoothed = smooth(motif, c)
    np.testing.assert_allclose(smoothed.probabilities, motif.probabilities * (1 - c) + c / 4)
    np.testing.assert_allclose(smoothed.probabilities.sum(axis=1), 1.0)
    assert smoothed.name == motif.name


def test_smooth_rejects_bad_pseudocount():
    with pytest.raises(LiftGenomicsError, match="pseudocount"):
        smooth(Motif("m", [[1, 0, 0, 0]]), -0.1)


def test_log_odds_known_values():
    motif = Motif("m", [[0.25] * 4, [0.6, 0.2, 0.1, 0.1]])
    matrix = log_odds(motif)
    np.testing.assert_allclose(matrix[0], np.log(0.25 / BACKGROUND))
    np.testing.assert_allclose(matrix[1], [np.log(2), 0.0, -np.log(2), -np.log(3)])
    # A matching background gives zero log-odds everywhere (natural log, any base would too).
    np.testing.assert_allclose(log_odds(Motif("u", [[0.25] * 4]), [0.25] * 4), 0.0)


@pytest.mark.parametrize(
    "background", [(0.3, 0.2, 0.5), (0.5, 0.5, 0.0, 0.0), (0.3, 0.3, 0.3, 0.3), "ACGT"]
)
def test_log_odds_validates_background(background):
    with pytest.raises(LiftGenomicsError, match="background"):
        log_odds(Motif("m", [[0.25] * 4]), background)


def test_log_odds_of_unsmoothed_zero_is_minus_inf(paper_motifs):
    matrix = log_odds(paper_motifs["GATA_disc1"])
    assert np.isneginf(matrix[3, 0])
    assert np.isfinite(log_odds(smooth(paper_motifs["GATA_disc1"]))).all()


# --------------------------------------------------------------------------- scan


def naive_scan(X, matrix):
    width = matrix.shape[0]
    out = np.zeros((X.shape[0], X.shape[2] - width + 1))
    for n, s in itertools.product(range(out.shape[0]), range(out.shape[1])):
        out[n, s] = (X[n, :, s : s + width] * matrix.T).sum()
    return out


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 4),
    length=st.integers(1, 30),
    width=st.integers(1, 8),
)
def test_scan_matches_naive_windows(seed, count, length, width):
    rng = np.random.default_rng(seed)
    length = max(length, width)
    codes = rng.integers(0, 5, size=(count, length))  # 4 = N (all-zero column)
    X = np.eye(5, dtype=np.float32)[codes].transpose(0, 2, 1)[:, :4]
    matrix = rng.normal(size=(width, 4))
    scores = scan(X, matrix)
    assert scores.shape == (count, length - width + 1)
    np.testing.assert_allclose(scores, naive_scan(X, matrix), atol=1e-9)


def test_scan_scores_a_planted_consensus_highest_and_n_counts_zero(paper_motifs):
    gata = smooth(paper_motifs["GATA_disc1"])
    matrix = log_odds(gata)
    sequence = "T" * 20 + gata.consensus + "T" * 20
    scores = scan(one_hot_encode(sequence)[None], matrix)
    assert scores.argmax() == 20
    np.testing.assert_allclose(scores[0, 20], matrix.max(axis=1).sum())
    masked = scan(one_hot_encode("T" * 20 + "N" * 10 + "T" * 20)[None], matrix)
    assert masked[0, 20] == 0.0


def test_scan_errors():
    matrix = np.zeros((5, 4))
    with pytest.raises(LiftGenomicsError, match=r"\(N, 4, L\)"):
        scan(np.zeros((4, 10)), matrix)
    with pytest.raises(LiftGenomicsError, match="shorter than the motif"):
        scan(np.zeros((1, 4, 3)), matrix)
    with pytest.raises(LiftGenomicsError, match="smooth the motif first"):
        scan(np.zeros((1, 4, 10)), np.full((5, 4), -np.inf))
    with pytest.raises(LiftGenomicsError, match=r"\(W, 4\)"):
        scan(np.zeros((1, 4, 10)), np.zeros((5, 3)))


# --------------------------------------------------------------------------- top_hits


def test_top_hits_hand_example():
    scores = np.array([[0.0, 5.0, 4.9, 1.0, 3.0, 0.5, 2.0]])
    hits = top_hits(scores, width=4, n=3)  # exclusion: |start - chosen| < 2
    np.testing.assert_array_equal(hits.starts, [[1, 4, 6]])
    np.testing.assert_allclose(hits.scores, [[5.0, 3.0, 2.0]])


def test_top_hits_pads_when_windows_run_out():
    hits = top_hits(np.array([[1.0, 2.0, 3.0]]), width=10, n=2)
    np.testing.assert_array_equal(hits.starts, [[2, -1]])
    assert hits.scores[0, 0] == 3.0
    assert np.isnan(hits.scores[0, 1])


def naive_top_hits(row, width, n):
    chosen = []
    for _ in range(n):
        admissible = [s for s in range(row.size) if all(abs(s - c) >= width / 2 for c in chosen)]
        if not admissible:
            break
        chosen.append(max(admissible, key=lambda s: (row[s], -s)))
    return chosen


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    positions=st.integers(1, 40),
    width=st.integers(1, 12),
    n=st.integers(1, 6),
)
def test_top_hits_matches_naive_greedy(seed, positions, width, n):
    rng = np.random.default_rng(seed)
    scores = rng.integers(-5, 6, size=(3, positions)).astype(float)  # integers: many ties
    hits = top_hits(scores, width, n)
    for row in range(3):
        expected = naive_top_hits(scores[row], width, n)
        found = hits.starts[row][hits.starts[row] >= 0].tolist()
        assert found == expected
        np.testing.assert_array_equal(hits.scores[row, : len(found)], scores[row, expected])
        assert np.all(np.diff(hits.scores[row, : len(found)]) <= 0)


def test_top_hits_finds_planted_instances(paper_motifs):
    tal = smooth(paper_motifs["TAL1_known1"])
    rng = np.random.default_rng(0)
    background = "".join(rng.choice(list("ACGT"), size=200, p=BACKGROUND))
    sequence = (
        background[:30] + tal.consensus + background[46:120] + tal.consensus + background[136:]
    )
    X = one_hot_encode_batch([sequence, background])
    hits = top_hits(scan(X, log_odds(tal)), tal.width, n=5)
    assert sorted(hits.starts[0, :2].tolist()) == [30, 120]
    assert hits.scores[0, 1] > hits.scores[1, 0]


def test_top_hits_validates():
    with pytest.raises(LiftGenomicsError, match="width >= 1"):
        top_hits(np.zeros((1, 5)), width=0)
    with pytest.raises(LiftGenomicsError, match=r"\(N, P\)"):
        top_hits(np.zeros(5), width=3)


# --------------------------------------------------------------------------- writing MEME


@settings(max_examples=30, deadline=None)
@given(
    widths=st.lists(st.integers(1, 12), min_size=1, max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_format_meme_reads_back(tmp_path_factory, widths, seed):
    rng = np.random.default_rng(seed)
    motifs = [
        Motif(f"m{i}", rng.dirichlet(np.ones(4), size=width), description=f"made up {i}")
        for i, width in enumerate(widths)
    ]
    path = tmp_path_factory.mktemp("meme") / "m.meme"
    path.write_text(format_meme(motifs))
    back = read_meme(path)
    assert list(back) == [m.name for m in motifs]
    for motif in motifs:
        np.testing.assert_allclose(back[motif.name].probabilities, motif.probabilities, atol=1e-6)
        assert back[motif.name].description == motif.description.replace(" ", "_")


def test_resources_hold_the_paper_motifs_as_the_compendium_has_them():
    path = Path(__file__).resolve().parents[2] / "resources" / "paper_motifs.meme"
    compendium = load_encode_compendium()
    expected = format_meme([compendium["GATA_disc1"], compendium["TAL1_known1"]])
    assert path.read_text() == expected
