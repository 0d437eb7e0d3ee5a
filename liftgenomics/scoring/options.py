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

import math
from collections.abc import Sequence
from dataclasses import dataclass

from liftgenomics.attribution.engine import CPU_PAIRS_PER_BATCH
from liftgenomics.attribution.methods import METHODS
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.scoring.chunks import chunk_bounds
from liftgenomics.scoring.tracks import require_pybigwig

#: Regions per streamed chunk: few enough model checks per run, small enough for flat memory
#: (references are generated per batch inside the engine, so a chunk holds only X and scores).
DEFAULT_CHUNK_REGIONS = 2048
#: Default (sequence, reference) pairs per batch: the engine's on a CPU; on a GPU a fixed
#: number (not one sized to the free memory) so every chunk job batches alike.
GPU_PAIRS_PER_BATCH = 1024


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


def check_options(options: ScoreOptions) -> None:
    if options.method not in METHODS:
        raise LiftGenomicsError(
            f"unknown attribution method {options.method!r}; expected one of {', '.join(METHODS)}"
        )
    if options.method != "ism" and isinstance(options.references, str):
        from liftgenomics.genome.references import parse_reference_spec

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
        require_pybigwig()


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
    from liftgenomics.genome.references import parse_reference_spec

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
