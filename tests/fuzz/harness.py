"""The one hypothesis test every ``tests/fuzz`` module instantiates for its family of readers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.corpus import family, run_seeded_case
from tests.fuzz.mutations import VALID

#: Cases per reader in the test suite (benchmarks/fuzz.py runs thousands).
EXAMPLES = 50


def reader_tests(name: str, examples: int = EXAMPLES):
    """(the unmutated seed reads, mutated cases keep the contract) tests for family ``name``."""
    readers = family(name)

    @pytest.mark.parametrize("reader", readers)
    def test_the_valid_seed_reads(reader):
        assert run_seeded_case(reader, None) == VALID

    @pytest.mark.parametrize("reader", readers)
    @settings(derandomize=True, max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(seed=st.integers(min_value=0, max_value=2**32 - 1))
    def test_mutated_cases_read_or_refuse_in_one_line(reader, seed):
        run_seeded_case(reader, seed)

    return test_the_valid_seed_reads, test_mutated_cases_read_or_refuse_in_one_line
