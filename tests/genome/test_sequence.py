"""Tests of the one-hot codec and the FASTA reader."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import (
    count_ambiguous,
    decode,
    format_fasta,
    one_hot_encode,
    one_hot_encode_batch,
    read_fasta,
    reverse_complement,
)


def test_encode_known_sequence():
    x = one_hot_encode("ACGTN")
    expected = np.array(
        [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]], dtype=np.float32
    )
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, expected)


def test_lowercase_and_ambiguity_codes():
    np.testing.assert_array_equal(one_hot_encode("acgt"), one_hot_encode("ACGT"))
    x = one_hot_encode("ARYn")
    assert x[:, 1:].sum() == 0 and count_ambiguous(x) == 3


@given(st.text(alphabet="ACGT", min_size=1, max_size=50))
def test_decode_inverts_encode(sequence):
    assert decode(one_hot_encode(sequence)) == sequence


@given(st.text(alphabet="ACGTN", min_size=1, max_size=50))
def test_reverse_complement_twice_is_identity(sequence):
    x = one_hot_encode(sequence)
    np.testing.assert_array_equal(reverse_complement(reverse_complement(x)), x)
    complement = str.maketrans("ACGTN", "TGCAN")
    assert decode(reverse_complement(x)) == sequence.translate(complement)[::-1]


def test_invalid_letter_names_sequence_and_position():
    with pytest.raises(LiftGenomicsError, match=r"chr1:.*'X' at position 3"):
        one_hot_encode("ACXT", name="chr1")


def test_batch_needs_equal_lengths():
    assert one_hot_encode_batch(["AC", "GT"]).shape == (2, 4, 2)
    with pytest.raises(LiftGenomicsError, match="different lengths"):
        one_hot_encode_batch(["AC", "GTA"])


def test_read_fasta_round_trip(tmp_path):
    records = [("a", "ACGT" * 30), ("b", "nnACGT")]
    path = tmp_path / "x.fa"
    path.write_text(format_fasta(records, width=50))
    assert read_fasta(path) == records


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no FASTA records"),
        ("ACGT\n", "bad.fa:1: sequence before"),
        (">a\nACGT\n>a\nAC\n", "bad.fa:3: duplicate FASTA name 'a'"),
        (">a\nACGT\nAC!T\n", r"bad.fa:3: invalid base '!' in record 'a' at column 3"),
        (">\nACGT\n", "bad.fa:1: FASTA header without a name"),
    ],
)
def test_read_fasta_errors(tmp_path, text, message):
    path = tmp_path / "bad.fa"
    path.write_text(text)
    with pytest.raises(LiftGenomicsError, match=message):
        read_fasta(path)


def test_read_fasta_missing_file(tmp_path):
    with pytest.raises(LiftGenomicsError, match="not found"):
        read_fasta(tmp_path / "missing.fa")
