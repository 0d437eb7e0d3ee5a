"""Dinucleotide-shuffle throughput: liftgenomics against tangermeme (when installed).

Prints shuffles per second for random 200-bp and 1-kb sequences (100 sequences x 20 shuffles by
default) and the ratio to tangermeme's ``dinucleotide_shuffle`` measured in the same run, on the
same machine and the same input (one-hot in, one-hot out, one CPU thread each). Not a test:

    python benchmarks/shuffle_speed.py [--sequences 100] [--shuffles 20] [--repeats 9]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from liftgenomics.genome.shuffles import dinucleotide_shuffle


def random_one_hot(n: int, length: int, seed: int) -> np.ndarray:
    """Random (n, 4, length) float32 one-hot sequences."""
    codes = np.random.default_rng(seed).integers(0, 4, size=(n, length))
    return np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1).copy()


def paired_times(functions: list[Callable[[], object]], repeats: int) -> list[list[float]]:
    """Times of ``repeats`` rounds, each calling every function once in turn (after a warm-up).

    Alternating the calls gives the functions the same share of whatever else the machine
    is doing, so their ratio is fair even on a busy machine.
    """
    for function in functions:
        function()
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for function, spent in zip(functions, times, strict=True):
            start = time.perf_counter()
            function()
            spent.append(time.perf_counter() - start)
    return times


def tangermeme_shuffle() -> Callable | None:
    """tangermeme's dinucleotide_shuffle, or None when tangermeme is not installed."""
    try:
        from tangermeme.ersatz import dinucleotide_shuffle as shuffle
    except ImportError:
        return None
    return shuffle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=100)
    parser.add_argument("--shuffles", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--lengths", type=int, nargs="+", default=[200, 1000])
    args = parser.parse_args()
    torch.set_num_threads(1)
    rival = tangermeme_shuffle()
    if rival is None:
        print("tangermeme is not installed: `pip install tangermeme` to compare")
    total = args.sequences * args.shuffles
    print(
        f"{args.sequences} sequences x {args.shuffles} shuffles; best of {args.repeats} "
        "alternating rounds; ratio = median over rounds of tangermeme time / ours"
    )
    print(f"{'length':>7} {'liftgenomics/s':>15} {'tangermeme/s':>13} {'ratio':>6}")
    for length in args.lengths:
        X = random_one_hot(args.sequences, length, seed=length)
        functions = [lambda X=X: dinucleotide_shuffle(X, args.shuffles, seed=1)]
        if rival is not None:
            X_torch = torch.from_numpy(X)
            functions.append(
                lambda X_torch=X_torch: rival(X_torch, n=args.shuffles, random_state=1)
            )
        times = paired_times(functions, args.repeats)
        line = f"{length:>7} {total / min(times[0]):>15,.0f}"
        if rival is not None:
            ratio = float(np.median(np.array(times[1]) / np.array(times[0])))
            line += f" {total / min(times[1]):>13,.0f} {ratio:>5.1f}x"
        print(line)


if __name__ == "__main__":
    main()
