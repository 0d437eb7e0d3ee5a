"""The settings of a ``liftgenomics variants`` run, in one object, checked in one place."""

from __future__ import annotations

from dataclasses import dataclass

from liftgenomics.attribution.methods import METHODS
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.variants.records import SCHEMAS
from liftgenomics.variants.windows import REF_MISMATCH


@dataclass(frozen=True)
class VariantOptions:
    """How :func:`~liftgenomics.variants.pipeline.score_variants` scores.

    Attributes:
        schema: None for a VCF, else a table layout of :data:`~.records.SCHEMAS`.
        length: Window length L (None: the model's ``input_length``).
        output: The model output read for a tuple/dict model that is not a BPNet pair.
        forward_only: Predict the forward strand only (default: forward and reverse
            complement averaged).
        ref_mismatch: ``skip``, ``flip`` or ``error`` when allele1 is not the genome's base.
        n_shuffles: Dinucleotide-shuffled null windows per variant (0: no null, no p-values).
        null: A ``null.npz`` of an earlier run with this model and settings, used instead of
            scoring a new null.
        attribute: An engine method to explain both alleles with (None: no attributions).
        heads: The BPNet heads to explain (``counts``, ``profile``; None: both for a BPNet
            pair, else the output's default).
        references: The reference spec of the attributions, generated from allele1's window.
        steps: Integrated-gradients steps.
        logos: Ref-over-alt logos of the top this many variants (needs ``attribute``).
        seed: Seed of the null shuffles and the references (each drawn by global index).
        batch_size: Variants per forward pass.
        block: Variants per streamed block (memory is flat in the number of variants); a
            multiple of ``batch_size``, and chunks start on whole blocks.
        device: ``cpu``, ``cuda``, ``auto`` or None.
        chunk, chunks: Score chunk ``chunk`` of ``chunks`` (a part directory for
            ``gather-variants``).
        progress: Report progress on stderr.
    """

    schema: str | None = None
    length: int | None = None
    output: int | str | None = None
    forward_only: bool = False
    ref_mismatch: str = "skip"
    n_shuffles: int = 10
    null: str | None = None
    attribute: str | None = None
    heads: tuple[str, ...] | None = None
    references: str = "dinuc:20"
    steps: int = 10
    logos: int = 0
    seed: int = 0
    batch_size: int = 32
    block: int = 1024
    device: str | None = None
    chunk: int = 0
    chunks: int = 1
    progress: bool = True


def check_variant_options(options: VariantOptions) -> None:
    """One line for the first setting that cannot work."""
    if options.schema is not None and options.schema not in SCHEMAS:
        raise LiftGenomicsError(
            f"--schema {options.schema!r}: expected one of {', '.join(SCHEMAS)} (none: a VCF)"
        )
    if options.ref_mismatch not in REF_MISMATCH:
        raise LiftGenomicsError(
            f"--ref-mismatch {options.ref_mismatch!r}: expected one of {', '.join(REF_MISMATCH)}"
        )
    if options.attribute is not None and options.attribute not in METHODS:
        raise LiftGenomicsError(
            f"--attribute {options.attribute!r}: unknown method (one of {', '.join(METHODS)})"
        )
    for name in ("n_shuffles", "logos", "seed"):
        if getattr(options, name) < 0:
            raise LiftGenomicsError(f"--{name.replace('_', '-')} must be >= 0")
    for name in ("batch_size", "block", "steps"):
        if getattr(options, name) < 1:
            raise LiftGenomicsError(f"--{name.replace('_', '-')} must be >= 1")
    if options.block % options.batch_size:
        raise LiftGenomicsError(
            f"--block {options.block} must be a multiple of --batch-size {options.batch_size}"
        )
    if options.length is not None and options.length < 2:
        raise LiftGenomicsError(f"--length must be >= 2, got {options.length}")
    if options.heads and options.attribute is None:
        raise LiftGenomicsError("--attribute-heads chooses what --attribute explains: give it too")
    if options.logos and options.attribute is None:
        raise LiftGenomicsError("--logos draws attributions: give --attribute METHOD too")
    if options.chunks < 1 or not 0 <= options.chunk < options.chunks:
        raise LiftGenomicsError(
            f"--chunk {options.chunk} does not exist among --chunks {options.chunks}"
        )
    if options.chunks > 1 and options.logos:
        raise LiftGenomicsError("--logos needs every variant: give it to gather-variants")
