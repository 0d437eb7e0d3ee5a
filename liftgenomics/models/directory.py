"""The liftgenomics model directory: pickle-free :func:`save_model` and its reader.

A saved model is a directory with two files:

- ``model.safetensors``: the state dict (safetensors, so loading never runs pickled code);
- ``model.json``: ``{"format": "liftgenomics-model", "version": 1, "architecture": {...},
  "metadata": {...}, "weights_sha256": ...}``. The architecture dict (``{"name": "paper_cnn",
  ...}``) rebuilds the module through :func:`~liftgenomics.models.registry.build_model`; the
  metadata records how it was trained; the hash ties the JSON to the weights written with it.

:func:`load_model_directory` reads such a directory (or either of its files). Loading a model
from any source goes through :func:`liftgenomics.models.load.load_model`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.io import atomic_path, write_text_atomic
from liftgenomics.models.registry import build_model, full_architecture
from liftgenomics.models.state import check_state

MODEL_FORMAT = "liftgenomics-model"
MODEL_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"


def save_model(
    model: nn.Module,
    directory: str | os.PathLike,
    architecture: dict[str, Any],
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Save ``model`` as ``directory/model.safetensors`` + ``directory/model.json``, atomically.

    The weights are written first and the JSON (which names the weights' SHA-256) last, so a
    crash in between leaves a pair that :func:`~liftgenomics.models.load.load_model` refuses
    rather than mixes.

    Args:
        model: The model; its state dict must match ``build_model(architecture)``.
        directory: Output directory (created if needed).
        architecture: The dict that rebuilds the model (see :func:`build_model`).
        metadata: JSON-serialisable facts about training (hyperparameters, epochs, ...).

    Returns:
        The directory.

    Raises:
        LiftGenomicsError: if the architecture is bad, does not match the model's weights, or
            the metadata is not JSON-serialisable.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    architecture = full_architecture(architecture)
    state = {key: value.detach().cpu().contiguous() for key, value in unique_state(model).items()}
    # Built on the meta device: shapes only, no memory and no draw from the global RNG.
    with torch.device("meta"):
        expected = unique_state(build_model(architecture))
    check_state(state, expected, f"model for {directory}")
    document = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "architecture": architecture,
        "metadata": dict(metadata or {}),
    }
    try:
        json.dumps(document, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise LiftGenomicsError(
            f"{directory}: model metadata is not JSON-serialisable ({error})"
        ) from None
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": MODEL_FORMAT})
        digest = _sha256(tmp)
    document["weights_sha256"] = digest
    write_text_atomic(directory / CONFIG_FILE, json.dumps(document, indent=2) + "\n")
    return directory


def load_model_directory(path: str | os.PathLike) -> nn.Module:
    """Load a model saved by :func:`save_model`, in eval mode on the CPU.

    Args:
        path: The model directory, its ``.safetensors`` file, or its ``.json`` file.

    Returns:
        The model, with ``input_length``, a ``metadata`` dict (the saved training metadata)
        and ``architecture`` (the saved architecture dict) as attributes.

    Raises:
        LiftGenomicsError: naming the path, for a missing file, a JSON file that is not a
            liftgenomics model, corrupt or mismatched weights (missing or unexpected keys,
            wrong shapes).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config_path, weights_path = _model_files(Path(path))
    document = _read_config(config_path)
    if not weights_path.is_file():
        raise LiftGenomicsError(f"{weights_path}: model weights file not found")
    expected_digest = document.get("weights_sha256")
    if expected_digest is not None and _sha256(weights_path) != expected_digest:
        raise LiftGenomicsError(
            f"{weights_path}: weights do not match {config_path.name} (SHA-256 differs); the "
            "files come from different saves or the weights were modified"
        )
    try:
        state = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LiftGenomicsError(
            f"{weights_path}: not a readable safetensors file ({message})"
        ) from None
    try:
        # The fresh initialisation is overwritten; keep it from advancing the caller's RNG.
        with torch.random.fork_rng(devices=[]):
            model = build_model(document["architecture"])
    except LiftGenomicsError as error:
        raise LiftGenomicsError(f"{config_path}: {error}") from None
    check_state(state, unique_state(model), str(weights_path))
    # Keys left out are aliases of saved ones (the same tensors), so nothing stays unloaded.
    model.load_state_dict(state, strict=False)
    model.metadata = document.get("metadata", {})
    model.architecture = document["architecture"]
    return model.eval()


def unique_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` without the keys that alias an earlier key's tensor.

    A fold average of ChromBPNets exposes its folds' submodels again as ``.accessibility`` and
    ``.bias``; safetensors refuses shared tensors, and they need saving once.
    """
    names = {name for name, _ in model.named_parameters()}
    names |= {name for name, _ in model.named_buffers()}
    return {key: value for key, value in model.state_dict().items() if key in names}


def _model_files(path: Path) -> tuple[Path, Path]:
    """(json, safetensors) for a model directory or either of its files."""
    if not path.exists():
        raise LiftGenomicsError(f"{path}: model not found")
    if path.is_dir():
        return path / CONFIG_FILE, path / WEIGHTS_FILE
    if path.suffix == ".safetensors":
        return path.with_suffix(".json"), path
    if path.suffix == ".json":
        return path, path.with_suffix(".safetensors")
    raise LiftGenomicsError(
        f"{path}: not a model; pass the model directory, its .safetensors or its .json file"
    )


def _read_config(path: Path) -> dict[str, Any]:
    """Read and check a model JSON file."""
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: model description (JSON) not found")
    try:
        document = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise LiftGenomicsError(f"{path}: not a liftgenomics model file (not text)") from None
    except json.JSONDecodeError as error:
        raise LiftGenomicsError(
            f"{path}:{error.lineno}: not a liftgenomics model file (invalid JSON: {error.msg})"
        ) from None
    if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
        raise LiftGenomicsError(
            f'{path}: not a liftgenomics model file (no "format": "{MODEL_FORMAT}")'
        )
    version = document.get("version")
    if version != MODEL_VERSION:
        raise LiftGenomicsError(
            f"{path}: model format version {version!r} is not supported (this liftgenomics "
            f"reads version {MODEL_VERSION})"
        )
    if not isinstance(document.get("architecture"), dict):
        raise LiftGenomicsError(f'{path}: model file has no "architecture" object')
    return document


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
