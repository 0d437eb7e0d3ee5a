"""Option groups that several subcommands share, each defined once, and small shared parsers.

Owns: the model options (``--model``, ``--weights``, ``--model-args``) and loading the model
they name; the attribution method and ``--references``; the run options (``--seed``,
``--steps``, ``--batch-size``, ``--device``, ``--threads``, ``--chunk``/``--chunks``); the
evaluation grid (``--methods``, ``--references``, ``--tasks``, ``--method-references``); and
the helpers that read their values (:func:`json_object`, :func:`set_threads`, ...).

A subcommand's help lists its flags in the order they are added, so the run options are one
function per flag: each command adds them in its own order, with its own help where they differ.
Nothing here imports torch at parse time; the model and torch are imported inside the helpers
that runners call.
"""

from __future__ import annotations

import argparse
from typing import Any, TypeAlias

from liftgenomics.attribution import METHODS
from liftgenomics.errors import LiftGenomicsError

#: What ``ArgumentParser.add_subparsers`` returns; every ``add_<command>`` function takes it.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

#: ``--device`` help of the commands that state the choices.
DEVICE_HELP = "auto (CUDA when available), cpu, cuda"
#: ``--threads`` help of the commands that run torch.
TORCH_THREADS_HELP = "CPU threads for torch"


def parse_json(text: str, flag: str) -> Any:
    """The JSON value of option ``flag``; invalid JSON is a one-line user error."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise LiftGenomicsError(f"{flag} is not valid JSON ({error})") from None


def json_object(text: str) -> dict[str, Any]:
    """Parse a ``--settings`` JSON object."""
    value = parse_json(text, "--settings")
    if not isinstance(value, dict):
        raise LiftGenomicsError("--settings must be a JSON object")
    return value


def set_threads(threads: int | None) -> None:
    """Match torch's CPU threads to what the scheduler gave the job (no oversubscription)."""
    if threads is None:
        return
    if threads < 1:
        raise LiftGenomicsError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--model SPEC, --weights, --model-args (see liftgenomics.models.spec)."""
    parser.add_argument(
        "--model",
        required=True,
        help="a model directory (from 'train' or 'convert'), FILE.py:factory, "
        "package.module:factory, chrombpnet:DIR_OR_H5 (Keras .h5 files, a folder or .tar.gz "
        "of ENCODE folds), keras:MODEL.h5 or keras:ARCH.json (with --weights), or "
        "bpnet-lite:FILE.torch (a pickled bpnet-lite model, read without running it)",
    )
    parser.add_argument(
        "--weights",
        help="state dict for a factory model: .safetensors, or .pt/.pth (read with "
        "torch.load(weights_only=True)); for keras:ARCH.json, the weights .h5",
    )
    parser.add_argument(
        "--model-args",
        help="JSON object of keyword arguments for the factory, e.g. '{\"n_filters\": 64}'",
    )


def load_cli_model(args: argparse.Namespace) -> Any:
    """The model that the options of :func:`add_model_options` name (imports torch)."""
    from liftgenomics.models.load import load_model

    return load_model(args.model, weights=args.weights, model_args=args.model_args)


def add_method_options(parser: argparse.ArgumentParser) -> None:
    """--method (one of liftgenomics.attribution.METHODS) and --references SPEC."""
    parser.add_argument("--method", default="deeplift_genomics", choices=METHODS)
    parser.add_argument(
        "--references",
        default="dinuc:20",
        help="reference spec: dinuc:K, gc:K, flat, flat:a,c,g,t, zero, fasta:PATH",
    )


def add_seed_option(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """--seed, an int, 0 by default."""
    parser.add_argument("--seed", type=int, default=0, help=help)


def add_steps_option(parser: argparse.ArgumentParser) -> None:
    """--steps of integrated gradients."""
    parser.add_argument("--steps", type=int, default=10, help="integrated-gradients steps")


def add_batch_size_option(
    parser: argparse.ArgumentParser, help: str = "sequences per batch"
) -> None:
    """--batch-size, an int; None (not given) leaves the choice to the library."""
    parser.add_argument("--batch-size", type=int, help=help)


def add_device_option(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """--device: auto, cpu, cuda (checked by the library)."""
    parser.add_argument("--device", default="auto", help=help)


def add_threads_option(parser: argparse.ArgumentParser, help: str = TORCH_THREADS_HELP) -> None:
    """--threads, an int; None (not given) keeps the library's own choice."""
    parser.add_argument("--threads", type=int, help=help)


def add_chunk_options(
    parser: argparse.ArgumentParser,
    chunk_help: str | None = None,
    chunks_help: str | None = None,
) -> None:
    """--chunk I --chunks N: do only the I-th (0-based) of N contiguous parts of the rows."""
    parser.add_argument("--chunk", type=int, default=0, help=chunk_help)
    parser.add_argument("--chunks", type=int, default=1, help=chunks_help)


def attribution_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of the method and run options, as attribute and score pass them."""
    return {
        "method": args.method,
        "references": args.references,
        "seed": args.seed,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "device": args.device,
    }


def add_grid_options(parser: argparse.ArgumentParser) -> None:
    """--methods, --references, --tasks and --method-references of the workflow's grid."""
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--references", nargs="+", required=True, help="reference names")
    parser.add_argument("--tasks", nargs="+", type=int, required=True)
    parser.add_argument(
        "--method-references",
        nargs="*",
        default=[],
        metavar="METHOD=REF[,REF]",
        help="methods scored against some of the references only (the workflow's "
        "attribution.method_references), e.g. integrated_gradients=flat",
    )


def method_references(args: argparse.Namespace) -> dict[str, list[str]]:
    """The references each method of :func:`add_grid_options` is scored against."""
    from liftgenomics.paper.recovery import parse_method_references

    return parse_method_references(args.method_references, args.methods, args.references)
