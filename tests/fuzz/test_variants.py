"""Fuzzed readers of ``liftgenomics variants`` (VCF through pysam, chrombpnet's table layout;
see tests/fuzz/corpus.py): each mutated case reads, plans and windows its variants, or raises
LiftGenomicsError in one line, in time."""

from tests.fuzz.harness import reader_tests

test_the_valid_seed_reads, test_mutated_cases_read_or_refuse_in_one_line = reader_tests(
    "variants"
)
