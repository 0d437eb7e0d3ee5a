"""Subcommands of motif discovery: TF-MoDISco on scored sequences, and grading its runs.

Owns ``motifs`` (TF-MoDISco patterns named by TOMTOM, for any scored sequences) and
``grade-motifs`` (the workflow's ``motifs`` runs against the simulated instances; it starts
without torch or TF-MoDISco).
"""

from __future__ import annotations

import argparse

from liftgenomics.cli.options import Subparsers, add_seed_option, add_threads_option
from liftgenomics.errors import LiftGenomicsError


def add_motifs(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "motifs",
        help="TF-MoDISco patterns of scored sequences, named by TOMTOM",
        description="Run TF-MoDISco (modisco-lite) on a one-hot .npz and a hypothetical-score "
        ".npz (N, 4, L) -- e.g. 'score' outputs ohe.npz and hyp.npz -- and match every pattern "
        "to a MEME database with TOMTOM (memelite). Writes modisco.h5, patterns.tsv, "
        "seqlets.tsv, tomtom.tsv, logos/ and motifs.html into --out, all at once.",
    )
    parser.add_argument("--ohe", required=True, help="one-hot .npz (N, 4, L)")
    parser.add_argument("--hyp", required=True, help="hypothetical scores .npz (N, 4, L)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--motifs", help="MEME motif database (default: the whole ENCODE compendium)"
    )
    parser.add_argument("--window", type=int, default=21, help="seqlet core width")
    parser.add_argument("--max-seqlets", type=int, default=20000, help="per metacluster")
    parser.add_argument(
        "--min-seqlets", type=int, default=100, help="fewest seqlets a metacluster needs"
    )
    parser.add_argument("--leiden-runs", type=int, default=2, help="Leiden runs per clustering")
    add_seed_option(parser, help="shifts the Leiden seeds")
    parser.add_argument(
        "--allow-empty", action="store_true", help="write empty tables when nothing is found"
    )
    parser.add_argument(
        "--labels",
        help="TSV whose first column names the rows (e.g. simulate's test.labels.tsv): with "
        "--label, TF-MoDISco sees only the rows labelled 1, as on peaks",
    )
    parser.add_argument(
        "--label", help="the --labels column to select rows by: a name (task0) or an index (0)"
    )
    add_threads_option(parser, help="numba threads for TF-MoDISco")
    parser.set_defaults(run=_run_motifs)


def _run_motifs(args: argparse.Namespace) -> None:
    from liftgenomics.motifs.discovery import (
        discover_motifs,
        labelled_rows,
        load_inputs,
        region_names,
        write_discovery,
    )
    from liftgenomics.motifs.modisco import DiscoveryOptions
    from liftgenomics.motifs.tomtom import load_database

    options = DiscoveryOptions(
        window=args.window,
        max_seqlets=args.max_seqlets,
        min_seqlets=args.min_seqlets,
        leiden_runs=args.leiden_runs,
        seed=args.seed,
    )
    options.check()
    # Cheap checks first: a bad file must fail before minutes of clustering.
    one_hot, hypothetical = load_inputs(args.ohe, args.hyp)
    names = region_names(args.ohe, len(one_hot))
    if (args.labels is None) != (args.label is None):
        raise LiftGenomicsError("motifs: --labels and --label go together")
    rows = labelled_rows(names, args.labels, args.label) if args.labels else None
    database = load_database(args.motifs)
    if args.threads is not None:
        import numba

        numba.set_num_threads(max(1, min(args.threads, numba.config.NUMBA_NUM_THREADS)))
    result = discover_motifs(
        one_hot,
        hypothetical,
        database,
        options,
        names=names,
        allow_empty=args.allow_empty,
        rows=rows,
    )
    write_discovery(result, args.out, args.window, source=f"{args.hyp} on {args.ohe}")


def add_grade_motifs(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "grade-motifs",
        help="grade the workflow's 'motifs' runs against the simulated instances",
        description="For each method, reference and task: was each simulated motif rediscovered "
        "(TOMTOM q < 0.05), with what seqlet precision and instance recall, and how many "
        "patterns matched neither; writes one TSV and a logo figure of the true motifs.",
    )
    parser.add_argument("--simulation", required=True, help="'simulate' output directory")
    parser.add_argument(
        "--discovery", required=True, help="directory of {method}/{reference}/task{t} runs"
    )
    grid = parser.add_mutually_exclusive_group(required=True)
    grid.add_argument("--methods", nargs="+", help="with --references: every pair")
    grid.add_argument(
        "--pairs", nargs="+", metavar="METHOD:REFERENCE", help="the runs to grade, explicitly"
    )
    parser.add_argument("--references", nargs="+", help="reference names (with --methods)")
    parser.add_argument("--tasks", nargs="+", type=int, required=True)
    parser.add_argument("--out", required=True, help="output .tsv")
    parser.set_defaults(run=_run_grade_motifs)


def _grading_pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    if args.methods:
        if not args.references:
            raise LiftGenomicsError("grade-motifs: --methods needs --references")
        return [(method, reference) for method in args.methods for reference in args.references]
    pairs = []
    for item in args.pairs:
        method, sep, reference = item.partition(":")
        if not sep or not method or not reference:
            raise LiftGenomicsError(f"grade-motifs --pairs {item!r}: expected METHOD:REFERENCE")
        pairs.append((method, reference))
    return pairs


def _run_grade_motifs(args: argparse.Namespace) -> None:
    from pathlib import Path

    from liftgenomics.io import write_text_atomic
    from liftgenomics.motifs.grading import discovery_table, draw_true_motifs

    runs = {
        (method, reference, task): Path(args.discovery) / method / reference / f"task{task}"
        for method, reference in _grading_pairs(args)
        for task in args.tasks
    }
    table = discovery_table(args.simulation, runs)
    draw_true_motifs(args.simulation, Path(args.discovery) / "true_motifs.png")
    write_text_atomic(args.out, table.to_csv(sep="\t", index=False, float_format="%.4g"))
