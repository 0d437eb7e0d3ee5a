"""Subcommands that score sequences and join the scored chunks.

Owns ``attribute`` (a chunk of a one-hot .npz) and its ``gather``; ``score`` (FASTA/BED regions,
TF-MoDISco-ready files) and its ``gather-scores``; and ``logo`` of one scored region. The model,
method and run options come from :mod:`liftgenomics.cli.options`; torch and the model are
imported only inside the runners. A write that fails for a full disk or a file-size limit ends
in one line (:func:`liftgenomics.io.output_errors`); ``score`` and ``gather-scores`` hold the
lock of their ``--out`` (:func:`liftgenomics.locks.output_lock`).
"""

from __future__ import annotations

import argparse

from liftgenomics.cli.options import (
    DEVICE_HELP,
    Subparsers,
    add_batch_size_option,
    add_chunk_options,
    add_device_option,
    add_method_options,
    add_model_options,
    add_seed_option,
    add_steps_option,
    add_threads_option,
    attribution_settings,
    load_cli_model,
    set_threads,
)
from liftgenomics.io import output_errors
from liftgenomics.locks import output_lock


def add_attribute(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "attribute",
        help="hypothetical scores for (a chunk of) a one-hot .npz file",
        description="Score one-hot sequences (an np.savez_compressed (N, 4, L) file) and save "
        "hypothetical contributions (T, n, 4, L), predictions and summation-to-delta errors "
        "of rows [chunk*N/chunks, (chunk+1)*N/chunks) to an .npz (the workflow's scatter step).",
    )
    add_model_options(parser)
    parser.add_argument("--ohe", required=True, help="one-hot .npz file")
    add_method_options(parser)
    parser.add_argument(
        "--targets",
        default="0",
        help="comma-separated targets: task indices, profile, sum or windows start:stop",
    )
    parser.add_argument(
        "--output", help="index (or dict key) of the output, for a model returning a tuple/dict"
    )
    add_chunk_options(parser)
    add_seed_option(parser)
    add_steps_option(parser)
    add_batch_size_option(parser)
    add_device_option(parser)
    add_threads_option(parser, help="CPU threads for torch (default: torch's own choice)")
    parser.add_argument("--out", required=True, help="output .npz")
    parser.set_defaults(run=_run_attribute)


def _output_key(text: str | None) -> int | str | None:
    """``--output``: digits are an index into a tuple, anything else a dict key."""
    return int(text) if text is not None and text.lstrip("-").isdigit() else text


def _run_attribute(args: argparse.Namespace) -> None:
    from liftgenomics.scoring.chunks import attribute_chunk
    from liftgenomics.scoring.heads import split_targets

    set_threads(args.threads)
    model = load_cli_model(args)
    with output_errors(args.out):
        attribute_chunk(
            model,
            args.ohe,
            args.out,
            targets=split_targets(args.targets),
            output=_output_key(args.output),
            chunk=args.chunk,
            n_chunks=args.chunks,
            **attribution_settings(args),
        )


def add_gather(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "gather",
        help="join 'attribute' chunks into one hypothetical-score file per target",
        description="Concatenate chunk files in the given order and write one "
        "np.savez_compressed (N, 4, L) file per target.",
    )
    parser.add_argument("--chunks", nargs="+", required=True, help="chunk .npz files, in order")
    parser.add_argument("--out", nargs="+", required=True, help="one output path per target")
    parser.set_defaults(run=_run_gather)


def _run_gather(args: argparse.Namespace) -> None:
    from liftgenomics.scoring.chunks import gather_chunks

    with output_errors(", ".join(args.out)):
        gather_chunks(args.chunks, args.out)


def add_score(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score your own FASTA (+ BED) regions; TF-MoDISco-ready output",
        description="Score every record of a FASTA, or BED intervals of a genome FASTA resized "
        "around their centre (narrowPeak: summit) to the model's input length, and write "
        "ohe.npz, hyp.npz, contrib.npz (hyp.HEAD.npz, ... per head when several: task0, "
        "counts, profile, ...), regions.tsv, skipped.tsv, score.json and, with --bigwig, "
        "bigWig tracks. A BPNet/ChromBPNet gets both heads by default; a ChromBPNet is scored "
        "on its accessibility model. Files appear only when all are done.",
    )
    add_model_options(parser)
    parser.add_argument(
        "--fasta",
        required=True,
        help="FASTA, plain or bgzip-compressed (its .fai index is built when missing)",
    )
    parser.add_argument("--bed", help="BED or narrowPeak intervals (default: every record)")
    parser.add_argument("--out", required=True, help="output directory")
    add_method_options(parser)
    _add_head_options(parser)
    parser.add_argument(
        "--control",
        help="extra model input per region: bigWigs 'ctl.plus.bw,ctl.minus.bw' (BPNet's "
        "control track, zeros where there is no data) or one .npy/.npz with a row per scored "
        "region; a model with a control track gets zeros when this is left out",
    )
    parser.add_argument(
        "--scored-model",
        choices=("accessibility", "full"),
        default="accessibility",
        help="for a ChromBPNet: score its accessibility model (default, as chrombpnet does) or "
        "the full model",
    )
    parser.add_argument("--length", type=int, help="region length (default: the model's)")
    add_batch_size_option(parser)
    parser.add_argument(
        "--chunk-size", type=int, default=2048, help="regions scored and written per step"
    )
    add_device_option(parser, help=DEVICE_HELP)
    add_seed_option(parser)
    parser.add_argument("--bigwig", action="store_true", help="also write a bigWig track")
    parser.add_argument(
        "--pad", action="store_true", help="N-pad regions that run off a chromosome end"
    )
    parser.add_argument(
        "--no-summit", action="store_true", help="centre narrowPeak intervals, not their summit"
    )
    add_steps_option(parser)
    add_chunk_options(
        parser,
        chunk_help="score only this chunk of the regions (0-based)",
        chunks_help="split the regions into this many contiguous chunks (join them with "
        "gather-scores)",
    )
    add_threads_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress report")
    parser.set_defaults(run=_run_score)


def _add_head_options(parser: argparse.ArgumentParser) -> None:
    """--output, --target, --profile-or-counts of 'score' (see liftgenomics.scoring.heads)."""
    parser.add_argument(
        "--output",
        help="which output of a model returning a tuple or dict: profile, counts (BPNet's "
        "(profile, counts) pair, or dict keys of those names), an INDEX or a KEY",
    )
    parser.add_argument(
        "--target",
        nargs="+",
        help="what to explain of the output: task indices (0, 1,2 or all), profile "
        "(BPNet's softmax-weighted profile), sum, or a window start:stop; several allowed "
        "(default: 0, or profile for a profile output)",
    )
    parser.add_argument(
        "--profile-or-counts",
        nargs="+",
        choices=("counts", "profile"),
        help="heads of a BPNet/ChromBPNet, each with its own files (hyp.counts.npz, "
        "hyp.profile.npz, ...); default both for a model returning (profile, counts)",
    )


def _run_score(args: argparse.Namespace) -> None:
    from liftgenomics.scoring.pipeline import score_regions

    set_threads(args.threads)
    score_regions(
        args.model,
        args.fasta,
        args.out,
        weights=args.weights,
        model_args=args.model_args,
        bed_path=args.bed,
        output=args.output,
        target=args.target,
        profile_or_counts=args.profile_or_counts,
        control=args.control,
        scored_model=args.scored_model,
        length=args.length,
        bigwig=args.bigwig,
        pad=args.pad,
        use_summit=not args.no_summit,
        chunk_regions=args.chunk_size,
        progress=not args.quiet,
        chunk=args.chunk,
        chunks=args.chunks,
        **attribution_settings(args),
    )


def add_gather_scores(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "gather-scores",
        help="join 'score --chunk i --chunks n' directories into one 'score' directory",
        description="Concatenate the chunk directories of one chunked 'score' run, given in "
        "order, into the directory a single 'score' run writes (byte-identical with the same "
        "seed): every .npz, regions.tsv, skipped.tsv, score.json and, with --bigwig, the "
        "bigWig tracks.",
    )
    parser.add_argument("--chunks", nargs="+", required=True, help="chunk directories, in order")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--bigwig", action="store_true", help="also write the bigWig tracks")
    parser.add_argument(
        "--fasta", help="FASTA for the bigWig's chromosome sizes (default: score.json's)"
    )
    parser.set_defaults(run=_run_gather_scores)


def _run_gather_scores(args: argparse.Namespace) -> None:
    from liftgenomics.scoring.gather import gather_scores

    with output_errors(args.out), output_lock(args.out):
        gather_scores(args.chunks, args.out, bigwig=args.bigwig, fasta=args.fasta)


def add_logo(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "logo",
        help="sequence logo of one region scored by 'score'",
        description="Draw actual and hypothetical contributions of one scored region.",
    )
    parser.add_argument("--scores", required=True, help="a 'liftgenomics score' directory")
    parser.add_argument("--region", required=True, help="region name (regions.tsv)")
    parser.add_argument(
        "--target", help="task index or head name, e.g. counts (default: the first scored)"
    )
    parser.add_argument("--out", help="PNG path (default: SCORES/logo.REGION.png)")
    parser.set_defaults(run=_run_logo)


def _run_logo(args: argparse.Namespace) -> None:
    from liftgenomics.scoring.logo import plot_region_logo

    path = plot_region_logo(args.scores, args.region, out=args.out, target=args.target)
    print(path)
