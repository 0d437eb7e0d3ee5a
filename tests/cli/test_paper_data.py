"""The CLI of the paper's own data: fetch-paper-data, import-paper-data, model-metrics."""

from __future__ import annotations

import json
import urllib.error

import numpy as np
import pandas as pd
import torch

from liftgenomics.cli import main
from liftgenomics.models.directory import save_model
from liftgenomics.models.registry import build_model
from liftgenomics.paper import fetch
from tests.paper.test_authors import write_data


def test_import_paper_data_writes_a_simulation(tmp_path, capsys):
    data = write_data(tmp_path / "data")
    assert main(["import-paper-data", "--data", str(data), "--out", str(tmp_path / "sim")]) == 0
    assert capsys.readouterr().out.strip() == "train 1 valid 1 test 2"
    for name in ("test.ohe.npz", "test.labels.tsv", "test.classes.tsv", "test.motifs.tsv",
                 "simulation.yaml", "source.json", "train.fa", "valid.fa"):  # fmt: skip
        assert (tmp_path / "sim" / name).is_file(), name


def test_import_paper_data_error_is_one_line(tmp_path, capsys):
    data = write_data(tmp_path / "data")
    (data / fetch.TEST_IDS).write_text("nobody\n")
    assert main(["import-paper-data", "--data", str(data), "--out", str(tmp_path / "s")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"liftgenomics: error: {data / fetch.TEST_IDS}:1: 'nobody' is not in the sequences file"
    )
    assert not (tmp_path / "s").exists()


def test_fetch_paper_data_without_internet(tmp_path, capsys, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(fetch, "_urlopen", offline)
    assert main(["fetch-paper-data", str(tmp_path / "paper")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert error.startswith("liftgenomics: error: could not download https://raw.githubusercontent")
    assert list((tmp_path / "paper").iterdir()) == []


def test_model_metrics_matches_a_hand_computation(tmp_path, capsys):
    import_dir = tmp_path / "sim"
    main(["import-paper-data", "--data", str(write_data(tmp_path / "data")),
          "--out", str(import_dir)])  # fmt: skip
    torch.manual_seed(0)
    arch = {"name": "paper_cnn", "n_tasks": 3, "length": 200}
    model = build_model(arch).eval()
    save_model(model, tmp_path / "model", arch, {})
    out = tmp_path / "metrics.json"
    status = main(["model-metrics", "--model", str(tmp_path / "model"), "--data",
                   str(import_dir), "--source", "a toy", "--out", str(out)])  # fmt: skip
    assert status == 0
    metrics = json.loads(out.read_text())
    one_hot = torch.from_numpy(np.load(import_dir / "test.ohe.npz")["arr_0"])
    with torch.no_grad():
        logits = model(one_hot).numpy()
    labels = pd.read_csv(import_dir / "test.labels.tsv", sep="\t")
    for t, task in enumerate(["task0", "task1", "task2"]):
        truth = labels[task].to_numpy() == 1
        assert metrics["accuracy"][task] == np.mean((logits[:, t] > 0) == truth)
        # Two test sequences, both classes per task: auROC is 1 or 0 (or 0.5 on a tie).
        positive, negative = logits[truth, t][0], logits[~truth, t][0]
        expected = 1.0 if positive > negative else 0.0 if positive < negative else 0.5
        assert metrics["auroc"][task] == expected
    assert metrics["source"] == "a toy" and metrics["n_sequences"] == 2
