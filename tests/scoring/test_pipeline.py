"""Tests for liftgenomics.scoring.pipeline and the ``score``/``logo`` commands: a small FASTA +
BED end to end against :func:`attribute` called directly, streaming files, bigWig, and every bad
input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from liftgenomics.attribution import attribute
from liftgenomics.cli import main
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.regions import Region
from liftgenomics.models.directory import save_model
from liftgenomics.models.load import load_model
from liftgenomics.models.registry import build_model
from liftgenomics.scoring.pipeline import score_regions
from liftgenomics.scoring.tracks import merged_track
from liftgenomics.scoring.writers import NpzStreamWriter, read_npz_rows

LENGTH = 40
# The BED fixture has one interval off chr2's start on purpose: tests that do not check its
# warning ignore it.
IGNORE_SKIPPED = pytest.mark.filterwarnings("ignore:skipped edge")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small paper-style CNN (two tasks, input length 40), saved the package's way."""
    architecture = {
        "name": "paper_cnn",
        "n_tasks": 2,
        "length": LENGTH,
        "filters": 6,
        "width": 5,
        "hidden": 5,
    }
    torch.manual_seed(3)
    model = build_model(architecture)
    directory = tmp_path_factory.mktemp("model")
    save_model(model, directory, architecture)
    return directory


@pytest.fixture
def genome(tmp_path):
    rng = np.random.default_rng(7)
    letters = np.array(list("ACGTacgt"))
    records = {
        "chr1": "".join(rng.choice(letters, 300)),
        "chr2": "".join(rng.choice(letters, 90)),
    }
    chr1 = list(records["chr1"])
    chr1[105:108] = "NNN"
    records["chr1"] = "".join(chr1)
    path = tmp_path / "genome.fa"
    with open(path, "w") as handle:
        for name, sequence in records.items():
            handle.write(f">{name}\n")
            for start in range(0, len(sequence), 60):
                handle.write(sequence[start : start + 60] + "\n")
    bed = tmp_path / "peaks.bed"
    bed.write_text(
        "chr1\t90\t130\tp1\t0\t+\n"  # holds the NNN
        "chr1\t100\t150\tp2\t0\t-\n"  # overlaps p1
        "chr2\t0\t10\tedge\n"  # runs off chr2's start once resized to 40
        "chr2\t30\t70\tp3\n"
        "chr1\t200\t260\tp4\t0\t.\t5\t1\t1\t10\n"  # narrowPeak summit at 210
    )
    return path, bed, records


def load_single(path):
    with np.load(path) as archive:
        assert archive.files == ["arr_0"]
        return archive["arr_0"]


def test_score_matches_attribute_called_directly(model_dir, genome, tmp_path):
    fasta, bed, _ = genome
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match=r"skipped edge: runs off chr2 \(length 90\)"):
        written = score_regions(
            model_dir, fasta, out, bed_path=bed, references="dinuc:4", target="all", seed=5,
            chunk_regions=2, progress=False,
        )
    ohe = load_single(out / "ohe.npz")
    assert ohe.shape == (4, 4, LENGTH) and ohe.dtype == np.float32
    expected = attribute(
        load_model(model_dir), ohe, "dinuc:4", [0, 1], method="deeplift_genomics",
        hypothetical=True, seed=5,
    ).numpy()
    for j, t in enumerate((0, 1)):
        hyp = load_single(out / f"hyp.task{t}.npz")
        contrib = load_single(out / f"contrib.task{t}.npz")
        np.testing.assert_allclose(hyp, expected[:, j], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(contrib, hyp * ohe)
    lines = (out / "regions.tsv").read_text().splitlines()
    assert lines[0].split("\t") == [
        "name", "chrom", "start", "end", "strand", "n_count",
        "prediction_task0", "prediction_task1", "max_error",
    ]
    rows = [line.split("\t") for line in lines[1:]]
    assert [row[0] for row in rows] == ["p1", "p2", "p3", "p4"]
    assert rows[0][1:6] == ["chr1", "90", "130", "+", "3"]
    assert rows[3][2:4] == ["190", "230"]  # centred on the summit 200 + 10
    assert all(float(row[-1]) < 1e-4 for row in rows)
    skipped = (out / "skipped.tsv").read_text().splitlines()
    assert skipped[1].startswith("edge\tchr2\t-15\t25\truns off chr2")
    settings_file = json.loads((out / "score.json").read_text())
    assert settings_file["targets"] == [0, 1] and settings_file["skipped"] == 1
    assert set(written) >= {
        "ohe", "hyp.task0", "hyp.task1", "contrib.task0", "contrib.task1", "regions"
    }
    assert not [name for name in os.listdir(out) if name.endswith(".part")]


def test_one_hot_is_the_genome_with_lowercase_as_uppercase(model_dir, genome, tmp_path):
    fasta, _, records = genome
    bed = tmp_path / "one.bed"
    bed.write_text("chr2\t30\t70\tr\n")
    score_regions(model_dir, fasta, tmp_path / "o", bed_path=bed, references="flat",
                  progress=False)
    ohe = load_single(tmp_path / "o" / "ohe.npz")[0]
    letters = np.array(list("ACGT"))[ohe.argmax(axis=0)]
    assert "".join(letters) == records["chr2"][30:70].upper()


def test_every_record_is_scored_without_a_bed_file(model_dir, tmp_path):
    fasta = tmp_path / "seqs.fa"
    rng = np.random.default_rng(0)
    sequences = ["".join(rng.choice(list("ACGT"), LENGTH)) for _ in range(3)]
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(sequences)))
    score_regions(model_dir, fasta, tmp_path / "o", references="gc:2", target=1, progress=False)
    hyp = load_single(tmp_path / "o" / "hyp.npz")
    assert hyp.shape == (3, 4, LENGTH)
    names = [line.split("\t")[0] for line in (tmp_path / "o/regions.tsv").read_text().split("\n")]
    assert names[1:4] == ["s0", "s1", "s2"]


def test_padding_scores_regions_off_the_end(model_dir, genome, tmp_path):
    fasta, bed, _ = genome
    score_regions(model_dir, fasta, tmp_path / "o", bed_path=bed, references="zero", pad=True,
                  progress=False)
    rows = (tmp_path / "o/regions.tsv").read_text().splitlines()[1:]
    edge = next(row.split("\t") for row in rows if row.startswith("edge"))
    assert edge[2:4] == ["-15", "25"] and edge[5] == "15"


@IGNORE_SKIPPED
def test_bigwig_averages_overlapping_regions(model_dir, genome, tmp_path):
    pybigwig = pytest.importorskip("pyBigWig")
    fasta, bed, _ = genome
    out = tmp_path / "o"
    score_regions(model_dir, fasta, out, bed_path=bed, references="flat", bigwig=True,
                  progress=False)
    per_base = load_single(out / "contrib.npz").sum(axis=1)  # (n, L)
    handle = pybigwig.open(str(out / "contrib.bw"))
    # p1 = chr1[90, 130), p2 = chr1[105, 145): overlap [105, 130) is averaged.
    values = np.array(handle.values("chr1", 90, 145))
    np.testing.assert_allclose(values[:15], per_base[0, :15], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(values[15:40], (per_base[0, 15:] + per_base[1, :25]) / 2,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(values[40:], per_base[1, 25:], rtol=1e-5, atol=1e-6)
    handle.close()


def test_merged_track_clips_and_merges():
    regions = [Region("b", "c", 5, 9), Region("a", "c", -2, 2), Region("z", "d", 0, 2)]
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    blocks = list(merged_track(regions, values, {"c": 8, "d": 2}))
    assert [(chrom, start) for chrom, start, _ in blocks] == [("c", 0), ("c", 5), ("d", 0)]
    np.testing.assert_array_equal(blocks[0][2], [6, 7])
    np.testing.assert_array_equal(blocks[1][2], [0, 1, 2])  # clipped at the end (8)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(0, 9),
    width=st.integers(1, 5),
    block=st.integers(1, 4),
    start=st.integers(0, 9),
    span=st.integers(0, 9),
)
def test_streamed_npz_is_savez_compressed(tmp_path_factory, rows, width, block, start, span):
    directory = tmp_path_factory.mktemp("npz")
    array = np.random.default_rng(rows).normal(size=(rows, 4, width)).astype(np.float32)
    writer = NpzStreamWriter(directory / "a.npz", array.shape)
    for first in range(0, rows, block):
        writer.append(array[first : first + block])
    writer.close()
    np.testing.assert_array_equal(load_single(directory / "a.npz"), array)
    start, stop = min(start, rows), min(start + span, rows)
    part = read_npz_rows(directory / "a.npz", start, stop)
    np.testing.assert_array_equal(part, array[start:stop])


def test_a_short_stream_is_refused(tmp_path):
    writer = NpzStreamWriter(tmp_path / "a.npz", (3, 4, 2))
    writer.append(np.zeros((2, 4, 2)))
    with pytest.raises(LiftGenomicsError, match="wrote 2 rows, expected 3"):
        writer.close()


@IGNORE_SKIPPED
def test_a_failure_midway_leaves_nothing(model_dir, genome, tmp_path, monkeypatch):
    import liftgenomics.scoring.pipeline as score_module

    fasta, bed, _ = genome
    real = score_module.attribute_with_details
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(score_module, "attribute_with_details", failing)
    out = tmp_path / "o"
    with pytest.raises(KeyboardInterrupt):
        score_regions(model_dir, fasta, out, bed_path=bed, references="flat", chunk_regions=1,
                      progress=False)
    assert os.listdir(out) == []


def run_cli(capsys, *args):
    status = main(["score", "--quiet", *map(str, args)])
    captured = capsys.readouterr()
    return status, captured.err.strip()


def test_cli_scores_and_draws_a_logo(model_dir, genome, tmp_path, capsys):
    fasta, bed, _ = genome
    out = tmp_path / "o"
    status, err = run_cli(capsys, "--model", model_dir, "--fasta", fasta, "--bed", bed, "--out",
                          out, "--references", "flat", "--target", "1")
    assert status == 0
    assert err == "liftgenomics: warning: skipped edge: runs off chr2 (length 90)"
    assert load_single(out / "hyp.npz").shape == (4, 4, LENGTH)
    assert main(["logo", "--scores", str(out), "--region", "p2"]) == 0
    assert (out / "logo.p2.png").stat().st_size > 1000
    assert main(["logo", "--scores", str(out), "--region", "nope"]) == 2
    assert "no region named 'nope'" in capsys.readouterr().err


def bad_inputs(tmp_path, model_dir, genome):
    fasta, bed, _ = genome
    cases = {}
    cases["missing fasta"] = (["--fasta", tmp_path / "none.fa"], "FASTA file not found")
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    cases["empty fasta"] = (["--fasta", empty], "no FASTA records")
    twice = tmp_path / "twice.fa"
    twice.write_text(">a\n" + "A" * LENGTH + "\n>a\n" + "C" * LENGTH + "\n")
    cases["duplicate names"] = (["--fasta", twice], "duplicate FASTA name 'a'")
    letters = tmp_path / "letters.fa"
    letters.write_text(">ok\n" + "A" * LENGTH + "\n>bad\n" + "A" * 20 + "\n" + "AJ" * 10 + "\n")
    cases["bad letter"] = (["--fasta", letters], f"{letters}:5: invalid base 'J' in record 'bad'")
    short = tmp_path / "short.fa"
    short.write_text(">s\n" + "A" * 30 + "\n")
    cases["wrong length"] = (["--fasta", short], "'s' has length 30 but the model takes 40")
    for name, line in (
        ("two columns", "chr1\t5"),
        ("non-integer", "chr1\t5\tten"),
        ("negative", "chr1\t-1\t10"),
        ("end before start", "chr1\t20\t10"),
        ("unknown chromosome", "chrZ\t1\t10"),
    ):
        path = tmp_path / f"{name.replace(' ', '_')}.bed"
        path.write_text(line + "\n")
        cases[name] = (["--fasta", fasta, "--bed", path], f"{path}:1:")
    cases["missing bed"] = (["--fasta", fasta, "--bed", tmp_path / "no.bed"], "BED file not found")
    not_ours = tmp_path / "model.json"
    not_ours.write_text('{"hello": 1}')
    cases["not our model"] = (
        ["--fasta", fasta, "--bed", bed, "--model", not_ours], "not a liftgenomics model"
    )
    cases["bad reference"] = (
        ["--fasta", fasta, "--bed", bed, "--references", "dinuc:x"], "dinuc"
    )
    cases["bad target"] = (["--fasta", fasta, "--bed", bed, "--target", "7"], "out of range")
    cases["model cannot take the length"] = (
        ["--fasta", fasta, "--bed", bed, "--length", "6"], "length 6"
    )
    return cases


CASES = [
    "missing fasta", "empty fasta", "duplicate names", "bad letter", "wrong length",
    "two columns", "non-integer", "negative", "end before start", "unknown chromosome",
    "missing bed", "not our model", "bad reference", "bad target",
    "model cannot take the length",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_status_2_and_no_output(case, model_dir, genome, tmp_path, capsys):
    arguments, message = bad_inputs(tmp_path, model_dir, genome)[case]
    out = tmp_path / "out"
    if "--model" not in arguments:
        arguments = ["--model", model_dir, *arguments]
    if "--references" not in arguments:
        arguments = [*arguments, "--references", "flat"]
    status, err = run_cli(capsys, *arguments, "--out", out)
    assert status == 2
    assert err.startswith("liftgenomics: error: ") and "\n" not in err, err
    assert message in err
    assert not out.exists() or os.listdir(out) == []


def test_unknown_method_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit) as error:
        main(["score", "--model", "m", "--fasta", "f", "--out", "o", "--method", "shap"])
    assert error.value.code == 2
    assert "invalid choice: 'shap'" in capsys.readouterr().err


def test_batch_size_below_one_is_refused(model_dir, genome, tmp_path):
    fasta, bed, _ = genome
    with pytest.raises(LiftGenomicsError, match="batch size must be >= 1"):
        score_regions(model_dir, fasta, tmp_path / "o", bed_path=bed, references="flat",
                      batch_size=-1, progress=False)


@IGNORE_SKIPPED
def test_a_training_mode_model_is_left_as_it_was(genome, tmp_path):
    fasta, bed, _ = genome
    model = torch.nn.Sequential(
        torch.nn.Conv1d(4, 3, 5), torch.nn.BatchNorm1d(3), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(3 * (LENGTH - 4), 2),
    )
    model.input_length = LENGTH
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    score_regions(model, fasta, tmp_path / "o", bed_path=bed, references="flat", progress=False)
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


@IGNORE_SKIPPED
def test_a_rerun_removes_outputs_of_the_earlier_run(model_dir, genome, tmp_path):
    fasta, bed, _ = genome
    out = tmp_path / "o"
    score_regions(model_dir, fasta, out, bed_path=bed, references="flat", target="all",
                  progress=False)
    (out / "notes.txt").write_text("mine")
    score_regions(model_dir, fasta, out, bed_path=bed, references="flat", target=1,
                  progress=False)
    assert sorted(os.listdir(out)) == [
        "contrib.npz", "hyp.npz", "notes.txt", "ohe.npz", "regions.tsv", "score.json",
        "skipped.tsv",
    ]


def test_an_output_path_that_is_a_file_or_a_directory_is_one_line(model_dir, genome, tmp_path,
                                                                   capsys):
    fasta, bed, _ = genome
    afile = tmp_path / "afile"
    afile.write_text("x")
    status, err = run_cli(capsys, "--model", model_dir, "--fasta", fasta, "--bed", bed,
                          "--out", afile, "--references", "flat")
    assert status == 2 and "cannot create the output directory" in err
    out = tmp_path / "o"
    (out / "regions.tsv").mkdir(parents=True)
    status, err = run_cli(capsys, "--model", model_dir, "--fasta", fasta, "--bed", bed,
                          "--out", out, "--references", "flat")
    assert status == 2 and "regions.tsv: exists and is not a file" in err.splitlines()[-1]
    assert sorted(os.listdir(out)) == ["regions.tsv"]


def test_sigterm_midway_leaves_nothing(model_dir, genome, tmp_path, capsys, monkeypatch):
    import signal

    import liftgenomics.scoring.pipeline as score_module

    fasta, bed, _ = genome
    real = score_module.attribute_with_details
    calls = []

    def terminated(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler turns it into an unwind
        return real(*args, **kwargs)

    monkeypatch.setattr(score_module, "attribute_with_details", terminated)
    out = tmp_path / "o"
    status, err = run_cli(capsys, "--model", model_dir, "--fasta", fasta, "--bed", bed, "--out",
                          out, "--references", "flat", "--chunk-size", "1", "--bigwig")
    assert status == 130 and err.endswith("liftgenomics: interrupted")
    assert os.listdir(out) == []


def test_logo_refuses_a_corrupt_settings_file(tmp_path, capsys):
    (tmp_path / "score.json").write_text("{not json")
    (tmp_path / "regions.tsv").write_text("name\n")
    assert main(["logo", "--scores", str(tmp_path), "--region", "x"]) == 2
    assert "not a valid score.json" in capsys.readouterr().err
