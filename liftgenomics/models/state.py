"""State dicts: read weights without running code, and check them against a model.

:func:`read_state_dict` reads ``.safetensors``, or a ``.pt``/``.pth`` file with
``torch.load(weights_only=True)`` (unwrapping a ``state_dict``/``model_state_dict`` entry), so
reading a weights file never unpickles arbitrary objects. :func:`check_state` refuses weights
whose keys or shapes differ from the model's, naming the first difference.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

from liftgenomics.errors import LiftGenomicsError, first_line

STATE_DICT_KEYS = ("state_dict", "model_state_dict")


def check_state(
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


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict without running code: safetensors, or torch's ``weights_only`` load.

    ``.pt``/``.pth``/``.bin`` files may also hold a checkpoint dict with the weights under
    ``"state_dict"`` or ``"model_state_dict"``.

    Raises:
        LiftGenomicsError: for a missing or unreadable file, an unknown suffix, a pickled
            model (with how to save a state dict instead), or values that are not tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: weights file not found")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as error:
            raise LiftGenomicsError(
                f"{path}: not a readable safetensors file ({first_line(error)})"
            ) from None
    if suffix not in (".pt", ".pth", ".bin"):
        raise LiftGenomicsError(
            f"{path}: unknown weights format {suffix or '(no suffix)'}; expected .safetensors, "
            ".pt or .pth (a state dict)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise LiftGenomicsError(
            f"{path}: holds a pickled object (a whole model?), not a state dict; loading it "
            "would run code. Save the weights instead: torch.save(model.state_dict(), path)"
        ) from None
    except Exception as error:  # noqa: BLE001 - weights_only runs nothing; any error is a bad file
        raise LiftGenomicsError(
            f"{path}: not a readable torch file ({first_line(error)})"
        ) from None
    if isinstance(state, Mapping):
        for key in STATE_DICT_KEYS:
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping):
        raise LiftGenomicsError(
            f"{path}: holds a {type(state).__name__}, not a state dict; save one with "
            "torch.save(model.state_dict(), path)"
        )
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise LiftGenomicsError(
                f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor; save the "
                "weights with torch.save(model.state_dict(), path)"
            )
    return dict(state)
