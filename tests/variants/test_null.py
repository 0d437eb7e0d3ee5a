"""Empirical p-values, BH q-values and the null file, against brute-force oracles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kstest

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.variants.null import (
    META_KEY,
    bh_q,
    check_meta,
    empirical_p,
    pvalue_columns,
    read_null,
    write_null,
)

META = {"model_hash": "abc123", "length": 2114, "n_shuffles": 10, "seed": 7}


def brute_p(observed, null):
    """(#{null >= observed} + 1) / (N + 1), one loop per observed value."""
    pvalues = []
    for value in observed:
        count = 0
        for background in null:
            if background >= value:
                count += 1
        pvalues.append((count + 1) / (len(null) + 1))
    return np.array(pvalues)


def brute_bh(p):
    """q_i = min(1, min over sorted ranks k with p_(k) >= p_i of m · p_(k) / k)."""
    ranked = sorted(p)
    m = len(p)
    return np.array([
        min(1.0, min(m * ranked[k] / (k + 1) for k in range(m) if ranked[k] >= value))
        for value in p
    ])  # fmt: skip


# --- empirical p-values -----------------------------------------------------------------------


def test_empirical_p_matches_brute_force_counting_with_ties():
    rng = np.random.default_rng(0)
    null = rng.integers(0, 10, size=300).astype(float)  # many ties
    observed = rng.integers(-2, 13, size=80).astype(float)
    np.testing.assert_allclose(empirical_p(observed, null), brute_p(observed, null))
    # Observed values equal to every null value count them all; above every one: 1 / (N + 1).
    assert empirical_p(np.array([-5.0]), null)[0] == 1.0
    assert empirical_p(np.array([99.0]), null)[0] == 1 / 301


def test_empirical_p_nan_handling_and_shape():
    null = np.array([1.0, np.nan, 2.0, 3.0])
    p = empirical_p(np.array([[2.0, np.nan], [0.0, 4.0]]), null)
    assert p.shape == (2, 2)
    np.testing.assert_allclose(p, [[3 / 4, np.nan], [1.0, 1 / 4]])
    with pytest.raises(LiftGenomicsError, match="empty"):
        empirical_p(np.array([1.0]), np.array([]))
    with pytest.raises(LiftGenomicsError, match="empty"):
        empirical_p(np.array([1.0]), np.array([np.nan, np.nan]))


def test_pvalues_are_uniform_under_the_null():
    rng = np.random.default_rng(12345)
    null = np.abs(rng.normal(size=20000))
    observed = np.abs(rng.normal(size=3000))
    result = kstest(empirical_p(observed, null), "uniform")
    assert result.pvalue > 0.01


# --- q-values ---------------------------------------------------------------------------------


def test_bh_q_matches_brute_force():
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.uniform(size=60) ** 3, [0.5, 0.5, 0.01, 0.01, 1.0]])
    np.testing.assert_allclose(bh_q(p), brute_bh(list(p)))


def test_bh_q_hand_values_monotone_capped_and_nans():
    # m = 4: 4·p/k = 0.04, 0.06, 0.0533, 0.8 -> running minimum from the top.
    q = bh_q(np.array([0.01, 0.03, 0.04, 0.8]))
    np.testing.assert_allclose(q, [0.04, 0.16 / 3, 0.16 / 3, 0.8])
    p = np.array([0.9, np.nan, 0.95, 0.2])
    q = bh_q(p)
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[[0, 2, 3]], bh_q(np.array([0.9, 0.95, 0.2])))
    rng = np.random.default_rng(2)
    p = rng.uniform(size=200)
    q = bh_q(p)
    order = np.argsort(p)
    assert (np.diff(q[order]) >= 0).all() and q.max() <= 1.0 and (q >= p).all()
    assert bh_q(np.array([])).shape == (0,)
    with pytest.raises(LiftGenomicsError, match=r"\[0, 1\]"):
        bh_q(np.array([0.5, 1.5]))


def test_pvalue_columns_names_and_values():
    rng = np.random.default_rng(3)
    observed = {"abs_logfc": rng.uniform(size=20), "jsd": rng.uniform(size=20), "logfc": 1.0}
    null = {"abs_logfc": rng.uniform(size=100), "jsd": rng.uniform(size=100)}
    columns = pvalue_columns(observed, null, ["abs_logfc", "jsd"])
    assert list(columns) == ["abs_logfc.pval", "abs_logfc.qval", "jsd.pval", "jsd.qval"]
    p = brute_p(observed["jsd"], null["jsd"])
    np.testing.assert_allclose(columns["jsd.pval"], p)
    np.testing.assert_allclose(columns["jsd.qval"], brute_bh(list(p)))
    with pytest.raises(LiftGenomicsError, match="'logfc' is missing from the null"):
        pvalue_columns(observed, null, ["logfc"])


# --- the null file ----------------------------------------------------------------------------


def test_null_file_round_trip(tmp_path):
    path = tmp_path / "null.npz"
    columns = {"abs_logfc": np.array([0.1, 0.2, np.nan]), "jsd": np.array([0.3, 0.0, 0.5])}
    meta = dict(META, seed=np.int64(7), shuffles=[1, 2])
    write_null(path, columns, meta)
    read_columns, read_meta = read_null(path)
    assert list(read_columns) == ["abs_logfc", "jsd"]
    for name, values in columns.items():
        np.testing.assert_array_equal(read_columns[name], values)
    assert read_meta == dict(META, shuffles=[1, 2])
    assert [p.name for p in tmp_path.iterdir()] == ["null.npz"]  # no temporary left behind
    check_meta(read_meta, {"length": 2114, "model_hash": "abc123"}, path)
    with pytest.raises(LiftGenomicsError, match="length=2114, this run has 1000"):
        check_meta(read_meta, {"length": 1000}, path)


def test_null_file_refusals(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, np.arange(3.0))
    with pytest.raises(LiftGenomicsError, match=r"other\.npz: not a liftgenomics variant null"):
        read_null(other)
    forged = tmp_path / "forged.npz"
    np.savez(forged, jsd=np.arange(3.0), **{META_KEY: np.array('{"format": "x"}')})
    with pytest.raises(LiftGenomicsError, match="forged.npz: not a liftgenomics variant null"):
        read_null(forged)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(LiftGenomicsError, match="garbage.npz: not a readable .npz"):
        read_null(garbage)
    with pytest.raises(LiftGenomicsError, match="missing.npz: null file not found"):
        read_null(tmp_path / "missing.npz")
    with pytest.raises(LiftGenomicsError, match="lack n_shuffles, seed"):
        write_null(tmp_path / "n.npz", {"jsd": np.zeros(2)}, {"model_hash": "a", "length": 4})
    with pytest.raises(LiftGenomicsError, match="differ in length"):
        write_null(tmp_path / "n.npz", {"jsd": np.zeros(2), "abs_logfc": np.zeros(3)}, META)
    with pytest.raises(LiftGenomicsError, match="not JSON"):
        write_null(tmp_path / "n.npz", {"jsd": np.zeros(2)}, dict(META, model=object()))
    assert not (tmp_path / "n.npz").exists()
