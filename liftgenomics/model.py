"""The models: the paper's CNN, an architecture registry, and pickle-free save/load.

A saved model is a directory with two files:

- ``model.safetensors``: the state dict (safetensors, so loading never runs pickled code);
- ``model.json``: ``{"format": "liftgenomics-model", "version": 1, "architecture": {...},
  "metadata": {...}, "weights_sha256": ...}``. The architecture dict (``{"name": "paper_cnn",
  ...}``) rebuilds the module through :func:`build_model`; the metadata records how it was
  trained; the hash ties the JSON to the weights written with it.

:func:`load_model` is the one way the package loads a model, from any source: a model directory
as above, a user's factory with a state dict (:mod:`liftgenomics.sources`) or a chrombpnet Keras
`.h5` (:mod:`liftgenomics.chrombpnet`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from liftgenomics.architectures import basset, bpnet, chrombpnet
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.io import atomic_path, write_text_atomic

MODEL_FORMAT = "liftgenomics-model"
MODEL_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"


def paper_cnn(
    n_tasks: int = 3,
    length: int = 200,
    filters: int = 50,
    width: int = 11,
    hidden: int = 50,
    dropout: float = 0.5,
) -> nn.Sequential:
    """The DeepLIFT paper's DNA model (section 4.2), returning logits.

    Conv1d(4->filters, width, valid) -> ReLU -> Conv1d(filters->filters, width, valid) -> ReLU
    -> mean over all remaining positions -> Linear(filters->hidden) -> ReLU -> Dropout ->
    Linear(hidden->n_tasks). Each nonlinearity is its own module, called once, so the DeepLIFT
    engine can hook every one; the sigmoid is left to the loss (BCE with logits). Weights are
    Glorot-uniform, biases zero.

    The pooling is a global average (``AdaptiveAvgPool1d(1)``): for the training length it is
    exactly the paper's pooling over all ``length - 2 * (width - 1)`` positions, and another
    length averages all its positions instead of silently dropping a remainder. Callers check
    inputs against the ``input_length`` attribute.

    A plain ``nn.Sequential`` (not a subclass), so slicing it (``model[:4]``) works.

    Args:
        n_tasks: Number of outputs (logits).
        length: Input sequence length; stored as ``model.input_length``.
        filters: Channels of both convolutions.
        width: Width of both convolutions.
        hidden: Units of the fully connected layer.
        dropout: Dropout probability after the fully connected layer.

    Returns:
        The model with attributes ``input_length`` and ``n_tasks``.

    Raises:
        LiftGenomicsError: for a non-positive size, a dropout outside [0, 1), or a length too
            short for the two convolutions.
    """
    for name, value in (
        ("n_tasks", n_tasks),
        ("length", length),
        ("filters", filters),
        ("width", width),
        ("hidden", hidden),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LiftGenomicsError(f"paper_cnn: {name} must be a positive integer, got {value!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, int | float):
        raise LiftGenomicsError(f"paper_cnn: dropout must be a number, got {dropout!r}")
    if not 0.0 <= dropout < 1.0:
        raise LiftGenomicsError(f"paper_cnn: dropout must be in [0, 1), got {dropout!r}")
    if length - 2 * (width - 1) < 1:
        raise LiftGenomicsError(
            f"paper_cnn: length {length} is too short for two valid convolutions of width "
            f"{width} (needs at least {2 * (width - 1) + 1})"
        )
    model = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv1d(4, filters, width),
            relu1=nn.ReLU(),
            conv2=nn.Conv1d(filters, filters, width),
            relu2=nn.ReLU(),
            pool=nn.AdaptiveAvgPool1d(1),
            flatten=nn.Flatten(),
            dense1=nn.Linear(filters, hidden),
            relu3=nn.ReLU(),
            dropout=nn.Dropout(dropout),
            dense2=nn.Linear(hidden, n_tasks),
        )
    )
    model.input_length = length
    model.n_tasks = n_tasks
    glorot_init(model)
    return model


def glorot_init(model: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every Conv1d and Linear layer (Keras default)."""
    for layer in model.modules():
        if isinstance(layer, nn.Conv1d | nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


#: Architecture name -> constructor taking the architecture dict's other keys as arguments.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "paper_cnn": paper_cnn,
    "bpnet": bpnet,
    "chrombpnet": chrombpnet,
    "basset": basset,
}


def build_model(architecture: dict[str, Any]) -> nn.Module:
    """Build a freshly initialised model from an architecture dict.

    Args:
        architecture: ``{"name": <registered name>, **constructor arguments}``, e.g.
            ``{"name": "paper_cnn", "n_tasks": 3, "length": 200}``; absent arguments take the
            constructor's defaults.

    Returns:
        The model (in training mode, on the CPU), with an ``input_length`` attribute.

    Raises:
        LiftGenomicsError: for a missing or unknown name, an unknown argument, or a bad value.
    """
    constructor, arguments = _resolve(architecture)
    return constructor(**arguments)


def full_architecture(architecture: dict[str, Any]) -> dict[str, Any]:
    """The architecture dict with every constructor default filled in (what gets saved).

    Raises:
        LiftGenomicsError: for a missing or unknown name or an unknown argument.
    """
    constructor, arguments = _resolve(architecture)
    defaults = {
        key: parameter.default
        for key, parameter in inspect.signature(constructor).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    return {"name": architecture["name"], **defaults, **arguments}


def _resolve(architecture: dict[str, Any]) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    """(constructor, its arguments) for an architecture dict, checking the name and the keys."""
    if not isinstance(architecture, dict):
        raise LiftGenomicsError(
            f"architecture must be a dict with a 'name', got {type(architecture).__name__}"
        )
    arguments = dict(architecture)
    name = arguments.pop("name", None)
    if name not in ARCHITECTURES:
        raise LiftGenomicsError(
            f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        )
    constructor = ARCHITECTURES[name]
    accepted = set(inspect.signature(constructor).parameters)
    unknown = sorted(set(arguments) - accepted)
    if unknown:
        raise LiftGenomicsError(
            f"architecture {name!r}: unknown argument(s) {', '.join(unknown)}; accepted: "
            f"{', '.join(sorted(accepted))}"
        )
    return constructor, arguments


def save_model(
    model: nn.Module,
    directory: str | os.PathLike,
    architecture: dict[str, Any],
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Save ``model`` as ``directory/model.safetensors`` + ``directory/model.json``, atomically.

    The weights are written first and the JSON (which names the weights' SHA-256) last, so a
    crash in between leaves a pair that :func:`load_model` refuses rather than mixes.

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
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    # Built on the meta device: shapes only, no memory and no draw from the global RNG.
    with torch.device("meta"):
        expected = build_model(architecture).state_dict()
    _check_state(state, expected, f"model for {directory}")
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


def load_model(
    spec: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    model_args: str | dict[str, Any] | None = None,
) -> nn.Module:
    """Load a model from any source, in eval mode on the CPU.

    Args:
        spec: A model directory written by :func:`save_model` (or its ``.safetensors`` or
            ``.json`` file); ``path/to/models.py:factory`` or ``package.module:factory``; or
            ``chrombpnet:DIR_OR_H5`` (see :mod:`liftgenomics.sources`).
        weights: For a factory spec: a ``.safetensors`` or ``.pt``/``.pth`` state dict loaded
            into the factory's module (never unpickled).
        model_args: For a factory spec: its keyword arguments, a JSON object string or a dict.

    Returns:
        The model (``input_length`` set where the source records it, ``metadata`` a dict).
        A ``chrombpnet:`` spec gives what :func:`liftgenomics.chrombpnet.load_chrombpnet`
        returns.

    Raises:
        LiftGenomicsError: a one-line message for any bad source, argument or weights file;
            ``weights``/``model_args`` with a source that takes none.
    """
    from liftgenomics.sources import build_factory_model, parse_model_spec

    parsed = parse_model_spec(spec)
    if parsed.kind in ("file", "module"):
        return build_factory_model(parsed, weights=weights, model_args=model_args)
    for option, value in (("--weights", weights), ("--model-args", model_args)):
        if value is not None:
            raise LiftGenomicsError(
                f"{option} applies to a FILE.py:factory or package.module:factory model, not "
                f"to {os.fspath(spec)}"
            )
    if parsed.kind == "chrombpnet":
        from liftgenomics.chrombpnet import load_chrombpnet

        return load_chrombpnet(parsed.location)
    return load_model_directory(parsed.location)


def load_model_directory(path: str | os.PathLike) -> nn.Module:
    """Load a model saved by :func:`save_model`, in eval mode on the CPU.

    Args:
        path: The model directory, its ``.safetensors`` file, or its ``.json`` file.

    Returns:
        The model, with ``input_length`` and a ``metadata`` dict (the saved training metadata)
        as attributes.

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
    _check_state(state, model.state_dict(), str(weights_path))
    model.load_state_dict(state)
    model.metadata = document.get("metadata", {})
    return model.eval()


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


def _check_state(
    state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], where: str
) -> None:
    """Refuse weights whose keys or shapes differ from the architecture's, naming the first."""
    missing = sorted(set(expected) - set(state))
    if missing:
        raise LiftGenomicsError(
            f"{where}: weights do not match the architecture: missing {', '.join(missing[:5])}"
        )
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise LiftGenomicsError(
            f"{where}: weights do not match the architecture: unexpected "
            f"{', '.join(unexpected[:5])}"
        )
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise LiftGenomicsError(
                f"{where}: weights do not match the architecture: {key} has shape "
                f"{tuple(state[key].shape)}, expected {tuple(tensor.shape)}"
            )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
