"""The ``liftgenomics`` command line: thin wrappers over the package's functions.

Every subcommand has ``--help``. A user error (bad file, unknown name, wrong shape) prints one
line, ``liftgenomics: error: ...``, and exits with status 2; nothing half-written is left.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from liftgenomics import __version__
from liftgenomics.errors import LiftGenomicsError


def _json_object(text: str) -> dict:
    """Parse a ``--settings`` JSON object."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise LiftGenomicsError(f"--settings is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise LiftGenomicsError("--settings must be a JSON object")
    return value


def _set_threads(threads: int | None) -> None:
    """Match torch's CPU threads to what the scheduler gave the job (no oversubscription)."""
    if threads is None:
        return
    if threads < 1:
        raise LiftGenomicsError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model SPEC, --weights, --model-args (see liftgenomics.sources)."""
    parser.add_argument(
        "--model",
        required=True,
        help="a model directory (from 'train'), FILE.py:factory, package.module:factory, or "
        "chrombpnet:DIR_OR_H5 (Keras .h5 files, a folder or .tar.gz of ENCODE folds)",
    )
    parser.add_argument(
        "--weights",
        help="state dict for a factory model: .safetensors, or .pt/.pth (read with "
        "torch.load(weights_only=True))",
    )
    parser.add_argument(
        "--model-args", help="JSON object of keyword arguments for the factory, e.g. "
        "'{\"n_filters\": 64}'"
    )


def _load_cli_model(args: argparse.Namespace):
    from liftgenomics.models.load import load_model

    return load_model(args.model, weights=args.weights, model_args=args.model_args)


def _add_simulate(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate the paper's GATA1/TAL1 sequences",
        description="Simulate the DeepLIFT paper's DNA data set: 200-bp sequences with "
        "GATA_disc1 and TAL1_known1 instances, three task labels, train/valid/test splits.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--config",
        help="YAML config (simulation keys at top level or under 'simulation:'); "
        "defaults to the paper's design",
    )
    source.add_argument("--settings", help="simulation overrides as a JSON object")
    parser.add_argument("--out", required=True, help="output directory")
    parser.set_defaults(run=_run_simulate)


def _run_simulate(args: argparse.Namespace) -> None:
    from liftgenomics.paper.simulate import simulate, simulate_dataset, write_simulation
    from liftgenomics.paper.simulation_config import resolve_simulation_config

    if args.settings is None:
        simulate(args.config, args.out)
        return
    config = resolve_simulation_config(_json_object(args.settings))
    write_simulation(simulate_dataset(config), args.out)


def _add_train(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the paper's multi-task CNN on simulated data",
        description="Train the paper's CNN (BCE on logits, Adam, early stopping) and write "
        "model.safetensors, model.json and metrics.json (test auROC/auPRC per task).",
    )
    parser.add_argument("--data", required=True, help="directory written by 'simulate'")
    parser.add_argument("--out", required=True, help="model directory to write")
    # Defaults are train.DEFAULTS, applied by train_model: reading them here would import
    # torch for every subcommand's start-up.
    parser.add_argument("--epochs", type=int, help="maximum epochs (default 60)")
    parser.add_argument("--batch-size", type=int, help="sequences per step (default 64)")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default 0.003)")
    parser.add_argument(
        "--patience", type=int, help="epochs without validation improvement (default 5)"
    )
    parser.add_argument(
        "--architecture",
        default="paper_cnn",
        help="registered architecture: paper_cnn (default) or basset; or a JSON object with "
        "its arguments, e.g. '{\"name\": \"basset\", \"hidden\": 200}' (tasks and length "
        "come from the data)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda")
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.set_defaults(run=_run_train)


def _architecture(text: str) -> dict:
    """``--architecture``: a registered name or a JSON object with a "name"."""
    import json

    if not text.lstrip().startswith("{"):
        return {"name": text}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise LiftGenomicsError(f"--architecture is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise LiftGenomicsError("--architecture must be a name or a JSON object")
    return value


def _run_train(args: argparse.Namespace) -> None:
    from liftgenomics.paper.train import train_model

    _set_threads(args.threads)
    given = {
        name: getattr(args, name)
        for name in ("epochs", "batch_size", "lr", "patience")
        if getattr(args, name) is not None
    }
    train_model(
        args.data,
        args.out,
        **given,
        seed=args.seed,
        device=args.device,
        architecture=_architecture(args.architecture),
    )


def _add_attribute(subparsers) -> None:
    from liftgenomics.attribution import METHODS

    parser = subparsers.add_parser(
        "attribute",
        help="hypothetical scores for (a chunk of) a one-hot .npz file",
        description="Score one-hot sequences (an np.savez_compressed (N, 4, L) file) and save "
        "hypothetical contributions (T, n, 4, L), predictions and summation-to-delta errors "
        "of rows [chunk*N/chunks, (chunk+1)*N/chunks) to an .npz (the workflow's scatter step).",
    )
    _add_model_arguments(parser)
    parser.add_argument("--ohe", required=True, help="one-hot .npz file")
    parser.add_argument("--method", default="deeplift_genomics", choices=METHODS)
    parser.add_argument(
        "--references",
        default="dinuc:20",
        help="reference spec: dinuc:K, gc:K, flat, flat:a,c,g,t, zero, fasta:PATH",
    )
    parser.add_argument(
        "--targets",
        default="0",
        help="comma-separated targets: task indices, profile, sum or windows start:stop",
    )
    parser.add_argument(
        "--output", help="index (or dict key) of the output, for a model returning a tuple/dict"
    )
    parser.add_argument("--chunk", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=10, help="integrated-gradients steps")
    parser.add_argument("--batch-size", type=int, help="sequences per batch")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--threads", type=int, help="CPU threads for torch (default: torch's own choice)"
    )
    parser.add_argument("--out", required=True, help="output .npz")
    parser.set_defaults(run=_run_attribute)


def _output_key(text: str | None) -> int | str | None:
    """``--output``: digits are an index into a tuple, anything else a dict key."""
    return int(text) if text is not None and text.lstrip("-").isdigit() else text


def _run_attribute(args: argparse.Namespace) -> None:
    from liftgenomics.scoring.chunks import attribute_chunk
    from liftgenomics.scoring.heads import split_targets

    _set_threads(args.threads)
    attribute_chunk(
        _load_cli_model(args),
        args.ohe,
        args.out,
        method=args.method,
        references=args.references,
        targets=split_targets(args.targets),
        output=_output_key(args.output),
        chunk=args.chunk,
        n_chunks=args.chunks,
        seed=args.seed,
        steps=args.steps,
        batch_size=args.batch_size,
        device=args.device,
    )


def _add_score(subparsers) -> None:
    from liftgenomics.attribution import METHODS

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
    _add_model_arguments(parser)
    parser.add_argument(
        "--fasta",
        required=True,
        help="FASTA, plain or bgzip-compressed (its .fai index is built when missing)",
    )
    parser.add_argument("--bed", help="BED or narrowPeak intervals (default: every record)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--method", default="deeplift_genomics", choices=METHODS)
    parser.add_argument(
        "--references",
        default="dinuc:20",
        help="reference spec: dinuc:K, gc:K, flat, flat:a,c,g,t, zero, fasta:PATH",
    )
    _add_output_arguments(parser)
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
    parser.add_argument("--batch-size", type=int, help="sequences per batch")
    parser.add_argument(
        "--chunk-size", type=int, default=2048, help="regions scored and written per step"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bigwig", action="store_true", help="also write a bigWig track")
    parser.add_argument(
        "--pad", action="store_true", help="N-pad regions that run off a chromosome end"
    )
    parser.add_argument(
        "--no-summit", action="store_true", help="centre narrowPeak intervals, not their summit"
    )
    parser.add_argument("--steps", type=int, default=10, help="integrated-gradients steps")
    parser.add_argument(
        "--chunk", type=int, default=0, help="score only this chunk of the regions (0-based)"
    )
    parser.add_argument(
        "--chunks",
        type=int,
        default=1,
        help="split the regions into this many contiguous chunks (join them with gather-scores)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument("--quiet", action="store_true", help="no progress report")
    parser.set_defaults(run=_run_score)


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--output, --target, --profile-or-counts (see liftgenomics.heads)."""
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

    _set_threads(args.threads)
    score_regions(
        args.model,
        args.fasta,
        args.out,
        weights=args.weights,
        model_args=args.model_args,
        bed_path=args.bed,
        method=args.method,
        references=args.references,
        output=args.output,
        target=args.target,
        profile_or_counts=args.profile_or_counts,
        control=args.control,
        scored_model=args.scored_model,
        length=args.length,
        batch_size=args.batch_size,
        device=args.device,
        seed=args.seed,
        steps=args.steps,
        bigwig=args.bigwig,
        pad=args.pad,
        use_summit=not args.no_summit,
        chunk_regions=args.chunk_size,
        progress=not args.quiet,
        chunk=args.chunk,
        chunks=args.chunks,
    )


def _add_gather_scores(subparsers) -> None:
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

    gather_scores(args.chunks, args.out, bigwig=args.bigwig, fasta=args.fasta)


def _add_logo(subparsers) -> None:
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


def _add_gather(subparsers) -> None:
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

    gather_chunks(args.chunks, args.out)


def _add_evaluate(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="motif-recovery metrics of the workflow's attributions",
        description="Scan the simulated test set for motif hits, total each hit's attribution "
        "per method, reference and task, and write motif_hits.tsv, summary.tsv and "
        "summary.json (false-negative rates, false-positive ratios, per-base auROC/auPRC).",
    )
    parser.add_argument("--simulation", required=True, help="'simulate' output directory")
    parser.add_argument(
        "--attributions",
        required=True,
        help="directory of {method}/{reference}/task{t}.hyp.npz files",
    )
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--references", nargs="+", required=True, help="reference names")
    parser.add_argument("--tasks", nargs="+", type=int, required=True)
    _add_method_references(parser)
    parser.add_argument("--hits-per-motif", type=int, default=5)
    parser.add_argument("--strong-log-odds", type=float, default=7.0)
    parser.add_argument("--out", required=True, help="output directory")
    parser.set_defaults(run=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> None:
    from liftgenomics.paper.recovery import (
        attribution_paths,
        evaluate_attributions,
        write_evaluation,
    )

    files = attribution_paths(
        args.attributions, args.methods, args.references, args.tasks, _method_references(args)
    )
    hits, summary = evaluate_attributions(
        args.simulation, files, n_hits=args.hits_per_motif, threshold=args.strong_log_odds
    )
    write_evaluation(hits, summary, args.out)


def _add_method_references(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method-references",
        nargs="*",
        default=[],
        metavar="METHOD=REF[,REF]",
        help="methods scored against some of the references only (the workflow's "
        "attribution.method_references), e.g. integrated_gradients=flat",
    )


def _method_references(args: argparse.Namespace) -> dict[str, list[str]]:
    from liftgenomics.paper.recovery import parse_method_references

    return parse_method_references(args.method_references, args.methods, args.references)


def _add_figures(subparsers) -> None:
    parser = subparsers.add_parser(
        "figures",
        help="draw the workflow's figures (motif recovery, false negatives, logos)",
        description="Draw the figure-5-style motif-recovery grids and false-negative charts "
        "per reference, sequence logos of example test sequences, and the motifs' logos.",
    )
    parser.add_argument("--simulation", required=True)
    parser.add_argument("--attributions", required=True)
    parser.add_argument("--metrics", required=True, help="directory written by 'evaluate'")
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--references", nargs="+", required=True, help="reference names")
    parser.add_argument("--tasks", nargs="+", type=int, required=True)
    _add_method_references(parser)
    parser.add_argument("--logo-reference", required=True)
    parser.add_argument("--examples-per-class", type=int, default=1)
    parser.add_argument("--out", required=True, help="output directory")
    parser.set_defaults(run=_run_figures)


def _run_figures(args: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    from liftgenomics.io import write_text_atomic
    from liftgenomics.report.figures import draw_figures

    figures = draw_figures(
        args.simulation,
        args.attributions,
        args.metrics,
        args.out,
        args.methods,
        args.references,
        args.tasks,
        args.logo_reference,
        args.examples_per_class,
        method_references=_method_references(args),
    )
    index = {caption: Path(path).name for caption, path in figures.items()}
    write_text_atomic(Path(args.out) / "figures.json", json.dumps(index, indent=2) + "\n")


def _add_replicates(subparsers) -> None:
    parser = subparsers.add_parser(
        "replicates",
        help="spread of the metrics over seeds and paired method comparisons",
        description="Join per-seed summary.tsv and model metrics.json files into "
        "replicates.tsv (mean, sd, min-max per metric; the model's test auROC per seed) and "
        "comparisons.tsv (per-seed false-negative-rate differences of the paper's method "
        "pairs, exact sign-flip test, one-sided in the paper's direction).",
    )
    parser.add_argument("--summaries", nargs="+", required=True, help="summary.tsv per seed")
    parser.add_argument(
        "--model-metrics", nargs="+", required=True, help="model metrics.json per seed"
    )
    parser.add_argument("--seeds", nargs="+", type=int, required=True, help="seeds, in order")
    parser.add_argument("--alpha", type=float, default=0.05, help="level of the verdicts")
    parser.add_argument("--figure", help="also draw the per-seed false-negative PNG here")
    parser.add_argument("--out", required=True, help="output directory")
    parser.set_defaults(run=_run_replicates)


def _run_replicates(args: argparse.Namespace) -> None:
    from liftgenomics.paper.replicates import summarise_runs

    summary, _, _ = summarise_runs(
        args.summaries, args.model_metrics, args.seeds, args.out, args.alpha
    )
    if args.figure is not None:
        from liftgenomics.report.plots import plot_replicate_false_negatives

        plot_replicate_false_negatives(summary, args.figure)


def _add_report(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the self-contained HTML report",
        description="One self-contained HTML page: model metrics, the motif-recovery summary, "
        "the figures and the run's settings.",
    )
    parser.add_argument("--figures", required=True, help="directory written by 'figures'")
    parser.add_argument("--summary", required=True, help="summary.tsv written by 'evaluate'")
    parser.add_argument("--model-metrics", help="the model's metrics.json")
    parser.add_argument("--settings", default="{}", help="the run's settings as JSON")
    parser.add_argument("--replicates", help="replicates.tsv (adds the replicate section)")
    parser.add_argument("--comparisons", help="comparisons.tsv, with --replicates")
    parser.add_argument("--replicates-figure", help="per-seed false-negative PNG")
    parser.add_argument("--discovery", help="discovery.tsv written by 'grade-motifs'")
    parser.add_argument("--discovery-root", help="directory of the 'motifs' runs and logos")
    parser.add_argument("--out", required=True, help="output .html")
    parser.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    import pandas as pd

    from liftgenomics.report.html import write_report

    index_path = Path(args.figures) / "figures.json"
    if not index_path.is_file():
        raise LiftGenomicsError(f"{index_path}: figure index not found (run 'figures' first)")
    index = json.loads(index_path.read_text())
    figures = {caption: Path(args.figures) / name for caption, name in index.items()}
    model_metrics = None
    if args.model_metrics:
        model_metrics = json.loads(Path(args.model_metrics).read_text())
    extra_sections = []
    if args.discovery:
        from liftgenomics.report.html import discovery_section

        table = pd.read_csv(args.discovery, sep="\t")
        root = Path(args.discovery_root or Path(args.discovery).parent)
        extra_sections.append(discovery_section(table, root))
    write_report(
        args.out,
        summary=pd.read_csv(args.summary, sep="\t"),
        figures=figures,
        settings=_json_object(args.settings),
        model_metrics=model_metrics,
        replicates=_replicate_results(args),
        extra_sections=extra_sections,
    )


def _replicate_results(args: argparse.Namespace):
    """The replicate tables for the report, or None without --replicates."""
    if args.replicates is None:
        return None
    from liftgenomics.report.replicate_section import ReplicateResults

    return ReplicateResults.read(args.replicates, args.comparisons, args.replicates_figure)


def _add_motifs(subparsers) -> None:
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
    parser.add_argument("--seed", type=int, default=0, help="shifts the Leiden seeds")
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
    parser.add_argument("--threads", type=int, help="numba threads for TF-MoDISco")
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


def _add_grade_motifs(subparsers) -> None:
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


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line, like every other error of the CLI."""

    def error(self, message: str):
        self.exit(2, f"liftgenomics: error: {self.prog}: {message} (see --help)\n")


def _terminate(signum, frame) -> None:
    """SIGTERM (a scheduler's time limit, ``timeout``) unwinds like Ctrl-C: no partial files."""
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = _Parser(
        prog="liftgenomics",
        description="DeepLIFT attributions for genomic deep learning models.",
    )
    parser.add_argument("--version", action="version", version=f"liftgenomics {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_simulate(subparsers)
    _add_train(subparsers)
    _add_attribute(subparsers)
    _add_gather(subparsers)
    _add_score(subparsers)
    _add_gather_scores(subparsers)
    _add_logo(subparsers)
    _add_evaluate(subparsers)
    _add_figures(subparsers)
    _add_replicates(subparsers)
    _add_report(subparsers)
    _add_motifs(subparsers)
    _add_grade_motifs(subparsers)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each, like errors (no source line, no traceback)."""
    print(f"liftgenomics: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            args.run(args)
    except LiftGenomicsError as error:
        print(f"liftgenomics: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("liftgenomics: interrupted", file=sys.stderr)
        return 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
