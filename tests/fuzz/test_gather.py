"""Fuzzed readers of the gather family (see tests/fuzz/corpus.py): each mutated case reads or
raises LiftGenomicsError in one line, in time, without unpickling."""

from tests.fuzz.harness import reader_tests

test_the_valid_seed_reads, test_mutated_cases_read_or_refuse_in_one_line = reader_tests("gather")
