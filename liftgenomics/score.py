"""Score a bioinformatician's own regions: FASTA (+ BED) in, TF-MoDISco-ready files out.

:func:`score_regions` reads regions through pyfaidx (:mod:`liftgenomics.regions`), scores them
in chunks with :func:`~liftgenomics.attribution.engine.attribute_with_details` and streams the
results to disk as it goes, so memory stays flat however many regions there are. Outputs in the
output directory:

- ``ohe.npz``: the one-hot inputs (N, 4, L);
- ``hyp.npz`` / ``contrib.npz`` (one target) or ``hyp.{head}.npz`` / ``contrib.{head}.npz``
  (several heads, or BPNet's named ``counts``/``profile`` heads; see :mod:`liftgenomics.heads`):
  hypothetical and actual contributions (N, 4, L) float32. Each file holds one array under
  ``arr_0``, as ``np.savez_compressed(path, A)`` writes it (the same bytes for the same rows,
  fixed zip timestamp), which is what ``modisco motifs -s ohe.npz -a hyp.npz`` reads;
- ``regions.tsv``: one row per scored region in output order (name, chrom, start, end, strand,
  N count — every base that is not A/C/G/T, padding included —, the explained value per head,
  the summation-to-delta max error);
- ``skipped.tsv``: intervals skipped for running off a chromosome end;
- ``score.json``: the settings of the run (method, references, heads, seed, length, ...);
- with ``bigwig``: ``contrib.bw`` (or ``contrib.{head}.bw``), per-base actual contributions over
  the scored intervals, overlapping intervals averaged.

``--chunk i --chunks n`` scores one of n contiguous parts (whole batches each), which
:mod:`liftgenomics.gather` joins into the same files, byte for byte.

Every file is written under a temporary name and renamed only when all of them are complete, so a
failure or Ctrl-C leaves nothing that looks finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from liftgenomics.attribution.chunks import chunk_bounds
from liftgenomics.attribution.engine import CPU_PAIRS_PER_BATCH, attribute_with_details
from liftgenomics.attribution.methods import METHODS
from liftgenomics.control import open_extra_inputs
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.heads import file_names, group_by_output, resolve_heads
from liftgenomics.regions import Region, fetch_one_hot, open_fasta, plan_regions
from liftgenomics.sequence import count_ambiguous
from liftgenomics.sources import check_input_length

#: Regions per streamed chunk: few enough model checks per run, small enough for flat memory
#: (references are generated per batch inside the engine, so a chunk holds only X and scores).
DEFAULT_CHUNK_REGIONS = 2048
#: Default (sequence, reference) pairs per batch: the engine's on a CPU; on a GPU a fixed
#: number (not one sized to the free memory) so every chunk job batches alike.
GPU_PAIRS_PER_BATCH = 1024
#: zlib level of the .npz members: float scores barely compress, and level 1 is several times
#: faster than the default 6 at nearly the same size.
COMPRESS_LEVEL = 1


class NpzStreamWriter:
    """Write one (N, ...) float32 array into a compressed ``.npz`` row block by row block.

    The result reads exactly like ``np.savez_compressed(path, A)``: a zip archive with one
    deflated member ``arr_0.npy`` holding the same bytes (compressed at level
    :data:`COMPRESS_LEVEL`). Rows must be appended in order and add up to N.
    """

    def __init__(self, path: str | os.PathLike, shape: Sequence[int]) -> None:
        self.path = Path(path)
        self.shape = tuple(int(size) for size in shape)
        self.rows_written = 0
        self._zip = zipfile.ZipFile(
            self.path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
        )
        # A fixed timestamp (numpy's own): the same rows give the same bytes on every run.
        member = zipfile.ZipInfo("arr_0.npy", date_time=(1980, 1, 1, 0, 0, 0))
        member.compress_type = zipfile.ZIP_DEFLATED
        if hasattr(member, "compress_level"):  # Python >= 3.13
            member.compress_level = COMPRESS_LEVEL
        else:
            member._compresslevel = COMPRESS_LEVEL
        self._member: IO[bytes] = self._zip.open(member, "w", force_zip64=True)
        header = {"descr": "<f4", "fortran_order": False, "shape": self.shape}
        np.lib.format.write_array_header_1_0(self._member, header)

    def append(self, rows: np.ndarray) -> None:
        """Append rows (n, ...) matching the array's trailing shape."""
        rows = np.ascontiguousarray(rows, dtype="<f4")
        if rows.shape[1:] != self.shape[1:]:
            raise LiftGenomicsError(
                f"{self.path}: rows of shape {rows.shape[1:]} do not fit {self.shape[1:]}"
            )
        self._member.write(rows.tobytes())
        self.rows_written += rows.shape[0]

    def close(self) -> None:
        """Finish the archive; refuses if fewer or more rows than declared were written."""
        self._member.close()
        self._zip.close()
        if self.rows_written != self.shape[0]:
            raise LiftGenomicsError(
                f"{self.path}: wrote {self.rows_written} rows, expected {self.shape[0]}"
            )

    def abort(self) -> None:
        """Close the handles without checks (the file is removed by the caller)."""
        with contextlib.suppress(Exception):
            self._member.close()
        with contextlib.suppress(Exception):
            self._zip.close()


def read_npz_rows(path: str | os.PathLike, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of the single array of an ``.npz`` file, read without loading it all."""
    path = Path(path)
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: file not found")
    try:
        with zipfile.ZipFile(path) as archive:
            member = archive.namelist()[0]
            with archive.open(member) as handle:
                version = np.lib.format.read_magic(handle)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(handle)
                if fortran or not 0 <= start <= stop <= shape[0]:
                    raise LiftGenomicsError(
                        f"{path}: rows {start}:{stop} are not in an array of shape {shape}"
                    )
                row_bytes = dtype.itemsize * math.prod(shape[1:])
                _skip(handle, start * row_bytes)
                data = handle.read((stop - start) * row_bytes)
    except (zipfile.BadZipFile, IndexError, ValueError) as error:
        raise LiftGenomicsError(f"{path}: not a readable .npz file ({error})") from None
    return np.frombuffer(data, dtype=dtype).reshape((stop - start,) + tuple(shape[1:]))


def _skip(handle: IO[bytes], count: int) -> None:
    while count > 0:
        block = handle.read(min(count, 1 << 22))
        if not block:
            break
        count -= len(block)


class Progress:
    """A one-line progress report on stderr: regions done, regions/s and the ETA."""

    def __init__(self, total: int, enabled: bool = True, stream: IO[str] | None = None) -> None:
        self.total = total
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
            f"scored {done}/{self.total} regions ({100 * fraction:.0f}%), "
            f"{rate:.1f} regions/s, ETA {_duration(eta)}"
        )
        end = "\r" if self._interactive and done < self.total else "\n"
        print(line, end=end, file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class _Staging:
    """Temporary output names in the output directory, renamed together at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pending: dict[Path, Path] = {}

    def path(self, name: str) -> Path:
        final = self.directory / name
        handle, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=self.directory)
        os.close(handle)
        self.pending[final] = Path(tmp)
        return Path(tmp)

    def commit(self) -> None:
        """Rename every staged file onto its name, then remove outputs of earlier runs that
        this run did not write (so a reused directory never mixes two runs)."""
        umask = os.umask(0)
        os.umask(umask)
        for final in self.pending:
            if final.exists() and not final.is_file():
                raise LiftGenomicsError(f"{final}: exists and is not a file; remove it first")
        try:
            for final, tmp in self.pending.items():
                os.chmod(tmp, 0o666 & ~umask)
                os.replace(tmp, final)
            for stale in self.directory.iterdir():
                if stale not in self.pending and _is_score_output(stale.name):
                    stale.unlink()
        except OSError as error:
            raise LiftGenomicsError(
                f"{self.directory}: could not finish the outputs ({error})"
            ) from None
        self.pending.clear()

    def discard(self) -> None:
        for tmp in self.pending.values():
            tmp.unlink(missing_ok=True)
        self.pending.clear()


#: Every file name :func:`score_regions` (or ``logo``) writes in an output directory.
_OUTPUT_NAME = re.compile(
    r"ohe\.npz|regions\.tsv|skipped\.tsv|score\.json|(hyp|contrib)(\.[A-Za-z0-9_-]+)?\.npz"
    r"|contrib(\.[A-Za-z0-9_-]+)?\.bw|logo\..+\.png"
)


def _is_score_output(name: str) -> bool:
    """Whether ``name`` is a file that :func:`score_regions` (or ``logo``) writes."""
    return _OUTPUT_NAME.fullmatch(name) is not None


@dataclass(frozen=True)
class ScoreOptions:
    """How :func:`score_regions` explains and writes (every setting after the files).

    Attributes:
        method, references, seed, batch_size, device, steps: As for
            :func:`~liftgenomics.attribution.attribute`.
        output, target, profile_or_counts: What is explained (see :mod:`liftgenomics.heads`).
        control: Extra model inputs (see :mod:`liftgenomics.control`).
        length: Region length; default the model's ``input_length``.
        bigwig: Also write bigWig tracks of the actual contributions (needs pyBigWig).
        pad: N-pad regions that run off a chromosome instead of skipping them.
        use_summit: Centre narrowPeak intervals on their summit.
        chunk_regions: Regions scored and written per step.
        progress: Report progress on stderr.
        chunk, chunks: Score only chunk ``chunk`` of ``chunks`` contiguous row ranges of the
            regions (for ``gather-scores``).
        scored_model: ``"accessibility"`` scores a ChromBPNet's accessibility model (when the
            model has one, the default); ``"full"`` the model as given.
    """

    method: str = "deeplift_genomics"
    references: str = "dinuc:20"
    output: str | int | None = None
    target: str | int | Sequence[str | int] | None = None
    profile_or_counts: Sequence[str] | None = None
    control: str | None = None
    length: int | None = None
    batch_size: int | None = None
    device: str | None = "auto"
    seed: int = 0
    steps: int = 10
    bigwig: bool = False
    pad: bool = False
    use_summit: bool = True
    chunk_regions: int = DEFAULT_CHUNK_REGIONS
    progress: bool = True
    chunk: int = 0
    chunks: int = 1
    scored_model: str = "accessibility"


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
        model: A loaded ``torch.nn.Module``, or a spec for :func:`liftgenomics.model.load_model`.
        fasta_path: Genome or sequences FASTA (plain or bgzipped; indexed by pyfaidx).
        out_dir: Output directory (created).
        bed_path: BED/narrowPeak intervals; None scores every FASTA record.
        weights, model_args: For a factory model spec, as for
            :func:`liftgenomics.model.load_model`.
        options: A :class:`ScoreOptions`; or give its fields as keyword ``settings``.

    Returns:
        Output kind -> path of each file written.

    Raises:
        LiftGenomicsError: for bad input (files, names, lengths, specs); nothing is left behind.
    """
    try:
        options = dataclasses.replace(options or ScoreOptions(), **settings)
    except TypeError as error:
        raise LiftGenomicsError(f"score_regions: {error}") from None
    _check_options(options)
    if not hasattr(model, "forward"):
        from liftgenomics.model import load_model

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
            options.output,
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
        staging = _Staging(out)
        run_settings = score_settings(
            fasta_path, bed_path, options, heads, plan, scored, extra.description
        )
        if options.chunks > 1:
            run_settings |= {"chunk": options.chunk, "chunks": options.chunks, "first_row": first}
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


def _check_options(options: ScoreOptions) -> None:
    if options.method not in METHODS:
        raise LiftGenomicsError(
            f"unknown attribution method {options.method!r}; expected one of {', '.join(METHODS)}"
        )
    if options.method != "ism" and isinstance(options.references, str):
        from liftgenomics.references import parse_reference_spec

        parse_reference_spec(options.references)  # fail on a bad spec before reading anything
    if options.chunk_regions < 1:
        raise LiftGenomicsError(f"chunk size must be >= 1, got {options.chunk_regions}")
    if options.batch_size is not None and options.batch_size < 1:
        raise LiftGenomicsError(f"batch size must be >= 1 sequence, got {options.batch_size}")
    if options.chunks < 1 or not 0 <= options.chunk < options.chunks:
        raise LiftGenomicsError(
            f"--chunk {options.chunk} --chunks {options.chunks}: need 0 <= chunk < chunks"
        )
    if options.chunks > 1 and options.bigwig:
        raise LiftGenomicsError(
            "--bigwig with --chunks > 1: the bigWig is written when the chunks are gathered "
            "(liftgenomics gather-scores --bigwig)"
        )
    if options.scored_model not in ("accessibility", "full"):
        raise LiftGenomicsError(
            f"scored model must be 'accessibility' or 'full', not {options.scored_model!r}"
        )
    if options.bigwig:
        _require_pybigwig()


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


def _require_pybigwig() -> None:
    try:
        import pyBigWig  # noqa: F401
    except ImportError:
        raise LiftGenomicsError(
            "--bigwig needs pyBigWig: pip install 'liftgenomics[bigwig]'"
        ) from None


def aligned_batch_size(options: ScoreOptions, length: int) -> int:
    """Sequences per engine batch: ``--batch-size``, or a fixed default for the device.

    Batches start at global rows that are multiples of this size, in one process and in every
    chunk alike (:func:`aligned_chunk_bounds`), so each sequence is scored in the same batch
    either way: convolution kernels may round differently for another batch size, and a
    chunked run is to be byte-identical to one process (same device, threads and batch size).
    """
    if options.batch_size is not None:
        return options.batch_size
    from liftgenomics.attribution.engine import resolve_device
    from liftgenomics.attribution.methods import get_method
    from liftgenomics.references import parse_reference_spec

    cuda = resolve_device(options.device).type == "cuda"
    pairs = GPU_PAIRS_PER_BATCH if cuda else CPU_PAIRS_PER_BATCH
    method = get_method(options.method)
    if method.family == "ism":
        return max(1, pairs // (3 * length))
    k = 1
    if method.needs_references and isinstance(options.references, str):
        k = parse_reference_spec(options.references).n
    per_sequence = k * (options.steps if method.family == "integrated_gradients" else 1)
    return max(1, math.ceil(pairs / per_sequence))


def aligned_chunk_bounds(n: int, chunks: int, chunk: int, batch: int) -> tuple[int, int]:
    """Rows [start, stop) of chunk ``chunk`` of ``chunks``, on batch boundaries.

    Whole batches of ``batch`` rows are split as evenly as possible (a chunk may be empty when
    there are fewer batches than chunks); the last batch may be partial.
    """
    blocks = math.ceil(n / batch)
    lo, hi = chunk_bounds(blocks, chunks, chunk)
    return min(n, lo * batch), min(n, hi * batch)


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
            tracks = _TrackBuffer(staging.directory, n, len(heads), length)
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


def table_header(heads) -> list[str]:
    """``regions.tsv``'s columns: the region, its N count, a prediction per head, the error."""
    header = ["name", "chrom", "start", "end", "strand", "n_count"]
    return header + [f"prediction_{head.name}" for head in heads] + ["max_error"]


def track_values(contrib: np.ndarray) -> np.ndarray:
    """Per-base actual contributions (n, L) of (n, 4, L) ones (the bigWig's values)."""
    return np.ascontiguousarray(contrib, dtype=np.float32).sum(axis=1)


def write_skipped(path: Path, skipped) -> None:
    """``skipped.tsv``: the intervals that ran off a chromosome, with the reason."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("name\tchrom\tstart\tend\treason\n")
        for region, reason in skipped:
            handle.write(f"{region.name}\t{region.chrom}\t{region.start}\t{region.end}\t{reason}\n")


def write_rows(
    handle: IO[str], chunk: Sequence[Region], X: np.ndarray, predictions, errors
) -> None:
    """``regions.tsv`` rows: the region, its N count, predictions (n, H), the worst error."""
    n_counts = count_ambiguous(X)
    for i, region in enumerate(chunk):
        error = errors[i]
        worst = "nan" if np.isnan(error).all() else f"{float(np.nanmax(error)):.3g}"
        fields = [region.name, region.chrom, str(region.start), str(region.end), region.strand]
        fields += [str(int(n_counts[i]))] + [f"{float(p):.6g}" for p in predictions[i]] + [worst]
        handle.write("\t".join(fields) + "\n")


class _TrackBuffer:
    """Per-base actual contributions (n, H, L), kept on disk for the bigWig pass at the end."""

    def __init__(self, directory: Path, n: int, n_heads: int, length: int) -> None:
        handle, name = tempfile.mkstemp(prefix=".track.", suffix=".f32.part", dir=directory)
        os.close(handle)
        self.path = Path(name)
        self.array = np.memmap(self.path, dtype=np.float32, mode="w+", shape=(n, n_heads, length))

    def append(self, head: int, row: int, values: np.ndarray) -> None:
        self.array[row : row + len(values), head] = values

    def values(self, head: int) -> np.ndarray:
        return self.array[:, head]

    def discard(self) -> None:
        del self.array
        self.path.unlink(missing_ok=True)


def merged_track(
    regions: Sequence[Region], values: np.ndarray, chrom_lengths: dict[str, int]
) -> Iterator[tuple[str, int, np.ndarray]]:
    """(chrom, start, per-base values) blocks in genome order, overlapping regions averaged.

    Regions are clipped to their chromosome; overlapping or touching regions form one block
    whose value at each base is the mean over the regions covering it.
    """
    order = sorted(range(len(regions)), key=lambda i: (regions[i].chrom, regions[i].start))
    index = 0
    while index < len(order):
        chrom = regions[order[index]].chrom
        size = chrom_lengths[chrom]
        group = [order[index]]
        block_end = min(regions[order[index]].end, size)
        index += 1
        while (
            index < len(order)
            and regions[order[index]].chrom == chrom
            and regions[order[index]].start <= block_end
        ):
            group.append(order[index])
            block_end = max(block_end, min(regions[order[index]].end, size))
            index += 1
        block_start = max(regions[group[0]].start, 0)
        total = np.zeros(block_end - block_start, dtype=np.float64)
        count = np.zeros(block_end - block_start, dtype=np.int64)
        for i in group:
            region = regions[i]
            lo, hi = max(region.start, 0), min(region.end, size)
            block = slice(lo - block_start, hi - block_start)
            total[block] += values[i, lo - region.start : hi - region.start]
            count[block] += 1
        covered = count > 0
        # Sorted by start and merged while overlapping, so every base of a block is covered.
        yield chrom, block_start, (total[covered] / count[covered]).astype(np.float64)


def write_bigwig(
    path: str | os.PathLike,
    regions: Sequence[Region],
    values: np.ndarray,
    chrom_lengths: dict[str, int],
) -> None:
    """Write per-base values (n, L) over ``regions`` as a bigWig (overlaps averaged)."""
    import pyBigWig

    used = sorted({region.chrom for region in regions})
    handle = pyBigWig.open(str(path), "w")
    try:
        handle.addHeader([(chrom, int(chrom_lengths[chrom])) for chrom in used])
        for chrom, start, block in merged_track(regions, values, chrom_lengths):
            handle.addEntries(chrom, int(start), values=block.tolist(), span=1, step=1)
    finally:
        handle.close()


def plot_region_logo(
    scores_dir: str | os.PathLike,
    region: str,
    out: str | os.PathLike | None = None,
    target: int | str | None = None,
) -> Path:
    """Logos of one scored region: actual contributions over hypothetical ones.

    Args:
        scores_dir: A directory written by :func:`score_regions`.
        region: The region's name (``regions.tsv``'s first column).
        out: PNG path; default ``scores_dir/logo.<region>.png``.
        target: Which head when several were scored (a task index, or a head name such as
            ``counts``); default the first.

    Raises:
        LiftGenomicsError: for a directory that is not a scoring output, an unknown region or an
            unscored target.
    """
    from liftgenomics.plots import plot_sequence_logos

    directory = Path(scores_dir)
    settings_path = directory / "score.json"
    table_path = directory / "regions.tsv"
    if not settings_path.is_file() or not table_path.is_file():
        raise LiftGenomicsError(
            f"{directory}: not a 'liftgenomics score' output (no score.json/regions.tsv)"
        )
    try:
        settings = json.loads(settings_path.read_text())
        heads = {str(h["name"]): str(h["files"]["hyp"]) for h in settings["heads"]}
        method, reference_text = str(settings["method"]), str(settings["references"])
    except (ValueError, KeyError, TypeError) as error:
        raise LiftGenomicsError(f"{settings_path}: not a valid score.json ({error})") from None
    if target is None:
        name = next(iter(heads))
    else:
        text = str(target)
        name = f"task{text}" if text.isdigit() else text
    if name not in heads:
        raise LiftGenomicsError(
            f"target {target} was not scored in {directory} (scored: {', '.join(heads)})"
        )
    index = _region_index(table_path, region)
    one_hot = read_npz_rows(directory / "ohe.npz", index, index + 1)[0]
    hyp = read_npz_rows(directory / heads[name], index, index + 1)[0]
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in region)
    out = directory / f"logo.{safe}.png" if out is None else Path(out)
    title = f"{region} — {method}, references {reference_text}, {name}"
    return plot_sequence_logos(
        one_hot, {method: hyp * one_hot}, out, title=title, hypothetical={method: hyp}
    )


def _region_index(table_path: Path, region: str) -> int:
    with open(table_path, encoding="utf-8") as handle:
        next(handle)
        for index, line in enumerate(handle):
            if line.split("\t", 1)[0] == region:
                return index
    raise LiftGenomicsError(f"{table_path}: no region named {region!r}")
