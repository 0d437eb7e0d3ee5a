"""A few mutated inputs end to end through ``liftgenomics score`` (in process): each run
succeeds, or exits 2 with one stderr line and writes nothing to ``--out``."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liftgenomics.cli import main
from tests.fuzz.corpus import BED, LENGTH, factory_model, genome_fasta, mutate_bytes
from tests.fuzz.mutations import run_case

INPUTS = ("fasta", "bed", "weights", "model-args")


def score(workdir: Path, mutated: str, rng: random.Random, capsys) -> tuple[int, str, Path]:
    models_py, weights, _ = factory_model()
    files = {"fasta": (genome_fasta().read_bytes(), "genome.fa", True),
             "bed": (BED, "peaks.bed", True),
             "weights": (weights.read_bytes(), "w.safetensors", False)}  # fmt: skip
    paths = {}
    for name, (data, filename, text) in files.items():
        paths[name] = workdir / filename
        paths[name].write_bytes(mutate_bytes(data, rng, text) if name == mutated else data)
    model_args = json.dumps({"n_filters": 3})
    if mutated == "model-args":
        model_args = mutate_bytes(model_args.encode(), rng).decode("utf-8", "replace")
        model_args = model_args.replace("\x00", "")
    out = workdir / "out"
    capsys.readouterr()
    status = main(["score", "--model", f"{models_py}:make", "--weights", str(paths["weights"]),
                   "--model-args", model_args, "--fasta", str(paths["fasta"]),
                   "--bed", str(paths["bed"]), "--out", str(out), "--references", "flat",
                   "--length", str(LENGTH), "--quiet"])  # fmt: skip
    return status, capsys.readouterr().err, out


@pytest.mark.parametrize("mutated", INPUTS)
@settings(derandomize=True, max_examples=6, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_score_succeeds_or_exits_2_with_one_line_and_no_output(mutated, seed, capsys):
    with tempfile.TemporaryDirectory(prefix="fuzz-cli-") as workdir:
        result = {}

        def run():
            rng = random.Random(f"cli:{mutated}:{seed}")
            result["status"], result["err"], result["out"] = score(Path(workdir), mutated, rng,
                                                                   capsys)

        outcome = run_case(run, seconds=30)
        assert not outcome.failed, f"{outcome.kind}: {outcome.detail}"
        status, err, out = result["status"], result["err"], result["out"]
        if status == 0:
            assert (out / "score.json").is_file()
        else:
            lines = err.strip().splitlines()
            assert status == 2 and len(lines) == 1, err
            assert lines[0].startswith("liftgenomics: error: "), err
            assert not out.exists() or not any(out.iterdir())
