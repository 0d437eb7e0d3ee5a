"""What ``liftgenomics variants`` writes, and ``gather-variants``' join of chunk parts.

An output directory holds:

- ``variants.tsv``: one row per scored variant: ``variant_id``, ``chr``, ``pos`` (1-based, as
  a VCF), ``allele1``, ``allele2``, ``flipped``, the scores of :mod:`.effects`, and for each
  tested score its empirical ``.pval`` and BH ``.qval`` against the pooled null;
- ``skipped.tsv``: the records not scored, with the reason;
- ``null.npz``: the pooled null's scores (reusable with ``--null`` by a run with the same
  model, window length, shuffles, seed and strands);
- ``variants.json``: the settings, counts and versions;
- with ``--attribute``: per head ``{head}.allele1.hyp.npz``, ``{head}.allele2.hyp.npz``,
  ``{head}.allele1.contrib.npz``, ``{head}.allele2.contrib.npz`` (N, 4, L),
  ``allele1.ohe.npz``/``allele2.ohe.npz`` (the windows), chrombpnet's variant SHAP layout
  ``{head}.variant_shap.h5``, and with ``--logos K`` ``logo.{head}.{rank}.{id}.png`` for the K
  variants with the largest tested score.

A part directory (``--chunk i --chunks n``) holds its rows of the same arrays, its
``part.tsv``/``scores.npz``/``null.part.npz`` and ``part.json``; p- and q-values need every
variant and the whole null, so only :func:`gather_variants` computes them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import liftgenomics
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.io import output_errors
from liftgenomics.locks import output_lock
from liftgenomics.scoring.writers import NpzStreamWriter, Staging, read_npz_rows
from liftgenomics.variants.attributions import plot_allele_logos
from liftgenomics.variants.effects import tested_columns
from liftgenomics.variants.null import pvalue_columns, read_null, write_null
from liftgenomics.variants.records import Skipped, Variant
from liftgenomics.variants.shap_h5 import write_variant_shap_h5

IDENTITY = ("variant_id", "chr", "pos", "allele1", "allele2", "flipped")
ALLELE_ARRAYS = ("allele1.hyp", "allele2.hyp", "allele1.contrib", "allele2.contrib")
PART_FILES = ("part.json", "part.tsv", "scores.npz", "skipped.tsv")
#: Every file name a ``variants`` run or part writes in its directory.
OUTPUT_NAME = re.compile(
    r"variants\.tsv|skipped\.tsv|variants\.json|null(\.part)?\.npz|part\.json|part\.tsv"
    r"|scores\.npz|allele[12]\.ohe\.npz|.+\.allele[12]\.(hyp|contrib)\.npz"
    r"|.+\.variant_shap\.h5|logo\..+\.png"
)
#: Rows per block when gathering attribution arrays.
GATHER_ROWS = 1024


@dataclass
class Part:
    """The scored rows [first, first + len(variants)) of the checked variants."""

    first: int
    variants: list[Variant]
    flipped: list[bool]
    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)
    null_blocks: dict[str, list[np.ndarray]] = field(default_factory=dict)
    null: dict[str, np.ndarray] | None = None
    skipped: list[Skipped] = field(default_factory=list)
    attributions: dict[str, Path] = field(default_factory=dict)

    def add_scores(self, columns: dict[str, np.ndarray]) -> None:
        for name, values in columns.items():
            self.columns.setdefault(name, []).append(np.asarray(values, dtype=np.float64))

    def add_null(self, columns: dict[str, np.ndarray]) -> None:
        for name, values in columns.items():
            self.null_blocks.setdefault(name, []).append(np.asarray(values, dtype=np.float64))

    def score_columns(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(blocks) for name, blocks in self.columns.items()}

    def null_columns(self) -> dict[str, np.ndarray] | None:
        if self.null is not None:
            return self.null
        if not self.null_blocks:
            return None
        return {name: np.concatenate(blocks) for name, blocks in self.null_blocks.items()}


@dataclass(frozen=True)
class RunSettings:
    """What ``variants.json`` records; equal in every part of one run."""

    settings: dict

    @classmethod
    def of(cls, model, fasta_path, variants_path, options, length, heads, read, null):
        fields = dataclasses.asdict(options)
        for name in ("chunk", "chunks", "progress"):
            fields.pop(name)
        return cls(
            {
                "fasta": str(fasta_path),
                "variants": str(variants_path),
                "model": getattr(model, "architecture", None) or type(model).__name__,
                "model_sha256": model_hash(model),
                "length": length,
                "options": fields,
                "heads": [{"name": h.name, "output": h.output, "target": h.target} for h in heads],
                "records_read": read,
                "null_given": null is not None,
                "versions": {
                    "liftgenomics": liftgenomics.__version__,
                    "torch": torch.__version__,
                    "numpy": np.__version__,
                },
            }
        )


def is_variant_output(name: str) -> bool:
    """Whether ``name`` is a file that ``variants`` (or ``gather-variants``) writes."""
    return OUTPUT_NAME.fullmatch(name) is not None


def remove_earlier_outputs(directory: Path, written: dict[str, Path]) -> None:
    """Remove the files an earlier run left in ``directory`` that this run did not write (a
    rerun with other settings never leaves a stale null or attributions beside its table)."""
    kept = {path.name for path in written.values()}
    for path in directory.iterdir():
        if path.is_file() and path.name not in kept and is_variant_output(path.name):
            path.unlink()


def model_hash(model) -> str:
    """SHA-256 over the model's state (names, dtypes, shapes and bytes, in name order)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def null_meta(model, options, length: int) -> dict:
    """The settings a null is valid for."""
    return {
        "model_hash": model_hash(model),
        "length": length,
        "n_shuffles": options.n_shuffles,
        "seed": options.seed,
        "forward_only": options.forward_only,
        "output": options.output,
    }


class AttributionWriters:
    """Streamed ``.npz`` files of both alleles' attributions (and windows) per head."""

    def __init__(self, staging: Staging, heads, n: int, length: int) -> None:
        self.paths: dict[str, Path] = {}
        self.writers: dict[str, NpzStreamWriter] = {}
        if not heads:
            return
        names = ["allele1.ohe", "allele2.ohe"]
        names += [f"{head.name}.{kind}" for head in heads for kind in ALLELE_ARRAYS]
        for name in names:
            self.paths[name] = staging.path(f"{name}.npz")
            self.writers[name] = NpzStreamWriter(self.paths[name], (n, 4, length))

    def append(self, head, X1, X2, result) -> None:
        if "allele1.ohe" in self.writers and self._first_head(head):
            self.writers["allele1.ohe"].append(X1)
            self.writers["allele2.ohe"].append(X2)
        arrays = (result.hyp1, result.hyp2, result.contrib1, result.contrib2)
        for kind, array in zip(ALLELE_ARRAYS, arrays, strict=True):
            self.writers[f"{head.name}.{kind}"].append(array)

    def _first_head(self, head) -> bool:
        first = next(name for name in self.writers if name.endswith(".allele1.hyp"))
        return first == f"{head.name}.allele1.hyp"

    def close(self) -> dict[str, Path]:
        for writer in self.writers.values():
            writer.close()
        return dict(self.paths)


# --- the final outputs ----------------------------------------------------------------------


def finish(staging: Staging, part: Part, run: RunSettings, logos: int) -> dict[str, Path]:
    """Write the final outputs of all variants (``part`` holds every row)."""
    columns = part.score_columns()
    null = part.null_columns()
    tested = tested_columns(list(columns))
    pvalues = pvalue_columns(columns, null, tested) if null is not None and tested else {}
    out = staging.directory
    written = {"table": out / "variants.tsv", "skipped": out / "skipped.tsv"}
    _write_table(staging.path("variants.tsv"), part, {**columns, **pvalues})
    _write_skipped(staging.path("skipped.tsv"), part.skipped)
    if null is not None:
        meta = {**run.settings["options"], "model_hash": run.settings["model_sha256"],
                "length": run.settings["length"]}  # fmt: skip
        write_null(staging.path("null.npz"), null, meta)
        written["null"] = out / "null.npz"
    heads = [head["name"] for head in run.settings["heads"]]
    for head in heads:
        name = f"{head}.variant_shap.h5"
        write_variant_shap_h5(
            staging.path(name),
            [variant.id for variant in part.variants],
            *(np.load(part.attributions[f"{head}.{kind}"])["arr_0"]
              for kind in ("allele1.contrib", "allele2.contrib")),
            np.load(part.attributions["allele1.ohe"])["arr_0"],
            np.load(part.attributions["allele2.ohe"])["arr_0"],
            *(np.load(part.attributions[f"{head}.{kind}"])["arr_0"]
              for kind in ("allele1.hyp", "allele2.hyp")),
        )  # fmt: skip
        written[name] = out / name
    if logos and heads:
        written |= _write_logos(staging, part, columns, tested, heads, logos)
    for name in part.attributions:
        written[name] = out / f"{name}.npz"
    summary = {
        **run.settings,
        "variants_scored": len(part.variants),
        "variants_skipped": len(part.skipped),
        "columns": list(columns) + list(pvalues),
        "null_size": 0 if null is None else int(len(next(iter(null.values())))),
    }
    staging.path("variants.json").write_text(json.dumps(summary, indent=2) + "\n")
    written["settings"] = out / "variants.json"
    return written


def _format(value: float) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.6g}"


def _write_table(path: Path, part: Part, columns: dict[str, np.ndarray]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\t".join([*IDENTITY, *columns]) + "\n")
        for i, variant in enumerate(part.variants):
            fields = [variant.id, variant.chrom, str(variant.pos + 1), variant.allele1,
                      variant.allele2, "true" if part.flipped[i] else "false"]  # fmt: skip
            fields += [_format(float(values[i])) for values in columns.values()]
            handle.write("\t".join(fields) + "\n")


def _write_skipped(path: Path, skipped: list[Skipped]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("variant_id\tchr\tpos\tallele1\tallele2\tsource\treason\n")
        for row in skipped:
            v = row.variant
            fields = [v.id, v.chrom, str(v.pos + 1), v.allele1, v.allele2, v.source, row.reason]
            handle.write("\t".join(fields) + "\n")


def _write_logos(staging, part, columns, tested, heads, count) -> dict[str, Path]:
    """Ref-over-alt logos of the ``count`` variants with the largest first tested score."""
    key = tested[0] if tested else next(iter(columns))
    values = np.nan_to_num(np.abs(columns[key]), nan=-np.inf)
    order = np.argsort(-values, kind="stable")[:count]
    written = {}
    for head in heads:
        for rank, row in enumerate(order, start=1):
            variant = part.variants[int(row)]
            contrib = [
                read_npz_rows(part.attributions[f"{head}.{kind}"], int(row), int(row) + 1)[0]
                for kind in ("allele1.contrib", "allele2.contrib")
            ]
            safe = re.sub(r"[^A-Za-z0-9_.:-]", "_", variant.id)[:80]
            name = f"logo.{head}.{rank}.{safe}.png"
            title = f"{variant.id} {head} ({key} {_format(float(columns[key][row]))})"
            plot_allele_logos(staging.path(name), *contrib, variant, title=title)
            written[name] = staging.directory / name
    return written


# --- chunk parts and their gathering ---------------------------------------------------------


def write_part(staging: Staging, part: Part, run: RunSettings, chunk: int) -> dict[str, Path]:
    """Write one chunk's rows, null scores and settings for :func:`gather_variants`."""
    out = staging.directory
    with open(staging.path("part.tsv"), "w", encoding="utf-8") as handle:
        for variant, flipped in zip(part.variants, part.flipped, strict=True):
            fields = [variant.id, variant.chrom, str(variant.pos), variant.allele1,
                      variant.allele2, "1" if flipped else "0", variant.source]  # fmt: skip
            handle.write("\t".join(fields) + "\n")
    with open(staging.path("scores.npz"), "wb") as handle:
        np.savez(handle, **part.score_columns())
    null = part.null_columns()
    if null is not None and part.null is None:
        write_null(staging.path("null.part.npz"), null, {"model_hash": run.settings[
            "model_sha256"], "length": run.settings["length"], "n_shuffles": run.settings[
            "options"]["n_shuffles"], "seed": run.settings["options"]["seed"]})  # fmt: skip
    _write_skipped(staging.path("skipped.tsv"), part.skipped)
    description = {"run": run.settings, "chunk": chunk, "first": part.first,
                   "rows": len(part.variants)}  # fmt: skip
    staging.path("part.json").write_text(json.dumps(description, indent=2) + "\n")
    written = {name: out / name for name in PART_FILES}
    if null is not None and part.null is None:
        written["null.part.npz"] = out / "null.part.npz"
    return written | {name: out / f"{name}.npz" for name in part.attributions}


def gather_variants(
    parts: list[str | os.PathLike], out_dir: str | os.PathLike, logos: int = 0
) -> dict[str, Path]:
    """Join chunk part directories (in chunk order) into the outputs one process writes."""
    directories = [Path(p) for p in parts]
    descriptions = [_read_part_json(d) for d in directories]
    _check_parts(directories, descriptions)
    run = RunSettings(descriptions[0]["run"])
    part = Part(first=0, variants=[], flipped=[])
    for directory in directories:
        _read_part_rows(directory, part)
    part.skipped = _read_skipped(directories[0] / "skipped.tsv")
    if run.settings["null_given"]:
        part.null, _ = read_null(Path(run.settings["options"]["null"]))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with output_errors(out), output_lock(out):
        staging = Staging(out)
        staging.remove_stale(is_variant_output)
        try:
            part.attributions = _concatenate_attributions(staging, directories)
            written = finish(staging, part, run, logos)
            staging.commit()
            remove_earlier_outputs(out, written)
        except BaseException:
            staging.discard()
            raise
    return written


def _read_part_json(directory: Path) -> dict:
    path = directory / "part.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LiftGenomicsError(f"{directory}: not a variants part (no part.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LiftGenomicsError(f"{path}: unreadable part settings ({error})") from None


def _check_parts(directories: list[Path], descriptions: list[dict]) -> None:
    if not directories:
        raise LiftGenomicsError("gather-variants: no part directories given")
    expected = 0
    for directory, description in zip(directories, descriptions, strict=True):
        if description.get("run") != descriptions[0].get("run"):
            raise LiftGenomicsError(f"{directory}: scored with other settings than the first part")
        if description.get("chunk") != directories.index(directory):
            raise LiftGenomicsError(
                f"{directory}: chunk {description.get('chunk')}, expected chunk "
                f"{directories.index(directory)} (give the parts in chunk order, all of them)"
            )
        if description.get("first") != expected:
            raise LiftGenomicsError(f"{directory}: starts at row {description.get('first')}, "
                                    f"expected {expected}")  # fmt: skip
        expected += int(description["rows"])


def _read_part_rows(directory: Path, part: Part) -> None:
    for line in (directory / "part.tsv").read_text(encoding="utf-8").splitlines():
        vid, chrom, pos, allele1, allele2, flipped, source = line.split("\t")
        part.variants.append(Variant(chrom, int(pos), allele1, allele2, vid, source))
        part.flipped.append(flipped == "1")
    with np.load(directory / "scores.npz") as scores:
        part.add_scores({name: scores[name] for name in scores.files})
    if (directory / "null.part.npz").is_file():
        columns, _ = read_null(directory / "null.part.npz")
        part.add_null(columns)


def _read_skipped(path: Path) -> list[Skipped]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        vid, chrom, pos, allele1, allele2, source, reason = line.split("\t")
        rows.append(Skipped(Variant(chrom, int(pos) - 1, allele1, allele2, vid, source), reason))
    return rows


def _concatenate_attributions(staging: Staging, directories: list[Path]) -> dict[str, Path]:
    names = sorted(p.name[: -len(".npz")] for p in directories[0].glob("*.npz")
                   if p.name not in ("scores.npz", "null.part.npz", "null.npz"))  # fmt: skip
    paths = {}
    rows = [_part_rows(d) for d in directories]
    for name in names:
        sources = [d / f"{name}.npz" for d in directories]
        trailing = _npz_shape(sources[0])[1:]
        paths[name] = staging.path(f"{name}.npz")
        writer = NpzStreamWriter(paths[name], (sum(rows), *trailing))
        for source, count in zip(sources, rows, strict=True):
            for start in range(0, count, GATHER_ROWS):
                writer.append(read_npz_rows(source, start, min(start + GATHER_ROWS, count)))
        writer.close()
    return paths


def _npz_shape(path: Path) -> tuple[int, ...]:
    """The shape of an ``.npz`` file's single array, from its header (the array may be empty)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, _ = read_header(handle)
    except (OSError, ValueError, IndexError, zipfile.BadZipFile) as error:
        raise LiftGenomicsError(f"{path}: not a readable .npz array ({error})") from None
    return tuple(shape)


def _part_rows(directory: Path) -> int:
    return int(_read_part_json(directory)["rows"])
