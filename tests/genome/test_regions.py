"""Tests for liftgenomics.genome.regions: FASTA through pyfaidx, BED checks, resizing, padding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.regions import Region, fetch_one_hot, open_fasta, plan_regions, resize
from liftgenomics.genome.sequence import one_hot_encode


def write_fasta(path, records, width=7):
    with open(path, "w") as handle:
        for name, sequence in records:
            handle.write(f">{name} description\n")
            for start in range(0, len(sequence), width):
                handle.write(sequence[start : start + width] + "\n")
    return path


@pytest.fixture
def genome(tmp_path):
    records = [("chr1", "ACGTACGTTTGGCCAAACGTNNACGTacgtacgtAAAA"), ("chr2", "GGGGCCCCAAAATTTT")]
    return write_fasta(tmp_path / "genome.fa", records), dict(records)


def test_fetch_matches_the_sequence_with_lowercase_as_uppercase(genome):
    path, records = genome
    fasta = open_fasta(path)
    regions = [Region("a", "chr1", 20, 34), Region("b", "chr2", 0, 14)]
    X = fetch_one_hot(fasta, regions, 14)[:1]
    with pytest.raises(LiftGenomicsError, match="'b' spans 16 bases, not 14"):
        fetch_one_hot(fasta, [Region("b", "chr2", 0, 16)], 14)
    expected = one_hot_encode(records["chr1"][20:34].upper())
    np.testing.assert_array_equal(X[0], expected)
    # 'NN' at 20-21 are all-zero columns.
    assert X[0, :, :2].sum() == 0


def test_padding_puts_n_outside_the_chromosome(genome):
    path, records = genome
    fasta = open_fasta(path)
    X = fetch_one_hot(fasta, [Region("edge", "chr2", -3, 7)], 10)[0]
    assert X[:, :3].sum() == 0
    np.testing.assert_array_equal(X[:, 3:], one_hot_encode(records["chr2"][:7]))


@given(
    start=st.integers(0, 10_000),
    width=st.integers(1, 5_000),
    length=st.integers(1, 3_000),
)
def test_resize_keeps_the_centre_and_the_length(start, width, length):
    new_start, new_end = resize(start, start + width, length)
    assert new_end - new_start == length
    assert abs((new_start + new_end) / 2 - (start + start + width) / 2) <= 1.0


def test_resize_centres_on_a_summit():
    assert resize(100, 300, 10, summit=50) == (145, 155)
    assert resize(100, 300, 10, summit=-1) == resize(100, 300, 10)


def test_bed_intervals_are_resized_skipped_or_padded(genome, tmp_path):
    path, _ = genome
    bed = tmp_path / "x.bed"
    bed.write_text(
        "track name=x\n# comment\n"
        "chr1\t10\t20\tmid\t0\t-\n"
        "chr1\t0\t4\tleft\n"
        "chr2\t2\t12\n"
        "chr1\t10\t30\tpeak\t0\t+\t1\t1\t1\t2\n"
    )
    fasta = open_fasta(path)
    plan = plan_regions(fasta, bed, 8)
    assert [r.name for r in plan.regions] == ["mid", "chr2:2-12", "peak"]
    assert plan.regions[0] == Region("mid", "chr1", 11, 19, "-")
    assert plan.regions[2].start == 10 + 2 - 4  # narrowPeak summit at offset 2
    assert [r.name for r, _ in plan.skipped] == ["left"]
    padded = plan_regions(fasta, bed, 8, pad=True)
    assert [r.name for r in padded.regions] == ["mid", "left", "chr2:2-12", "peak"]
    centred = plan_regions(fasta, bed, 8, use_summit=False)
    assert centred.regions[2].start == 20 - 4


def test_records_of_another_length_need_an_explicit_length(genome):
    path, _ = genome
    fasta = open_fasta(path)
    with pytest.raises(LiftGenomicsError, match="'chr1' has length 38 but the model takes 16"):
        plan_regions(fasta, None, 16)
    plan = plan_regions(fasta, None, 16, resize_records=True)
    assert plan.regions[0] == Region("chr1", "chr1", 11, 27)
    assert plan.regions[1] == Region("chr2", "chr2", 0, 16)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("chr1\t5", "at least 3 columns"),
        ("chr1\tfive\t10", "must be integers"),
        ("chr1\t-5\t10", "negative coordinate"),
        ("chr1\t10\t10", "end 10 is not after start 10"),
        ("chrX\t1\t10", "chromosome 'chrX' is not in the FASTA"),
        ("chr1\t1\t10\tn\t0\t+\t1\t1\t1\tsummit", "summit"),
    ],
)
def test_bad_bed_lines_name_the_file_and_line(genome, tmp_path, line, message):
    path, _ = genome
    bed = tmp_path / "bad.bed"
    bed.write_text("chr1\t1\t10\n" + line + "\n")
    with pytest.raises(LiftGenomicsError, match=message) as error:
        plan_regions(open_fasta(path), bed, 8)
    assert f"{bed}:2:" in str(error.value)


def test_bad_fasta_files(tmp_path):
    with pytest.raises(LiftGenomicsError, match="FASTA file not found"):
        open_fasta(tmp_path / "missing.fa")
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    with pytest.raises(LiftGenomicsError, match="no FASTA records"):
        open_fasta(empty)
    twice = write_fasta(tmp_path / "twice.fa", [("a", "ACGT"), ("a", "ACGT")])
    with pytest.raises(LiftGenomicsError, match="duplicate FASTA name 'a'"):
        open_fasta(twice)


def test_a_bad_letter_names_the_record_position_and_line(tmp_path):
    path = write_fasta(tmp_path / "x.fa", [("ok", "ACGTACGTAC"), ("bad", "ACGTACGTAXGT")], width=4)
    fasta = open_fasta(path)
    fetch_one_hot(fasta, [Region("ok", "ok", 0, 10)], 10)
    with pytest.raises(LiftGenomicsError) as error:
        fetch_one_hot(fasta, [Region("bad", "bad", 0, 12)], 12)
    # Header 'ok' is line 1, its sequence lines 2-4; 'bad' header line 5; X is base 10 -> line 8.
    assert str(error.value).startswith(f"{path}:8: invalid base 'X' in record 'bad' at position 10")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("chr2\t10\t17", r"end 17 is past the end of chr2 \(length 16\)"),
        ("chr1\t10\t20\tp\t0\t.\t1\t1\t1\t10", "summit offset 10 is outside the interval"),
        ("chr1\t10\t20\tp\t0\t.\t1\t1\t1\t-5", "summit offset -5 is outside the interval"),
    ],
)
def test_intervals_must_fit_their_chromosome_and_summits_their_interval(
    genome, tmp_path, line, message
):
    path, _ = genome
    bed = tmp_path / "x.bed"
    bed.write_text(line + "\n")
    with pytest.raises(LiftGenomicsError, match=message):
        plan_regions(open_fasta(path), bed, 8)


def test_repeated_names_get_unique_suffixes_and_a_warning(genome, tmp_path):
    path, _ = genome
    bed = tmp_path / "x.bed"
    bed.write_text("chr1\t1\t9\ta_2\nchr1\t2\t9\ta\nchr1\t3\t9\ta\nchr1\t4\t9\ta\n")
    with pytest.warns(UserWarning, match="2 repeated interval name"):
        plan = plan_regions(open_fasta(path), bed, 8)
    assert [r.name for r in plan.regions] == ["a_2", "a", "a_3", "a_4"]


def test_bgzip_compressed_fasta(tmp_path):
    bgzf = pytest.importorskip("Bio.bgzf")
    records = [("r1", "ACGTTGCAAC"), ("r2", "GGGNACGTAT")]
    with bgzf.BgzfWriter(str(tmp_path / "x.fa.gz"), "wb") as handle:
        handle.write("".join(f">{name}\n{sequence}\n" for name, sequence in records).encode())
    fasta = open_fasta(tmp_path / "x.fa.gz")
    X = fetch_one_hot(fasta, [Region("r2", "r2", 0, 10)], 10)[0]
    np.testing.assert_array_equal(X, one_hot_encode("GGGNACGTAT"))
