"""Allele windows: reference check, chrombpnet's window layout, and the shuffled null."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.regions import open_fasta
from liftgenomics.genome.sequence import decode, one_hot_encode
from liftgenomics.genome.shuffles import dinucleotide_shuffle
from liftgenomics.variants.records import Variant
from liftgenomics.variants.windows import (
    allele_windows,
    fetch_context,
    null_windows,
    plan_variants,
    windows_from_context,
)

#          0         1         2         3
#          0123456789012345678901234567890123456789
CHR1 = "ACGTTGCAACGTACCATGGATTCAGCTAGCAAGGCTTACG"
CHR2 = "GGATCCNNTAGCTAGGCATCGATCGATTAC"
#: A longer random chromosome for the shuffled null (enough arrangements per context).
CHR3 = "".join(np.random.default_rng(7).choice(list("ACGT"), 300))


@pytest.fixture
def fasta(tmp_path: Path):
    path = tmp_path / "genome.fa"
    lines = []
    for name, sequence in (("chr1", CHR1), ("chr2", CHR2), ("chr3", CHR3)):
        lines.append(f">{name}\n")
        # Soft-masked bases in chr1 must read as uppercase.
        if name == "chr1":
            sequence = sequence[:5] + sequence[5:10].lower() + sequence[10:]
        lines += [sequence[i : i + 10] + "\n" for i in range(0, len(sequence), 10)]
    path.write_text("".join(lines))
    handle = open_fasta(path)
    yield handle
    handle.close()


def snp(pos: int, allele1: str, allele2: str, chrom: str = "chr1", name: str = "v") -> Variant:
    return Variant(chrom, pos, allele1, allele2, name, "variants.tsv:3")


def strings(fasta, variant: Variant, length: int) -> tuple[str, str]:
    return windows_from_context(fetch_context(fasta, variant, length), variant, length)


def test_snp_sits_at_index_length_over_two(fasta):
    variant = snp(12, "A", "G")
    assert fetch_context(fasta, variant, 10) == "AACGTACCAT"
    assert strings(fasta, variant, 10) == ("AACGTACCAT", "AACGTGCCAT")
    first, second = allele_windows(fasta, [variant], 10)
    assert first.shape == (1, 4, 10) and first.dtype == np.float32
    assert decode(first[0]) == "AACGTACCAT" and decode(second[0]) == "AACGTGCCAT"
    assert second[0, 2, 5] == 1.0  # G channel at index L // 2


def test_soft_masked_bases_read_as_uppercase(fasta):
    import pyfaidx

    plain = pyfaidx.Fasta(fasta.filename)  # not upper-casing, not raw strings
    variant = snp(7, "A", "T")  # chr1[5:10] is soft-masked in the file
    assert str(plain["chr1"][7:8]) == "a"
    plan = plan_variants(plain, [variant], 10)
    assert plan.variants == [variant]
    assert strings(plain, variant, 10) == ("GTTGCAACGT", "GTTGCTACGT")
    plain.close()


def test_odd_length_extends_the_right_side(fasta):
    variant = snp(12, "A", "G")
    assert strings(fasta, variant, 9) == ("ACGTACCAT", "ACGTGCCAT")


def test_multibase_substitution_is_written_over_its_bases(fasta):
    assert strings(fasta, snp(12, "AC", "GT"), 10) == ("AACGTACCAT", "AACGTGTCAT")


def test_deletion_windows_base_by_base(fasta):
    variant = snp(20, "T", "-")
    assert fetch_context(fasta, variant, 10) == "ATGGATTCAGC"
    assert strings(fasta, variant, 10) == ("ATGGATTCAG", "ATGGATCAGC")
    two = snp(20, "TT", "-")
    assert strings(fasta, two, 10) == ("ATGGATTCAG", "ATGGACAGCT")


def test_insertion_windows_base_by_base(fasta):
    variant = snp(30, "-", "GG")
    assert fetch_context(fasta, variant, 10) == "CTAGCAAGGC"
    assert strings(fasta, variant, 10) == ("CTAGCAAGGC", "CTAGCGGAAG")
    first, second = allele_windows(fasta, [variant], 10)
    assert decode(first[0]) == "CTAGCAAGGC" and decode(second[0]) == "CTAGCGGAAG"


def test_unequal_substitution_windows(fasta):
    # allele1 ACC (genome 12-14) replaced by GT: a net deletion of one base.
    assert strings(fasta, snp(12, "ACC", "GT"), 10) == ("AACGTACCAT", "AACGTGTATG")


def test_n_bases_are_zero_columns(fasta):
    variant = snp(10, "G", "A", chrom="chr2")
    plan = plan_variants(fasta, [variant], 10)
    assert plan.variants == [variant] and plan.skipped == []
    first, second = allele_windows(fasta, plan.variants, 10)
    assert decode(second[0]) == "CNNTAACTAG"
    assert first[0, :, 1:3].sum() == 0 and first[0].sum() == 8


def test_ref_mismatch_skip_flip_error(fasta):
    wrong = snp(12, "G", "A", name="rs9")  # the genome has A at chr1:13
    neither = snp(12, "G", "T", name="rs10")
    right = snp(12, "A", "T", name="rs11")
    plan = plan_variants(fasta, [wrong, neither, right], 10, "skip")
    assert plan.variants == [right] and plan.flipped == [False]
    assert [s.variant.id for s in plan.skipped] == ["rs9", "rs10"]
    assert plan.skipped[0].reason == "allele1 G is not the genome's A at chr1:13"

    plan = plan_variants(fasta, [wrong, neither, right], 10, "flip")
    assert [(v.id, v.allele1, v.allele2) for v in plan.variants] == [
        ("rs9", "A", "G"),
        ("rs11", "A", "T"),
    ]
    assert plan.flipped == [True, False]
    assert [s.variant.id for s in plan.skipped] == ["rs10"]
    assert "nor is allele2 T" in plan.skipped[0].reason

    with pytest.raises(LiftGenomicsError) as error:
        plan_variants(fasta, [right, wrong], 10, "error")
    assert str(error.value) == (
        "variants.tsv:3: variant rs9: allele1 G is not the genome's A at chr1:13"
    )


def test_deletion_ref_is_checked_and_insertion_has_nothing_to_check(fasta):
    plan = plan_variants(fasta, [snp(20, "TC", "-"), snp(20, "-", "TC"), snp(20, "TT", "-")], 10)
    assert [v.allele1 for v in plan.variants] == ["-", "TT"]
    assert plan.skipped[0].reason == "allele1 TC is not the genome's TT at chr1:21"
    plan = plan_variants(fasta, [snp(20, "CC", "-")], 10, "flip")
    assert "an empty allele2 cannot be flipped" in plan.skipped[0].reason


def test_windows_past_a_chromosome_end_are_skipped(fasta):
    variants = [
        snp(37, "A", "G", name="end"),  # needs chr1[32:42]
        snp(3, "T", "G", name="start"),  # needs chr1[-2:8]
        snp(34, "CT", "-", name="deletion"),  # needs chr1[29:41]: one base more than a SNP
        snp(34, "C", "A", name="snp"),  # chr1[29:39] fits
        snp(35, "-", "A", name="insertion"),  # chr1[30:40] fits exactly
    ]
    plan = plan_variants(fasta, variants, 10)
    assert [v.id for v in plan.variants] == ["snp", "insertion"]
    assert [(s.variant.id, s.reason) for s in plan.skipped] == [
        ("end", "window past the end of chr1 (length 40)"),
        ("start", "window past the start of chr1 (length 40)"),
        ("deletion", "window past the end of chr1 (length 40)"),
    ]
    with pytest.raises(LiftGenomicsError, match="variant end: window past the end of chr1"):
        fetch_context(fasta, variants[0], 10)


def test_long_alleles_and_unknown_chromosomes_are_skipped(fasta):
    variants = [
        snp(20, "TTCAG", "-", name="long"),
        snp(20, "TT", "-", name="two"),
        snp(5, "A", "G", chrom="chrX", name="x"),
    ]
    plan = plan_variants(fasta, variants, 10)
    assert [v.id for v in plan.variants] == ["two"]
    assert [s.reason for s in plan.skipped] == [
        "allele longer than 4 bases (5 bases)",
        "chromosome chrX not in the FASTA",
    ]
    plan = plan_variants(fasta, variants[:2], 10, max_allele=1)
    assert [s.reason for s in plan.skipped] == ["allele longer than 1 bases (5 bases)"] + [
        "allele longer than 1 bases (2 bases)"
    ]


def test_bad_arguments_are_one_line(fasta):
    with pytest.raises(LiftGenomicsError, match="reference-mismatch mode"):
        plan_variants(fasta, [], 10, "ignore")
    with pytest.raises(LiftGenomicsError, match="window length"):
        plan_variants(fasta, [], 0)
    with pytest.raises(LiftGenomicsError, match="max_allele"):
        plan_variants(fasta, [], 10, max_allele=0)
    with pytest.raises(LiftGenomicsError, match="a context of 10 bases, expected 11"):
        windows_from_context("A" * 10, snp(20, "T", "-"), 10)


NULL_VARIANTS = [
    Variant("chr3", 100, CHR3[100], "ACGT".replace(CHR3[100], "")[0], "snp"),
    Variant("chr3", 150, CHR3[150:153], "-", "deletion"),
    Variant("chr3", 200, "-", "GA", "insertion"),
    Variant("chr3", 120, CHR3[120:122], "C", "complex"),
    Variant("chr3", 60, CHR3[60], "ACGT".replace(CHR3[60], "")[1], "snp2"),
]


def dinucleotides(sequence: str) -> Counter:
    return Counter(sequence[i : i + 2] for i in range(len(sequence) - 1))


def test_null_windows_match_independent_shuffles_of_each_context(fasta):
    length, n, seed = 40, 3, 11
    assert plan_variants(fasta, NULL_VARIANTS, length).skipped == []
    first, second = null_windows(fasta, NULL_VARIANTS, length, n, seed, start_index=5)
    assert first.shape == second.shape == (len(NULL_VARIANTS) * n, 4, length)
    for i, variant in enumerate(NULL_VARIANTS):
        context = fetch_context(fasta, variant, length)
        one_hot = one_hot_encode(context)[None]
        shuffles = dinucleotide_shuffle(one_hot, n, seed, start_index=5 + i)[0]
        for k in range(n):
            shuffled = decode(shuffles[k])
            assert dinucleotides(shuffled) == dinucleotides(context)
            expected1, expected2 = windows_from_context(shuffled, variant, length)
            assert decode(first[i * n + k]) == expected1
            assert decode(second[i * n + k]) == expected2


def test_null_windows_carry_both_alleles_at_the_centre(fasta):
    length, n = 40, 4
    first, second = null_windows(fasta, NULL_VARIANTS, length, n, seed=3)
    flank = length // 2
    for i, variant in enumerate(NULL_VARIANTS):
        for k in range(n):
            window1, window2 = decode(first[i * n + k]), decode(second[i * n + k])
            assert window1[flank : flank + len(variant.bases1)] == variant.bases1
            assert window2[flank : flank + len(variant.bases2)] == variant.bases2
    # The insertion's allele1 window is its whole shuffled context: dinucleotides preserved.
    insertion = NULL_VARIANTS.index(next(v for v in NULL_VARIANTS if v.id == "insertion"))
    context = fetch_context(fasta, NULL_VARIANTS[insertion], length)
    windows = [decode(first[insertion * n + k]) for k in range(n)]
    assert all(dinucleotides(w) == dinucleotides(context) for w in windows)
    assert len(set(windows)) > 1  # real shuffles, not copies


def test_null_windows_are_the_same_in_one_call_or_split_by_start_index(fasta):
    length, n, seed = 40, 2, 5
    whole = null_windows(fasta, NULL_VARIANTS, length, n, seed)
    head = null_windows(fasta, NULL_VARIANTS[:2], length, n, seed, start_index=0)
    tail = null_windows(fasta, NULL_VARIANTS[2:], length, n, seed, start_index=2)
    for which in range(2):
        np.testing.assert_array_equal(whole[which], np.concatenate([head[which], tail[which]]))
    other = null_windows(fasta, NULL_VARIANTS, length, n, seed + 1)
    assert not np.array_equal(whole[0], other[0])
