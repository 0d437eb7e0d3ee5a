"""Score a bioinformatician's own regions: FASTA (+ BED) in, TF-MoDISco-ready files out.

:func:`score_regions` reads regions through pyfaidx (:mod:`liftgenomics.genome.regions`), scores
them in chunks with :func:`~liftgenomics.attribution.engine.attribute_with_details` and streams
the results to disk as it goes, so memory stays flat however many regions there are. Outputs in
the output directory:

- ``ohe.npz``: the one-hot inputs (N, 4, L);
- ``hyp.npz`` / ``contrib.npz`` (one target) or ``hyp.{head}.npz`` / ``contrib.{head}.npz``
  (several heads, or BPNet's named ``counts``/``profile`` heads; see
  :mod:`liftgenomics.scoring.heads`): hypothetical and actual contributions (N, 4, L) float32,
  in the format ``modisco motifs -s ohe.npz -a hyp.npz`` reads (see
  :mod:`liftgenomics.scoring.writers`);
- ``regions.tsv``: one row per scored region in output order (name, chrom, start, end, strand,
  N count — every base that is not A/C/G/T, padding included —, the explained value per head,
  the summation-to-delta max error);
- ``skipped.tsv``: intervals skipped for running off a chromosome end;
- ``score.json``: the settings of the run (method, references, heads, seed, length, ...;
  :func:`score_settings`);
- with ``bigwig``: ``contrib.bw`` (or ``contrib.{head}.bw``), per-base actual contributions over
  the scored intervals, overlapping intervals averaged (:mod:`liftgenomics.scoring.tracks`).

The settings are a :class:`~liftgenomics.scoring.options.ScoreOptions`. ``--chunk i --chunks n``
scores one of n contiguous parts (whole batches each), which :mod:`liftgenomics.scoring.gather`
joins into the same files, byte for byte.

Every file is written under a temporary name and renamed only when all of them are complete, so a
failure or Ctrl-C leaves nothing that looks finished. The run holds the output directory's lock
(:func:`liftgenomics.locks.output_lock`): a second live run into it is refused in one line, and a
rerun after a hard kill takes over the dead run's lock and removes its temporary files. A write
that fails for a full disk or a file-size limit ends in one line
(:func:`~liftgenomics.io.output_errors`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import IO

import numpy as np

from liftgenomics.attribution import outputs
from liftgenomics.attribution.engine import attribute_with_details
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.control import open_extra_inputs
from liftgenomics.genome.regions import fetch_one_hot, open_fasta, plan_regions
from liftgenomics.io import output_errors
from liftgenomics.locks import output_lock
from liftgenomics.models.factory import check_input_length
from liftgenomics.scoring.heads import file_names, group_by_output, resolve_heads
from liftgenomics.scoring.options import (
    ScoreOptions,
    aligned_batch_size,
    aligned_chunk_bounds,
    check_options,
)
from liftgenomics.scoring.tracks import TrackBuffer, track_values, write_bigwig
from liftgenomics.scoring.writers import (
    NpzStreamWriter,
    Staging,
    table_header,
    write_rows,
    write_skipped,
)


class Progress:
    """A one-line progress report on stderr: regions (or ``unit``) done, per second, the ETA."""

    def __init__(
        self,
        total: int,
        enabled: bool = True,
        stream: IO[str] | None = None,
        unit: str = "regions",
    ) -> None:
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self._interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_reported = -1.0

    def update(self, done: int) -> None:
        """Report ``done`` regions; off a terminal, only about every 10%."""
        if not self.enabled or self.total == 0:
            return
        fraction = done / self.total
        if not self._interactive and fraction - self._last_reported < 0.1 and done < self.total:
            return
        self._last_reported = fraction
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        line = (
            f"scored {done}/{self.total} {self.unit} ({100 * fraction:.0f}%), "
            f"{rate:.1f} {self.unit}/s, ETA {_duration(eta)}"
        )
        end = "\r" if self._interactive and done < self.total else "\n"
        print(line, end=end, file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def score_regions(
    model,
    fasta_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    bed_path: str | os.PathLike | None = None,
    *,
    weights: str | os.PathLike | None = None,
    model_args: str | dict | None = None,
    options: ScoreOptions | None = None,
    **settings,
) -> dict[str, Path]:
    """Score the regions of a FASTA (optionally picked by a BED file) and write the outputs.

    Args:
        model: A loaded ``torch.nn.Module``, or a spec for
            :func:`liftgenomics.models.load.load_model`.
        fasta_path: Genome or sequences FASTA (plain or bgzipped; indexed by pyfaidx).
        out_dir: Output directory (created).
        bed_path: BED/narrowPeak intervals; None scores every FASTA record.
        weights, model_args: For a factory model spec, as for
            :func:`liftgenomics.models.load.load_model`.
        options: A :class:`ScoreOptions`; or give its fields as keyword ``settings``.

    Returns:
        Output kind -> path of each file written.

    Raises:
        LiftGenomicsError: for bad input (files, names, lengths, specs), another live run
            writing ``out_dir``, or a full disk / file-size limit; nothing is left behind.
    """
    try:
        options = dataclasses.replace(options or ScoreOptions(), **settings)
    except TypeError as error:
        raise LiftGenomicsError(f"score_regions: {error}") from None
    check_options(options)
    if not hasattr(model, "forward"):
        from liftgenomics.models.load import load_model

        model = load_model(model, weights=weights, model_args=model_args)
    model, scored = _scored_model(model, options.scored_model)
    model_length = getattr(model, "input_length", None)
    region_length = options.length if options.length is not None else model_length
    fasta = open_fasta(fasta_path)
    try:
        plan = plan_regions(
            fasta,
            bed_path,
            region_length,
            pad=options.pad,
            use_summit=options.use_summit,
            resize_records=options.length is not None,
        )
        if not plan.regions:
            raise LiftGenomicsError(
                f"no region left to score: all {len(plan.skipped)} run off a chromosome end "
                "(use --pad to score them N-padded)"
            )
        extra = open_extra_inputs(options.control, model, len(plan.regions))
        probe_args = extra.rows(plan.regions[:1], 0, plan.length)
        check_input_length(model, plan.length, probe_args)
        heads = resolve_heads(
            _probe(model, plan.length, probe_args),
            outputs.default_output(model, options.output),
            options.target,
            options.profile_or_counts,
        )
        # A streamed block holds whole batches: a batch never exceeds the block size.
        batch = min(aligned_batch_size(options, plan.length), options.chunk_regions)
        first, last = aligned_chunk_bounds(
            len(plan.regions), options.chunks, options.chunk, batch
        )
        for region, reason in plan.skipped[:5]:
            warnings.warn(f"skipped {region.name}: {reason}", stacklevel=2)
        if len(plan.skipped) > 5:
            warnings.warn(
                f"skipped {len(plan.skipped)} regions in all (listed in skipped.tsv)", stacklevel=2
            )
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LiftGenomicsError(
                f"{out}: cannot create the output directory ({error})"
            ) from None
        run_settings = score_settings(
            fasta_path, bed_path, options, heads, plan, scored, extra.description
        )
        if options.chunks > 1:
            run_settings |= {"chunk": options.chunk, "chunks": options.chunks, "first_row": first}
        with output_errors(out), output_lock(out):
            staging = Staging(out)
            staging.remove_stale()
            try:
                written = _score_and_write(
                    model, fasta, plan, staging, heads, options, extra, (first, last), batch
                )
                staging.path("score.json").write_text(json.dumps(run_settings, indent=2) + "\n")
                written["settings"] = out / "score.json"
                staging.commit()
            except BaseException:
                staging.discard()
                raise
    finally:
        fasta.close()
    return written


def _scored_model(model, choice: str):
    """A ChromBPNet's accessibility model (interpretation's usual target), else the model."""
    from torch import nn

    accessibility = getattr(model, "accessibility", None)
    if choice == "accessibility" and isinstance(accessibility, nn.Module):
        for attribute in ("input_length",):
            if hasattr(model, attribute) and not hasattr(accessibility, attribute):
                setattr(accessibility, attribute, getattr(model, attribute))
        return accessibility, "accessibility"
    return model, "full"


def _probe(model, length: int, args: tuple):
    """What the model returns for one all-N sequence (eval mode, flags restored)."""
    import torch

    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    flags = {module: module.training for module in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            return model(
                torch.zeros((1, 4, length), device=device),
                *(torch.as_tensor(a, device=device) for a in args),
            )
    finally:
        for module, training in flags.items():
            module.training = training


def score_settings(fasta_path, bed_path, options, heads, plan, scored, control) -> dict:
    """The settings ``score.json`` records (the same for a run and its gathered chunks)."""
    return {
        "fasta": str(fasta_path),
        "bed": None if bed_path is None else str(bed_path),
        "method": options.method,
        "references": options.references if isinstance(options.references, str) else "tensor",
        "targets": [h.target if h.name == f"task{h.target}" else h.name for h in heads],
        "heads": [
            {"name": h.name, "output": h.output, "target": h.target, "files": names}
            for h, names in zip(heads, file_names(heads).values(), strict=True)
        ],
        "scored_model": scored,
        "control": control,
        "length": plan.length,
        "seed": options.seed,
        "pad": options.pad,
        "use_summit": options.use_summit,
        "regions": len(plan.regions),
        "skipped": len(plan.skipped),
    }


def _score_and_write(
    model, fasta, plan, staging, heads, options, extra, rows, batch
) -> dict[str, Path]:
    import torch

    first, last = rows
    # Streamed blocks hold whole batches, so batches start on multiples of ``batch``.
    step = math.ceil(options.chunk_regions / batch) * batch
    n, length = last - first, plan.length
    names = file_names(heads)
    writers: dict[str, NpzStreamWriter] = {}
    written: dict[str, Path] = {}
    tracks = None
    try:
        writers["ohe"] = NpzStreamWriter(staging.path("ohe.npz"), (n, 4, length))
        for head in heads:
            for kind in ("hyp", "contrib"):
                name = names[head.name][kind]
                writers[f"{kind}.{head.name}"] = NpzStreamWriter(staging.path(name), (n, 4, length))
        if options.bigwig:
            tracks = TrackBuffer(staging.directory, n, len(heads), length)
        table = staging.path("regions.tsv")
        meter = Progress(n, enabled=options.progress)
        with open(table, "w", encoding="utf-8") as table_handle:
            table_handle.write("\t".join(table_header(heads)) + "\n")
            for start in range(first, last, step):
                chunk = plan.regions[start : min(start + step, last)]
                X = fetch_one_hot(fasta, chunk, length)
                args = tuple(torch.as_tensor(a) for a in extra.rows(chunk, start, length))
                predictions = np.zeros((len(chunk), len(heads)), dtype=np.float32)
                errors = np.full((len(chunk), len(heads)), np.nan, dtype=np.float32)
                writers["ohe"].append(X)
                position = {head.name: j for j, head in enumerate(heads)}
                for output, group in group_by_output(heads):
                    result = attribute_with_details(
                        model,
                        X,
                        options.references,
                        [head.target for head in group],
                        forward_args=args,
                        output=output,
                        method=options.method,
                        hypothetical=True,
                        batch_size=batch,
                        device=options.device,
                        seed=options.seed,
                        steps=options.steps,
                        start_index=start,
                    )
                    hyp = result.scores.numpy()  # (c, T, 4, L)
                    for k, head in enumerate(group):
                        j = position[head.name]
                        head_hyp = np.ascontiguousarray(hyp[:, k])
                        contrib = head_hyp * X
                        writers[f"hyp.{head.name}"].append(head_hyp)
                        writers[f"contrib.{head.name}"].append(contrib)
                        if tracks is not None:
                            tracks.append(j, start - first, track_values(contrib))
                        predictions[:, j] = result.predictions.numpy()[:, k]
                        errors[:, j] = result.max_error.numpy()[:, k]
                write_rows(table_handle, chunk, X, predictions, errors)
                meter.update(start - first + len(chunk))
        for writer in writers.values():
            writer.close()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        if tracks is not None:
            tracks.discard()
        raise
    finally:
        close = getattr(extra, "close", None)
        if close is not None:
            close()
    written["ohe"] = staging.directory / "ohe.npz"
    for head in heads:
        for kind in ("hyp", "contrib"):
            written[f"{kind}.{head.name}"] = staging.directory / names[head.name][kind]
    written["regions"] = staging.directory / "regions.tsv"
    written["skipped"] = staging.directory / "skipped.tsv"
    write_skipped(staging.path("skipped.tsv"), plan.skipped)
    if tracks is not None:
        try:
            for j, head in enumerate(heads):
                name = names[head.name]["bigwig"]
                write_bigwig(
                    staging.path(name), plan.regions, tracks.values(j), plan.chrom_lengths
                )
                written[f"bigwig.{head.name}"] = staging.directory / name
        finally:
            tracks.discard()
    return written
