"""Genome inputs: the one-hot codec and FASTA files, regions from BED, control tracks, and the
references that attribution compares sequences with (dinucleotide shuffles, GC-matched, flat).

Nothing here imports torch; every other room builds on it.
"""
