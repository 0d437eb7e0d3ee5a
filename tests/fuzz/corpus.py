"""The fuzzed readers: for each, valid seed files and how one seeded case is made and read.

:data:`READERS` maps a reader's name to a :class:`Reader` whose ``case(rng, workdir)`` writes
one mutated input into ``workdir`` and returns the call that reads it (and, where cheap, uses
what it read: encodes the sequences, runs the model on zeros). ``tests/fuzz`` runs a few dozen
cases per reader through hypothesis; ``benchmarks/fuzz.py`` runs thousands. Seed files are
built once per process in a temporary folder.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import json
import random
import shutil
import sys
import tempfile
import textwrap
import types
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liftgenomics.errors import LiftGenomicsError
from tests.fuzz import mutations
from tests.fuzz.mutations import BYTE_MUTATORS, TEXT_MUTATORS
from tests.models.test_factory import MODELS_PY  # the factory tests' tiny models.py

ROOT = Path(__file__).resolve().parents[2]
CHROMBPNET_FIXTURES = ROOT / "tests" / "data" / "chrombpnet"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
LENGTH = 40  # input length of the factory model below


@dataclass(frozen=True)
class Reader:
    """A fuzzed reader: its family (the test module) and how to make one case."""

    name: str
    family: str
    case: Callable[[random.Random, Path], Callable[[], Any]]


@functools.cache
def seeds() -> Path:
    """The per-process folder of seed files."""
    folder = Path(tempfile.mkdtemp(prefix="liftgenomics-fuzz-seeds-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


class Unmutated(random.Random):
    """A generator that makes a reader's case its valid seed, unmutated."""

    unmutated = True


def _unmutated(rng: random.Random) -> bool:
    return getattr(rng, "unmutated", False)


def mutate_bytes(data: bytes, rng: random.Random, text: bool = True) -> bytes:
    """One or two mutations (text-aware ones for text formats); now and then none at all."""
    if _unmutated(rng) or rng.random() < 0.04:
        return data
    mutators = BYTE_MUTATORS + (TEXT_MUTATORS * 2 if text else ())
    for _ in range(1 if rng.random() < 0.8 else 2):
        data = rng.choice(mutators)(data, rng)
    return data


def mutate_tree(tree: Any, rng: random.Random) -> Any:
    return tree if _unmutated(rng) else mutations.mutate_tree(tree, rng)


def mutate_array(array: np.ndarray, rng: random.Random) -> np.ndarray:
    return array if _unmutated(rng) else mutations.mutate_array(array, rng)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- genome


def _random_dna(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("ACGT"), n))


@functools.cache
def sequences_fasta() -> bytes:
    """Records to score: equal lengths, soft-masked runs, N, two lines per record."""
    rng = np.random.default_rng(0)
    records = []
    for index in range(3):
        sequence = _random_dna(rng, LENGTH)
        sequence = sequence[:10] + sequence[10:18].lower() + "N" + sequence[19:]
        records.append(f">seq{index} description {index}\n{sequence[:25]}\n{sequence[25:]}\n")
    return "".join(records).encode()


@functools.cache
def genome_fasta() -> Path:
    rng = np.random.default_rng(1)
    text = ">chr1\n" + textwrap.fill(_random_dna(rng, 300), 60) + "\n"
    text += ">chr2 second\n" + textwrap.fill(_random_dna(rng, 150).lower(), 60) + "\n"
    return write(seeds() / "genome.fa", text.encode())


BED = b"track name=peaks\nbrowser position chr1:1-100\n# intervals\nchr1\t10\t90\tp1\t0\t+\nchr1\t100\t200\tp2\t5\t-\nchr2\t20\t140\t.\t0\t.\n"  # noqa: E501
NARROWPEAK = b"chr1\t10\t90\tp1\t0\t.\t1.5\t2\t3\t40\nchr1\t150\t290\tp2\t0\t.\t1\t1\t1\t-1\nchr2\t0\t150\tp3\t0\t+\t1\t1\t1\t75\n"  # noqa: E501


def _fasta_case(rng, workdir):
    from liftgenomics.genome.sequence import one_hot_encode, read_fasta

    path = write(workdir / "in.fa", mutate_bytes(sequences_fasta(), rng))

    def read():
        for name, sequence in read_fasta(path):
            one_hot_encode(sequence, name)

    return read


def _pyfaidx_case(rng, workdir):
    from liftgenomics.genome.regions import fetch_one_hot, open_fasta, plan_regions

    path = write(workdir / "in.fa", mutate_bytes(sequences_fasta(), rng))

    def read():
        fasta = open_fasta(path)
        try:
            plan = plan_regions(fasta, None, None)
            fetch_one_hot(fasta, plan.regions, plan.length)
        finally:
            fasta.close()

    return read


def _bed_case(seed: bytes, suffix: str):
    def case(rng, workdir):
        from liftgenomics.genome.regions import fetch_one_hot, open_fasta, plan_regions

        fasta_path = workdir / "genome.fa"
        shutil.copy(genome_fasta(), fasta_path)
        bed = write(workdir / f"in{suffix}", mutate_bytes(seed, rng))
        pad = rng.random() < 0.5

        def read():
            fasta = open_fasta(fasta_path)
            try:
                plan = plan_regions(fasta, bed, 64, pad=pad)
                fetch_one_hot(fasta, plan.regions, plan.length)
            finally:
                fasta.close()

        return read

    return case


@functools.cache
def variant_seeds() -> tuple[bytes, bytes]:
    """A VCF and a chrombpnet-layout table on :func:`genome_fasta`: SNPs with the genome's REF,
    an insertion, a deletion, a multi-allelic record, a REF mismatch, a symbolic ALT."""
    from liftgenomics.genome.sequence import read_fasta

    genome = {name.split()[0]: seq.upper() for name, seq in read_fasta(genome_fasta())}
    rows = [("chr1", 40, "a", genome["chr1"][39], "G"), ("chr1", 80, "b", genome["chr1"][79], "T"),
            ("chr1", 120, "ins", genome["chr1"][119], genome["chr1"][119] + "AC"),
            ("chr1", 160, "del", genome["chr1"][159:162], genome["chr1"][159]),
            ("chr2", 60, "multi", genome["chr2"][59], "A,C"), ("chr2", 90, "bad", "N", "A"),
            ("chr2", 100, "sym", genome["chr2"][99], "<DEL>")]  # fmt: skip
    vcf = "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=300>\n##contig=<ID=chr2,length=150>\n"
    vcf += "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    vcf += "".join(f"{c}\t{p}\t{i}\t{r}\t{a}\t.\t.\t.\n" for c, p, i, r, a in rows)
    table = "".join(f"{c}\t{p}\t{r}\t{a.split(',')[0]}\t{i}\n" for c, p, i, r, a in rows[:5])
    return vcf.encode(), table.encode()


def _variants_case(schema: str | None):
    def case(rng, workdir):
        from liftgenomics.genome.regions import chromosome_lengths, open_fasta
        from liftgenomics.variants.records import read_variants
        from liftgenomics.variants.windows import allele_windows, null_windows, plan_variants

        fasta_path = workdir / "genome.fa"
        shutil.copy(genome_fasta(), fasta_path)
        vcf, table = variant_seeds()
        source = write(workdir / ("in.vcf" if schema is None else "in.tsv"),
                       mutate_bytes(vcf if schema is None else table, rng))  # fmt: skip
        policy = rng.choice(["skip", "flip", "error"])

        def read():
            fasta = open_fasta(fasta_path)
            try:
                found, _ = read_variants(source, schema, set(chromosome_lengths(fasta)))
                plan = plan_variants(fasta, found, 40, policy)
                allele_windows(fasta, plan.variants, 40)
                null_windows(fasta, plan.variants, 40, 2, 0)
            finally:
                fasta.close()

        return read

    return case


def _array_file(array: np.ndarray, rng: random.Random, path: Path) -> Path:
    """``array`` saved to ``path`` (.npy or .npz), then mutated as an array or as bytes."""
    if rng.random() < 0.5:
        array = mutate_array(array, rng)
    buffer = io.BytesIO()
    if path.suffix == ".npy":
        np.save(buffer, array)
    else:
        np.savez_compressed(buffer, array)
    data = buffer.getvalue()
    if rng.random() < 0.5:
        data = mutate_bytes(data, rng, text=False)
    return write(path, data)


def _control_case(rng, workdir):
    from liftgenomics.genome.control import open_extra_inputs
    from liftgenomics.genome.regions import Region

    n, length = 3, 20
    array = np.random.default_rng(2).random((n, 2, length)).astype(np.float32)
    if not _unmutated(rng) and rng.random() < 0.1:
        array = array.astype(object)  # a pickled object array: must be refused unread
    path = _array_file(array, rng, workdir / rng.choice(["ctl.npy", "ctl.npz"]))
    model = types.SimpleNamespace(n_control_tracks=2)
    regions = [Region(f"r{i}", "chr1", i, i + length) for i in range(n)]

    def read():
        source = open_extra_inputs(str(path), model, n)
        source.rows(regions, 0, length)

    return read


def _one_hot(n: int = 4, length: int = 30, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()


def _load_one_hot_case(rng, workdir):
    from liftgenomics.genome.sequence import load_one_hot

    path = _array_file(_one_hot(), rng, workdir / "ohe.npz")
    return lambda: load_one_hot(path)


# --------------------------------------------------------------------------- motifs


@functools.cache
def meme_text() -> bytes:
    from liftgenomics.motifs.meme import format_meme
    from liftgenomics.motifs.pwm import Motif

    rng = np.random.default_rng(4)
    motifs = [
        Motif(f"M{i}", rng.dirichlet(np.ones(4), size=6 + i), f"alt name {i}") for i in range(3)
    ]
    text = format_meme(motifs)
    text += "MOTIF M8\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n\n"
    text += "log-odds matrix: alength= 4 w= 1\n 1 2 3 4\n\n"
    text += "MOTIF M9\nletter-probability matrix:\n0.25 0.25 0.25 0.25\n0.1 0.2 0.3 0.4\nURL x\n"
    return text.encode()


def _meme_case(rng, workdir):
    from liftgenomics.motifs.meme import read_meme

    path = write(workdir / "motifs.meme", mutate_bytes(meme_text(), rng))
    return lambda: read_meme(path)


def _discovery_inputs_case(rng, workdir):
    from liftgenomics.motifs.discovery import load_inputs

    one_hot = _one_hot()
    hyp = np.random.default_rng(5).normal(size=one_hot.shape).astype(np.float32)
    ohe_path, hyp_path = workdir / "ohe.npz", workdir / "hyp.npz"
    mutated, kept = (ohe_path, hyp_path) if rng.random() < 0.5 else (hyp_path, ohe_path)
    _array_file(one_hot if mutated == ohe_path else hyp, rng, mutated)
    np.savez_compressed(kept, one_hot if kept == ohe_path else hyp)
    return lambda: load_inputs(ohe_path, hyp_path)


@functools.cache
def motifs_run() -> Path:
    """A small 'liftgenomics motifs' output directory and a simulation directory to grade it
    against (the tables as the pipeline writes them)."""
    import pandas as pd
    import yaml

    root = seeds() / "grading"
    run, simulation = root / "run", root / "simulation"
    run.mkdir(parents=True)
    simulation.mkdir()
    pd.DataFrame({"pattern": ["pos_0", "pos_1"], "rank": [1, 2], "n_seqlets": [3, 2]}).to_csv(
        run / "patterns.tsv", sep="\t", index=False
    )
    pd.DataFrame(
        {"pattern": ["pos_0"] * 3 + ["pos_1"] * 2, "region": ["s0", "s1", "s2", "s0", "s3"],
         "start": [10, 20, 30, 50, 60], "end": [18, 28, 38, 58, 68],
         "strand": ["+", "-", "+", "+", "-"]}
    ).to_csv(run / "seqlets.tsv", sep="\t", index=False)  # fmt: skip
    pd.DataFrame(
        {"pattern": ["pos_0", "pos_1"], "target": ["GATA_disc1", "TAL1_known1"],
         "p_value": [1e-5, 1e-3], "q_value": [1e-4, 1e-2], "match_rank": [1, 1]}
    ).to_csv(run / "tomtom.tsv", sep="\t", index=False)  # fmt: skip
    settings = {"motifs": ["GATA_disc1", "TAL1_known1"],
                "classes": {"both": {"motifs": ["GATA_disc1", "TAL1_known1"], "weight": 1},
                            "neither": {"motifs": [], "weight": 1}},
                "tasks": {"task0": ["GATA_disc1", "TAL1_known1"]}}  # fmt: skip
    (simulation / "simulation.yaml").write_text(yaml.safe_dump(settings))
    pd.DataFrame({"id": ["s0", "s1", "s2", "s3"], "class": ["both", "both", "neither", "both"]}
                 ).to_csv(simulation / "test.classes.tsv", sep="\t", index=False)  # fmt: skip
    pd.DataFrame(
        {"id": ["s0", "s1", "s3"], "motif": ["GATA_disc1", "TAL1_known1", "GATA_disc1"],
         "start": [10, 20, 60], "end": [18, 28, 68], "strand": ["+", "+", "-"]}
    ).to_csv(simulation / "test.motifs.tsv", sep="\t", index=False)  # fmt: skip
    return root


GRADING_FILES = ("run/patterns.tsv", "run/seqlets.tsv", "run/tomtom.tsv",
                 "simulation/simulation.yaml", "simulation/test.classes.tsv",
                 "simulation/test.motifs.tsv")  # fmt: skip


def _grading_case(rng, workdir):
    from liftgenomics.motifs.grading import discovery_table

    root = workdir / "grading"
    shutil.copytree(motifs_run(), root)
    target = root / rng.choice(GRADING_FILES)
    target.write_bytes(mutate_bytes(target.read_bytes(), rng))
    return lambda: discovery_table(root / "simulation", {("m", "flat", 0): root / "run"})


# --------------------------------------------------------------------------- configs


def _yaml_or_tree(tree: Any, rng: random.Random) -> bytes:
    """``tree`` as YAML, mutated as a tree or as text."""
    import yaml

    if rng.random() < 0.5:
        return yaml.safe_dump(mutate_tree(tree, rng), allow_unicode=True).encode()
    return mutate_bytes(yaml.safe_dump(tree, sort_keys=False).encode(), rng)


def _simulation_config_case(rng, workdir):
    from liftgenomics.paper.simulation_config import (
        default_simulation_config,
        load_simulation_config,
    )

    tree = default_simulation_config()
    if not _unmutated(rng) and rng.random() < 0.3:
        tree = {"simulation": {"n_sequences": 100, "length": 50}, "training": {"epochs": 1}}
    path = write(workdir / "simulation.yaml", _yaml_or_tree(tree, rng))
    return lambda: load_simulation_config(path)


@functools.cache
def workflow_config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def _workflow_schema_case(rng, workdir):
    import yaml

    path = write(workdir / "config.yaml", _yaml_or_tree(workflow_config(), rng))

    def read():
        from snakemake.exceptions import WorkflowError
        from snakemake.utils import validate

        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise LiftGenomicsError(f"{path}: invalid YAML ({type(error).__name__})") from None
        try:
            validate(config if config is not None else {}, str(SCHEMA))
        except WorkflowError as error:
            # Snakemake prints its own (several-line) message; the refusal is what counts.
            raise LiftGenomicsError(f"{path}: {str(error).splitlines()[0]}") from None

    return read


# --------------------------------------------------------------------------- models



@functools.cache
def factory_model() -> tuple[Path, Path, Path]:
    """models.py (factory ``make``) and its weights as .safetensors and .pt."""
    import torch
    from safetensors.torch import save_file

    folder = seeds() / "factory"
    folder.mkdir()
    models_py = folder / "models.py"
    models_py.write_text(MODELS_PY)
    torch.manual_seed(0)
    state = {"conv.weight": torch.randn(3, 4, 5), "conv.bias": torch.randn(3),
             "dense.weight": torch.randn(2, 3), "dense.bias": torch.randn(2)}  # fmt: skip
    save_file(state, str(folder / "w.safetensors"))
    torch.save(state, folder / "w.pt")
    return models_py, folder / "w.safetensors", folder / "w.pt"


def run_model(model) -> None:
    """Probe a loaded model as ``score`` does (zeros of its input length, when it records one;
    zero control tracks when it takes them)."""
    from liftgenomics.models.factory import check_input_length

    length = getattr(model, "input_length", None)
    if length is None:
        return
    controls = int(getattr(model, "n_control_tracks", 0) or 0)
    extra = (np.zeros((1, controls, int(length)), dtype=np.float32),) if controls else ()
    check_input_length(model, int(length), extra)


SPECS = ("models.py:make", "pkg.module:factory", "chrombpnet:model.h5", "keras:arch.json",
         "bpnet-lite:model.torch", "results/model", "C:\\models\\x.py:make", "a:b:c")  # fmt: skip


def _spec_case(rng, workdir):
    from liftgenomics.models.spec import parse_model_spec

    # The valid seed is a spec that parses ("a:b:c" is there to be refused).
    spec = SPECS[0] if _unmutated(rng) else rng.choice(SPECS)
    text = mutate_bytes(spec.encode(), rng).decode("utf-8", errors="replace")
    text = text.replace("\x00", "")  # argv cannot hold NUL
    return lambda: parse_model_spec(text)


def _model_args_case(rng, workdir):
    from liftgenomics.models.factory import build_factory_model
    from liftgenomics.models.spec import ModelSpec

    models_py, _, _ = factory_model()
    args = {"n_filters": 3, "n_tasks": 2}
    if rng.random() < 0.5:
        text = json.dumps(mutate_tree(args, rng))
    else:
        text = mutate_bytes(json.dumps(args).encode(), rng).decode("utf-8", errors="replace")
    text = text.replace("\x00", "")

    def read():
        model = build_factory_model(ModelSpec("file", str(models_py), "make"), model_args=text)
        run_model(model)

    return read


def _zip_member_mutation(data: bytes, rng: random.Random) -> bytes:
    """Rewrite one member of a zip (torch.save's format) mutated, the zip itself kept valid."""
    source = zipfile.ZipFile(io.BytesIO(data))
    names = source.namelist()
    pickles = [name for name in names if name.endswith(".pkl")]
    target = rng.choice(pickles) if pickles and rng.random() < 0.6 else rng.choice(names)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name in names:
            member = source.read(name)
            if name == target:
                member = mutate_bytes(member, rng, text=not name.endswith(".pkl"))
            archive.writestr(name, member)
    return out.getvalue()


def _mutate_torch_zip(data: bytes, rng: random.Random) -> bytes:
    if not _unmutated(rng) and rng.random() < 0.6:
        return _zip_member_mutation(data, rng)
    return mutate_bytes(data, rng, text=False)


def _state_case(rng, workdir):
    import torch
    from safetensors.torch import save as save_safetensors

    from liftgenomics.models.factory import build_factory_model
    from liftgenomics.models.spec import ModelSpec

    models_py, safetensors_path, pt_path = factory_model()
    kind = rng.choice([".safetensors", ".pt"])
    path = workdir / f"w{kind}"
    if not _unmutated(rng) and rng.random() < 0.3:  # a well-formed file of wrong tensors
        state = dict(torch.load(pt_path, weights_only=True))
        key = rng.choice(sorted(state))
        value = mutate_array(state[key].numpy(), rng)
        if value.dtype.kind not in "biufc":  # torch holds no strings or dates
            value = value.view(np.uint8) if value.dtype.itemsize else value.astype(np.int8)
        value = value.astype(value.dtype.newbyteorder("="))  # nor another byte order
        state[key] = torch.from_numpy(np.ascontiguousarray(value))
        if rng.random() < 0.3:
            state[rng.choice(["extra", "conv.weight"])] = torch.zeros(rng.randint(0, 3))
        if kind == ".pt":
            buffer = io.BytesIO()
            torch.save(state if rng.random() < 0.8 else {"state_dict": state}, buffer)
            data = buffer.getvalue()
        else:
            data = save_safetensors({k: v.contiguous() for k, v in state.items()})
    elif kind == ".pt":
        data = _mutate_torch_zip(pt_path.read_bytes(), rng)
    else:
        data = mutate_bytes(safetensors_path.read_bytes(), rng, text=rng.random() < 0.3)
    write(path, data)

    def read():
        model = build_factory_model(ModelSpec("file", str(models_py), "make"), weights=path)
        run_model(model)

    return read


def mutate_h5(path: Path, rng: random.Random) -> None:
    """Edit an HDF5 file in place: a dataset deleted, re-typed, re-shaped, or an attribute
    (a JSON config among them) mutated."""
    import h5py

    with h5py.File(path, "a") as h5:
        datasets: list[str] = []
        h5.visititems(lambda name, node: datasets.append(name) if isinstance(node, h5py.Dataset)
                      else None)  # fmt: skip
        action = rng.random()
        if action < 0.2 and datasets:
            del h5[rng.choice(datasets)]
        elif action < 0.6 and datasets:
            name = rng.choice(datasets)
            data = h5[name][()]
            del h5[name]
            value = mutate_array(np.asarray(data), rng)
            if value.dtype.kind in "UM":
                value = value.astype("S")
            h5.create_dataset(name, data=value)
        else:
            holders = [h5] + [h5[name] for name in datasets]
            h5.visititems(lambda name, node: holders.append(node))
            holder = rng.choice([node for node in holders if len(node.attrs)] or [h5])
            key = rng.choice(list(holder.attrs) or ["x"])
            value = holder.attrs.get(key, b"")
            if isinstance(value, bytes | str) and str(value).lstrip("b'\"").startswith("{"):
                text = value.decode() if isinstance(value, bytes) else value
                try:
                    tree = mutate_tree(json.loads(text), rng)
                    holder.attrs[key] = json.dumps(tree, allow_nan=True).encode()
                except (ValueError, RecursionError):
                    holder.attrs[key] = mutate_bytes(text.encode(), rng)
            elif isinstance(value, np.ndarray) and value.size:
                mutated = mutate_array(value, rng)
                holder.attrs[key] = mutated.astype("S") if mutated.dtype.kind in "UMO" else mutated
            else:
                holder.attrs[key] = rng.choice([b"\xff\xfe", np.array([1, 2]), b"", 3.5])


def _h5_case(seed_path: Callable[[], Path], read: Callable[[Path], Any]):
    def case(rng, workdir):
        source = seed_path()
        path = workdir / source.name
        if _unmutated(rng):
            shutil.copy(source, path)
        elif rng.random() < 0.5:
            write(path, mutate_bytes(source.read_bytes(), rng, text=False))
        else:
            shutil.copy(source, path)
            try:
                mutate_h5(path, rng)
            except (OSError, TypeError, ValueError, KeyError):
                shutil.copy(source, path)  # h5py could not write that mutation: a valid case
        return lambda: read(path)

    return case


def _load_chrombpnet(path: Path) -> None:
    from liftgenomics.models.chrombpnet import load_chrombpnet

    run_model(load_chrombpnet(path))


def _chrombpnet_seed(name: str) -> Callable[[], Path]:
    return lambda: CHROMBPNET_FIXTURES / name


@functools.cache
def keras_model_file() -> Path:
    from tests.models.keras_files import write_keras2_model
    from tests.models.test_keras_errors import CONV, _config, _weights

    folder = seeds() / "keras"
    folder.mkdir()
    write_keras2_model(folder / "model.h5", _config(), _weights(), {"conv": CONV, "dense": CONV})
    (folder / "arch.json").write_text(json.dumps(_config()))
    return folder / "model.h5"


def _load_keras(path: Path, weights: Path | None = None) -> None:
    from liftgenomics.models.keras import load_keras

    run_model(load_keras(path, weights))


def _keras_json_case(rng, workdir):
    model = keras_model_file()
    config = json.loads((model.parent / "arch.json").read_text())
    if rng.random() < 0.6:
        data = json.dumps(mutate_tree(config, rng), allow_nan=True).encode()
    else:
        data = mutate_bytes(json.dumps(config).encode(), rng)
    path = write(workdir / "arch.json", data)
    return lambda: _load_keras(path, model)


@contextlib.contextmanager
def bpnet_lite_names():
    """bpnet-lite's module names in ``sys.modules``, holding the test suite's stand-ins."""
    from tests.models.test_bpnet_lite import NAMES

    saved = dict(sys.modules)
    for package in {name.split(".")[0] for name in NAMES}:
        sys.modules[package] = types.ModuleType(package)
    for module_name, classes in NAMES.items():
        module = types.ModuleType(module_name)
        for name, cls in classes.items():
            setattr(module, name, cls)
        sys.modules[module_name] = module
    try:
        yield
    finally:
        for name in set(sys.modules) - set(saved):
            del sys.modules[name]
        sys.modules.update(saved)


@functools.cache
def bpnet_lite_files() -> tuple[Path, ...]:
    import torch

    from tests.models.test_bpnet_lite import StandInChromBPNet, tiny_bpnet

    folder = seeds() / "bpnet-lite"
    folder.mkdir()
    with bpnet_lite_names():
        torch.save(tiny_bpnet(0, n_control_tracks=2), folder / "bpnet.torch")
        chrom = StandInChromBPNet(tiny_bpnet(1, n_outputs=1), tiny_bpnet(2, n_outputs=1))
        torch.save(chrom, folder / "chrombpnet.torch")
    return folder / "bpnet.torch", folder / "chrombpnet.torch"


def _bpnet_lite_case(rng, workdir):
    from liftgenomics.models.bpnet_lite import load_bpnet_lite

    source = rng.choice(bpnet_lite_files())
    path = write(workdir / source.name, _mutate_torch_zip(source.read_bytes(), rng))
    return lambda: run_model(load_bpnet_lite(path))


# --------------------------------------------------------------------------- gather


@functools.cache
def score_chunks() -> Path:
    """Two chunk directories of one 'score' run of the factory model."""
    from liftgenomics.models.factory import build_factory_model
    from liftgenomics.models.spec import ModelSpec
    from liftgenomics.scoring.pipeline import score_regions

    models_py, weights, _ = factory_model()
    model = build_factory_model(ModelSpec("file", str(models_py), "make"), weights=weights)
    root = seeds() / "chunks"
    fasta = write(root.parent / "chunks-genome.fa", genome_fasta().read_bytes())
    bed = write(root.parent / "chunks.bed", BED)
    for chunk in range(2):
        score_regions(model, fasta, root / f"chunk{chunk}", bed, references="flat",
                      progress=False, chunk=chunk, chunks=2, chunk_regions=1,
                      batch_size=1)  # fmt: skip
    return root


def _gather_case(rng, workdir):
    from liftgenomics.scoring.gather import gather_scores

    root = workdir / "chunks"
    shutil.copytree(score_chunks(), root)
    directory = root / rng.choice(["chunk0", "chunk1"])
    target = directory / rng.choice(sorted(p.name for p in directory.iterdir()))
    if _unmutated(rng):
        pass
    elif target.suffix == ".npz" and rng.random() < 0.5:
        with np.load(target) as archive:
            array = archive[archive.files[0]]
        _array_file(array, rng, target)
    elif target.name == "score.json" and rng.random() < 0.6:
        target.write_text(json.dumps(mutate_tree(json.loads(target.read_text()), rng)))
    else:
        target.write_bytes(mutate_bytes(target.read_bytes(), rng, target.suffix != ".npz"))
    out = workdir / "gathered"

    def read():
        try:
            gather_scores([root / "chunk0", root / "chunk1"], out)
        except LiftGenomicsError:
            left = [p.name for p in out.iterdir()] if out.is_dir() else []
            assert not left, f"a refused gather left {left} behind"
            raise

    return read


# --------------------------------------------------------------------------- the table

READERS: dict[str, Reader] = {
    reader.name: reader
    for reader in [
        Reader("fasta", "genome", _fasta_case),
        Reader("fasta-pyfaidx", "genome", _pyfaidx_case),
        Reader("bed", "genome", _bed_case(BED, ".bed")),
        Reader("narrowpeak", "genome", _bed_case(NARROWPEAK, ".narrowPeak")),
        Reader("control-array", "genome", _control_case),
        Reader("one-hot-npz", "genome", _load_one_hot_case),
        Reader("variants-vcf", "variants", _variants_case(None)),
        Reader("variants-table", "variants", _variants_case("chrombpnet")),
        Reader("meme", "motifs", _meme_case),
        Reader("motifs-inputs", "motifs", _discovery_inputs_case),
        Reader("grade-motifs", "motifs", _grading_case),
        Reader("simulation-config", "configs", _simulation_config_case),
        Reader("workflow-config", "configs", _workflow_schema_case),
        Reader("model-spec", "models", _spec_case),
        Reader("model-args", "models", _model_args_case),
        Reader("weights", "models", _state_case),
        Reader("chrombpnet-nobias", "models", _h5_case(_chrombpnet_seed("nobias.h5"),
                                                       _load_chrombpnet)),
        Reader("chrombpnet-full", "models", _h5_case(_chrombpnet_seed("full.h5"),
                                                     _load_chrombpnet)),
        Reader("keras-h5", "models", _h5_case(keras_model_file, _load_keras)),
        Reader("keras-json", "models", _keras_json_case),
        Reader("bpnet-lite", "models", _bpnet_lite_case),
        Reader("gather", "gather", _gather_case),
    ]
}


def run_seeded_case(name: str, seed: int | None) -> str:
    """Make and read case ``seed`` of reader ``name`` (its valid seed for None) in a fresh
    folder, under the contract (AssertionError on a failure); the outcome's kind."""
    # Seeded: a reader that picks among its seed files picks the same one every run.
    rng = Unmutated(0) if seed is None else random.Random(f"{name}:{seed}")
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as workdir:
        read = READERS[name].case(rng, Path(workdir))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mutations.check_case(read).kind


def family(name: str) -> list[str]:
    """The readers of one family (one test module each)."""
    return [reader.name for reader in READERS.values() if reader.family == name]
