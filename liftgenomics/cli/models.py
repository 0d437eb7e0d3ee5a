"""Subcommands on model files: ``convert`` (any readable model source to a model directory).

Building the parser imports no torch; the runner imports the model readers.
"""

from __future__ import annotations

import argparse

from liftgenomics.cli.options import Subparsers, add_model_options


def add_convert(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="save any readable model as a liftgenomics model directory",
        description="Read a model once -- a chrombpnet .h5 (or folder/.tar.gz of ENCODE folds), "
        "a Keras model, a pickled bpnet-lite model (read without running it) or a model "
        "directory -- and write it to --out as model.safetensors + model.json (its "
        "architecture, the source spec and the input files' SHA-256), which every command "
        "then loads without the original reader. FILE.py:factory models are refused: their "
        "own code rebuilds them. The directory appears only when complete.",
    )
    add_model_options(parser)
    parser.add_argument("--out", required=True, help="output model directory")
    parser.set_defaults(run=_run_convert)


def _run_convert(args: argparse.Namespace) -> None:
    from liftgenomics.models.convert import convert_model

    out = convert_model(args.model, args.out, weights=args.weights, model_args=args.model_args)
    print(out)
