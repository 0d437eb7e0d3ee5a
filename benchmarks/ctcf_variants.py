"""Variant effects on a trained model nobody here wrote: do motif-breaking SNPs stand out?

Builds a synthetic genome (``genome.fa`` in ``--out``): ``--motif-sites`` records of random
sequence (i.i.d. bases, 40 % GC) carrying one instance of the ENCODE compendium's
``CTCF_known1`` (sampled from its PWM, as ``ctcf_discovery.py`` pastes it, on a random
strand) and ``--background-sites`` records without. It writes ``variants.vcf``: for each motif
site one SNP at a core position of the instance (one of the motif's positions with more than
``--core-bits`` of information; the instance carries the consensus base there, and the SNP
changes it to the PWM's least likely base), and for each background site one SNP at a random
position near the middle with a random ALT. The bpnet-lite CTCF BPNet scores them all with
``liftgenomics.variants.pipeline.score_variants`` (both strands, ``--n-shuffles`` shuffled
windows per variant for the null), and with ``--attribute deeplift_genomics`` explains both
alleles of the first ``--attributed`` motif SNPs against ``--references`` (a second run,
without a null: attributions cost ``2 heads x 2 alleles x K`` backward passes per variant,
since a BPNet's two heads are both explained and the counts head alone cannot be chosen
without changing the scores; with ``dinuc:20`` that is about 2 s per variant on 2 quiet CPU
cores, so all 200 motif SNPs add about 7 minutes; ``--attributed all --one-run`` scores
everything, null and attributions of all 400 SNPs, in one call as the CLI would: about 18).

Reported (``results.json`` and ``results.md`` in ``--out``): per group, the fraction of SNPs
with ``logfc < 0`` and ``abs_logfc.qval < 0.05``, and the median ``logfc``; for the attributed
motif SNPs, the fraction whose largest ``sum_c |contrib2 - contrib1|`` of the counts head
(read from ``counts.allele{1,2}.contrib.npz``) is at the mutated base (index ``L // 2``);
the wall time of each step. The model is read from
``../shared/data/real-models/bpnet-lite-ctcf/example.torch`` (or ``--model``); the script
exits 0 with a message where it is absent. Everything is seeded.

    python benchmarks/ctcf_variants.py --threads 2 --out /tmp/ctcf-variants
    python benchmarks/ctcf_variants.py --attributed all --one-run --out /tmp/ctcf-full  # slow
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from liftgenomics.motifs.meme import get_motif

MODEL = (
    Path(__file__).resolve().parents[1].parent
    / "shared/data/real-models/bpnet-lite-ctcf/example.torch"
)
LENGTH = 2114
#: Bases of each synthetic record: the window (L) and some slack either side.
RECORD = 2400
BASES = np.array(list("ACGT"))
BACKGROUND = [0.3, 0.2, 0.2, 0.3]
Q = 0.05


def information(pwm: np.ndarray) -> np.ndarray:
    """Information content (bits) of each PWM column, against a uniform background."""
    p = pwm / pwm.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(p > 0, p * np.log2(p), 0.0), axis=1)
    return 2.0 - entropy


def build_genome(
    n_motif: int, n_background: int, seed: int, core_bits: float, out: Path
) -> pd.DataFrame:
    """``genome.fa`` and ``variants.vcf`` in ``out``; one row per SNP (its site and alleles)."""
    rng = np.random.default_rng(seed)
    pwm = get_motif("CTCF_known1").probabilities  # (width, 4)
    width = pwm.shape[0]
    core = np.flatnonzero(information(pwm) > core_bits)
    consensus = pwm.argmax(axis=1)
    least = pwm.argmin(axis=1)
    rows, lines = [], []
    centre = RECORD // 2
    for i in range(n_motif + n_background):
        codes = rng.choice(4, size=RECORD, p=BACKGROUND)
        name = f"site{i}"
        if i < n_motif:
            motif = np.array([rng.choice(4, p=column / column.sum()) for column in pwm])
            j = int(rng.choice(core))  # the motif position broken
            motif[j] = consensus[j]
            ref, alt = int(consensus[j]), int(least[j])
            strand = "+" if rng.random() < 0.5 else "-"
            if strand == "-":
                motif, offset, ref, alt = 3 - motif[::-1], width - 1 - j, 3 - ref, 3 - alt
            else:
                offset = j
            # The SNP sits at the record's centre, the instance around it.
            start = centre - offset
            codes[start : start + width] = motif
            pos = centre
            group, motif_position = "motif", j
        else:
            pos = centre + int(rng.integers(-100, 101))
            ref = int(codes[pos])
            alt = int(rng.choice([b for b in range(4) if b != ref]))
            start, strand, group, motif_position = -1, ".", "background", -1
        lines += [f">{name}", "".join(BASES[codes])]
        rows.append({
            "variant_id": f"snp{i}", "chr": name, "pos": pos + 1, "ref": BASES[ref],
            "alt": BASES[alt], "group": group, "strand": strand, "motif_start": start,
            "motif_position": motif_position,
        })  # fmt: skip
    (out / "genome.fa").write_text("\n".join(lines) + "\n")
    table = pd.DataFrame(rows)
    write_vcf(out / "variants.vcf", table)
    return table


def write_vcf(path: Path, table: pd.DataFrame) -> None:
    """A minimal VCF 4.2 of the SNPs (contigs declared)."""
    header = ["##fileformat=VCFv4.2"]
    header += [f"##contig=<ID={chrom},length={RECORD}>" for chrom in table["chr"]]
    header.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    body = [
        f"{r.chr}\t{r.pos}\t{r.variant_id}\t{r.ref}\t{r.alt}\t.\tPASS\t."
        for r in table.itertuples()
    ]
    path.write_text("\n".join(header + body) + "\n")


def timed(label: str, function, *args, **kwargs):
    """``function(*args, **kwargs)`` and its wall time, printed."""
    print(f"[{label}] ...", flush=True)
    started = time.perf_counter()
    result = function(*args, **kwargs)
    seconds = time.perf_counter() - started
    print(f"[{label}] {seconds:.1f} s", flush=True)
    return result, seconds


def group_summary(scores: pd.DataFrame, group: str) -> dict:
    """Fraction called (logfc < 0 and abs_logfc q < 0.05) and median logfc of one group."""
    chosen = scores[scores["group"] == group]
    called = (chosen["logfc"] < 0) & (chosen["abs_logfc.qval"] < Q)
    return {
        "n": int(len(chosen)),
        "fraction_logfc_neg_q05": float(called.mean()),
        "fraction_q05": float((chosen["abs_logfc.qval"] < Q).mean()),
        "median_logfc": float(chosen["logfc"].median()),
        "median_abs_logfc_pval": float(chosen["abs_logfc.pval"].median()),
    }


def attribution_peaks(directory: Path, head: str = "counts") -> dict:
    """Where sum_c |contrib2 - contrib1| of ``head`` peaks, per variant (ids in file order)."""
    contrib1 = np.load(directory / f"{head}.allele1.contrib.npz")["arr_0"]
    contrib2 = np.load(directory / f"{head}.allele2.contrib.npz")["arr_0"]
    difference = np.abs(contrib2.astype(np.float64) - contrib1).sum(axis=1)  # (N, L)
    ids = pd.read_csv(directory / "variants.tsv", sep="\t")["variant_id"].tolist()
    peaks = difference.argmax(axis=1)
    centre = contrib1.shape[2] // 2
    return {
        "ids": ids,
        "peak": peaks,
        "at_centre": peaks == centre,
        "peak_share": difference[:, centre] / difference.sum(axis=1),
    }


def write_markdown(path: Path, result: dict) -> None:
    """A short table of the results."""
    motif, background = result["motif"], result["background"]
    attributed = result["attribution"]
    lines = [
        f"# CTCF variant effects (bpnet-lite K562 CTCF BPNet, n_shuffles={result['n_shuffles']})",
        "",
        "| group | SNPs | logfc < 0 and q < 0.05 | q < 0.05 | median logfc |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in (("motif-breaking", motif), ("background", background)):
        lines.append(
            f"| {name} | {row['n']} | {row['fraction_logfc_neg_q05']:.3f} | "
            f"{row['fraction_q05']:.3f} | {row['median_logfc']:.3f} |"
        )
    lines += [
        "",
        f"Attributions ({result['attribute']}, {result['references']}, counts head) of "
        f"{attributed['n']} motif SNPs: largest |contrib2 - contrib1| at the mutated base in "
        f"{attributed['fraction_peak_at_snp']:.3f} of them (median share of the total there "
        f"{attributed['median_peak_share']:.3f}); inside the pasted instance in "
        f"{attributed['fraction_peak_in_motif']:.3f}.",
        "",
        "| step | wall s |",
        "|---|---:|",
    ]
    lines += [f"| {step} | {seconds:.1f} |" for step, seconds in result["seconds"].items()]
    path.write_text("\n".join(lines) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--motif-sites", type=int, default=200)
    parser.add_argument("--background-sites", type=int, default=200)
    parser.add_argument("--n-shuffles", type=int, default=10)
    parser.add_argument("--attribute", default="deeplift_genomics")
    parser.add_argument("--references", default="dinuc:20")
    parser.add_argument(
        "--attributed", default="32",
        help="motif SNPs explained (a number, or 'all'; default 32 to stay within minutes)",
    )  # fmt: skip
    parser.add_argument(
        "--one-run", action="store_true",
        help="score null and attributions in one score_variants call (needs --attributed all)",
    )  # fmt: skip
    parser.add_argument("--core-bits", type=float, default=1.5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("ctcf-variants"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.model.is_file():
        print(f"skipped: {args.model} not found (the real models live in ../shared)")
        return 0
    n_attributed = args.motif_sites if args.attributed == "all" else int(args.attributed)
    n_attributed = min(n_attributed, args.motif_sites)
    if args.one_run and n_attributed != args.motif_sites:
        raise SystemExit("--one-run explains every variant: give --attributed all")
    import torch

    from liftgenomics.models.load import load_model
    from liftgenomics.variants.pipeline import score_variants

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    snps, seconds["genome + VCF"] = timed(
        "genome + VCF", build_genome, args.motif_sites, args.background_sites, args.seed,
        args.core_bits, args.out,
    )  # fmt: skip
    snps.to_csv(args.out / "snps.tsv", sep="\t", index=False)
    model, seconds["load model"] = timed("load model", load_model, f"bpnet-lite:{args.model}")
    common = {"seed": args.seed, "batch_size": args.batch_size, "device": "cpu"}
    fasta = args.out / "genome.fa"
    scored_dir = args.out / "scores"
    attributed_dir = scored_dir if args.one_run else args.out / "attributions"
    label = "score (predictions + null" + (" + attributions)" if args.one_run else ")")
    _, seconds[label] = timed(
        label, score_variants, model, fasta, args.out / "variants.vcf", scored_dir,
        n_shuffles=args.n_shuffles, attribute=args.attribute if args.one_run else None,
        references=args.references, **common,
    )  # fmt: skip
    if not args.one_run and n_attributed:
        subset = snps[snps["group"] == "motif"].head(n_attributed)
        write_vcf(args.out / "attributed.vcf", subset)
        label = f"attribute {n_attributed} motif SNPs (predictions, no null)"
        _, seconds[label] = timed(
            label, score_variants, model, fasta, args.out / "attributed.vcf", attributed_dir,
            n_shuffles=0, attribute=args.attribute, references=args.references, **common,
        )  # fmt: skip
    table = pd.read_csv(scored_dir / "variants.tsv", sep="\t")
    table = table.merge(snps[["variant_id", "group"]], on="variant_id", how="left")
    result = {
        "model": str(args.model),
        "motif_sites": args.motif_sites,
        "background_sites": args.background_sites,
        "n_shuffles": args.n_shuffles,
        "core_bits": args.core_bits,
        "scored": int(len(table)),
        "skipped": int(len(pd.read_csv(scored_dir / "skipped.tsv", sep="\t"))),
        "motif": group_summary(table, "motif"),
        "background": group_summary(table, "background"),
        "attribute": args.attribute,
        "references": args.references,
    }
    if n_attributed:
        peaks = attribution_peaks(attributed_dir)
        motif_ids = set(snps.loc[snps["group"] == "motif", "variant_id"])
        keep = np.array([i in motif_ids for i in peaks["ids"]])
        # The pasted instance in window coordinates: the SNP (record pos - 1) is at L // 2.
        sites = snps.set_index("variant_id").loc[np.array(peaks["ids"])[keep]]
        first = (sites["motif_start"] - (sites["pos"] - 1)).to_numpy()
        offsets = peaks["peak"][keep] - LENGTH // 2
        width = get_motif("CTCF_known1").probabilities.shape[0]
        in_motif = (offsets >= first) & (offsets < first + width)
        result["attribution"] = {
            "n": int(keep.sum()),
            "head": "counts",
            "fraction_peak_at_snp": float(peaks["at_centre"][keep].mean()),
            "median_peak_share": float(np.median(peaks["peak_share"][keep])),
            "fraction_peak_in_motif": float(np.mean(in_motif)),
            "peak_offsets_from_snp": (peaks["peak"][keep] - LENGTH // 2).tolist(),
        }
    else:
        nan = float("nan")
        result["attribution"] = {"n": 0, "fraction_peak_at_snp": nan, "median_peak_share": nan,
                                 "fraction_peak_in_motif": nan}  # fmt: skip
    result["seconds"] = {step: round(value, 1) for step, value in seconds.items()}
    result["total_seconds"] = round(sum(seconds.values()), 1)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(args.out / "results.md", result)
    print((args.out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
