"""The fuzzing harness itself: seeded mutators are reproducible, and the contract check flags
each kind of failure (another exception, a multi-line message, a timeout, an unpickle)."""

from __future__ import annotations

import io
import pickle
import random
import time

import numpy as np
import pytest

from liftgenomics.errors import LiftGenomicsError
from tests.fuzz.corpus import READERS, sequences_fasta
from tests.fuzz.mutations import (
    BYTE_MUTATORS,
    ERROR,
    MULTILINE,
    REFUSED,
    TEXT_MUTATORS,
    TIMEOUT,
    UNPICKLE,
    VALID,
    mutate_tree,
    run_case,
)


@pytest.mark.parametrize("mutator", BYTE_MUTATORS + TEXT_MUTATORS, ids=lambda m: m.__name__)
def test_mutators_are_seeded(mutator):
    data = sequences_fasta()
    assert mutator(data, random.Random(1)) == mutator(data, random.Random(1))


def test_tree_mutations_are_seeded_and_leave_the_input_alone():
    tree = {"a": [1, 2, {"b": "c"}], "d": 1.5}
    copies = [mutate_tree(tree, random.Random(seed)) for seed in (3, 3)]
    assert copies[0] == copies[1] and tree == {"a": [1, 2, {"b": "c"}], "d": 1.5}


def test_every_reader_has_a_family_test_module():
    from pathlib import Path

    modules = {path.stem for path in Path(__file__).parent.glob("test_*.py")}
    assert {f"test_{reader.family}" for reader in READERS.values()} <= modules


def _raise(error):
    def read():
        raise error

    return read


def test_the_contract_names_each_outcome():
    assert run_case(lambda: None).kind == VALID
    assert run_case(_raise(LiftGenomicsError("f.bed:3: bad"))).kind == REFUSED
    assert run_case(_raise(LiftGenomicsError("f.bed:3: bad\nmore"))).kind == MULTILINE
    assert run_case(_raise(LiftGenomicsError(""))).kind == MULTILINE
    assert run_case(_raise(KeyError("x"))).kind == ERROR
    assert run_case(lambda: time.sleep(2), seconds=0.2).kind == TIMEOUT


def test_reaching_an_unrestricted_unpickler_fails_even_when_swallowed():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)

    def load_object_array():
        buffer.seek(0)
        np.load(buffer, allow_pickle=True)

    def swallow():
        try:
            pickle.loads(pickle.dumps(1))
        except BaseException:  # noqa: BLE001 - what a careless reader might do
            pass

    assert run_case(load_object_array).kind == UNPICKLE
    assert run_case(swallow).kind == UNPICKLE
    assert pickle.loads(pickle.dumps(1)) == 1  # restored afterwards
