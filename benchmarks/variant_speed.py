"""Variant-scoring throughput: ``liftgenomics variants`` against tangermeme, and its memory.

On one synthetic chromosome of random sequence (40 % GC, seeded) with ``--snps`` SNPs 100 bp
apart (random ALT), 2,114-bp windows, the bpnet-lite K562 CTCF BPNet
(``../shared/data/real-models/bpnet-lite-ctcf/example.torch``; where it is absent, a randomly
initialised liftgenomics BPNet of the same shape: 64 filters, 8 dilated layers, no control),
both heads, it times:

* ours, end to end (VCF and FASTA read, windows built, outputs written):
  ``score_variants(attribute=None, n_shuffles=10)``, both strands: predictions plus a
  shuffled null of 10 per variant, i.e. 11x the model evaluations of the predictions alone;
  the same with ``n_shuffles=0`` (like for like: predictions of both alleles, both strands);
  and ``n_shuffles=0, forward_only=True``;
* ours with ``n_shuffles=0`` again at tangermeme's best batch size, when it is not ours;
* tangermeme's ``substitution_effect`` (predictions of allele1 and allele2 windows, forward
  strand only, as tangermeme does it) on the same SNPs and model, given the allele1 windows as
  a tensor, at its best batch size among ``--tangermeme-batches`` (measured first on a few
  SNPs); and the same called again on the reverse complements (both strands, like for like).

The prediction-only rows are timed ``--repeats`` rounds, interleaved, best round reported; the
null row once. The forward-only log fold changes of ours and tangermeme's are compared.

Memory flat in the number of variants: peak RSS of a subprocess running ``score_variants``
with ``n_shuffles=0``, the default block size, attributions off (its VmHWM, reset with
``/proc/self/clear_refs`` after the imports and the model's first call, so the peak is the
call's; ``ru_maxrss``, imports included, where /proc is absent), at
``--memory-snps`` (1,000 and 20,000) variants, with a small random BPNet (``--memory-model``:
8 filters, 2 dilated layers; the peaks are the point, not the speed) so 20,000 variants take
1-3 minutes on 2 cores (with ``same``, about 16). Prints a markdown table and writes
``results.json`` (and ``results.md``) in ``--out``. Not a test:

    python benchmarks/variant_speed.py --threads 2 --out /tmp/variant-speed
    python benchmarks/variant_speed.py --snps 500 --memory-snps 1000 5000 20000   # slower
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

MODEL = (
    Path(__file__).resolve().parents[1].parent
    / "shared/data/real-models/bpnet-lite-ctcf/example.torch"
)
LENGTH = 2114
SPACING = 100
BASES = np.array(list("ACGT"))
SMALL_BPNET = {"name": "bpnet", "n_filters": 8, "n_layers": 2, "n_control_tracks": 0}
SAME_BPNET = {"name": "bpnet", "n_filters": 64, "n_layers": 8, "n_control_tracks": 0}


# ---------------------------------------------------------------------------------------------
# Data


def write_inputs(n: int, seed: int, out: Path, tag: str) -> tuple[Path, Path, np.ndarray]:
    """``{tag}.fa`` (one chromosome) and ``{tag}.vcf`` of ``n`` SNPs; their (pos0, ref, alt)."""
    rng = np.random.default_rng(seed)
    flank = LENGTH // 2 + 10
    size = 2 * flank + SPACING * n
    codes = rng.choice(4, size=size, p=[0.3, 0.2, 0.2, 0.3])
    positions = flank + SPACING * np.arange(n)
    refs = codes[positions]
    alts = (refs + rng.integers(1, 4, size=n)) % 4
    fasta, vcf = out / f"{tag}.fa", out / f"{tag}.vcf"
    sequence = "".join(BASES[codes])
    wrapped = "\n".join(sequence[i : i + 80] for i in range(0, size, 80))
    fasta.write_text(f">chr1\n{wrapped}\n")
    with open(vcf, "w") as handle:
        handle.write(f"##fileformat=VCFv4.2\n##contig=<ID=chr1,length={size}>\n")
        handle.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for i, (pos, ref, alt) in enumerate(zip(positions, refs, alts, strict=True)):
            handle.write(f"chr1\t{pos + 1}\tsnp{i}\t{BASES[ref]}\t{BASES[alt]}\t.\tPASS\t.\n")
    return fasta, vcf, np.stack([positions, refs, alts], axis=1)


def allele1_windows(fasta: Path, snps: np.ndarray) -> torch.Tensor:
    """One-hot allele1 windows (N, 4, L), the SNP at L // 2 (what tangermeme is given)."""
    text = "".join(line.strip() for line in fasta.read_text().splitlines()[1:])
    codes = np.frombuffer(text.encode(), dtype=np.uint8)
    lookup = np.zeros(256, dtype=np.int64)
    lookup[[ord(b) for b in "ACGT"]] = np.arange(4)
    starts = snps[:, 0] - LENGTH // 2
    index = lookup[codes[starts[:, None] + np.arange(LENGTH)]]  # (N, L)
    X = np.zeros((len(snps), 4, LENGTH), dtype=np.float32)
    X[np.arange(len(snps))[:, None], index, np.arange(LENGTH)] = 1.0
    return torch.from_numpy(X)


def load(model_path: Path, seed: int):
    """The CTCF BPNet, or a random liftgenomics BPNet of its shape; and its label."""
    if model_path.is_file():
        from liftgenomics.models.load import load_model

        return load_model(f"bpnet-lite:{model_path}").eval(), "bpnet-lite K562 CTCF BPNet"
    from liftgenomics.models.registry import build_model

    print(f"{model_path} not found (the real models live in ../shared): a random BPNet")
    torch.manual_seed(seed)
    return build_model(SAME_BPNET).eval(), "random BPNet (64 filters, 8 layers)"


# ---------------------------------------------------------------------------------------------
# The scorers


def ours(
    model, fasta, vcf, out: Path, n_shuffles: int, forward_only: bool = False, batch: int = 64
) -> Path:
    from liftgenomics.variants.pipeline import score_variants

    score_variants(
        model, fasta, vcf, out, n_shuffles=n_shuffles, forward_only=forward_only,
        attribute=None, device="cpu", progress=False, batch_size=batch, block=16 * batch,
    )  # fmt: skip
    return out / "variants.tsv"


def substitutions(snps: np.ndarray, reverse: bool = False) -> torch.Tensor:
    """tangermeme's COO substitutions (example, position, alphabet index) of the SNPs."""
    rows = torch.arange(len(snps))
    alts = torch.as_tensor(snps[:, 2])
    position = LENGTH // 2
    if reverse:  # the same SNP on the reverse complement
        position, alts = LENGTH - 1 - position, 3 - alts
    return torch.stack([rows, torch.full_like(rows, position), alts], dim=1)


def tangermeme(model, X: torch.Tensor, snps: np.ndarray, batch: int, both: bool = False):
    """tangermeme's substitution_effect (forward strand; ``both``: the reverse complement too)."""
    from tangermeme.variant_effect import substitution_effect

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = substitution_effect(model, X, substitutions(snps), batch_size=batch, device="cpu")
        if both:
            reverse = substitution_effect(
                model, torch.flip(X, dims=(1, 2)), substitutions(snps, True),
                batch_size=batch, device="cpu",
            )  # fmt: skip
            return result, reverse
    return result


def best_batch(model, X, snps, sizes: list[int]) -> tuple[int, dict[int, float]]:
    """tangermeme's fastest batch size (seconds per SNP) on the first SNPs."""
    n = min(len(snps), max(sizes) * 2)
    timings = {}
    tangermeme(model, X[:8], snps[:8], 8)  # warm-up
    for size in sizes:
        started = time.perf_counter()
        tangermeme(model, X[:n], snps[:n], size)
        timings[size] = (time.perf_counter() - started) / n
        print(f"  tangermeme batch {size}: {1 / timings[size]:.1f} SNPs/s", flush=True)
    return min(timings, key=timings.get), timings


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# Memory (a subprocess per size)


def child(args: argparse.Namespace) -> None:
    """Score ``args.child`` = ``fasta,vcf,out`` with n_shuffles=0; print the peak RSS as JSON."""
    fasta, vcf, out = args.child.split(",")
    torch.set_num_threads(args.threads)
    if args.memory_model == "same" and args.model.is_file():
        model, _ = load(args.model, args.seed)
    else:
        from liftgenomics.models.registry import build_model

        torch.manual_seed(args.seed)
        model = build_model(SMALL_BPNET if args.memory_model == "small" else SAME_BPNET).eval()
    from liftgenomics.variants.pipeline import score_variants

    with torch.inference_mode():
        model(torch.zeros((2, 4, LENGTH)))  # the first call's allocations, counted in base
    base = status_kib("VmRSS")
    reset = reset_peak()
    started = time.perf_counter()
    score_variants(model, fasta, vcf, out, n_shuffles=0, attribute=None, device="cpu",
                   progress=False)  # fmt: skip
    seconds = time.perf_counter() - started
    peak = status_kib("VmHWM") if reset else None
    if peak is None or base is None:  # no /proc: the process's high-water mark, imports too
        base, peak = 0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "base_kib": base,
                "peak_kib": peak,
                "seconds": seconds,
                "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )


def status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in KiB, or None."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux: ``clear_refs`` 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def peak_rss(args: argparse.Namespace, n: int) -> dict:
    """Peak RSS of one score_variants run on ``n`` SNPs, in a fresh process."""
    fasta, vcf, _ = write_inputs(n, args.seed + n, args.out, f"memory{n}")
    command = [sys.executable, __file__, "--child", f"{fasta},{vcf},{args.out / f'memory{n}'}",
               "--threads", str(args.threads), "--seed", str(args.seed), "--model",
               str(args.model), "--memory-model", args.memory_model]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "variants": n,
        "peak_mib": report["peak_kib"] / 1024,
        "before_mib": report["base_kib"] / 1024,
        "increase_mib": (report["peak_kib"] - report["base_kib"]) / 1024,
        "maxrss_mib": report["maxrss_kib"] / 1024,
        "score_seconds": report["seconds"],
        "process_seconds": wall,
        "variants_per_s": n / report["seconds"],
    }


# ---------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--snps", type=int, default=128, help="SNPs of the speed comparison")
    parser.add_argument("--n-shuffles", type=int, default=10)
    parser.add_argument(
        "--batch-size", type=int, default=64,
        help="our variants per forward pass (default 64, the package's; block 16x it)",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=2, help="rounds of the cheap rows")
    parser.add_argument("--tangermeme-batches", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--memory-snps", type=int, nargs="*", default=[1000, 20000])
    parser.add_argument(
        "--memory-model", choices=("small", "same"), default="small",
        help="the memory runs' model: a small random BPNet, or the speed test's",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("variant-speed"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def logfc_agreement(table: Path, result) -> float:
    """max |our forward-only logfc − tangermeme's| (log2 of the counts' ratio)."""
    import pandas as pd

    mine = pd.read_csv(table, sep="\t")["logfc"].to_numpy()
    before, after = result.y_before[1][:, 0].double(), result.y_after[1][:, 0].double()
    theirs = ((after - before) / np.log(2.0)).numpy()
    return float(np.abs(mine - theirs).max())


def markdown(result: dict) -> str:
    n = result["snps"]
    lines = [
        f"SNPs: {n} (2,114-bp windows), model: {result['model']}, {result['threads']} threads, "
        f"our batch size {result['batch_size']}",
        "",
        "| scorer | strands | model evaluations | wall s | variants/s | vs tangermeme |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        ratio = row.get("vs_tangermeme")
        lines.append(
            f"| {row['name']} | {row['strands']} | {row['evaluations']:,} | {row['seconds']:.1f}"
            f" | {row['variants_per_s']:.1f} | {'' if ratio is None else f'{ratio:.2f}x'} |"
        )
    lines += [
        "",
        "'vs tangermeme': its time on the same strands over ours (above 1: ours is faster).",
        f"Forward-only logfc, ours vs tangermeme: max |diff| {result['logfc_max_diff']:.2e}.",
    ]
    if result["memory"]:
        lines += [
            "",
            "Peak RSS of score_variants (n_shuffles=0, batch 64, block 1024, "
            f"{result['memory_model']}):",
            "",
            "| variants | peak RSS MiB | before the call MiB | increase MiB | variants/s |",
            "|---:|---:|---:|---:|---:|",
        ]
        for row in result["memory"]:
            lines.append(
                f"| {row['variants']:,} | {row['peak_mib']:.0f} | {row['before_mib']:.0f} | "
                f"{row['increase_mib']:.0f} | {row['variants_per_s']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(args)
        return 0
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    model, label = load(args.model, args.seed)
    fasta, vcf, snps = write_inputs(args.snps, args.seed, args.out, "speed")
    X = allele1_windows(fasta, snps)
    n = len(snps)
    have_tangermeme = importlib.util.find_spec("tangermeme") is not None
    if not have_tangermeme:
        print("tangermeme not installed: not compared (pip install -e '.[bench]')")
    batch, batch_timings = (None, {})
    if have_tangermeme:
        print("tangermeme's batch size:", flush=True)
        batch, batch_timings = best_batch(model, X, snps, args.tangermeme_batches)
    warm_fasta, warm_vcf, _ = write_inputs(8, args.seed + 1, args.out, "warmup")
    ours(model, warm_fasta, warm_vcf, args.out / "warmup", 0, batch=args.batch_size)
    bs = args.batch_size
    functions = {
        "ours, no null": lambda: ours(model, fasta, vcf, args.out / "ours0", 0, batch=bs),
        "ours, no null, forward only": lambda: ours(
            model, fasta, vcf, args.out / "ours0f", 0, forward_only=True, batch=bs
        ),
    }
    if have_tangermeme:
        functions["tangermeme substitution_effect"] = lambda: tangermeme(model, X, snps, batch)
        functions["tangermeme, both strands"] = lambda: tangermeme(model, X, snps, batch, True)
        if batch != bs:
            functions["ours, no null, tangermeme's batch"] = lambda: ours(
                model, fasta, vcf, args.out / "ours0b", 0, batch=batch
            )
    times: dict[str, list[float]] = {name: [] for name in functions}
    for round_ in range(args.repeats):
        for name, function in functions.items():
            times[name].append(timed(function))
            print(f"round {round_ + 1}: {name}: {times[name][-1]:.1f} s", flush=True)
    print(f"ours with a null of {args.n_shuffles} ...", flush=True)
    null_seconds = timed(
        lambda: ours(model, fasta, vcf, args.out / "oursnull", args.n_shuffles, batch=bs)
    )
    print(f"ours with a null of {args.n_shuffles}: {null_seconds:.1f} s", flush=True)
    best = {name: min(values) for name, values in times.items()}
    rows = [{"name": f"ours, null of {args.n_shuffles}", "strands": "both",
             "evaluations": 4 * n * (1 + args.n_shuffles), "seconds": null_seconds}]  # fmt: skip
    rows += [
        {"name": "ours, no null", "strands": "both", "evaluations": 4 * n,
         "seconds": best["ours, no null"]},
        {"name": "ours, no null", "strands": "forward", "evaluations": 2 * n,
         "seconds": best["ours, no null, forward only"]},
    ]  # fmt: skip
    if "ours, no null, tangermeme's batch" in best:
        rows.append(
            {
                "name": f"ours, no null (batch {batch})",
                "strands": "both",
                "evaluations": 4 * n,
                "seconds": best["ours, no null, tangermeme's batch"],
            }
        )
    agreement = float("nan")
    if have_tangermeme:
        rows += [
            {"name": f"tangermeme substitution_effect (batch {batch})", "strands": "forward",
             "evaluations": 2 * n, "seconds": best["tangermeme substitution_effect"]},
            {"name": f"tangermeme substitution_effect x2 (batch {batch})", "strands": "both",
             "evaluations": 4 * n, "seconds": best["tangermeme, both strands"]},
        ]  # fmt: skip
        peer = {"both": best["tangermeme, both strands"],
                "forward": best["tangermeme substitution_effect"]}  # fmt: skip
        for row in rows:
            if row["name"].startswith("ours"):
                row["vs_tangermeme"] = peer[row["strands"]] / row["seconds"]
        agreement = logfc_agreement(
            args.out / "ours0f" / "variants.tsv", tangermeme(model, X, snps, batch)
        )
    for row in rows:
        row["variants_per_s"] = n / row["seconds"]
    memory = []
    for size in args.memory_snps:
        print(f"peak RSS at {size:,} variants ...", flush=True)
        memory.append(peak_rss(args, size))
        print(f"  {memory[-1]['peak_mib']:.0f} MiB ({memory[-1]['process_seconds']:.0f} s)")
    result = {
        "model": label,
        "snps": n,
        "threads": args.threads,
        "n_shuffles": args.n_shuffles,
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "tangermeme_batch": batch,
        "tangermeme_batch_seconds_per_snp": batch_timings,
        "rows": rows,
        "rounds": times,
        "logfc_max_diff": agreement,
        "memory_model": "small random BPNet (8 filters, 2 layers)"
        if args.memory_model == "small" else label,
        "memory": memory,
        "wall_seconds": time.perf_counter() - started,
    }  # fmt: skip
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (args.out / "results.md").write_text(text)
    print()
    print(text)
    print(f"({result['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
