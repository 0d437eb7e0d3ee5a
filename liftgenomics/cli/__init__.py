"""The ``liftgenomics`` command line: thin wrappers over the package's functions.

Every subcommand has ``--help``. A user error (bad file, unknown name, wrong shape) prints one
line, ``liftgenomics: error: ...``, and exits with status 2; nothing half-written is left.

This module owns what is generic: :func:`main` (the entry point), :func:`build_parser`, the
one-line usage errors, SIGTERM handling and the one-line warnings. The subcommands live in
:mod:`~liftgenomics.cli.scoring`, :mod:`~liftgenomics.cli.paper`,
:mod:`~liftgenomics.cli.motifs` and :mod:`~liftgenomics.cli.models`; the options several of
them share in :mod:`~liftgenomics.cli.options`. Building the parser imports no torch: the
runners import what they need.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn, TextIO

from liftgenomics import __version__
from liftgenomics.cli import models, motifs, paper, scoring, variants
from liftgenomics.errors import LiftGenomicsError


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line, like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"liftgenomics: error: {self.prog}: {message} (see --help)\n")


def _terminate(signum: int, frame: FrameType | None) -> None:
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
    paper.add_simulate(subparsers)
    paper.add_train(subparsers)
    paper.add_fetch_paper_data(subparsers)
    paper.add_import_paper_data(subparsers)
    paper.add_model_metrics(subparsers)
    scoring.add_attribute(subparsers)
    scoring.add_gather(subparsers)
    scoring.add_score(subparsers)
    scoring.add_gather_scores(subparsers)
    scoring.add_logo(subparsers)
    variants.add_variants(subparsers)
    variants.add_gather_variants(subparsers)
    paper.add_evaluate(subparsers)
    paper.add_figures(subparsers)
    paper.add_replicates(subparsers)
    paper.add_report(subparsers)
    motifs.add_motifs(subparsers)
    motifs.add_grade_motifs(subparsers)
    models.add_convert(subparsers)
    return parser


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
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
