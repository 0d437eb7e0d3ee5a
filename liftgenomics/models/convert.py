""":func:`convert_model`: write any readable model source as a liftgenomics model directory.

A chrombpnet ``.h5`` (or folder/tarball of folds), a Keras model, a pickled bpnet-lite model or a
model directory is read once by its reader, which records ``model.architecture`` (the registry
dict that rebuilds it); the weights and that dict are saved with
:func:`~liftgenomics.models.directory.save_model`, so later runs load the directory without the
reader. A ``FILE.py:factory`` / ``package.module:factory`` model is refused: it is rebuilt by
its own code, which a directory cannot hold.

The output appears whole or not at all: everything is written into a hidden folder next to it
and renamed into place once complete (into an existing directory, the weights and then the JSON
that names their hash are each replaced atomically). The run holds ``out``'s lock
(:func:`liftgenomics.locks.output_lock`): a second live convert into it is refused in one line, and
one after a hard kill removes the dead run's hidden folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.io import output_errors
from liftgenomics.locks import output_lock
from liftgenomics.models.directory import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    load_model_directory,
    save_model,
)
from liftgenomics.models.load import load_model
from liftgenomics.models.spec import parse_model_spec

#: The sources convert reads, for messages.
CONVERTIBLE = (
    "a model directory, chrombpnet:DIR_OR_H5, keras:MODEL.h5, keras:ARCH.json --weights W.h5 "
    "or bpnet-lite:FILE.torch"
)


def convert_model(
    spec: str | os.PathLike,
    out: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    model_args: str | dict[str, Any] | None = None,
) -> Path:
    """Read the model ``spec`` names and save it as a liftgenomics model directory ``out``.

    Args:
        spec: A ``--model`` spec (see :func:`~liftgenomics.models.load.load_model`), not a
            factory.
        out: The model directory to write (``model.safetensors`` + ``model.json``).
        weights: ``--weights`` of the spec (``keras:ARCH.json`` takes its weights ``.h5``).
        model_args: ``--model-args``; no convertible source takes any (refused by the loader).

    Returns:
        ``out``. Its ``model.json`` metadata records ``source`` (the spec), ``inputs`` (every
        input file with its SHA-256) and the reader's own metadata under ``source_metadata``.

    Raises:
        LiftGenomicsError: one line, for a factory spec, any error of the reader, a model
            without a recorded architecture, or ``out`` being a file; nothing is written then.
    """
    parsed = parse_model_spec(spec)
    if parsed.kind in ("file", "module"):
        raise LiftGenomicsError(
            f"convert: {os.fspath(spec)} is a factory model, rebuilt by its own code; convert "
            f"reads {CONVERTIBLE}"
        )
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LiftGenomicsError(f"convert: --out {out} exists and is not a directory")
    model = load_model(spec, weights=weights, model_args=model_args)
    architecture = getattr(model, "architecture", None)
    if not isinstance(architecture, dict):
        raise LiftGenomicsError(
            f"convert: the reader of {os.fspath(spec)} recorded no architecture to rebuild it from"
        )
    inputs = [Path(parsed.location)] + ([Path(weights)] if weights is not None else [])
    metadata = {
        "source": os.fspath(spec),
        "inputs": {str(file): digest for path in inputs for file, digest in _digests(path)},
        "source_metadata": _json_safe(getattr(model, "metadata", {}) or {}),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with output_errors(out), output_lock(out):
        # Remove staging directories (mkdtemp's names) a killed convert into ``out`` left: we
        # hold the lock, so no live run is writing them.
        staged = re.compile(rf"\.{re.escape(out.name)}\.[a-z0-9_]{{8}}\.part")
        for stale in out.parent.iterdir():
            if staged.fullmatch(stale.name) and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700, as a plain mkdir would make it
        try:
            save_model(model, staging, architecture, metadata)
            _check_saved(model, staging)
            if not out.exists():
                os.replace(staging, out)
            else:
                # Weights first, JSON (naming their hash) last: a crash between leaves a pair the
                # loader refuses rather than mixes.
                for name in (WEIGHTS_FILE, CONFIG_FILE):
                    os.replace(staging / name, out / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out


def _digests(path: Path) -> list[tuple[Path, str]]:
    """(file, SHA-256) for a file, or for every file under a directory."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    result = []
    for file in files:
        digest = hashlib.sha256()
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        result.append((file, digest.hexdigest()))
    return result


def _json_safe(value: Any) -> Any:
    """``value`` when JSON can hold it, else its JSON round trip with str() of the rest."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))


def _check_saved(model: torch.nn.Module, directory: Path) -> None:
    """Refuse a save whose reloaded weights differ from the model's (a wrong architecture)."""
    reloaded = load_model_directory(directory).state_dict()
    for key, value in model.state_dict().items():
        if key not in reloaded or not torch.equal(reloaded[key], value.detach().cpu()):
            raise LiftGenomicsError(f"convert: {key} differs after saving; not written")
