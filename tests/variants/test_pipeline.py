"""``score_variants`` end to end on a hand-made genome: the table rows, the skipped records, a
motif detector whose log fold changes are computed by hand, the allele-difference identity of
the attributions, the variant SHAP ``.h5`` and the p-values against the written null.

Every expected value comes from the genome string and the test's own arithmetic (windows cut
by hand, motifs counted by brute force), never from the package's own functions. The CLI tests
(``tests/cli/test_variants_cli.py``) reuse the genome, the records and the motif model.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.variants.pipeline import score_variants
from tests.toy_models import TinyBPNet, basset

#: Window length of every run here: the variant's first base at index FLANK.
LENGTH = 64
FLANK = LENGTH // 2
#: The motif detector's count per exact GATA: log counts = log(1 + K * matches).
K = 3.0
MOTIFS = ("GATA", "TATC")  # GATA and its reverse complement

#: Bases written over the random background of chr1 (0-based start -> bases).
FORCED = {
    60: "C",  # rs1, a SNP C>T
    80: "A",  # rs2, an insertion A -> AGT
    100: "ACG",  # rs3, a deletion ACG -> A
    120: "G",  # rs4, multi-allelic G -> A,T
    140: "T",  # rs5, written REF=A ALT=T: the genome has allele2
    160: "C",  # rs6, written REF=A ALT=G: the genome has neither
    200: "GATA",  # the motif broken by SNP 201 A>C and by deleting that A
    320: "GCTA",  # SNP 321 C>A makes a GATA
    440: "TATC",  # the motif's reverse complement, broken by SNP 442 T>G
    580: "A",  # a SNP far from every motif
}
CHR1_LENGTH = 640
CHR2 = "ACGTACGTAC" * 10  # 100 bases


def _background(length: int, seed: int) -> str:
    """Random bases in which neither GATA nor TATC occurs."""
    rng = np.random.default_rng(seed)
    bases: list[str] = []
    while len(bases) < length:
        base = "ACGT"[int(rng.integers(4))]
        if "".join(bases[-3:]) + base not in MOTIFS:
            bases.append(base)
    return "".join(bases)


def _chr1() -> str:
    bases = list(_background(CHR1_LENGTH, 0))
    for start, forced in FORCED.items():
        bases[start : start + len(forced)] = forced
    return "".join(bases)


CHR1 = _chr1()


def motif_hits(sequence: str) -> list[tuple[int, str]]:
    """Every (start, motif) of GATA or TATC in ``sequence``, overlapping ones too."""
    return [(i, sequence[i : i + 4]) for i in range(len(sequence) - 3) if sequence[i : i + 4]
            in MOTIFS]  # fmt: skip


def write_genome(directory: Path) -> Path:
    """chr1 and chr2 as a FASTA of 60-base lines (soft-masked stretch in chr1)."""
    path = directory / "genome.fa"
    lines = []
    for name, sequence in (("chr1", CHR1[:30] + CHR1[30:50].lower() + CHR1[50:]), ("chr2", CHR2)):
        lines.append(f">{name}\n")
        lines += [sequence[i : i + 60] + "\n" for i in range(0, len(sequence), 60)]
    path.write_text("".join(lines))
    return path


# --- the VCF of the record tests --------------------------------------------------------------

VCF_HEADER = [
    "##fileformat=VCFv4.2",
    f"##contig=<ID=chr1,length={CHR1_LENGTH}>",
    "##contig=<ID=chr2,length=100>",
    "##contig=<ID=chr9,length=1000>",
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
]
VCF_RECORDS = [
    ("chr1", 61, "rs1", "C", "T"),  # SNP
    ("chr1", 81, "rs2", "A", "AGT"),  # insertion of GT after the anchor A
    ("chr1", 101, "rs3", "ACG", "A"),  # deletion of CG after the anchor A
    ("chr1", 121, "rs4", "G", "A,T"),  # multi-allelic: rs4_A and rs4_T
    ("chr1", 141, "rs5", "A", "T"),  # REF mismatch, the genome has ALT
    ("chr1", 161, "rs6", "A", "G"),  # REF mismatch, the genome has neither
    ("chr2", 90, "rs7", "A", "G"),  # window past the end of chr2 (100 bases)
    ("chr1", 10, "rs8", "G", "C"),  # window past the start of chr1
    ("chr9", 500, "rs9", "A", "G"),  # chromosome not in the FASTA
    ("chr1", 181, "rs10", "A", "<DEL>"),  # symbolic ALT
]


def vcf_text(records=VCF_RECORDS) -> str:
    rows = ["\t".join([c, str(p), i, r, a, ".", ".", "."]) for c, p, i, r, a in records]
    return "\n".join(VCF_HEADER + rows) + "\n"


def vcf_line(record_id: str) -> int:
    """The 1-based line of a record in :func:`vcf_text`."""
    ids = [record[2] for record in VCF_RECORDS]
    return len(VCF_HEADER) + ids.index(record_id) + 1


# --- a motif detector with hand-computable outputs --------------------------------------------


def one_hot(sequence: str) -> np.ndarray:
    """(4, len) float32 one-hot of A/C/G/T, written here independently of the package."""
    out = np.zeros((4, len(sequence)), dtype=np.float32)
    for i, base in enumerate(sequence):
        out["ACGT".index(base), i] = 1.0
    return out


class MotifCounter(nn.Module):
    """log counts = log(1 + k * number of exact GATA matches on the strand given); profile 0.

    A fixed Conv1d holds the one-hot of GATA with bias -3: an exact match scores 1 after the
    ReLU, anything else <= 0. It sees GATA on the forward strand only, so the reverse
    complement strand counts the TATC of the forward sequence. ``k`` is a buffer: models with
    other ``k`` have other state (and hash).
    """

    def __init__(self, k: float = K, length: int = LENGTH) -> None:
        super().__init__()
        self.input_length = length
        self.conv = nn.Conv1d(4, 1, 4)
        self.relu = nn.ReLU()
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(one_hot("GATA"))[None])
            self.conv.bias.fill_(-3.0)
        # Shape (1,), not a 0-d tensor: see test_a_model_with_batchnorm_is_scored.
        self.register_buffer("k", torch.tensor([float(k)]))

    def forward(self, x):
        matches = self.relu(self.conv(x)).sum(dim=(1, 2))
        return x[:, :1, :] * 0.0, torch.log1p(self.k * matches).unsqueeze(1)


def read_table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def hand_windows(chrom: str, pos: int, allele1: str, allele2: str) -> tuple[str, str]:
    """chrombpnet's two windows of a variant (0-based ``pos``, ``-`` empty), cut by hand."""
    genome = {"chr1": CHR1, "chr2": CHR2}[chrom]
    a1, a2 = allele1.strip("-"), allele2.strip("-")
    left = genome[pos - FLANK : pos]
    first = left + a1 + genome[pos + len(a1) : pos - FLANK + LENGTH]
    second = left + a2 + genome[pos + len(a1) : pos + len(a1) + LENGTH - FLANK - len(a2)]
    assert len(first) == len(second) == LENGTH
    return first, second


def run(tmp_path: Path, model, variants: Path, name: str = "out", **settings) -> Path:
    out = tmp_path / name
    settings = {"progress": False, "n_shuffles": 0, "batch_size": 4, "block": 4} | settings
    score_variants(model, tmp_path / "genome.fa", variants, out, **settings)
    return out


@pytest.fixture
def genome(tmp_path: Path) -> Path:
    return write_genome(tmp_path)


def test_the_hand_made_genome_is_as_described():
    assert len(CHR1) == CHR1_LENGTH
    assert motif_hits(CHR1) == [(200, "GATA"), (440, "TATC")]
    for start, forced in FORCED.items():
        assert CHR1[start : start + len(forced)] == forced


# --- 1. records, the table and skipped.tsv ----------------------------------------------------


def test_vcf_records_to_rows_and_skipped_reasons(genome, tmp_path):
    vcf = tmp_path / "calls.vcf"
    vcf.write_text(vcf_text())
    out = run(tmp_path, MotifCounter(), vcf)
    rows = read_table(out / "variants.tsv")
    identity = [(r["variant_id"], r["chr"], r["pos"], r["allele1"], r["allele2"], r["flipped"])
                for r in rows]  # fmt: skip
    assert identity == [
        ("rs1", "chr1", "61", "C", "T", "false"),
        # VCF anchors dropped: the insertion goes before 0-based 81 (1-based 82), the deletion
        # removes CG at 1-based 102-103.
        ("rs2", "chr1", "82", "-", "GT", "false"),
        ("rs3", "chr1", "102", "CG", "-", "false"),
        ("rs4_A", "chr1", "121", "G", "A", "false"),
        ("rs4_T", "chr1", "121", "G", "T", "false"),
    ]
    skipped = {r["variant_id"]: r for r in read_table(out / "skipped.tsv")}
    assert set(skipped) == {"rs5", "rs6", "rs7", "rs8", "rs9", "rs10"}
    assert skipped["rs5"]["reason"] == "allele1 A is not the genome's T at chr1:141"
    assert skipped["rs6"]["reason"] == "allele1 A is not the genome's C at chr1:161"
    assert skipped["rs7"]["reason"] == "window past the end of chr2 (length 100)"
    assert skipped["rs8"]["reason"] == f"window past the start of chr1 (length {CHR1_LENGTH})"
    assert "chr9" in skipped["rs9"]["reason"] and "not in the FASTA" in skipped["rs9"]["reason"]
    assert "symbolic" in skipped["rs10"]["reason"]
    # 1-based positions and the file:line each record came from.
    assert skipped["rs5"]["pos"] == "141" and skipped["rs7"]["pos"] == "90"
    assert skipped["rs5"]["source"] == f"{vcf}:{vcf_line('rs5')}"
    summary = json.loads((out / "variants.json").read_text())
    assert summary["variants_scored"] == 5 and summary["variants_skipped"] == 6


def test_ref_mismatch_flip_swaps_the_alleles_when_the_genome_has_allele2(genome, tmp_path):
    vcf = tmp_path / "calls.vcf"
    vcf.write_text(vcf_text())
    out = run(tmp_path, MotifCounter(), vcf, ref_mismatch="flip")
    rows = {r["variant_id"]: r for r in read_table(out / "variants.tsv")}
    assert (rows["rs5"]["allele1"], rows["rs5"]["allele2"], rows["rs5"]["flipped"]) == (
        "T", "A", "true",
    )  # fmt: skip
    assert rows["rs5"]["pos"] == "141"
    assert all(r["flipped"] == "false" for name, r in rows.items() if name != "rs5")
    skipped = {r["variant_id"]: r["reason"] for r in read_table(out / "skipped.tsv")}
    assert skipped["rs6"] == "allele1 A is not the genome's C at chr1:161, nor is allele2 G"
    assert "rs5" not in skipped


def test_ref_mismatch_error_raises_and_writes_nothing(genome, tmp_path):
    vcf = tmp_path / "calls.vcf"
    vcf.write_text(vcf_text())
    with pytest.raises(LiftGenomicsError, match=f"calls.vcf:{vcf_line('rs5')}: variant rs5"):
        run(tmp_path, MotifCounter(), vcf, ref_mismatch="error")
    assert not (tmp_path / "out" / "variants.tsv").exists()


# --- 2. a motif detector's log fold changes, by hand ------------------------------------------

#: (1-based pos, allele1, allele2, id) of the motif test; chrombpnet's table layout.
MOTIF_VARIANTS = [
    (501, "-", "GATA", "ins_gata"),  # inserts a GATA (0-based 500)
    (202, "A", "C", "break_gata"),  # GATA -> GCTA
    (202, "A", "-", "delete_gata"),  # GATA -> G.TA: the A deleted
    (322, "C", "A", "make_gata"),  # GCTA -> GATA
    (443, "T", "G", "break_tatc"),  # TATC -> TAGC: only the reverse strand saw it
    (581, "A", "C", "far"),  # no motif within a window of it
]
#: The hand count of each variant's windows: (GATA in allele1, TATC in allele1, GATA in
#: allele2, TATC in allele2); the test checks it against the windows by brute force.
MOTIF_COUNTS = {
    "ins_gata": (0, 0, 1, 0),
    "break_gata": (1, 0, 0, 0),
    "delete_gata": (1, 0, 0, 0),
    "make_gata": (0, 0, 1, 0),
    "break_tatc": (0, 1, 0, 0),
    "far": (0, 0, 0, 0),
}


def write_motif_table(directory: Path) -> Path:
    path = directory / "motif.tsv"
    path.write_text("".join(f"chr1\t{p}\t{a1}\t{a2}\t{name}\n" for p, a1, a2, name in
                            MOTIF_VARIANTS))  # fmt: skip
    return path


def test_motif_windows_hold_the_hand_counted_motifs():
    for pos, allele1, allele2, name in MOTIF_VARIANTS:
        first, second = hand_windows("chr1", pos - 1, allele1, allele2)
        counted = tuple(
            sum(1 for _, motif in motif_hits(window) if motif == wanted)
            for window in (first, second)
            for wanted in MOTIFS
        )
        assert counted == MOTIF_COUNTS[name], name


@pytest.mark.parametrize("forward_only", [False, True])
def test_motif_logfc_by_hand(genome, tmp_path, forward_only):
    """Counts are averaged in count space: (exp(log c_fwd) + exp(log c_rc)) / 2 with
    c_fwd = 1 + K * #GATA and c_rc = 1 + K * #TATC (what the reverse strand sees as GATA).

    With K = 3: a window with one GATA (or one TATC) and nothing else averages to
    (4 + 1) / 2 = 2.5, an empty one to 1; forward only, one GATA gives 4 and a TATC nothing.
    """
    out = run(tmp_path, MotifCounter(), write_motif_table(tmp_path), schema="chrombpnet",
              forward_only=forward_only)  # fmt: skip
    rows = {r["variant_id"]: r for r in read_table(out / "variants.tsv")}
    if forward_only:
        expected = {"ins_gata": (1, 4), "break_gata": (4, 1), "delete_gata": (4, 1),
                    "make_gata": (1, 4), "break_tatc": (1, 1), "far": (1, 1)}  # fmt: skip
    else:
        expected = {"ins_gata": (1, 2.5), "break_gata": (2.5, 1), "delete_gata": (2.5, 1),
                    "make_gata": (1, 2.5), "break_tatc": (2.5, 1), "far": (1, 1)}  # fmt: skip
    for name, (gata1, tatc1, gata2, tatc2) in MOTIF_COUNTS.items():
        # The same numbers from the brute-force motif counts.
        strands = (1,) if forward_only else (1, 2)
        c1 = np.mean([1 + K * (gata1, tatc1)[s - 1] for s in strands])
        c2 = np.mean([1 + K * (gata2, tatc2)[s - 1] for s in strands])
        assert (c1, c2) == expected[name]
    for name, (c1, c2) in expected.items():
        row = rows[name]
        logfc = math.log2(c2 / c1)
        assert float(row["allele1_pred_counts"]) == pytest.approx(c1, rel=1e-5)
        assert float(row["allele2_pred_counts"]) == pytest.approx(c2, rel=1e-5)
        assert float(row["logfc"]) == pytest.approx(logfc, rel=1e-5, abs=1e-6), name
        assert float(row["abs_logfc"]) == pytest.approx(abs(logfc), rel=1e-5, abs=1e-6)
        # Printed with 6 significant digits.
        assert row["logfc"] == f"{logfc:.6g}" or abs(logfc) < 1e-6
        # A flat profile for both alleles: no distance between them.
        assert float(row["jsd"]) == 0.0 and float(row["logfc_x_jsd"]) == 0.0
    assert rows["far"]["logfc"] in ("0", "-0")
    assert rows["break_gata"]["logfc"] == ("-2" if forward_only else "-1.32193")


def test_a_killed_runs_staged_files_are_removed_on_rerun(genome, tmp_path):
    """A SIGKILL leaves staged ``.NAME.*.part`` files (and the lock); the rerun removes those
    of the variants outputs and nothing else."""
    clean = run(tmp_path, MotifCounter(), write_motif_table(tmp_path), "clean", schema="chrombpnet")
    out = tmp_path / "out"
    out.mkdir()
    left = [out / ".variants.tsv.k2_9zzzz.part", out / ".allele1.ohe.npz.abcdefgh.part"]
    kept = [out / ".notes.txt.abcdefgh.part", out / "notes.txt"]
    for path in left + kept:
        path.write_text("half")
    run(tmp_path, MotifCounter(), write_motif_table(tmp_path), schema="chrombpnet")
    assert not any(path.exists() for path in left) and all(path.exists() for path in kept)
    for path in clean.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name


# --- 4. the allele-difference identity, end to end --------------------------------------------

#: SNPs (and one indel each way) of the attribution tests: (1-based pos, allele1, allele2).
ATTRIBUTED = [(61, "C", "T"), (202, "A", "G"), (301, CHR1[300], "-"), (401, "-", "TT"),
              (581, "A", "G")]  # fmt: skip


def write_attributed_table(directory: Path) -> Path:
    path = directory / "attributed.tsv"
    path.write_text("".join(f"chr1\t{p}\t{a1}\t{a2}\tv{i}\n" for i, (p, a1, a2) in
                            enumerate(ATTRIBUTED)))  # fmt: skip
    return path


def tiny_bpnet() -> TinyBPNet:
    torch.manual_seed(0)
    model = TinyBPNet()
    model.input_length = LENGTH
    return model.eval()


def load(path: Path) -> np.ndarray:
    with np.load(path) as archive:
        return archive["arr_0"]


# A one-variant block's flat references reach PyTorch read-only: the bug of
# tests/cli/test_variants_cli.py::test_flat_references_on_one_variant_print_no_warning.
@pytest.mark.filterwarnings("ignore:The given NumPy array is not writable")
def test_allele_difference_equals_the_counts_head_difference(genome, tmp_path):
    model = tiny_bpnet()
    out = run(tmp_path, model, write_attributed_table(tmp_path), schema="chrombpnet",
              attribute="deeplift_rescale", references="flat", batch_size=2, block=2)  # fmt: skip
    windows = [hand_windows("chr1", p - 1, a1, a2) for p, a1, a2 in ATTRIBUTED]
    X1 = np.stack([one_hot(first) for first, _ in windows])
    X2 = np.stack([one_hot(second) for _, second in windows])
    np.testing.assert_array_equal(load(out / "allele1.ohe.npz"), X1)
    np.testing.assert_array_equal(load(out / "allele2.ohe.npz"), X2)
    with torch.no_grad():
        counts1 = model(torch.from_numpy(X1))[1][:, 0].double().numpy()
        counts2 = model(torch.from_numpy(X2))[1][:, 0].double().numpy()
    contrib1 = load(out / "counts.allele1.contrib.npz").astype(np.float64)
    contrib2 = load(out / "counts.allele2.contrib.npz").astype(np.float64)
    difference = contrib2.sum(axis=(1, 2)) - contrib1.sum(axis=(1, 2))
    np.testing.assert_allclose(difference, counts2 - counts1, atol=1e-4)
    assert np.abs(counts2 - counts1).max() > 1e-3  # the identity is not 0 = 0
    # Actual contributions are the hypothetical ones on the window's own bases.
    np.testing.assert_allclose(contrib1, load(out / "counts.allele1.hyp.npz") * X1, atol=0)


# --- 5. the variant SHAP .h5 ------------------------------------------------------------------


def test_variant_shap_h5_layout(genome, tmp_path):
    out = run(tmp_path, tiny_bpnet(), write_attributed_table(tmp_path), schema="chrombpnet",
              attribute="deeplift_rescale", references="dinuc:2")  # fmt: skip
    n = len(ATTRIBUTED)
    ids = [f"v{i}" for i in range(n)]
    X = np.concatenate([load(out / "allele1.ohe.npz"), load(out / "allele2.ohe.npz")])
    for head in ("counts", "profile"):
        with h5py.File(out / f"{head}.variant_shap.h5", "r") as handle:
            assert handle["raw/seq"].shape == (2 * n, 4, LENGTH)
            assert handle["shap/seq"].shape == (2 * n, 4, LENGTH)
            assert handle["projected_shap/seq"].shape == (2 * n, 4, LENGTH)
            assert handle["variant_ids"].shape == (2 * n,)
            assert handle["alleles"].shape == (2 * n,)
            np.testing.assert_array_equal(handle["raw/seq"][()], X)
            hyp = np.concatenate([load(out / f"{head}.allele{a}.hyp.npz") for a in (1, 2)])
            contrib = np.concatenate([load(out / f"{head}.allele{a}.contrib.npz") for a in (1, 2)])
            np.testing.assert_array_equal(handle["shap/seq"][()], hyp.astype(np.float16))
            np.testing.assert_array_equal(
                handle["projected_shap/seq"][()], contrib.astype(np.float16)
            )
            assert [name.decode() for name in handle["variant_ids"][()]] == ids + ids
            assert handle["alleles"][()].tolist() == [0] * n + [1] * n


# --- 7. p-values against the written null -----------------------------------------------------


def brute_q(p: list[float]) -> list[float]:
    """Benjamini-Hochberg: q_i = min over ranks k with p_(k) >= p_i of min(1, m p_(k) / k)."""
    ranked = sorted(p)
    m = len(p)
    return [min(min(1.0, m * ranked[k] / (k + 1)) for k in range(m) if ranked[k] >= value)
            for value in p]  # fmt: skip


def test_no_null_no_pvalue_columns(genome, tmp_path):
    out = run(tmp_path, MotifCounter(), write_motif_table(tmp_path), schema="chrombpnet")
    header = (out / "variants.tsv").read_text().splitlines()[0].split("\t")
    assert not [name for name in header if name.endswith((".pval", ".qval"))]
    assert not (out / "null.npz").exists()
    assert json.loads((out / "variants.json").read_text())["null_size"] == 0


def test_pvalues_recomputed_from_the_null_file(genome, tmp_path):
    """p = (#null >= observed + 1) / (N + 1). The motif detector's scores take few values, so
    the null ties with the observed ones; observed values are the hand-computed |logFC|."""
    n_shuffles = 6
    out = run(tmp_path, MotifCounter(), write_motif_table(tmp_path), schema="chrombpnet",
              n_shuffles=n_shuffles)  # fmt: skip
    rows = read_table(out / "variants.tsv")
    with np.load(out / "null.npz") as archive:
        null = {name: archive[name] for name in ("abs_logfc", "jsd", "abs_logfc_x_jsd")}
    assert all(values.shape == (n_shuffles * len(MOTIF_VARIANTS),) for values in null.values())
    hand = {"ins_gata": math.log2(2.5), "break_gata": math.log2(2.5),
            "delete_gata": math.log2(2.5), "make_gata": math.log2(2.5),
            "break_tatc": math.log2(2.5), "far": 0.0}  # fmt: skip
    # Float32 model outputs move a score by ~1e-7; the null's distinct values lie far apart.
    expected = [(int(np.sum(null["abs_logfc"] >= hand[r["variant_id"]] - 1e-6)) + 1)
                / (null["abs_logfc"].size + 1) for r in rows]  # fmt: skip
    assert len(set(np.round(null["abs_logfc"], 4))) > 1  # the null is not constant
    for row, p, q in zip(rows, expected, brute_q(expected), strict=True):
        assert 0 < float(row["abs_logfc.pval"]) <= 1
        assert float(row["abs_logfc.pval"]) == pytest.approx(p, rel=1e-5)
        assert float(row["abs_logfc.qval"]) == pytest.approx(q, rel=1e-5)
        # The profile is flat: every jsd is 0 and ties the whole null, p = 1.
        assert float(row["jsd.pval"]) == 1.0
    far = next(row for row in rows if row["variant_id"] == "far")
    assert far["abs_logfc.pval"] == "1"


# --- a classifier with BatchNorm ---------------------------------------------------------------


def test_a_model_with_batchnorm_is_scored(genome, tmp_path):
    """A classifier's logits averaged over the strands, by hand: (f(x) + f(rc x)) / 2."""
    torch.manual_seed(0)
    model = basset(length=LENGTH, n_tasks=2).eval()
    model.input_length = LENGTH
    out = run(tmp_path, model, write_attributed_table(tmp_path), schema="chrombpnet")
    rows = read_table(out / "variants.tsv")
    windows = [hand_windows("chr1", p - 1, a1, a2) for p, a1, a2 in ATTRIBUTED]
    with torch.no_grad():
        averaged = []
        for allele in (0, 1):
            X = torch.from_numpy(np.stack([one_hot(pair[allele]) for pair in windows]))
            reverse = torch.from_numpy(np.ascontiguousarray(X.numpy()[:, ::-1, ::-1]))
            averaged.append(((model(X) + model(reverse)) / 2).double().numpy())
    for i, row in enumerate(rows):
        for task in (0, 1):
            logit1, logit2 = averaged[0][i, task], averaged[1][i, task]
            assert float(row[f"allele1_logit_task{task}"]) == pytest.approx(logit1, rel=1e-4)
            assert float(row[f"logit_diff_task{task}"]) == pytest.approx(
                logit2 - logit1, rel=1e-4, abs=1e-6
            )


# --- a rerun into the same directory ----------------------------------------------------------


def test_a_rerun_into_the_same_directory_leaves_no_earlier_outputs(genome, tmp_path):
    table = write_motif_table(tmp_path)
    run(tmp_path, tiny_bpnet(), table, schema="chrombpnet", n_shuffles=2,
        attribute="deeplift_rescale", references="flat")  # fmt: skip
    out = run(tmp_path, tiny_bpnet(), table, schema="chrombpnet", n_shuffles=0)
    assert sorted(path.name for path in out.iterdir()) == [
        "skipped.tsv", "variants.json", "variants.tsv",
    ]  # fmt: skip


def test_attribute_heads_explains_only_the_chosen_bpnet_head(genome, tmp_path):
    both = run(tmp_path, tiny_bpnet(), write_attributed_table(tmp_path), name="both",
               schema="chrombpnet", attribute="deeplift_rescale", references="flat")  # fmt: skip
    counts = run(tmp_path, tiny_bpnet(), write_attributed_table(tmp_path), name="counts",
                 schema="chrombpnet", attribute="deeplift_rescale", references="flat",
                 heads=("counts",))  # fmt: skip
    assert {p.name.split(".")[0] for p in both.glob("*.allele1.hyp.npz")} == {"counts", "profile"}
    assert [p.name for p in counts.glob("*.allele1.hyp.npz")] == ["counts.allele1.hyp.npz"]
    for name in ("counts.allele1.contrib.npz", "counts.allele2.contrib.npz", "variants.tsv"):
        assert (counts / name).read_bytes() == (both / name).read_bytes()
    with pytest.raises(LiftGenomicsError, match="--attribute-heads"):
        run(tmp_path, tiny_bpnet(), write_attributed_table(tmp_path), name="none",
            schema="chrombpnet", heads=("counts",))  # fmt: skip
