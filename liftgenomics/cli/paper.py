"""Subcommands of the paper's workflow: from simulated data to the HTML report.

Owns ``simulate``, ``train``, ``evaluate``, ``figures``, ``replicates`` and ``report``, and for
the paper's own model and data ``fetch-paper-data``, ``import-paper-data`` and
``model-metrics``. Only ``train`` and ``model-metrics`` need torch, imported inside the library
they call; the others start without it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from liftgenomics.cli.options import (
    DEVICE_HELP,
    Subparsers,
    add_batch_size_option,
    add_device_option,
    add_grid_options,
    add_seed_option,
    add_threads_option,
    json_object,
    method_references,
    parse_json,
    set_threads,
)
from liftgenomics.errors import LiftGenomicsError

if TYPE_CHECKING:
    from liftgenomics.report.replicate_section import ReplicateResults


def add_simulate(subparsers: Subparsers) -> None:
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
    config = resolve_simulation_config(json_object(args.settings))
    write_simulation(simulate_dataset(config), args.out)


def add_train(subparsers: Subparsers) -> None:
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
    add_batch_size_option(parser, help="sequences per step (default 64)")
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
    add_seed_option(parser)
    add_device_option(parser, help=DEVICE_HELP)
    add_threads_option(parser)
    parser.set_defaults(run=_run_train)


def _architecture(text: str) -> dict[str, Any]:
    """``--architecture``: a registered name or a JSON object with a "name"."""
    if not text.lstrip().startswith("{"):
        return {"name": text}
    value = parse_json(text, "--architecture")
    if not isinstance(value, dict):
        raise LiftGenomicsError("--architecture must be a name or a JSON object")
    return value


def _run_train(args: argparse.Namespace) -> None:
    from liftgenomics.paper.train import train_model

    set_threads(args.threads)
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


def add_evaluate(subparsers: Subparsers) -> None:
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
    add_grid_options(parser)
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
        args.attributions, args.methods, args.references, args.tasks, method_references(args)
    )
    hits, summary = evaluate_attributions(
        args.simulation, files, n_hits=args.hits_per_motif, threshold=args.strong_log_odds
    )
    write_evaluation(hits, summary, args.out)


def add_figures(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "figures",
        help="draw the workflow's figures (motif recovery, false negatives, logos)",
        description="Draw the figure-5-style motif-recovery grids and false-negative charts "
        "per reference, sequence logos of example test sequences, and the motifs' logos.",
    )
    parser.add_argument("--simulation", required=True)
    parser.add_argument("--attributions", required=True)
    parser.add_argument("--metrics", required=True, help="directory written by 'evaluate'")
    add_grid_options(parser)
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
        method_references=method_references(args),
    )
    index = {caption: Path(path).name for caption, path in figures.items()}
    write_text_atomic(Path(args.out) / "figures.json", json.dumps(index, indent=2) + "\n")


def add_replicates(subparsers: Subparsers) -> None:
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


def add_report(subparsers: Subparsers) -> None:
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
        settings=json_object(args.settings),
        model_metrics=model_metrics,
        replicates=_replicate_results(args),
        extra_sections=extra_sections,
    )


def _replicate_results(args: argparse.Namespace) -> ReplicateResults | None:
    """The replicate tables for the report, or None without --replicates."""
    if args.replicates is None:
        return None
    from liftgenomics.report.replicate_section import ReplicateResults

    return ReplicateResults.read(args.replicates, args.comparisons, args.replicates_figure)


def add_fetch_paper_data(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "fetch-paper-data",
        help="download the DeepLIFT paper's own DNA model and data",
        description="Download the four files the authors released (AvantiShri/model_storage, "
        "deeplift/genomics/: the Keras model JSON and weights, sequences.simdata.gz, "
        "test.txt.gz) into DIR, each atomically and checked against its SHA-256. Files "
        "already there with the right checksum are kept.",
    )
    parser.add_argument("directory", metavar="DIR", help="where to put the files")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per request (default 60)"
    )
    parser.set_defaults(run=_run_fetch_paper_data)


def _run_fetch_paper_data(args: argparse.Namespace) -> None:
    from liftgenomics.paper.fetch import fetch_paper_data

    fetch_paper_data(args.directory, timeout=args.timeout)


def add_import_paper_data(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "import-paper-data",
        help="turn the paper's released data into a 'simulate' output directory",
        description="Read the authors' sequences.simdata.gz and test.txt.gz (from "
        "'fetch-paper-data') and write the files 'simulate' writes: per split FASTA, labels, "
        "classes and the embedded motif instances (ground truth, with their log-odds), "
        "test.ohe.npz and simulation.yaml, so evaluate, figures and grade-motifs run on them.",
    )
    parser.add_argument(
        "--data", required=True, help="directory with sequences.simdata.gz and test.txt.gz"
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--test-sequences",
        type=int,
        help="keep only the first N test ids (a quick run); default all 800",
    )
    parser.set_defaults(run=_run_import_paper_data)


def _run_import_paper_data(args: argparse.Namespace) -> None:
    from liftgenomics.paper.authors import import_paper_data

    sizes = import_paper_data(args.data, args.out, args.test_sequences)
    print(" ".join(f"{split} {count}" for split, count in sizes.items()))


def add_model_metrics(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "model-metrics",
        help="a model's test auROC, auPRC and accuracy per task, as metrics.json",
        description="Score any --model on the test split of a 'simulate' (or "
        "'import-paper-data') directory and write metrics.json in the format 'train' writes "
        "and 'report' reads, with the accuracy (logit > 0) added.",
    )
    parser.add_argument("--model", required=True, help="a --model spec (e.g. a model directory)")
    parser.add_argument("--weights", help="weights of a keras:ARCH.json or factory model")
    parser.add_argument("--data", required=True, help="directory with test.fa, test.labels.tsv")
    parser.add_argument("--source", help="a line saying where the model came from")
    parser.add_argument("--out", required=True, help="metrics.json to write")
    add_threads_option(parser)
    parser.set_defaults(run=_run_model_metrics)


def _run_model_metrics(args: argparse.Namespace) -> None:
    from liftgenomics.paper.model_metrics import write_model_metrics

    set_threads(args.threads)
    metrics = write_model_metrics(
        args.model, args.data, args.out, weights=args.weights, source=args.source
    )
    for key in ("auroc", "auprc", "accuracy"):
        values = " ".join(
            f"{task}={'n/a' if v is None else f'{v:.4f}'}" for task, v in metrics[key].items()
        )
        print(f"{key} {values}")
