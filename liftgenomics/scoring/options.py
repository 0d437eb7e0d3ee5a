"""The settings of a ``score`` run, their checks, and how its rows fall into batches and chunks.

:class:`ScoreOptions` holds every setting of :func:`~liftgenomics.scoring.pipeline.score_regions`
after the files (method, references, heads, control inputs, bigWig, padding, chunking, ...);
:func:`check_options` refuses bad combinations with one line before anything is read.

:func:`aligned_batch_size` picks the engine batch size (``--batch-size``, or a fixed default for
the device) and :func:`aligned_chunk_bounds` cuts ``--chunk i --chunks n`` on batch boundaries,
so every sequence is scored in the same batch in one process and in a chunked run: the gathered
chunks are byte-identical to the single run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from liftgenomics.attribution.batching import CPU_PAIRS_PER_BATCH
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
    """How :func:`~liftgenomics.scoring.pipeline.score_regions` explains and writes.

    These are every setting of a run after the files.

    Attributes:
        method, references, seed, batch_size, device, steps: As for
            :func:`~liftgenomics.attribution.attribute`.
        output, target, profile_or_counts: What is explained (see
            :mod:`liftgenomics.scoring.heads`).
        control: Extra model inputs (see :mod:`liftgenomics.genome.control`).
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
    from liftgenomics.attribution.batching import resolve_device
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
