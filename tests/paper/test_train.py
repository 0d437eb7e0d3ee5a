"""Tests for liftgenomics.paper.train: data loading, a tiny seeded training run, and its outputs."""

import json
import re

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import format_fasta
from liftgenomics.models.load import load_model
from liftgenomics.paper.metrics import auroc
from liftgenomics.paper.train import DEFAULTS, load_split, read_labels, train_model

LENGTH = 40
KMERS = {"gata": "AGATAAG", "ebox": "CCACGTG"}
SPLIT_SIZES = {"train": 600, "valid": 100, "test": 100}
#: A small paper_cnn (no dropout: 16 hidden units are too few to drop half): a run takes < 1 s.
TINY = {"filters": 16, "width": 7, "hidden": 16, "dropout": 0.0}


def write_dataset(directory, seed: int = 0, sizes=None) -> None:
    """Random 40 bp sequences; task k is 1 where KMERS[k] is planted (once or twice).

    The sequence has four 10 bp slots and each planted k-mer takes its own slot, so instances
    never overwrite each other and every label is true.
    """
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    index = 0
    for split, n in (sizes or SPLIT_SIZES).items():
        records, rows = [], []
        for _ in range(n):
            bases = list(rng.choice(list("ACGT"), size=LENGTH, p=[0.3, 0.2, 0.2, 0.3]))
            labels = rng.integers(0, 2, size=len(KMERS))
            slots = iter(rng.permutation(LENGTH // 10) * 10)
            for kmer, present in zip(KMERS.values(), labels, strict=True):
                for _ in range(int(present) * int(rng.integers(1, 3))):
                    start = int(next(slots)) + int(rng.integers(0, 10 - len(kmer) + 1))
                    bases[start : start + len(kmer)] = kmer
            name = f"seq{index}"
            index += 1
            records.append((name, "".join(bases)))
            rows.append(name + "\t" + "\t".join(str(int(v)) for v in labels))
        (directory / f"{split}.fa").write_text(format_fasta(records))
        header = "id\t" + "\t".join(KMERS) + "\n"
        (directory / f"{split}.labels.tsv").write_text(header + "\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("data")
    write_dataset(directory)
    return directory


def _train(data_dir, out_dir, **kwargs):
    settings = {
        "epochs": 3,
        "batch_size": 16,
        "lr": 0.01,
        "patience": 3,
        "device": "cpu",
        "architecture": TINY,
        "log": lambda line: None,
    }
    return train_model(data_dir, out_dir, **{**settings, **kwargs})


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("run")
    lines: list[str] = []
    metrics = _train(data_dir, out_dir, log=lines.append)
    return out_dir, metrics, lines


def test_load_split_shapes_and_one_hot(data_dir):
    X, Y, ids = load_split(data_dir, "valid")
    assert X.shape == (100, 4, LENGTH) and X.dtype == np.float32
    assert Y.shape == (100, 2) and Y.dtype == np.float32
    assert ids[0] == "seq600" and len(ids) == 100
    assert (X.sum(axis=1) == 1).all()
    assert set(np.unique(Y)) <= {0.0, 1.0}


def test_read_labels(data_dir):
    ids, tasks, Y = read_labels(data_dir / "test.labels.tsv")
    assert tasks == ["gata", "ebox"]
    assert ids[:2] == ["seq700", "seq701"] and Y.shape == (100, 2)


def _copy_split(data_dir, tmp_path):
    for suffix in (".fa", ".labels.tsv"):
        (tmp_path / f"valid{suffix}").write_text((data_dir / f"valid{suffix}").read_text())
    return tmp_path


def test_load_split_names_first_id_mismatch(data_dir, tmp_path):
    _copy_split(data_dir, tmp_path)
    labels = tmp_path / "valid.labels.tsv"
    labels.write_text(labels.read_text().replace("seq602\t", "seqX\t"))
    with pytest.raises(LiftGenomicsError, match="record 3 is 'seq602' but row 3.*'seqX'"):
        load_split(tmp_path, "valid")


def test_load_split_refuses_count_mismatch(data_dir, tmp_path):
    _copy_split(data_dir, tmp_path)
    labels = tmp_path / "valid.labels.tsv"
    labels.write_text("".join(labels.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(LiftGenomicsError, match="100 records but valid.labels.tsv has 99 rows"):
        load_split(tmp_path, "valid")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("id\t", "name\t", 1), "valid.labels.tsv:1: labels header"),
        (lambda text: text.replace("seq601\t", "seq601\t0.5\t", 1), "valid.labels.tsv:3: 4 fields"),
        (
            lambda text: re.sub(r"seq601\t\d", "seq601\tyes", text),
            "valid.labels.tsv:3: label 'yes' for task 'gata' is not 0 or 1",
        ),
        (
            lambda text: text.replace("seq601\t", "seq600\t", 1),
            "valid.labels.tsv:3: duplicate id 'seq600' \\(first on line 2\\)",
        ),
    ],
)
def test_read_labels_errors(data_dir, tmp_path, edit, message):
    _copy_split(data_dir, tmp_path)
    labels = tmp_path / "valid.labels.tsv"
    labels.write_text(edit(labels.read_text()))
    with pytest.raises(LiftGenomicsError, match=message):
        load_split(tmp_path, "valid")


def test_missing_files_are_errors(tmp_path):
    with pytest.raises(LiftGenomicsError, match="train.fa: FASTA file not found"):
        load_split(tmp_path, "train")


def test_training_writes_model_and_metrics(trained):
    out_dir, metrics, _ = trained
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "metrics.json",
        "model.json",
        "model.safetensors",
    ]
    on_disk = json.loads((out_dir / "metrics.json").read_text())
    assert on_disk == metrics
    assert metrics["split"] == "test" and metrics["n_sequences"] == 100
    assert metrics["tasks"] == ["gata", "ebox"]
    for name in ("auroc", "auprc"):
        assert set(metrics[name]) == {"gata", "ebox"}
        assert all(0.0 <= value <= 1.0 for value in metrics[name].values())
    metadata = json.loads((out_dir / "model.json").read_text())["metadata"]
    assert metadata["hyperparameters"] == {"epochs": 3, "batch_size": 16, "lr": 0.01, "patience": 3}
    assert metadata["epochs_run"] == 3 and metadata["seed"] == 0
    assert metadata["tasks"] == ["gata", "ebox"]
    assert metadata["device"] == "cpu" and metadata["torch_version"] == torch.__version__
    assert metadata["n_sequences"] == SPLIT_SIZES
    assert metadata["wall_time_s"] > 0


def test_log_has_one_line_per_epoch_and_a_summary(trained):
    _, _, lines = trained
    assert len(lines) == 4
    for epoch, line in enumerate(lines[:3], start=1):
        assert line.startswith(f"epoch {epoch:3d}/3")
        assert "train loss" in line and "valid loss" in line
        assert "valid auROC gata=" in line and "ebox=" in line and line.endswith(" s")
    assert lines[3].startswith("best epoch") and "test auROC" in lines[3]


def test_learnt_model_beats_chance_on_the_planted_signal(trained):
    _, metrics, _ = trained
    # Chance is 0.5 (an untrained net scores about that); three epochs reach 0.84-0.98 over
    # seeds 0-3, so 0.75 leaves room for platform differences yet fails a net that learnt nothing.
    assert metrics["auroc"]["gata"] > 0.75
    assert metrics["auroc"]["ebox"] > 0.75


def test_saved_model_is_the_best_epoch_and_reproduces_the_metrics(trained, data_dir):
    out_dir, metrics, _ = trained
    model = load_model(out_dir)
    metadata = model.metadata
    losses = [row["valid_loss"] for row in metadata["history"]]
    assert metadata["best_epoch"] == int(np.argmin(losses)) + 1
    X_valid, Y_valid, _ = load_split(data_dir, "valid")
    with torch.no_grad():
        logits = model(torch.from_numpy(X_valid))
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(Y_valid))
    assert loss.item() == pytest.approx(metadata["best_valid_loss"], abs=1e-5)
    X_test, Y_test, _ = load_split(data_dir, "test")
    with torch.no_grad():
        test_logits = model(torch.from_numpy(X_test)).numpy()
    for t, task in enumerate(metrics["tasks"]):
        assert auroc(Y_test[:, t], test_logits[:, t]) == pytest.approx(metrics["auroc"][task])


def test_same_seed_same_weights_other_seed_other_weights(data_dir, trained, tmp_path):
    first, _, _ = trained
    _train(data_dir, tmp_path / "again")
    _train(data_dir, tmp_path / "other", seed=1)
    reference = load_file(str(first / "model.safetensors"))
    again = load_file(str(tmp_path / "again" / "model.safetensors"))
    other = load_file(str(tmp_path / "other" / "model.safetensors"))
    assert all(torch.equal(reference[key], again[key]) for key in reference)
    assert not torch.equal(reference["conv1.weight"], other["conv1.weight"])


def test_training_on_each_device(data_dir, tmp_path, device):
    metrics = _train(data_dir, tmp_path, device=device)
    model = load_model(tmp_path)
    assert model.metadata["device"] == str(device)
    assert next(model.parameters()).device.type == "cpu"
    assert min(metrics["auroc"].values()) > 0.75


def test_training_leaves_the_global_rng_alone(data_dir, tmp_path):
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    _train(data_dir, tmp_path, epochs=1)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_early_stopping_stops_after_patience(data_dir, tmp_path):
    # A huge learning rate makes the validation loss stop improving almost at once.
    _train(data_dir, tmp_path, epochs=30, lr=5.0, patience=2)
    metadata = load_model(tmp_path).metadata
    losses = [row["valid_loss"] for row in metadata["history"]]
    best = int(np.argmin(losses)) + 1
    assert metadata["epochs_run"] == best + 2 < 30


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer"),
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"architecture": {"name": "mystery"}}, "unknown architecture 'mystery'"),
        ({"architecture": {**TINY, "n_tasks": 5}}, "the labels need 2 logits"),
    ],
)
def test_bad_settings_are_errors(data_dir, tmp_path, kwargs, message):
    with pytest.raises(LiftGenomicsError, match=message):
        _train(data_dir, tmp_path, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_unavailable_cuda_is_an_error(data_dir, tmp_path):
    with pytest.raises(LiftGenomicsError, match="CUDA is not available"):
        _train(data_dir, tmp_path, device="cuda")


def test_splits_with_different_tasks_are_an_error(data_dir, tmp_path):
    for split in ("train", "valid", "test"):
        for suffix in (".fa", ".labels.tsv"):
            text = (data_dir / f"{split}{suffix}").read_text()
            if split == "test" and suffix == ".labels.tsv":
                text = text.replace("id\tgata\tebox", "id\tgata\tother", 1)
            (tmp_path / f"{split}{suffix}").write_text(text)
    with pytest.raises(LiftGenomicsError, match="test.labels.tsv: tasks"):
        _train(tmp_path, tmp_path / "out")


def test_defaults_are_the_documented_hyperparameters():
    assert set(DEFAULTS) == {"epochs", "batch_size", "lr", "patience"}
    assert train_model.__kwdefaults__["epochs"] == DEFAULTS["epochs"]
    assert train_model.__kwdefaults__["lr"] == DEFAULTS["lr"]
