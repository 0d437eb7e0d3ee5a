"""``liftgenomics variants``: read, check, window, predict, null, attribute — streamed in blocks.

:func:`score_variants` scores a VCF or table against a FASTA with a model and writes an output
directory (:mod:`.outputs`). With ``chunks > 1`` it scores one chunk of the checked variants
and writes a *part* directory; :func:`~liftgenomics.variants.outputs.gather_variants` joins the
parts into the same bytes one process writes. Every random draw (null shuffles, references) is
seeded by the variant's global index, so a chunk scores its variants as the whole run does.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from liftgenomics.attribution import outputs as model_outputs
from liftgenomics.attribution.engine import AttributionOptions
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.control import open_extra_inputs
from liftgenomics.genome.regions import chromosome_lengths, open_fasta
from liftgenomics.io import output_errors
from liftgenomics.locks import output_lock
from liftgenomics.models.factory import check_input_length
from liftgenomics.scoring.heads import Head, resolve_heads
from liftgenomics.scoring.options import aligned_chunk_bounds
from liftgenomics.scoring.pipeline import Progress
from liftgenomics.scoring.writers import Staging
from liftgenomics.variants import outputs
from liftgenomics.variants.attributions import allele_attributions
from liftgenomics.variants.effects import predict_alleles, tested_columns, variant_scores
from liftgenomics.variants.null import check_meta, read_null
from liftgenomics.variants.options import VariantOptions, check_variant_options
from liftgenomics.variants.records import Variant, read_variants
from liftgenomics.variants.windows import allele_windows, null_windows, plan_variants


def score_variants(
    model,
    fasta_path: str | os.PathLike,
    variants_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    model_args: str | dict | None = None,
    options: VariantOptions | None = None,
    **settings,
) -> dict[str, Path]:
    """Score the variants of a VCF/table with a model and write the outputs to ``out_dir``.

    Args:
        model: A loaded ``torch.nn.Module`` or a model spec (see ``liftgenomics.models.load``).
        fasta_path: The genome FASTA (plain or bgzipped, indexed by pyfaidx).
        variants_path: A VCF (``options.schema`` None) or a headerless table.
        out_dir: The output directory (a part directory with ``chunks > 1``).
        weights, model_args: For a factory model spec.
        options: A :class:`VariantOptions`; or give its fields as keyword ``settings``.

    Returns:
        Output kind -> path of each file written.

    Raises:
        LiftGenomicsError: for bad input (files, records, names, settings), no variant left to
            score, another live run writing ``out_dir``, or a full disk; nothing is left behind.
    """
    try:
        options = dataclasses.replace(options or VariantOptions(), **settings)
    except TypeError as error:
        raise LiftGenomicsError(f"score_variants: {error}") from None
    check_variant_options(options)
    if not hasattr(model, "forward"):
        from liftgenomics.models.load import load_model

        model = load_model(model, weights=weights, model_args=model_args)
    length = options.length if options.length is not None else getattr(model, "input_length", None)
    if length is None:
        raise LiftGenomicsError("the model has no fixed input length: give --length")
    fasta = open_fasta(fasta_path)
    try:
        found, skipped = read_variants(
            variants_path, options.schema, chrom_names=set(chromosome_lengths(fasta))
        )
        plan = plan_variants(fasta, found, length, options.ref_mismatch)
        skipped = skipped + plan.skipped
        if not plan.variants:
            raise LiftGenomicsError(
                f"{variants_path}: no variant left to score ({len(skipped)} skipped; first: "
                f"{skipped[0].variant.id}: {skipped[0].reason})"
            )
        extra = open_extra_inputs(None, model, len(plan.variants))
        check_input_length(model, length, extra.rows([None], 0, length))
        heads = _attributed_heads(model, options, length, extra)
        null = _given_null(model, options, length)
        # Chunks start on whole blocks, so each block is scored as in one process.
        first, last = aligned_chunk_bounds(
            len(plan.variants), options.chunks, options.chunk, options.block
        )
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LiftGenomicsError(
                f"{out}: cannot create the output directory ({error})"
            ) from None
        run = outputs.RunSettings.of(
            model, fasta_path, variants_path, options, length, heads, len(found), null
        )
        with output_errors(out), output_lock(out):
            staging = Staging(out)
            staging.remove_stale(outputs.is_variant_output)
            try:
                part = _score_part(model, fasta, plan, (first, last), options, heads, extra,
                                   staging, length)  # fmt: skip
                part.skipped = skipped
                if null is not None:
                    part.null = null
                if options.chunks > 1:
                    written = outputs.write_part(staging, part, run, options.chunk)
                else:
                    written = outputs.finish(staging, part, run, options.logos)
                staging.commit()
                outputs.remove_earlier_outputs(out, written)
            except BaseException:
                staging.discard()
                raise
    finally:
        fasta.close()
    return written


def _attributed_heads(model, options: VariantOptions, length: int, extra) -> list[Head]:
    """The heads ``--attribute`` explains: both BPNet heads for a pair, else the output's."""
    if options.attribute is None:
        return []
    probe = torch.zeros((1, 4, length))
    args = tuple(torch.as_tensor(a) for a in extra.rows([None], 0, length))
    model.eval()
    with torch.inference_mode():
        raw = model(probe, *args)
    if options.heads:
        return resolve_heads(raw, profile_or_counts=list(options.heads))
    return resolve_heads(raw, model_outputs.default_output(model, options.output))


def _given_null(model, options: VariantOptions, length: int) -> dict[str, np.ndarray] | None:
    """The null scores of ``--null``, checked against this run's model and settings."""
    if options.null is None:
        return None
    columns, meta = read_null(options.null)
    check_meta(meta, outputs.null_meta(model, options, length), options.null)
    return columns


def _score_part(model, fasta, plan, rows, options, heads, extra, staging, length):
    """Scores, null scores and attributions of the checked variants ``rows`` [first, last)."""
    first, last = rows
    part = outputs.Part(
        first=first,
        variants=plan.variants[first:last],
        flipped=plan.flipped[first:last],
    )
    writers = outputs.AttributionWriters(staging, heads, last - first, length)
    meter = Progress(last - first, enabled=options.progress, unit="variants")
    for start in range(first, last, options.block):
        block = plan.variants[start : min(start + options.block, last)]
        X1, X2 = allele_windows(fasta, block, length)
        args = extra.rows(block, start, length)
        part.add_scores(_scores(model, X1, X2, block, options, length, args))
        if options.n_shuffles and options.null is None:
            part.add_null(_null_scores(model, fasta, block, start, options, length, extra))
        for head in heads:
            writers.append(head, X1, X2, _explain(model, X1, X2, head, start, options, args))
        meter.update(start + len(block) - first)
    part.attributions = writers.close()
    return part


def _scores(model, X1, X2, variants: Sequence[Variant], options, length, args):
    predictions = predict_alleles(
        model,
        X1,
        X2,
        forward_only=options.forward_only,
        batch_size=options.batch_size,
        device=options.device,
        output=options.output,
        forward_args=args,
    )
    return variant_scores(predictions, variants, length)


def _null_scores(model, fasta, block, start, options, length, extra) -> dict[str, np.ndarray]:
    """The tested scores of each variant's ``n_shuffles`` shuffled windows (seeded by index)."""
    n = options.n_shuffles
    N1, N2 = null_windows(fasta, block, length, n, options.seed, start_index=start)
    repeated = [variant for variant in block for _ in range(n)]
    args = extra.rows(repeated, start * n, length)
    columns = _scores(model, N1, N2, repeated, options, length, args)
    return {name: columns[name] for name in tested_columns(list(columns))}


def _explain(model, X1, X2, head: Head, start: int, options: VariantOptions, args):
    settings = AttributionOptions(
        method=options.attribute,
        device=options.device,
        seed=options.seed,
        steps=options.steps,
        start_index=start,
    )
    return allele_attributions(
        model, X1, X2, head.output, head.target, settings, options.references, args
    )
