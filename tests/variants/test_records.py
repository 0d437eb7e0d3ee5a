"""Reading variants: VCF (plain, bgzipped, BCF) and the four headerless table schemas."""

from pathlib import Path

import pysam
import pytest

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.variants.records import SCHEMAS, Skipped, Variant, read_variants

HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,length=40>\n"
    "##contig=<ID=chr2,length=30>\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)


def write_vcf(tmp_path: Path, rows: list[str], name: str = "variants.vcf") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(row + "\t.\t.\t.\n" for row in rows))
    return path


def fields(variant: Variant) -> tuple:
    return (variant.chrom, variant.pos, variant.allele1, variant.allele2, variant.id)


def test_vcf_positions_are_one_based_and_variants_zero_based(tmp_path):
    path = write_vcf(tmp_path, ["chr1\t13\trs1\tA\tG"])
    variants, skipped = read_variants(path)
    assert [fields(v) for v in variants] == [("chr1", 12, "A", "G", "rs1")]
    assert variants[0].source == f"{path}:5"
    assert skipped == []


def test_vcf_anchor_base_is_stripped_from_indels(tmp_path):
    rows = [
        "chr1\t20\tdel\tAT\tA",  # deletion of the T at POS 21 (0-based 20)
        "chr1\t30\tins\tC\tCGG",  # insertion of GG before the base at POS 31 (0-based 30)
        "chr1\t5\tcomplex\tACT\tAT",  # common suffix and prefix: deletion of the C
        "chr1\t8\tmnp\tACG\tATT",  # equal lengths: the substitution CG>TT after the A
        "chr1\t1\tstart\tA\tTA",  # insertion at the chromosome start (anchor after)
    ]
    variants, _ = read_variants(write_vcf(tmp_path, rows))
    assert [fields(v) for v in variants] == [
        ("chr1", 20, "T", "-", "del"),
        ("chr1", 30, "-", "GG", "ins"),
        ("chr1", 5, "C", "-", "complex"),
        ("chr1", 8, "CG", "TT", "mnp"),
        ("chr1", 0, "-", "T", "start"),
    ]
    assert variants[0].is_indel and not variants[3].is_indel


def test_vcf_multiallelic_record_is_split_with_unique_ids(tmp_path):
    rows = ["chr1\t13\trs5\tA\tG,T", "chr1\t20\t.\tAT\tA,ATT"]
    variants, skipped = read_variants(write_vcf(tmp_path, rows))
    assert [fields(v) for v in variants] == [
        ("chr1", 12, "A", "G", "rs5_G"),
        ("chr1", 12, "A", "T", "rs5_T"),
        ("chr1", 20, "T", "-", "chr1:21:T:-"),
        ("chr1", 20, "-", "T", "chr1:21:-:T"),
    ]
    assert skipped == []


def test_vcf_symbolic_and_ambiguous_alleles_are_skipped(tmp_path):
    rows = [
        "chr1\t9\ta\tA\t<DEL>",
        "chr1\t9\tb\tA\t*",
        "chr1\t9\tc\tA\t.",
        "chr1\t9\td\tA\tA[chr1:20[",
        "chr1\t9\te\tA\tN",
        "chr1\t9\tf\tN\tA",
        "chr1\t9\tg\tA\tA",
        "chr1\t13\tok\ta\tg",  # lowercase is upper-cased, not skipped
    ]
    variants, skipped = read_variants(write_vcf(tmp_path, rows))
    assert [fields(v) for v in variants] == [("chr1", 12, "A", "G", "ok")]
    reasons = {s.variant.id: s.reason for s in skipped}
    assert reasons["a"] == "symbolic ALT allele '<DEL>'"
    assert reasons["b"] == "symbolic ALT allele '*'"
    assert reasons["c"] == "no ALT allele"
    assert reasons["d"].startswith("symbolic ALT allele")
    assert "ALT allele 'N'" in reasons["e"] and "REF allele 'N'" in reasons["f"]
    assert reasons["g"] == "ALT equals REF"
    assert all(isinstance(s, Skipped) and "\n" not in s.reason for s in skipped)


def test_bgzipped_vcf_and_bcf_read_the_same_variants(tmp_path):
    rows = ["chr1\t13\trs1\tA\tG", "chr1\t20\trs2\tAT\tA", "chr2\t11\trs3\tG\tA,C"]
    plain = write_vcf(tmp_path, rows)
    gz = tmp_path / "variants.vcf.gz"
    pysam.tabix_compress(str(plain), str(gz))
    bcf = tmp_path / "variants.bcf"
    with pysam.VariantFile(str(plain)) as source:
        with pysam.VariantFile(str(bcf), "wb", header=source.header) as sink:
            for record in source:
                sink.write(record)
    expected = [fields(v) for v in read_variants(plain)[0]]
    assert len(expected) == 4
    for path in (gz, bcf):
        assert [fields(v) for v in read_variants(path)[0]] == expected
    assert read_variants(gz)[0][1].source == f"{gz}:6"
    assert read_variants(bcf)[0][1].source == f"{bcf}:record 2"


def test_vcf_bad_record_names_the_line(tmp_path):
    path = write_vcf(tmp_path, ["chr1\t13\trs1\tA\tG", "chr1\tX\trs2\tA\tG"])
    with pytest.raises(LiftGenomicsError) as error:
        read_variants(path)
    assert str(error.value).startswith(f"{path}:6: cannot parse this VCF record")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "content, message",
    [
        (HEADER, "no variants in the file"),
        ("", "not a readable VCF/BCF file"),
        ("chr1\t13\tA\tG\trs1\n", "not a readable VCF/BCF file"),
        (bytes(range(256)) * 4, "not a readable VCF/BCF file"),
    ],
)
def test_vcf_unreadable_or_empty_is_one_line(tmp_path, content, message):
    path = tmp_path / "bad.vcf"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(LiftGenomicsError) as error:
        read_variants(path)
    assert str(error.value).startswith(f"{path}: {message}")
    assert "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(LiftGenomicsError, match="variant file not found"):
        read_variants(tmp_path / "absent.vcf")
    with pytest.raises(LiftGenomicsError, match="unknown variant schema"):
        read_variants(write_vcf(tmp_path, ["chr1\t13\trs1\tA\tG"]), schema="vcf")


TABLE_LINES = {
    "chrombpnet": "chr1\t13\tA\tG\trsX",
    "bed": "chr1\t12\t13\tA\tG\trsX",
    "plink": "chr1\trsX\t0\t13\tA\tG",
    "original": "chr1\t13\trsX\tA\tG",
}


@pytest.mark.parametrize("schema", SCHEMAS)
def test_table_schemas_give_the_same_variant(tmp_path, schema):
    path = tmp_path / f"{schema}.tsv"
    path.write_text(TABLE_LINES[schema] + "\n")
    variants, skipped = read_variants(path, schema)
    assert [fields(v) for v in variants] == [("chr1", 12, "A", "G", "rsX")]
    assert variants[0].source == f"{path}:1" and skipped == []


def test_table_indels_lowercase_and_missing_ids(tmp_path):
    path = tmp_path / "variants.tsv"
    path.write_text("# a comment\n\nchr1\t21\tt\t-\t.\nchr1\t31\t-\tgg\tins\nchr1\t9\tA\t0\tz\n")
    variants, skipped = read_variants(path, "chrombpnet")
    assert [fields(v) for v in variants] == [
        ("chr1", 20, "T", "-", "chr1:21:T:-"),
        ("chr1", 30, "-", "GG", "ins"),
    ]
    assert variants[1].source == f"{path}:4"
    assert len(skipped) == 1 and skipped[0].variant.id == "z"
    assert "allele2 '0'" in skipped[0].reason


@pytest.mark.parametrize(
    "schema, text, where, message",
    [
        ("chrombpnet", "chr1\t13\tA\tG\trs1\nchr1\t14\tA\tG\n", 2, "has 5 tab-separated columns"),
        ("chrombpnet", "chr1\tthirteen\tA\tG\trs1\n", 1, "pos must be an integer"),
        ("bed", "chr1\t12\t1e3\tA\tG\trs1\n", 1, "end must be an integer"),
        ("plink", "chr1 rs1 0 13 A G\n", 1, "is it tab-separated?"),
        ("original", "chr1\t0\trs1\tA\tG\n", 1, "pos 0 is below 1"),
        ("bed", "chr1\t-1\t0\tA\tG\trs1\n", 1, "pos -1 is below 0"),
    ],
)
def test_bad_table_lines_name_file_and_line(tmp_path, schema, text, where, message):
    path = tmp_path / "variants.tsv"
    path.write_text(text)
    with pytest.raises(LiftGenomicsError) as error:
        read_variants(path, schema)
    assert str(error.value).startswith(f"{path}:{where}: ")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_empty_or_binary_table_is_one_line(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("# only a comment\n\n")
    with pytest.raises(LiftGenomicsError, match=r"empty.tsv: no variants in the file$"):
        read_variants(empty, "bed")
    junk = tmp_path / "junk.tsv"
    junk.write_bytes(bytes(range(256)))
    with pytest.raises(LiftGenomicsError) as error:
        read_variants(junk, "bed")
    assert str(error.value).startswith(f"{junk}: not a") and "\n" not in str(error.value)


def test_duplicates_are_kept_once_and_reported(tmp_path):
    rows = ["chr1\t13\trs1\tA\tG", "chr1\t13\trs1b\tA\tG", "chr1\t13\trs1c\tA\tT"]
    variants, skipped = read_variants(write_vcf(tmp_path, rows))
    assert [v.id for v in variants] == ["rs1", "rs1c"]
    assert [(s.variant.id, s.reason) for s in skipped] == [("rs1b", "duplicate of rs1")]


def test_chr_prefix_is_added_or_removed_to_match_the_fasta(tmp_path):
    path = tmp_path / "variants.tsv"
    path.write_text(
        "1\t13\tA\tG\ta\nchr1\t13\tA\tG\td\nchr2\t11\tG\tA\tb\n7\t5\tA\tC\tc\nchr1\t9\tA\tN\te\n"
    )
    variants, skipped = read_variants(path, "chrombpnet", chrom_names=["chr1", "2"])
    assert [(v.id, v.chrom) for v in variants] == [("a", "chr1"), ("b", "2")]
    reasons = [(s.variant.id, s.reason) for s in skipped]
    # "d" is the site of "a" once "1" is renamed to "chr1"; skipped rows are in file order.
    assert [row[0] for row in reasons] == ["d", "c", "e"]
    assert reasons[:2] == [("d", "duplicate of a"), ("c", "chromosome 7 not in the FASTA")]
