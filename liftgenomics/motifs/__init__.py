"""Motifs: PWMs and the ENCODE compendium (MEME files), log-odds scanning, de novo discovery
with TF-MoDISco named by TOMTOM, and the grading of discovered patterns against a known truth.
"""
