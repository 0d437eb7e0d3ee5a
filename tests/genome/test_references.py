"""Tests for liftgenomics.genome.references and liftgenomics.genome.shuffles: uniform
dinucleotide shuffles, GC-matched, flat, zero, FASTA references and reference specs."""

import collections
import dataclasses
import math
import random
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import liftgenomics.genome.shuffles as shuffles
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.genome.references import (
    DEFAULT_BACKGROUND,
    ReferenceSpec,
    flat,
    from_fasta,
    parse_reference_spec,
    zero,
)
from liftgenomics.genome.sequence import decode, one_hot_encode_batch
from liftgenomics.genome.shuffles import (
    ShuffleWarning,
    count_dinucleotide_shuffles,
    dinucleotide_shuffle,
    gc_matched,
)

ALPHA = 1e-3


# ---------------------------------------------------------------------------------------------
# Helpers: brute-force enumeration, the naive shuffle, chi-square


def arrangements(sequence: str) -> list[str]:
    """Every sequence with the same N positions, and per run between Ns the same first base
    and dinucleotide counts (hence the same last base), by depth-first search."""
    combined = [""]
    for index, run in enumerate(sequence.split("N")):
        separator = "N" if index else ""
        combined = [c + separator + r for c in combined for r in _run_arrangements(run)]
    return combined


def _run_arrangements(run: str) -> list[str]:
    if len(run) <= 1:
        return [run]
    remaining = collections.Counter(zip(run, run[1:], strict=False))
    found = []

    def extend(path: list[str]) -> None:
        if len(path) == len(run):
            found.append("".join(path))
            return
        for base in "ACGT":
            if remaining[path[-1], base]:
                remaining[path[-1], base] -= 1
                path.append(base)
                extend(path)
                path.pop()
                remaining[path[-1], base] += 1

    extend([run[0]])
    return found


def naive_shuffle(sequence: str, rng: random.Random) -> str:
    """deeplift/tangermeme's shuffle: each base's successors are shuffled except the last."""
    successors = {
        base: [sequence[i + 1] for i in range(len(sequence) - 1) if sequence[i] == base]
        for base in set(sequence)
    }
    for base, following in successors.items():
        head = following[:-1]
        rng.shuffle(head)
        successors[base] = head + following[-1:]
    out, used = [sequence[0]], dict.fromkeys(successors, 0)
    for _ in range(len(sequence) - 1):
        base = out[-1]
        out.append(successors[base][used[base]])
        used[base] += 1
    return "".join(out)


def chi_square_p(observed: np.ndarray, expected: float) -> tuple[float, float]:
    """Pearson chi-square statistic against uniform, and its upper tail (Wilson-Hilferty)."""
    statistic = float(((observed - expected) ** 2 / expected).sum())
    k = observed.size - 1
    z = ((statistic / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))
    return statistic, 0.5 * math.erfc(z / math.sqrt(2))


def runs(codes: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of A/C/G/T in a row of codes (4 = N)."""
    found, start = [], None
    for i, code in enumerate(list(codes) + [4]):
        if code < 4 and start is None:
            start = i
        elif code == 4 and start is not None:
            found.append((start, i))
            start = None
    return found


def codes_of(X: np.ndarray) -> np.ndarray:
    return np.where(X.sum(axis=-2) > 0, X.argmax(axis=-2), 4)


def dinucleotide_counts(codes: np.ndarray) -> np.ndarray:
    """16 counts of adjacent A/C/G/T pairs (pairs touching an N are not counted)."""
    left, right = codes[:-1], codes[1:]
    keep = (left < 4) & (right < 4)
    return np.bincount(left[keep] * 4 + right[keep], minlength=16)


def shuffled_strings(sequence: str, n: int, seed: int) -> collections.Counter:
    X = one_hot_encode_batch([sequence])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShuffleWarning)
        shuffles = dinucleotide_shuffle(X, n, seed=seed)
    return collections.Counter(decode(s) for s in shuffles[0])


# ---------------------------------------------------------------------------------------------
# Dinucleotide shuffles: invariants

ALPHABETS = ["ACGT", "ACGT", "AC", "A", "AT", "ACGTN", "GCN", "AN", "ACGTNNNN"]


@st.composite
def batches(draw) -> list[str]:
    alphabet = draw(st.sampled_from(ALPHABETS))
    length = draw(st.integers(1, 40))
    count = draw(st.integers(1, 4))
    letter = st.sampled_from(alphabet)
    return ["".join(draw(st.lists(letter, min_size=length, max_size=length))) for _ in range(count)]


@settings(max_examples=150, deadline=None)
@given(batch=batches(), n=st.integers(1, 6), seed=st.integers(0, 2**63))
def test_shuffles_keep_counts_ends_and_ns(batch, n, seed):
    X = one_hot_encode_batch(batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShuffleWarning)
        shuffles = dinucleotide_shuffle(X, n, seed=seed)
    assert shuffles.shape == (len(batch), n, 4, X.shape[-1])
    assert shuffles.dtype == np.float32
    assert set(np.unique(shuffles)) <= {0.0, 1.0}
    assert (shuffles.sum(axis=2) <= 1).all()
    for i, sequence in enumerate(batch):
        original = codes_of(X[i])
        # Full membership check only where brute-force enumeration is cheap.
        allowed = set(arrangements(sequence)) if len(sequence) <= 12 else None
        for shuffle in codes_of(shuffles[i]):
            np.testing.assert_array_equal(shuffle == 4, original == 4)
            np.testing.assert_array_equal(
                dinucleotide_counts(shuffle), dinucleotide_counts(original)
            )
            for start, stop in runs(original):
                assert shuffle[start] == original[start]
                assert shuffle[stop - 1] == original[stop - 1]
            if allowed is not None:
                assert decode(np.eye(5, 4, dtype=np.float32)[shuffle].T) in allowed


@pytest.mark.parametrize(
    "sequence", ["A", "AC", "ACG", "AAC", "ACA", "N", "NN", "ANC", "ACNGT", "AAAAAAAA"]
)
def test_single_arrangement_gives_copies_and_one_warning(sequence):
    X = one_hot_encode_batch([sequence, sequence])
    with pytest.warns(ShuffleWarning, match="2 of 2 sequences") as record:
        shuffles = dinucleotide_shuffle(X, 3, seed=0)
    assert len(record) == 1
    np.testing.assert_array_equal(shuffles, np.broadcast_to(X[:, None], shuffles.shape))


def test_no_warning_when_every_sequence_can_move():
    X = one_hot_encode_batch(["ACGTTGCAAG", "AACAACAGCA"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dinucleotide_shuffle(X, 4, seed=0)


def test_warning_counts_only_the_fixed_sequences():
    X = one_hot_encode_batch(["ACGTTGCAAG", "AAAAAAAAAA", "AACAACAGCA"])
    with pytest.warns(ShuffleWarning, match="1 of 3 sequences"):
        dinucleotide_shuffle(X, 2, seed=0)


# ---------------------------------------------------------------------------------------------
# Uniformity against brute-force enumeration

UNIFORMITY_CASES = [
    "GCCAGGCGACGG",  # 450 arrangements; the naive shuffle reaches 72 of them
    "TTAGCATTACGAT",  # 108
    "ACAGCATGCANTTAGCATTACGAT",  # 6 x 108, two runs shuffled separately
    "CCCACTCGCCC",  # first base == last base: an Eulerian circuit
]


@pytest.mark.parametrize("sequence", UNIFORMITY_CASES)
def test_shuffles_are_uniform(sequence):
    everything = arrangements(sequence)
    per_cell = 20
    counts = shuffled_strings(sequence, per_cell * len(everything), seed=2024)
    assert set(counts) == set(everything)  # every arrangement is reached, nothing else
    observed = np.array([counts[a] for a in everything])
    statistic, p = chi_square_p(observed, per_cell)
    assert p > ALPHA, f"chi-square {statistic:.1f} on {len(everything) - 1} df, p = {p:.2g}"


def test_naive_fixed_last_edge_shuffle_fails_the_same_test():
    sequence = UNIFORMITY_CASES[0]
    everything = arrangements(sequence)
    rng = random.Random(0)
    counts = collections.Counter(naive_shuffle(sequence, rng) for _ in range(20 * len(everything)))
    assert len(counts) < len(everything)  # it cannot reach most arrangements
    _, p = chi_square_p(np.array([counts[a] for a in everything]), 20)
    assert p < ALPHA


@settings(max_examples=40, deadline=None)
@given(batch=batches())
def test_count_matches_enumeration(batch):
    batch = [s[:12] for s in batch]
    X = one_hot_encode_batch(batch)
    expected = [len(arrangements(s)) for s in batch]
    np.testing.assert_array_equal(count_dinucleotide_shuffles(X), expected)


# ---------------------------------------------------------------------------------------------
# Seeds, batching, input types and errors


def random_batch(n: int, length: int, seed: int, with_n: bool = True) -> np.ndarray:
    codes = np.random.default_rng(seed).integers(0, 4, size=(n, length))
    X = np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1).copy()
    if with_n:
        X[3, :, 10:13] = 0  # a run of N
        X[5, :, [0, length // 2, length - 1]] = 0  # N at both ends and alone
    return X


@pytest.mark.parametrize("make", [dinucleotide_shuffle, gc_matched])
def test_same_seed_same_references_and_independent_of_batching(make, monkeypatch):
    X = random_batch(20, 80, seed=1)
    whole = make(X, 6, seed=7)
    np.testing.assert_array_equal(whole, make(X, 6, seed=7))
    assert not np.array_equal(whole, make(X, 6, seed=8))
    parts = np.concatenate([make(X[:7], 6, seed=7), make(X[7:], 6, seed=7, start_index=7)])
    np.testing.assert_array_equal(parts, whole)
    # The first shuffles do not depend on how many are asked for.
    np.testing.assert_array_equal(make(X, 2, seed=7), whole[:, :2])
    # Nor on the internal chunking.
    monkeypatch.setattr(shuffles, "_CHUNK_SLOTS", 500)
    np.testing.assert_array_equal(make(X, 6, seed=7), whole)


def test_shuffles_of_a_sequence_differ_from_each_other():
    X = random_batch(4, 200, seed=3, with_n=False)
    shuffles = codes_of(dinucleotide_shuffle(X, 10, seed=0))
    for row in shuffles:
        assert len({r.tobytes() for r in row}) == 10


def test_torch_in_torch_out():
    X = random_batch(6, 50, seed=2)
    expected = dinucleotide_shuffle(X, 3, seed=4)
    result = dinucleotide_shuffle(torch.from_numpy(X).double(), 3, seed=4)
    assert torch.is_tensor(result) and result.dtype == torch.float64
    np.testing.assert_array_equal(result.numpy(), expected)
    gc = gc_matched(torch.from_numpy(X), 3, seed=4)
    assert torch.is_tensor(gc) and gc.dtype == torch.float32


def test_empty_inputs():
    assert dinucleotide_shuffle(np.zeros((0, 4, 30), np.float32), 3, seed=0).shape == (0, 3, 4, 30)
    with pytest.warns(ShuffleWarning):
        assert dinucleotide_shuffle(np.zeros((2, 4, 0), np.float32), 3, 0).shape == (2, 3, 4, 0)


@pytest.mark.parametrize(
    ("X", "n", "seed", "start", "match"),
    [
        (np.full((2, 4, 10), 0.25, np.float32), 2, 0, 0, "not one-hot"),
        (np.ones((2, 4, 10), np.float32), 2, 0, 0, "not one-hot"),
        (np.zeros((4, 10), np.float32), 2, 0, 0, r"shape \(N, 4, L\)"),
        (np.zeros((2, 5, 10), np.float32), 2, 0, 0, r"shape \(N, 4, L\)"),
        (np.zeros((2, 4, 10), np.float32), 0, 0, 0, "n must be a positive integer"),
        (np.zeros((2, 4, 10), np.float32), 2.0, 0, 0, "n must be a positive integer"),
        (np.zeros((2, 4, 10), np.float32), 2, -1, 0, "seed must be a non-negative"),
        (np.zeros((2, 4, 10), np.float32), 2, 0, -3, "start_index must be a non-negative"),
    ],
)
@pytest.mark.parametrize("make", [dinucleotide_shuffle, gc_matched])
def test_bad_input_is_a_clear_error(make, X, n, seed, start, match):
    with pytest.raises(LiftGenomicsError, match=match) as error:
        make(X, n, seed, start)
    assert "\n" not in str(error.value)


# ---------------------------------------------------------------------------------------------
# GC-matched, flat, zero, FASTA


def test_gc_matched_tracks_each_sequence_gc():
    rng = np.random.default_rng(0)
    targets = [0.0, 0.2, 0.5, 0.8, 1.0]
    sequences = []
    for gc in targets:
        gc_bases = rng.random(300) < gc
        letters = np.where(gc_bases, rng.choice(list("CG"), 300), rng.choice(list("AT"), 300))
        letters[:20] = "N"
        sequences.append("".join(letters))
    X = one_hot_encode_batch(sequences)
    refs = gc_matched(X, 40, seed=3)
    assert refs.shape == (5, 40, 4, 300) and refs.dtype == np.float32
    np.testing.assert_array_equal(refs[:, :, :, :20], 0)  # N stays N
    assert (refs[:, :, :, 20:].sum(axis=2) == 1).all()
    counts = refs[:, :, :, 20:].sum(axis=(1, 3))  # (5, 4) base totals
    total = 40 * 280
    for i in range(5):
        own = X[i, 1:3].sum() / X[i].sum()
        sd = math.sqrt(own * (1 - own) / total) + 1e-12
        observed = counts[i, 1:3].sum() / total
        assert abs(observed - own) <= 4 * sd + 1e-12
        # G and C equally likely, and A and T.
        for a, b in ((1, 2), (0, 3)):
            pair = counts[i, a] + counts[i, b]
            if pair:
                assert abs(counts[i, a] - pair / 2) <= 4 * math.sqrt(pair / 4)


def test_gc_matched_all_n_sequence_stays_zero():
    X = one_hot_encode_batch(["NNNNNN", "ACGTNN"])
    refs = gc_matched(X, 3, seed=0)
    np.testing.assert_array_equal(refs[0], 0)


def test_flat_and_zero():
    reference = flat(7)
    assert reference.shape == (4, 7) and reference.dtype == np.float32
    np.testing.assert_allclose(reference, np.repeat(np.array(DEFAULT_BACKGROUND)[:, None], 7, 1))
    np.testing.assert_allclose(flat(3, (0.25, 0.25, 0.25, 0.25)), 0.25)
    assert zero(5).shape == (4, 5) and not zero(5).any()
    with pytest.raises(LiftGenomicsError, match="sum to 1"):
        flat(3, (0.3, 0.3, 0.3, 0.3))
    with pytest.raises(LiftGenomicsError, match="4 frequencies"):
        flat(3, (0.5, 0.5))


def write(tmp_path, text: str, name: str = "refs.fa"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_from_fasta(tmp_path):
    path = write(tmp_path, ">one\nACGTN\n>two\nacg\nTA\n")
    refs = from_fasta(path, 5)
    assert refs.shape == (2, 4, 5) and refs.dtype == np.float32
    assert decode(refs[0]) == "ACGTN" and decode(refs[1]) == "ACGTA"
    with pytest.raises(LiftGenomicsError, match="'one' has length 5, expected 6"):
        from_fasta(path, 6)
    with pytest.raises(LiftGenomicsError, match="invalid base 'X'"):
        from_fasta(write(tmp_path, ">bad\nACXT\n", "bad.fa"), 4)


# ---------------------------------------------------------------------------------------------
# Reference specs


def test_parse_every_valid_form(tmp_path):
    path = write(tmp_path, ">a\nACGT\n>b\nTTTT\n>c\nNNNN\n", "my refs.fa")
    cases = {
        "dinuc:20": ("dinuc", 20, "dinuc20"),
        " DINUC:3 ": ("dinuc", 3, "dinuc3"),
        "gc:15": ("gc", 15, "gc15"),
        "flat": ("flat", 1, "flat"),
        "flat:0.25,0.25,0.25,0.25": ("flat", 1, "flat_0.25_0.25_0.25_0.25"),
        "flat:0.3,0.2,0.2,0.3": ("flat", 1, "flat"),
        "zero": ("zero", 1, "zero"),
        f"fasta:{path}": ("fasta", 3, "fasta_my_refs"),
    }
    for text, (kind, n, name) in cases.items():
        spec = parse_reference_spec(text)
        assert (spec.kind, spec.n, spec.name) == (kind, n, name), text
        assert parse_reference_spec(str(spec)) == spec
    assert parse_reference_spec("flat").background == DEFAULT_BACKGROUND
    assert parse_reference_spec("flat:0.1,0.4,0.4,0.1").background == (0.1, 0.4, 0.4, 0.1)
    assert parse_reference_spec(f"fasta:{path}").path == str(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty reference spec"),
        ("   ", "empty reference spec"),
        ("shuffle:20", "unknown kind 'shuffle'; valid kinds: dinuc, gc, flat, zero, fasta"),
        ("dinucleotide", "unknown kind"),
        ("dinuc", "needs a count"),
        ("gc:", "needs a count"),
        ("dinuc:0", "positive integer, got '0'"),
        ("dinuc:-2", "positive integer, got '-2'"),
        ("dinuc:2.5", "positive integer, got '2.5'"),
        ("gc:many", "positive integer, got 'many'"),
        ("flat:0.5,0.5", "expected 4 frequencies"),
        ("flat:a,b,c,d", "4 comma-separated numbers"),
        ("flat:", "4 comma-separated numbers"),
        ("flat:0.3,0.2,0.2,0.2", "sum to 1"),
        ("flat:0,0.5,0.25,0.25", "positive numbers"),
        ("flat:nan,0.5,0.25,0.25", "positive numbers"),
        ("flat:-0.1,0.6,0.25,0.25", "positive numbers"),
        ("zero:1", "zero takes no argument"),
        ("fasta:", "fasta needs a path"),
        ("fasta:/no/such/file.fa", "FASTA file not found"),
    ],
)
def test_parse_errors_are_one_line(text, match):
    with pytest.raises(LiftGenomicsError, match=match) as error:
        parse_reference_spec(text)
    assert "\n" not in str(error.value)


def test_parse_rejects_non_strings_and_tolerates_sum_rounding():
    with pytest.raises(LiftGenomicsError, match="must be a string"):
        parse_reference_spec(20)
    assert parse_reference_spec("flat:0.3,0.2,0.2,0.3005").background[3] == 0.3005


def test_spec_is_frozen_and_checked():
    spec = parse_reference_spec("dinuc:5")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.n = 3
    with pytest.raises(LiftGenomicsError, match="positive integer"):
        ReferenceSpec("gc", n=0)
    with pytest.raises(LiftGenomicsError, match="n = 1"):
        ReferenceSpec("flat", n=2)
    with pytest.raises(LiftGenomicsError, match="unknown reference kind"):
        ReferenceSpec("ones")
    assert ReferenceSpec("flat").background == DEFAULT_BACKGROUND


def test_generate_every_kind(tmp_path):
    X = random_batch(6, 80, seed=5)
    path = write(tmp_path, ">a\n" + "AC" * 40 + "\n>b\n" + "N" * 80 + "\n")
    for text, k in [("dinuc:4", 4), ("gc:3", 3), ("flat", 1), ("zero", 1), (f"fasta:{path}", 2)]:
        refs = parse_reference_spec(text).generate(X, seed=9, start_index=2)
        assert refs.shape == (6, k, 4, 80) and refs.dtype == np.float32, text
    dinuc = parse_reference_spec("dinuc:4").generate(X, seed=9, start_index=2)
    np.testing.assert_array_equal(dinuc, dinucleotide_shuffle(X, 4, 9, start_index=2))
    shared = parse_reference_spec("flat:0.25,0.25,0.25,0.25").generate(X, seed=0)
    assert not shared.flags.writeable  # a broadcast view, documented as read-only
    np.testing.assert_allclose(shared, 0.25)
    fasta = parse_reference_spec(f"fasta:{path}").generate(torch.from_numpy(X), seed=0)
    assert decode(fasta[3, 0]) == "AC" * 40 and not fasta[3, 1].any()
    with pytest.raises(LiftGenomicsError, match="'a' has length 80, expected 50"):
        parse_reference_spec(f"fasta:{path}").generate(X[:, :, :50], seed=0)


def test_an_all_n_sequence_beside_others_stays_all_n():
    """Found by hypothesis in CI: ['NN', 'AA'] wrote the AA walk into the NN row."""
    X = one_hot_encode_batch(["NN", "AA", "NNNN"[:2]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShuffleWarning)
        shuffles = dinucleotide_shuffle(X, 3, seed=0)
    assert (shuffles[0] == 0).all() and (shuffles[2] == 0).all()
    assert (shuffles[1, :, 0] == 1).all()
