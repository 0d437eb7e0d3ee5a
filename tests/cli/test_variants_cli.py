"""``liftgenomics variants`` and ``gather-variants`` through :func:`liftgenomics.cli.main`:
chunk parts gathered into the bytes of one process, ``--null`` reuse, one-line errors with exit
status 2 that leave nothing behind, and the output lock.

The genome, the records and the motif model are those of ``tests/variants/test_pipeline.py``.
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from liftgenomics.cli import main
from liftgenomics.locks import lock_path, output_lock
from tests.variants.test_pipeline import (
    LENGTH,
    read_table,
    tiny_bpnet,
    vcf_line,
    vcf_text,
    write_attributed_table,
    write_genome,
    write_motif_table,
)

MOTIF_MODEL = "tests.variants.test_pipeline:MotifCounter"
TINY_BPNET = "tests.toy_models:TinyBPNet"


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    """The genome, the record VCF, the two tables and TinyBPNet's weights (seeded)."""
    vcf = tmp_path / "calls.vcf"
    vcf.write_text(vcf_text())
    weights = tmp_path / "tiny.pt"
    torch.save(tiny_bpnet().state_dict(), weights)
    return {
        "fasta": write_genome(tmp_path),
        "vcf": vcf,
        "motif": write_motif_table(tmp_path),
        "table": write_attributed_table(tmp_path),
        "weights": weights,
    }


def variants_argv(inputs, out: Path, *extra: str, model: str = MOTIF_MODEL) -> list[str]:
    """A ``variants`` command on the motif table (or ``extra``'s own source)."""
    source = [] if any(a in ("--vcf", "--variants") for a in extra) else [
        "--variants", str(inputs["motif"]), "--schema", "chrombpnet"]  # fmt: skip
    return ["variants", "--model", model, "--fasta", str(inputs["fasta"]), *source,
            "--out", str(out), "--quiet", "--threads", "1", *extra]  # fmt: skip


def bpnet_argv(inputs, out: Path, *extra: str) -> list[str]:
    return variants_argv(
        inputs, out, "--variants", str(inputs["table"]), "--schema", "chrombpnet",
        "--weights", str(inputs["weights"]), "--length", str(LENGTH), *extra, model=TINY_BPNET,
    )  # fmt: skip


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every entry of a directory (hidden ones too) -> its bytes."""
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def one_error_line(capsys) -> str:
    error = capsys.readouterr().err.strip()
    assert error.startswith("liftgenomics: error:") and "\n" not in error, error
    return error


# --- --ref-mismatch ---------------------------------------------------------------------------


def test_ref_mismatch_flip_and_error(inputs, tmp_path, capsys):
    vcf = str(inputs["vcf"])
    flipped = tmp_path / "flipped"
    argv = variants_argv(inputs, flipped, "--vcf", vcf, "--n-shuffles", "0", "--ref-mismatch",
                         "flip")  # fmt: skip
    assert main(argv) == 0
    rows = {r["variant_id"]: r for r in read_table(flipped / "variants.tsv")}
    assert (rows["rs5"]["allele1"], rows["rs5"]["allele2"], rows["rs5"]["flipped"]) == (
        "T", "A", "true",
    )  # fmt: skip
    capsys.readouterr()
    out = tmp_path / "error"
    argv = variants_argv(inputs, out, "--vcf", vcf, "--n-shuffles", "0", "--ref-mismatch",
                         "error")  # fmt: skip
    assert main(argv) == 2
    error = one_error_line(capsys)
    assert f"{vcf}:{vcf_line('rs5')}: variant rs5: allele1 A is not the genome's T" in error
    assert not (out / "variants.tsv").exists() and not out.exists()


# --- chunks and gather-variants ---------------------------------------------------------------

CHUNKED = ("--attribute", "deeplift_rescale", "--references", "dinuc:3", "--n-shuffles", "3",
           "--batch-size", "2", "--block", "2", "--seed", "5")  # fmt: skip


def chunked_run(inputs, tmp_path: Path, chunks: int, settings=CHUNKED) -> tuple[Path, Path]:
    """One process, and ``chunks`` parts gathered; both directories."""
    whole = tmp_path / f"whole{chunks}"
    assert main(bpnet_argv(inputs, whole, *settings)) == 0
    parts = []
    for chunk in range(chunks):
        part = tmp_path / f"part{chunks}.{chunk}"
        argv = bpnet_argv(inputs, part, *settings, "--chunk", str(chunk), "--chunks", str(chunks))
        assert main(argv) == 0
        parts.append(str(part))
    gathered = tmp_path / f"gathered{chunks}"
    assert main(["gather-variants", "--parts", *parts, "--out", str(gathered)]) == 0
    return whole, gathered


def test_chunks_gather_to_the_bytes_of_one_process(inputs, tmp_path):
    whole, gathered = chunked_run(inputs, tmp_path, 3)  # 5 variants: blocks of 2, 2 and 1
    expected = snapshot(whole)
    assert {"variants.tsv", "null.npz", "counts.variant_shap.h5", "profile.allele2.hyp.npz",
            "allele1.ohe.npz"} <= set(expected)  # fmt: skip
    assert snapshot(gathered) == expected
    header = (whole / "variants.tsv").read_text().splitlines()[0]
    assert "abs_logfc.pval" in header and "jsd.qval" in header


def test_more_chunks_than_blocks_without_attributions(inputs, tmp_path):
    """5 chunks of 3 blocks: chunks 0 and 2 are empty."""
    settings = CHUNKED[4:]  # no --attribute
    whole, gathered = chunked_run(inputs, tmp_path, 5, settings)
    assert not read_table(tmp_path / "part5.0" / "skipped.tsv")
    assert (tmp_path / "part5.0" / "part.tsv").read_text() == ""
    assert snapshot(gathered) == snapshot(whole)


def test_more_chunks_than_blocks_with_attributions(inputs, tmp_path):
    whole, gathered = chunked_run(inputs, tmp_path, 5)
    assert snapshot(gathered) == snapshot(whole)


def test_gather_refuses_parts_out_of_order(inputs, tmp_path, capsys):
    settings = ("--n-shuffles", "0", "--batch-size", "2", "--block", "2")
    parts = []
    for chunk in range(2):
        part = tmp_path / f"part{chunk}"
        assert main(bpnet_argv(inputs, part, *settings, "--chunk", str(chunk), "--chunks", "2"))\
            == 0  # fmt: skip
        parts.append(str(part))
    capsys.readouterr()
    out = tmp_path / "gathered"
    assert main(["gather-variants", "--parts", parts[1], parts[0], "--out", str(out)]) == 2
    assert "chunk order" in one_error_line(capsys)
    assert not (out / "variants.tsv").exists()


# --- --null -----------------------------------------------------------------------------------


def test_null_reuse_gives_the_same_pvalues_and_refuses_another_model(inputs, tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(variants_argv(inputs, first, "--n-shuffles", "4")) == 0
    null = str(first / "null.npz")
    assert main(variants_argv(inputs, second, "--n-shuffles", "4", "--null", null)) == 0
    rows1, rows2 = read_table(first / "variants.tsv"), read_table(second / "variants.tsv")
    assert [name for name in rows1[0] if name.endswith(".pval")] == [
        "abs_logfc.pval", "jsd.pval", "abs_logfc_x_jsd.pval"]  # fmt: skip
    assert rows2 == rows1  # every column, the p- and q-values too
    assert json.loads((second / "variants.json").read_text())["null_given"] is True
    capsys.readouterr()
    # Another model (k = 4: another buffer, another hash) with that null: refused, nothing made.
    other = tmp_path / "other"
    argv = variants_argv(inputs, other, "--n-shuffles", "4", "--null", null, "--model-args",
                         '{"k": 4.0}')  # fmt: skip
    assert main(argv) == 2
    error = one_error_line(capsys)
    assert null in error and "model_hash" in error
    assert not other.exists()
    # Other settings than the null's: the setting is named.
    assert main(variants_argv(inputs, other, "--n-shuffles", "5", "--null", null)) == 2
    assert "n_shuffles" in one_error_line(capsys)
    assert not other.exists()


# --- bad input: one line, exit 2, nothing written ---------------------------------------------

HEADER = "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=640>\n" \
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"  # fmt: skip
GOOD = "chr1\t61\trs1\tC\tT\t.\t.\t.\n"


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    files = {
        "nonint.vcf": HEADER + GOOD + "chr1\tsixty\trs2\tA\tC\t.\t.\t.\n",
        "cut.vcf": HEADER + GOOD + "chr1\t81\trs2\tA",
        "columns.tsv": "chr1\t61\tC\tT\trs1\nchr1\t81\tA\tG\n",
    }
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / name
        paths[name].write_text(text)
    # A bgzipped VCF cut in half (no BGZF end-of-file block).
    whole = gzip.compress((HEADER + GOOD * 20).encode())
    paths["cut.vcf.gz"] = tmp_path / "cut.vcf.gz"
    paths["cut.vcf.gz"].write_bytes(whole[: len(whole) // 2])
    return paths


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--vcf", "{nonint.vcf}"], "{nonint.vcf}:5: cannot parse this VCF record"),
        (["--vcf", "{cut.vcf}"], "{cut.vcf}:5: cannot parse this VCF record"),
        (["--vcf", "{cut.vcf.gz}"], "{cut.vcf.gz}: not a readable VCF/BCF file"),
        (
            ["--variants", "{columns.tsv}", "--schema", "chrombpnet"],
            "{columns.tsv}:2: the chrombpnet schema has 5 tab-separated columns",
        ),
        (["--variants", "{columns.tsv}"], "--variants needs --schema"),
        (["--vcf", "{calls.vcf}", "--schema", "bed"], "--schema describes a --variants table"),
        (["--vcf", "{calls.vcf}", "--attribute", "bogus"], "--attribute 'bogus': unknown method"),
        (["--vcf", "{calls.vcf}", "--logos", "3"], "--logos draws attributions"),
        (["--vcf", "{calls.vcf}", "--fasta", "{missing.fa}"], "{missing.fa}: FASTA file not found"),
        (["--vcf", "{missing.vcf}"], "{missing.vcf}: variant file not found"),
        (["--vcf", "{calls.vcf}", "--block", "3", "--batch-size", "2"], "multiple of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(inputs, tmp_path, capsys, arguments, message):
    names = _bad_inputs(tmp_path) | {"calls.vcf": inputs["vcf"]}
    names |= {"missing.fa": tmp_path / "missing.fa", "missing.vcf": tmp_path / "missing.vcf"}
    fill = {"{" + name + "}": str(path) for name, path in names.items()}
    arguments = [fill.get(a, a) for a in arguments]
    for key, value in fill.items():
        message = message.replace(key, value)
    out = tmp_path / "out"
    argv = variants_argv(inputs, out, *arguments)
    if "--fasta" in arguments:  # the later --fasta wins
        argv = [a for i, a in enumerate(argv) if a != "--fasta" and argv[i - 1] != "--fasta"]
        argv += arguments[arguments.index("--fasta") : arguments.index("--fasta") + 2]
    assert main(argv) == 2
    assert message in one_error_line(capsys)
    assert not out.exists()


def test_usage_errors_are_one_line(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stopped:
        main(variants_argv(inputs, out, "--ref-mismatch", "ignore"))
    assert stopped.value.code == 2
    assert "--ref-mismatch" in one_error_line(capsys)
    assert not out.exists()


# --- the output lock --------------------------------------------------------------------------


def test_a_live_lock_refuses_the_run(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        lock_path(out).write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname()}))
        assert main(variants_argv(inputs, out, "--n-shuffles", "0")) == 2
        error = one_error_line(capsys)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert f"another run (pid {sleeper.pid}) is writing it" in error
    assert not any(out.iterdir())  # nothing written
    assert json.loads(lock_path(out).read_text())["pid"] == sleeper.pid  # left alone


def test_gather_variants_holds_the_lock_too(inputs, tmp_path, capsys):
    parts = [str(tmp_path / f"part{chunk}") for chunk in range(2)]
    for chunk, part in enumerate(parts):
        argv = variants_argv(inputs, Path(part), "--n-shuffles", "0", "--chunk", str(chunk),
                             "--chunks", "2")  # fmt: skip
        assert main(argv) == 0
    out = tmp_path / "gathered"
    with output_lock(out):
        assert main(["gather-variants", "--parts", *parts, "--out", str(out)]) == 2
    assert "is writing it" in one_error_line(capsys)
    assert not (out / "variants.tsv").exists()


# --- warnings ---------------------------------------------------------------------------------


def test_flat_references_on_one_variant_print_no_warning(inputs, tmp_path):
    """A fresh process (PyTorch prints that warning once per process)."""
    table = tmp_path / "one.tsv"
    table.write_text("chr1\t61\tC\tT\trs1\n")
    argv = variants_argv(inputs, tmp_path / "out", "--variants", str(table), "--schema",
                         "chrombpnet", "--n-shuffles", "0", "--attribute", "deeplift_rescale",
                         "--references", "flat")  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "liftgenomics", *argv],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
