"""Tests for liftgenomics.paper.authors: the DeepLIFT authors' data imported as a simulation.

Oracles: hand-written simdata files whose instances sit at positions chosen here, log-odds
summed by hand from the compendium's probabilities, and, where the ``../shared`` copies of the
authors' files exist, those files read with a separate regular-expression parser, the class
counts the file names imply and the test accuracy the data README states for a numpy forward
pass of the authors' weights.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import re
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import read_fasta
from liftgenomics.motifs.meme import get_motif
from liftgenomics.paper import fetch
from liftgenomics.paper.authors import (
    import_paper_data,
    read_paper_sequences,
    read_test_ids,
)
from liftgenomics.paper.fetch import PAPER_FILES, fetch_paper_data

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-models"
PAPER_DIR = SHARED / "deeplift-paper"
needs_shared = pytest.mark.skipif(
    not (PAPER_DIR / fetch.SEQUENCES).is_file(),
    reason=f"the authors' files are not in {PAPER_DIR}",
)
HEADER = "seqName\tsequence\tembeddings\ttask1\ttask2\ttask3\n"
GATA = "CCAGATAAGA"  # 10 bp, read from a GATA_disc1 instance of the authors' file
TAL = "GGCGCCAGATGTTTAC"  # 16 bp, likewise TAL1_known1


def put(background: str, *pieces: tuple[int, str]) -> str:
    """``background`` with each (0-based start, bases) written over it."""
    sequence = list(background)
    for start, bases in pieces:
        sequence[start : start + len(bases)] = bases
    return "".join(sequence)


BASE = ("ACGT" * 50)[:200]
BOTH = put(BASE, (3, GATA), (50, TAL))
GATA_ONLY = put(BASE, (0, GATA), (190, GATA))
ROWS = [
    ("gata_tal1_1", BOTH, f"pos-50_TAL1_known1-{TAL},pos-3_GATA_disc1-{GATA}", "1\t1\t1"),
    ("gata_only_2", GATA_ONLY, f"pos-0_GATA_disc1-{GATA},pos-190_GATA_disc1-{GATA}", "0\t1\t0"),
    ("empty_3", BASE, "", "0\t0\t0"),
    ("tal1_only_4", put(BASE, (184, TAL)), f"pos-184_TAL1_known1-{TAL}", "0\t0\t1"),
]


def write_data(directory: Path, rows=ROWS, test=("gata_tal1_1", "empty_3"), gz=True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = HEADER + "".join("\t".join(row) + "\n" for row in rows)
    opener = gzip.open if gz else open
    with opener(directory / fetch.SEQUENCES, "wt") as handle:
        handle.write(text)
    with opener(directory / fetch.TEST_IDS, "wt") as handle:
        handle.write("".join(f"{name}\n" for name in test))
    return directory


def hand_log_odds(motif: str, bases: str) -> float:
    """Σ ln(p·(1 − 0.001) + 0.001/4) − ln(background), base by base."""
    background = {"A": 0.3, "C": 0.2, "G": 0.2, "T": 0.3}
    probabilities = get_motif(motif).probabilities
    return sum(
        math.log(probabilities[i, "ACGT".index(b)] * 0.999 + 0.00025) - math.log(background[b])
        for i, b in enumerate(bases)
    )


# --------------------------------------------------------------------------- tiny files


@pytest.mark.parametrize("gz", [True, False])
def test_instances_land_where_the_bases_say(tmp_path, gz):
    data = write_data(tmp_path / "data", gz=gz)
    sizes = import_paper_data(data, tmp_path / "sim")
    assert sizes == {"train": 1, "valid": 1, "test": 2}
    sim = tmp_path / "sim"
    motifs = pd.read_csv(sim / "test.motifs.tsv", sep="\t")
    assert motifs[["id", "start", "end", "motif", "strand", "sequence"]].values.tolist() == [
        ["gata_tal1_1", 3, 13, "GATA_disc1", "+", GATA],
        ["gata_tal1_1", 50, 66, "TAL1_known1", "+", TAL],
    ]
    assert motifs["log_odds"].tolist() == pytest.approx(
        [hand_log_odds("GATA_disc1", GATA), hand_log_odds("TAL1_known1", TAL)], abs=1e-5
    )
    # The one-hot test set holds those bases at those columns (rows in file order).
    one_hot = np.load(sim / "test.ohe.npz")["arr_0"]
    assert one_hot.shape == (2, 4, 200)
    assert "".join("ACGT"[k] for k in one_hot[0, :, 3:13].argmax(axis=0)) == GATA
    assert "".join("ACGT"[k] for k in one_hot[0, :, 50:66].argmax(axis=0)) == TAL
    assert dict(read_fasta(sim / "test.fa")) == {"gata_tal1_1": BOTH, "empty_3": BASE}
    # The first non-test row is a validation row, the next a training row.
    valid = pd.read_csv(sim / "valid.motifs.tsv", sep="\t")
    assert valid[["start", "end"]].values.tolist() == [[0, 10], [190, 200]]
    assert read_fasta(sim / "train.fa")[0][0] == "tal1_only_4"
    labels = pd.read_csv(sim / "test.labels.tsv", sep="\t")
    assert labels.values.tolist() == [["gata_tal1_1", 1, 1, 1], ["empty_3", 0, 0, 0]]
    assert list(labels.columns) == ["id", "task0", "task1", "task2"]
    classes = pd.read_csv(sim / "test.classes.tsv", sep="\t")
    assert classes["class"].tolist() == ["both", "neither"]
    design = yaml.safe_load((sim / "simulation.yaml").read_text())
    assert design["background"] == {"A": 0.3, "C": 0.2, "G": 0.2, "T": 0.3}
    assert design["motifs"] == ["GATA_disc1", "TAL1_known1"]
    assert design["tasks"] == {
        "task0": ["GATA_disc1", "TAL1_known1"],
        "task1": ["GATA_disc1"],
        "task2": ["TAL1_known1"],
    }
    assert design["instances_per_motif"] == [1, 2]
    assert design["n_sequences"] == 4


def test_test_subset_keeps_the_first_ids_and_drops_the_others(tmp_path):
    data = write_data(tmp_path / "data", test=("empty_3", "gata_tal1_1"))
    sizes = import_paper_data(data, tmp_path / "sim", test_sequences=1)
    assert sizes == {"train": 1, "valid": 1, "test": 1}
    assert [name for name, _ in read_fasta(tmp_path / "sim" / "test.fa")] == ["empty_3"]
    every = [
        name
        for split in ("train", "valid")
        for name, _ in read_fasta(tmp_path / "sim" / f"{split}.fa")
    ]
    assert "gata_tal1_1" not in every
    with pytest.raises(LiftGenomicsError, match="at least 1"):
        import_paper_data(data, tmp_path / "other", test_sequences=0)


def test_evaluation_runs_on_the_import(tmp_path):
    """evaluate_attributions reads the imported directory unchanged (scores = the instances)."""
    from liftgenomics.paper.recovery import evaluate_attributions

    import_paper_data(write_data(tmp_path / "data"), tmp_path / "sim")
    one_hot = np.load(tmp_path / "sim" / "test.ohe.npz")["arr_0"]
    inside = np.zeros((2, 200), dtype=np.float32)
    inside[0, 3:13] = inside[0, 50:66] = 1.0
    path = tmp_path / "hyp.npz"
    np.savez(path, one_hot * inside[:, None, :])
    hits, summary = evaluate_attributions(tmp_path / "sim", {("m", "flat", 0): path})
    assert set(summary["motif"]) == {"GATA_disc1", "TAL1_known1"}
    assert summary["auroc"].tolist() == [1.0, 1.0]


BAD_ROWS = {
    "fields": ([("gata_tal1_1", BOTH, "")], "3 fields, expected 6"),
    "one-based start": (
        [("gata_only_2", GATA_ONLY, f"pos-1_GATA_disc1-{GATA}", "0\t1\t0")],
        "does not match the sequence at 0-based 1..11",
    ),
    "embedding syntax": (
        [("gata_only_2", GATA_ONLY, f"pos1_GATA_disc1-{GATA}", "0\t1\t0")],
        "is not pos-<start>_<motif>-<bases>",
    ),
    "label": ([("empty_3", BASE, "", "0\t2\t0")], "labels must be 0 or 1"),
    "labels vs class": ([("empty_3", BASE, "", "0\t1\t0")], "expected (0, 0, 0)"),
    "class vs motifs": (
        [("gata_only_2", BOTH, f"pos-50_TAL1_known1-{TAL}", "0\t1\t0")],
        "should hold ['GATA_disc1']",
    ),
    "prefix": ([("other_3", BASE, "", "0\t0\t0")], "known class"),
    "bases": ([("empty_3", BASE[:-1] + "N", "", "0\t0\t0")], "200 bases of ACGT"),
    "length": ([("empty_3", BASE[:-1], "", "0\t0\t0")], "200 bases of ACGT"),
    "duplicate": ([ROWS[2], ROWS[2]], "duplicate seqName 'empty_3' (line 3)"),
    "overlap": (
        [
            (
                "gata_only_2",
                "A" * 200,
                f"pos-5_GATA_disc1-{'A' * 10},pos-0_GATA_disc1-{'A' * 10}",
                "0\t1\t0",
            )
        ],
        "overlap",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_malformed_rows_are_refused_in_one_line_naming_file_and_line(tmp_path, case):
    rows, message = BAD_ROWS[case]
    write_data(tmp_path, rows=[ROWS[0], *rows], test=("gata_tal1_1",))
    path = tmp_path / fetch.SEQUENCES
    line = 3 if case != "duplicate" else 4
    with pytest.raises(LiftGenomicsError) as error:
        read_paper_sequences(path)
    text = str(error.value)
    assert "\n" not in text
    assert text.startswith(f"{path}:{line}: ")
    assert message in text


def test_bad_header_and_unreadable_files(tmp_path):
    path = tmp_path / "s.tsv"
    path.write_text("name\tsequence\n")
    with pytest.raises(LiftGenomicsError, match=rf"^{re.escape(str(path))}:1: header"):
        read_paper_sequences(path)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(HEADER.encode())[:15])
    with pytest.raises(LiftGenomicsError, match="unreadable"):
        read_paper_sequences(broken)
    with pytest.raises(LiftGenomicsError, match="not found"):
        read_paper_sequences(tmp_path / "missing.gz")


def test_bad_test_ids_are_refused(tmp_path):
    path = tmp_path / "test.txt"
    path.write_text("a\nb\na\n")
    with pytest.raises(LiftGenomicsError, match=rf"{re.escape(str(path))}:3: duplicate id 'a'"):
        read_test_ids(path)
    with pytest.raises(LiftGenomicsError, match=":2: 'b' is not in the sequences file"):
        read_test_ids(path, known=["a"])
    path.write_text("")
    with pytest.raises(LiftGenomicsError, match="no test ids"):
        read_test_ids(path)


# --------------------------------------------------------------------------- fetching


class FakeNetwork:
    """Serves fixed bytes per URL, counting requests; raises URLError for unknown URLs."""

    def __init__(self, contents: dict[str, bytes]):
        self.contents, self.requests = contents, []

    def __call__(self, url: str, timeout: float):
        self.requests.append(url)
        if url not in self.contents:
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        return io.BytesIO(self.contents[url])


@pytest.fixture
def fake_files(monkeypatch):
    """Four small files in place of the paper's, with their checksums."""
    contents = {name: f"contents of {name}".encode() * 1000 for name in PAPER_FILES}
    files = {
        name: fetch.PaperFile(f"https://example.org/{name}", hashlib.sha256(data).hexdigest())
        for name, data in contents.items()
    }
    monkeypatch.setattr(fetch, "PAPER_FILES", files)
    network = FakeNetwork({files[name].url: data for name, data in contents.items()})
    monkeypatch.setattr(fetch, "_urlopen", network)
    return contents, network


def test_fetch_downloads_checks_and_keeps_good_files(tmp_path, fake_files):
    contents, network = fake_files
    paths = fetch_paper_data(tmp_path / "paper", log=lambda line: None)
    assert [p.read_bytes() for p in paths] == list(contents.values())
    assert len(network.requests) == 4
    fetch_paper_data(tmp_path / "paper", log=lambda line: None)
    assert len(network.requests) == 4  # all present with the right checksum: no request
    assert sorted(p.name for p in (tmp_path / "paper").iterdir()) == sorted(contents)


def test_fetch_refuses_a_wrong_checksum_and_leaves_nothing(tmp_path, fake_files, monkeypatch):
    contents, network = fake_files
    name = fetch.SEQUENCES
    network.contents[fetch.PAPER_FILES[name].url] = b"tampered"
    with pytest.raises(LiftGenomicsError, match="SHA-256") as error:
        fetch_paper_data(tmp_path, log=lambda line: None)
    assert "\n" not in str(error.value)
    assert not (tmp_path / name).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [fetch.MODEL_JSON, fetch.MODEL_WEIGHTS]


def test_fetch_without_network_is_one_line(tmp_path, fake_files):
    _, network = fake_files
    network.contents.clear()
    with pytest.raises(LiftGenomicsError, match="could not download https://example.org/") as error:
        fetch_paper_data(tmp_path, log=lambda line: None)
    assert "\n" not in str(error.value) and "name resolution" in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_urls_are_the_notebooks_storage_commits():
    for name, (url, sha256) in PAPER_FILES.items():
        assert url.startswith("https://raw.githubusercontent.com/AvantiShri/model_storage/")
        assert url.endswith(f"/deeplift/genomics/{name}")
        assert re.fullmatch(r"[0-9a-f]{64}", sha256)


@needs_shared
def test_hard_coded_checksums_match_the_shared_copies():
    for name, (_, sha256) in PAPER_FILES.items():
        assert hashlib.sha256((PAPER_DIR / name).read_bytes()).hexdigest() == sha256, name


# --------------------------------------------------------------------------- the real files


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    if not (PAPER_DIR / fetch.SEQUENCES).is_file():
        pytest.skip(f"the authors' files are not in {PAPER_DIR}")
    out = tmp_path_factory.mktemp("paper") / "sim"
    import_paper_data(PAPER_DIR, out)
    return out


@needs_shared
def test_every_embedded_instance_matches_its_sequence(imported):
    """All 8,000 rows, read again with a separate parser: bases == sequence[start:end]."""
    raw = {}
    with gzip.open(PAPER_DIR / fetch.SEQUENCES, "rt") as handle:
        next(handle)
        for line in handle:
            name, sequence, embeddings = line.rstrip("\n").split("\t")[:3]
            raw[name] = (sequence, re.findall(r"pos-(\d+)_([A-Za-z0-9_]+?)-([ACGT]+)", embeddings))
    assert len(raw) == 8000
    sequences = {}
    tables = []
    for split in ("train", "valid", "test"):
        sequences.update(read_fasta(imported / f"{split}.fa"))
        tables.append(pd.read_csv(imported / f"{split}.motifs.tsv", sep="\t"))
    motifs = pd.concat(tables)
    assert len(sequences) == 8000
    assert len(motifs) == sum(len(found) for _, found in raw.values()) == 13544
    for row in motifs.itertuples():
        assert sequences[row.id][row.start : row.end] == row.sequence
        assert raw[row.id][0] == sequences[row.id]
    expected = sorted(
        (name, int(start), motif, bases)
        for name, (_, found) in raw.items()
        for start, motif, bases in found
    )
    found = zip(motifs.id, motifs.start, motifs.motif, motifs.sequence, strict=True)
    assert sorted(found) == expected
    assert set(motifs.motif) == {"GATA_disc1", "TAL1_known1"}
    assert (motifs.end - motifs.start).tolist() == [len(s) for s in motifs.sequence]


@needs_shared
def test_test_ids_and_class_counts(imported):
    ids = read_test_ids(PAPER_DIR / fetch.TEST_IDS)
    assert len(ids) == len(set(ids)) == 800
    test = pd.read_csv(imported / "test.classes.tsv", sep="\t")
    assert sorted(test["id"]) == sorted(ids)
    counts = test["class"].value_counts().to_dict()
    prefixes = pd.Series([i.rpartition("_")[0] for i in ids]).value_counts().to_dict()
    assert (
        counts
        == {
            "both": prefixes["gata_tal1"],
            "gata_only": prefixes["gata_only"],
            "tal_only": prefixes["tal1_only"],
            "neither": prefixes["empty"],
        }
        == {"both": 236, "gata_only": 186, "tal_only": 188, "neither": 190}
    )
    every = pd.concat(
        pd.read_csv(imported / f"{s}.classes.tsv", sep="\t") for s in ("train", "valid", "test")
    )
    assert every["class"].value_counts().to_dict() == dict.fromkeys(
        ["both", "gata_only", "tal_only", "neither"], 2000
    )
    labels = pd.read_csv(imported / "test.labels.tsv", sep="\t")
    assert labels[["task0", "task1", "task2"]].sum().tolist() == [236, 236 + 186, 236 + 188]


@needs_shared
def test_the_authors_model_reaches_its_published_accuracy(imported, tmp_path):
    """The data README's numpy forward pass: 94.8 / 93.9 / 97.2 % test accuracy."""
    pytest.importorskip("h5py")
    from liftgenomics.paper.model_metrics import write_model_metrics

    metrics = write_model_metrics(
        f"keras:{PAPER_DIR / fetch.MODEL_JSON}",
        imported,
        tmp_path / "metrics.json",
        weights=PAPER_DIR / fetch.MODEL_WEIGHTS,
    )
    accuracy = [100 * metrics["accuracy"][t] for t in ("task0", "task1", "task2")]
    assert accuracy == pytest.approx([94.8, 93.9, 97.2], abs=0.06)
    # The paper: test auROC 0.989 / 0.988 / 0.997.
    aurocs = [metrics["auroc"][t] for t in ("task0", "task1", "task2")]
    assert aurocs == pytest.approx([0.989, 0.988, 0.997], abs=0.0006)
