"""Scoring a user's regions: ``score`` (options, the batch pipeline, the npz/TSV writers and
bigWig tracks), the heads a model's outputs are explained by, the workflow's chunked
``attribute`` and the gathering of chunks and region scores.
"""
