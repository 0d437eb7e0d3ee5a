"""De novo discovery on a trained model nobody here wrote: does TF-MoDISco find CTCF?

Writes ``--n`` random 2,114-bp sequences (i.i.d. bases, 40 % GC) with one instance of the
ENCODE compendium's ``CTCF_known1`` sampled from its PWM and pasted at a random position and
strand, scores them with the bpnet-lite CTCF BPNet's counts head from the command line
(``liftgenomics score --model bpnet-lite:example.torch --profile-or-counts counts``), runs
``liftgenomics motifs`` against the whole compendium, and reports the first pattern TOMTOM
names (q < 0.05): whether it is CTCF, its rank among all patterns, its q-value and its seqlet
precision (the share of its seqlets that overlap a pasted instance), and the patterns before
it that match nothing. A step whose output is already there is not run again.

The model is read from ``../shared/data/real-models/bpnet-lite-ctcf/example.torch`` (or
``--model``); the script exits 0 with a message where it is absent. Everything is seeded.

    python benchmarks/ctcf_discovery.py --n 500 --threads 2 --out /tmp/ctcf-discovery
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from liftgenomics.motifs.meme import get_motif
from liftgenomics.motifs.tomtom import Q_THRESHOLD

MODEL = (
    Path(__file__).resolve().parents[1].parent
    / "shared/data/real-models/bpnet-lite-ctcf/example.torch"
)
LENGTH = 2114
BASES = np.array(list("ACGT"))


def write_sequences(n: int, seed: int, fasta: Path) -> pd.DataFrame:
    """The FASTA of ``n`` sequences with one pasted CTCF instance each; the instance table."""
    rng = np.random.default_rng(seed)
    pwm = get_motif("CTCF_known1").probabilities  # (width, 4)
    width = pwm.shape[0]
    rows, lines = [], []
    for i in range(n):
        codes = rng.choice(4, size=LENGTH, p=[0.3, 0.2, 0.2, 0.3])
        motif = np.array([rng.choice(4, p=column / column.sum()) for column in pwm])
        strand = "+" if rng.random() < 0.5 else "-"
        if strand == "-":
            motif = 3 - motif[::-1]
        start = int(rng.integers(0, LENGTH - width + 1))
        codes[start : start + width] = motif
        name = f"seq{i}"
        lines += [f">{name}", "".join(BASES[codes])]
        rows.append({"region": name, "start": start, "end": start + width, "strand": strand})
    fasta.write_text("\n".join(lines) + "\n")
    return pd.DataFrame(rows)


def run(command: list[str], done: Path) -> float | None:
    """Run a liftgenomics command unless ``done`` exists; its wall time in seconds."""
    if done.exists():
        return None
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "liftgenomics", *command], check=True)
    return time.perf_counter() - started


def first_named_pattern(discovery: Path, instances: pd.DataFrame) -> dict:
    """The first pattern TOMTOM names (q < 0.05): is it CTCF? Its rank, q and seqlet precision.

    A pattern is named by its matches with its best q-value (ties are common: RAD21's
    discovered motif is CTCF's, and TOMTOM may give both the same q); it is named CTCF when a
    ``CTCF*`` motif is among them. Patterns are in TF-MoDISco's order (most seqlets first);
    ``rank`` counts all patterns, named or not.
    """
    patterns = pd.read_csv(discovery / "patterns.tsv", sep="\t")
    seqlets = pd.read_csv(discovery / "seqlets.tsv", sep="\t")
    pasted = instances.set_index("region")
    match_columns = [c for c in patterns.columns if c.startswith("match")]
    unnamed_before = []
    for position, pattern in enumerate(patterns.to_dict("records"), start=1):
        matches = [
            (str(pattern[c]), float(pattern["q" + c[len("match") :]]))
            for c in match_columns
            if isinstance(pattern[c], str)
        ]
        best_q = min((q for _, q in matches), default=float("inf"))
        if best_q >= Q_THRESHOLD:
            unnamed_before.append(
                {"pattern": pattern["pattern"], "n_seqlets": int(pattern["n_seqlets"]),
                 "consensus": pattern["consensus"], "best_match": matches[:1]}
            )  # fmt: skip
            continue
        named = [name for name, q in matches if q == best_q]
        own = seqlets[seqlets["pattern"] == pattern["pattern"]]
        truth = pasted.loc[own["region"]]
        overlaps = (own["start"].to_numpy() < truth["end"].to_numpy()) & (
            own["end"].to_numpy() > truth["start"].to_numpy()
        )
        return {
            "pattern": pattern["pattern"],
            "is_ctcf": any(name.upper().startswith("CTCF") for name in named),
            "rank": position,
            "patterns": len(patterns),
            "named": named,
            "q": best_q,
            "matches": matches,
            "consensus": pattern["consensus"],
            "n_seqlets": int(len(own)),
            "seqlet_precision": float(overlaps.mean()) if len(own) else float("nan"),
            "unnamed_before": unnamed_before,
        }
    return {"pattern": None, "is_ctcf": False, "patterns": len(patterns)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--references", default="dinuc:20")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("ctcf-discovery"))
    args = parser.parse_args()
    if not args.model.is_file():
        print(f"skipped: {args.model} not found (the real models live in ../shared)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    fasta = args.out / "sequences.fa"
    instances = write_sequences(args.n, args.seed, fasta)
    instances.to_csv(args.out / "instances.tsv", sep="\t", index=False)
    scores = args.out / "scores"
    score_seconds = run([
        "score", "--model", f"bpnet-lite:{args.model}", "--fasta", str(fasta),
        "--profile-or-counts", "counts", "--method", "deeplift_rescale",
        "--references", args.references, "--seed", str(args.seed),
        "--threads", str(args.threads), "--device", "cpu", "--quiet", "--out", str(scores),
    ], scores / "hyp.counts.npz")  # fmt: skip
    discovery = args.out / "motifs"
    motifs_seconds = run([
        "motifs", "--ohe", str(scores / "ohe.npz"), "--hyp", str(scores / "hyp.counts.npz"),
        "--threads", str(args.threads), "--seed", str(args.seed), "--out", str(discovery),
    ], discovery / "patterns.tsv")  # fmt: skip
    result = {
        "n": args.n,
        "references": args.references,
        "score_seconds": score_seconds and round(score_seconds, 1),
        "motifs_seconds": motifs_seconds and round(motifs_seconds, 1),
        **first_named_pattern(discovery, instances),
    }
    (args.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["is_ctcf"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
