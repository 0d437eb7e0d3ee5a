"""Tests for liftgenomics.paper.simulate: config handling, the simulated statistics, and the files.

The statistical checks use chi-square tests at alpha = 0.001 without scipy: the critical value
is the fixed table value for 3 degrees of freedom (16.266), or the Wilson-Hilferty normal
approximation for larger ones. All draws are seeded, so the tests are deterministic.
"""

import math
from collections import Counter, defaultdict

import numpy as np
import pytest
import yaml

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.sequence import one_hot_encode, one_hot_encode_batch, read_fasta
from liftgenomics.motifs.meme import get_motif
from liftgenomics.motifs.pwm import log_odds, smooth
from liftgenomics.motifs.scan import scan
from liftgenomics.paper import simulate as simulate_module
from liftgenomics.paper.simulate import SPLITS, simulate, simulate_dataset, write_simulation
from liftgenomics.paper.simulation_config import (
    CONFIG_KEYS,
    default_simulation_config,
    load_simulation_config,
    resolve_simulation_config,
    validate_simulation_config,
)

BACKGROUND = np.array([0.3, 0.2, 0.2, 0.3])
CHI2_CRITICAL_DF3 = 16.266  # chi-square 0.999 quantile, 3 degrees of freedom
Z_999 = 3.090232  # standard normal 0.999 quantile
WIDTHS = {"GATA_disc1": 10, "TAL1_known1": 16}
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def chi2_critical(df: int) -> float:
    """Wilson-Hilferty approximation of the chi-square 0.999 quantile."""
    return df * (1 - 2 / (9 * df) + Z_999 * math.sqrt(2 / (9 * df))) ** 3


def pooled_chi_square(counts: np.ndarray, probabilities: np.ndarray) -> tuple[float, int]:
    """Chi-square over positions (rows), pooling cells with expected count < 5 per row."""
    statistic, df = 0.0, 0
    for observed, p in zip(counts, probabilities, strict=True):
        expected = observed.sum() * p
        big = expected >= 5
        obs, exp = list(observed[big]), list(expected[big])
        if (~big).any():
            if expected[~big].sum() >= 5 or not obs:
                obs.append(observed[~big].sum())
                exp.append(expected[~big].sum())
            else:  # too small even pooled: fold into the smallest kept cell
                k = int(np.argmin(exp))
                obs[k] += observed[~big].sum()
                exp[k] += expected[~big].sum()
        obs, exp = np.array(obs, float), np.array(exp, float)
        statistic += float(((obs - exp) ** 2 / exp).sum())
        df += obs.size - 1
    return statistic, df


def base_counts(samples: list[str], width: int) -> np.ndarray:
    codes = np.array([one_hot_encode(s).argmax(axis=0) for s in samples])
    return np.stack([np.bincount(codes[:, j], minlength=4) for j in range(width)])


def small_config(**overrides):
    return {"n_sequences": 400, "seed": 7, **overrides}


@pytest.fixture(scope="module")
def paper_data():
    """The one large draw: the default design, 8,000 sequences."""
    return simulate_dataset(None)


@pytest.fixture(scope="module")
def small_data():
    return simulate_dataset(small_config(rc_probability=0.5))


def instances_by_sequence(data):
    table = defaultdict(list)
    for instance in data.instances:
        table[instance.id].append(instance)
    return table


# --------------------------------------------------------------------------- config


def test_default_config_is_the_paper_design():
    config = load_simulation_config(None)
    assert list(config) == list(CONFIG_KEYS)
    assert config["length"] == 200
    assert config["background"] == {"A": 0.3, "C": 0.2, "G": 0.2, "T": 0.3}
    assert config["motifs"] == ["GATA_disc1", "TAL1_known1"]
    assert config["pseudocount"] == 0.001
    assert config["instances_per_motif"] == [1, 3]
    assert config["rc_probability"] == 0.0
    assert {name: spec["motifs"] for name, spec in config["classes"].items()} == {
        "both": ["GATA_disc1", "TAL1_known1"],
        "gata_only": ["GATA_disc1"],
        "tal_only": ["TAL1_known1"],
        "neither": [],
    }
    assert config["tasks"] == {
        "task0": ["GATA_disc1", "TAL1_known1"],
        "task1": ["GATA_disc1"],
        "task2": ["TAL1_known1"],
    }
    assert (config["n_sequences"], config["valid_fraction"], config["test_fraction"]) == (
        8000,
        0.1,
        0.1,
    )
    assert validate_simulation_config(config) == config  # normalising is idempotent
    as_list = resolve_simulation_config({"background": [0.25, 0.25, 0.25, 0.25]})
    assert as_list["background"] == dict.fromkeys("ACGT", 0.25)


def test_config_keys_at_top_level_or_under_simulation(tmp_path):
    top = tmp_path / "top.yaml"
    top.write_text("length: 120\nseed: 3\n")
    nested = tmp_path / "nested.yaml"
    nested.write_text("model: {epochs: 3}\nsimulation:\n  length: 120\n  seed: 3\n")
    for path in (top, nested):
        config = load_simulation_config(path)
        assert (config["length"], config["seed"], config["n_sequences"]) == (120, 3, 8000)
    empty = tmp_path / "empty.yaml"
    empty.write_text("simulation:\n")
    assert load_simulation_config(empty) == load_simulation_config(None)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"lenght": 100}, "'lenght'"),
        ({"length": 0}, "'length'"),
        ({"length": 10.5}, "'length'"),
        ({"n_sequences": True}, "'n_sequences'"),
        ({"seed": -1}, "'seed'"),
        ({"background": [0.25, 0.25, 0.5]}, "'background'"),
        ({"background": {"A": 0.5, "C": 0.5, "G": 0, "T": 0}}, "'background'"),
        ({"background": {"A": 1}}, "'background'"),
        ({"pseudocount": 2}, "'pseudocount'"),
        ({"rc_probability": "yes"}, "'rc_probability'"),
        ({"instances_per_motif": [0, 3]}, "'instances_per_motif'"),
        ({"instances_per_motif": [3, 1]}, "'instances_per_motif'"),
        ({"instances_per_motif": 2}, "'instances_per_motif'"),
        ({"valid_fraction": 0.6, "test_fraction": 0.5}, "'valid_fraction' \\+ 'test_fraction'"),
        ({"test_fraction": 1.0}, "'test_fraction'"),
        ({"motifs": []}, "'motifs'"),
        ({"motifs": ["GATA_disc1", "GATA_disc1"]}, "'motifs'"),
        ({"motif_file": 3}, "'motif_file'"),
        ({"classes": {"a": {"motifs": ["NOPE"]}}}, "'classes.a.motifs'"),
        ({"classes": {"a": {"motifs": [], "weight": 0}}}, "'classes.a.weight'"),
        ({"classes": {"a": {"motifs": [], "colour": "red"}}}, "'classes.a.colour'"),
        ({"classes": {"a": {"weight": 1}}}, "'classes.a.motifs'"),
        ({"classes": []}, "'classes'"),
        ({"tasks": {"t": []}}, "'tasks.t'"),
        ({"tasks": {"t": ["TAL1_known2"]}}, "'tasks.t'"),
        ({"tasks": {"id": ["GATA_disc1"]}}, "'tasks'"),
        ({"tasks": {"a\tb": ["GATA_disc1"]}}, "'tasks'"),
    ],
)
def test_invalid_config_names_the_key(overrides, key):
    with pytest.raises(LiftGenomicsError, match=key):
        resolve_simulation_config(overrides)


def test_config_file_errors_name_the_file(tmp_path):
    with pytest.raises(LiftGenomicsError, match="missing.yaml: simulation config file not found"):
        load_simulation_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("length: 200\nseed: [1, 2\n")
    with pytest.raises(LiftGenomicsError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_simulation_config(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("simulation:\n  sequences: 10\n")
    with pytest.raises(
        LiftGenomicsError, match=r"unknown\.yaml: unknown simulation key 'sequences'"
    ):
        load_simulation_config(unknown)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("simulation: 5\n")
    with pytest.raises(LiftGenomicsError, match="'simulation:' must be a mapping"):
        load_simulation_config(scalar)


def test_unknown_motif_suggests_names():
    with pytest.raises(LiftGenomicsError, match="'motifs'.*GATA1_disc1.*closest: GATA_disc1"):
        simulate_dataset(
            small_config(
                motifs=["GATA1_disc1"],
                classes={"g": {"motifs": ["GATA1_disc1"]}},
                tasks={"t": ["GATA1_disc1"]},
            )
        )


# --------------------------------------------------------------------------- design


def test_class_mix_split_and_ids(paper_data, small_data):
    assert Counter(paper_data.classes) == dict.fromkeys(paper_data.class_names, 2000)
    splits = Counter(paper_data.splits)
    assert (splits["train"], splits["valid"], splits["test"]) == (6400, 800, 800)
    # Splits are stratified by class: 200 of each class in the test set.
    test_classes = Counter(
        c for c, s in zip(paper_data.classes, paper_data.splits, strict=True) if s == "test"
    )
    assert set(test_classes.values()) == {200}
    assert paper_data.names == [f"seq{i}" for i in range(8000)]
    assert Counter(small_data.classes) == dict.fromkeys(small_data.class_names, 100)
    assert all(len(s) == 200 for s in small_data.sequences)


def test_labels_and_classes_agree_with_the_instance_table(small_data):
    table = instances_by_sequence(small_data)
    config = small_data.config
    for i, name in enumerate(small_data.names):
        present = {instance.motif for instance in table[name]}
        assert present == set(config["classes"][small_data.classes[i]]["motifs"])
        expected = [int(set(required) <= present) for required in config["tasks"].values()]
        assert small_data.labels[i].tolist() == expected
    # The paper's label patterns per class.
    patterns = {
        c: tuple(small_data.labels[small_data.classes.index(c)]) for c in small_data.class_names
    }
    assert patterns == {
        "both": (1, 1, 1),
        "gata_only": (0, 1, 0),
        "tal_only": (0, 0, 1),
        "neither": (0, 0, 0),
    }


def test_instances_fit_do_not_overlap_and_match_the_sequence(small_data):
    sequences = dict(zip(small_data.names, small_data.sequences, strict=True))
    motifs = {name: smooth(get_motif(name), 0.001) for name in WIDTHS}
    for name, instances in instances_by_sequence(small_data).items():
        spans = sorted((i.start, i.end) for i in instances)
        assert all(
            a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)
        )
        for instance in instances:
            assert 0 <= instance.start and instance.end <= 200
            assert instance.end - instance.start == WIDTHS[instance.motif]
            assert sequences[name][instance.start : instance.end] == instance.sequence
            # The log-odds is on the sampled strand: undo the reverse complement for '-'.
            sampled = instance.sequence
            if instance.strand == "-":
                sampled = sampled.translate(COMPLEMENT)[::-1]
            expected = scan(one_hot_encode(sampled)[None], log_odds(motifs[instance.motif]))
            assert instance.log_odds == pytest.approx(float(expected[0, 0]), abs=1e-9)
    strands = Counter(i.strand for i in small_data.instances)
    assert strands["+"] > 0 and strands["-"] > 0  # rc_probability 0.5


def test_instance_counts_are_one_to_three(paper_data):
    counts = Counter((i.id, i.motif) for i in paper_data.instances)
    values = Counter(counts.values())
    assert set(values) == {1, 2, 3}
    # Uniform on 1..3: each count about a third of the 8,000 present motifs (sd ~ 42).
    assert all(abs(n - 8000 / 3) < 250 for n in values.values())
    assert all(i.strand == "+" for i in paper_data.instances)  # forward strand by default


def test_background_bases_follow_the_background(paper_data):
    table = instances_by_sequence(paper_data)
    counts = np.zeros(4)
    for name, sequence in zip(paper_data.names, paper_data.sequences, strict=True):
        mask = np.ones(200, dtype=bool)
        for instance in table[name]:
            mask[instance.start : instance.end] = False
        counts += one_hot_encode(sequence)[:, mask].sum(axis=1)
    frequencies = counts / counts.sum()
    np.testing.assert_allclose(frequencies, BACKGROUND, atol=0.003)
    expected = counts.sum() * BACKGROUND
    assert ((counts - expected) ** 2 / expected).sum() < CHI2_CRITICAL_DF3


def test_sampled_bases_follow_the_smoothed_pwm(paper_data):
    for name, width in WIDTHS.items():
        samples = [i.sequence for i in paper_data.instances if i.motif == name]
        counts = base_counts(samples, width)
        pwm = smooth(get_motif(name), 0.001).probabilities
        statistic, df = pooled_chi_square(counts, pwm)
        assert statistic < chi2_critical(df), (name, statistic, df)
        # The same check rejects a PWM mixed 10% with uniform: the test has power.
        wrong = 0.9 * pwm + 0.1 / 4
        statistic, df = pooled_chi_square(counts, wrong)
        assert statistic > chi2_critical(df), (name, statistic, df)


def test_starts_cover_every_position(paper_data):
    for name, width in WIDTHS.items():
        starts = {i.start for i in paper_data.instances if i.motif == name}
        assert starts == set(range(200 - width + 1))


# --------------------------------------------------------------------------- placement


def test_instances_that_cannot_fit_are_refused():
    with pytest.raises(LiftGenomicsError, match="class 'both'.*78 bp, more than 'length' \\(60\\)"):
        simulate_dataset(small_config(length=60))


def test_placement_gives_up_after_bounded_tries(monkeypatch):
    monkeypatch.setattr(simulate_module, "MAX_PLACEMENT_TRIES", 1)
    config = small_config(
        length=30,
        motifs=["GATA_disc1"],
        instances_per_motif=[3, 3],
        classes={"g": {"motifs": ["GATA_disc1"]}},
        tasks={"t": ["GATA_disc1"]},
    )
    with pytest.raises(LiftGenomicsError, match="could not place 3 motif instances.*after 1 tries"):
        simulate_dataset(config)


def test_tight_packing_succeeds_with_retries():
    # Three 10 bp instances in 36 bp: a random first placement often leaves no room for the
    # third, so this only works because a sequence starts over when placement fails.
    config = small_config(
        n_sequences=50,
        length=36,
        motifs=["GATA_disc1"],
        instances_per_motif=[3, 3],
        classes={"g": {"motifs": ["GATA_disc1"]}},
        tasks={"t": ["GATA_disc1"]},
    )
    data = simulate_dataset(config)
    assert len(data.instances) == 150
    for instances in instances_by_sequence(data).values():
        spans = sorted((i.start, i.end) for i in instances)
        assert all(
            a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)
        )


# --------------------------------------------------------------------------- own motifs


def test_motifs_from_a_meme_file(tmp_path, monkeypatch):
    (tmp_path / "own.meme").write_text(
        "MEME version 4\n\nALPHABET= ACGT\n\nMOTIF CG4\nletter-probability matrix: w= 4\n"
        "0 1 0 0\n0 0 1 0\n0 1 0 0\n0 0 1 0\n"
    )
    monkeypatch.chdir(tmp_path)  # a relative motif_file is taken from the working directory
    config = small_config(
        n_sequences=60,
        length=50,
        motifs=["CG4"],
        motif_file="own.meme",
        pseudocount=0.0,
        instances_per_motif=[2, 2],
        classes={"with": {"motifs": ["CG4"], "weight": 2}, "without": {"motifs": []}},
        tasks={"has_cg4": ["CG4"]},
        valid_fraction=0.0,
    )
    data = simulate_dataset(config)
    assert Counter(data.classes) == {"with": 40, "without": 20}
    assert data.task_names == ["has_cg4"]
    assert {i.sequence for i in data.instances} == {"CGCG"}
    assert len(data.instances) == 80
    assert data.labels[:, 0].tolist() == [int(c == "with") for c in data.classes]


# --------------------------------------------------------------------------- files


def read_tsv(path):
    lines = path.read_text().splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def test_written_files_are_consistent(tmp_path, small_data):
    write_simulation(small_data, tmp_path)
    all_ids = []
    for split in SPLITS:
        records = read_fasta(tmp_path / f"{split}.fa")
        ids = [name for name, _ in records]
        all_ids += ids
        assert ids == [
            n for n, s in zip(small_data.names, small_data.splits, strict=True) if s == split
        ]
        header, rows = read_tsv(tmp_path / f"{split}.labels.tsv")
        assert header == ["id", "task0", "task1", "task2"]
        assert [row[0] for row in rows] == ids
        index = {name: i for i, name in enumerate(small_data.names)}
        assert [[int(v) for v in row[1:]] for row in rows] == [
            small_data.labels[index[name]].tolist() for name in ids
        ]
        header, rows = read_tsv(tmp_path / f"{split}.motifs.tsv")
        assert header == ["id", "start", "end", "motif", "strand", "sequence", "log_odds"]
        sequences = dict(records)
        for row in rows:
            assert sequences[row[0]][int(row[1]) : int(row[2])] == row[5]
        assert len(rows) == sum(i.id in sequences for i in small_data.instances)
        header, rows = read_tsv(tmp_path / f"{split}.classes.tsv")
        assert header == ["id", "class"] and [row[0] for row in rows] == ids
    assert sorted(all_ids) == sorted(small_data.names)
    test_records = read_fasta(tmp_path / "test.fa")
    with np.load(tmp_path / "test.ohe.npz") as archive:
        X = archive["arr_0"]
    assert X.dtype == np.float32 and X.shape == (len(test_records), 4, 200)
    np.testing.assert_array_equal(X, one_hot_encode_batch([s for _, s in test_records]))
    assert load_simulation_config(tmp_path / "simulation.yaml") == small_data.config


def test_same_seed_gives_byte_identical_files(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"simulation": small_config(n_sequences=200)}))
    simulate(config, tmp_path / "a")
    simulate(config, tmp_path / "b")
    # Re-simulating from the written provenance config reproduces the data set too.
    simulate(tmp_path / "a" / "simulation.yaml", tmp_path / "c")
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(files) == 4 * 3 + 2
    for name in files:
        reference = (tmp_path / "a" / name).read_bytes()
        assert (tmp_path / "b" / name).read_bytes() == reference, name
        assert (tmp_path / "c" / name).read_bytes() == reference, name
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(small_config(n_sequences=200, seed=8)))
    simulate(other, tmp_path / "d")
    assert (tmp_path / "d" / "train.fa").read_bytes() != (tmp_path / "a" / "train.fa").read_bytes()


def test_default_config_file_is_package_data():
    raw = default_simulation_config()
    assert raw["n_sequences"] == 8000 and set(raw) == set(CONFIG_KEYS)
