"""User models from a factory: import it, call it, load the weights, check the input shape.

For a ``path/to/models.py:factory`` or ``package.module:factory`` spec
(:mod:`liftgenomics.models.spec`), :func:`build_factory_model` imports the factory (a function
or a class, :func:`import_factory`), calls it with ``model_args`` and replaces its module's
state dict by ``weights`` (``.safetensors``, or a ``.pt``/``.pth`` state dict read with
``torch.load(weights_only=True)``; see :mod:`liftgenomics.models.state`). Importing the named
file runs it: that is the user's explicit choice. Reading a weights file never runs code.

:func:`check_input_length` refuses a model that does not take one-hot inputs ``(N, 4, L)``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from liftgenomics.errors import LiftGenomicsError, first_line
from liftgenomics.models.spec import ModelSpec, parse_model_args
from liftgenomics.models.state import read_state_dict


def import_factory(spec: ModelSpec) -> Callable[..., Any]:
    """Import the module a ``"file"`` or ``"module"`` spec names and return its factory.

    Raises:
        LiftGenomicsError: for a missing file or module, a module that fails to import, or a
            missing or non-callable factory.
    """
    if spec.kind == "file":
        module = _import_file(Path(spec.location))
    elif spec.kind == "module":
        try:
            module = importlib.import_module(spec.location)
        except ImportError as error:
            raise LiftGenomicsError(
                f"--model {spec.location}:{spec.factory}: cannot import {spec.location} ({error})"
            ) from None
    else:
        raise LiftGenomicsError(f"--model {spec.location}: not a factory spec")
    factory = getattr(module, spec.factory or "", None)
    if factory is None:
        raise LiftGenomicsError(f"{spec.location}: no factory named {spec.factory!r}")
    if not callable(factory):
        raise LiftGenomicsError(f"{spec.location}: {spec.factory!r} is not callable")
    return factory


def _import_file(path: Path) -> Any:
    """Import a user's ``.py`` file under a name derived from its path."""
    if not path.is_file():
        raise LiftGenomicsError(f"{path}: model file not found")
    resolved = path.resolve()
    name = "liftgenomics_user_" + hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise LiftGenomicsError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and typing look the module up while it runs
    # Sibling modules of the user's file are importable from it, as when they run it.
    sys.path.insert(0, str(resolved.parent))
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - user code may raise anything; report one line
        del sys.modules[name]
        raise LiftGenomicsError(f"{path}: importing it failed ({first_line(error)})") from None
    finally:
        sys.path.remove(str(resolved.parent))
    return module


def build_factory_model(
    spec: ModelSpec,
    weights: str | os.PathLike | None = None,
    model_args: str | Mapping[str, Any] | None = None,
) -> nn.Module:
    """Call a factory spec's factory with ``model_args`` and load ``weights`` into the result.

    Args:
        spec: A ``"file"`` or ``"module"`` spec.
        weights: A state dict file (see :func:`read_state_dict`); None keeps the factory's own
            weights (a factory may load its weights itself).
        model_args: Keyword arguments for the factory (JSON object string or mapping).

    Returns:
        The model in eval mode, with ``metadata = {"source": ..., "weights": ...}``.

    Raises:
        LiftGenomicsError: for a bad import, bad arguments, a factory that does not return an
            ``nn.Module``, or weights that do not match the module (first key named).
    """
    from liftgenomics.models.state import check_state

    arguments = parse_model_args(model_args)
    factory = import_factory(spec)
    where = f"{spec.location}:{spec.factory}"
    try:
        model = factory(**arguments)
    except LiftGenomicsError as error:
        raise LiftGenomicsError(f"{where}: {error}") from None
    except Exception as error:  # noqa: BLE001 - user code may raise anything; report one line
        raise LiftGenomicsError(
            f"{where}({_format_args(arguments)}) failed ({first_line(error)})"
        ) from None
    if not isinstance(model, nn.Module):
        raise LiftGenomicsError(f"{where} returned {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        state = read_state_dict(weights)
        check_state(state, model.state_dict(), str(weights))
        model.load_state_dict(state)
    model.metadata = {"source": where, "weights": None if weights is None else str(weights)}
    return model.eval()


def check_input_length(model: nn.Module, length: int, forward_args: tuple = ()) -> None:
    """Refuse a model that does not take one-hot inputs (N, 4, ``length``).

    A model with an ``input_length`` attribute (a trained or Keras model's fixed input) must
    have that length; every model must run a probe forward on one zero sequence (in eval
    mode, without gradients; the training flags are restored), with ``forward_args`` (extra
    inputs for that one sequence) after it, and return no empty tensor (a BPNet's profile is
    empty when the input is shorter than its two trimmed margins).

    Raises:
        LiftGenomicsError: naming both lengths, or the probe's first error line.
    """
    expected = getattr(model, "input_length", None)
    if expected is not None and int(expected) != int(length):
        raise LiftGenomicsError(
            f"the model takes inputs of length {expected}, not length {length}; use --length "
            f"{expected} (or leave --length out)"
        )
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    flags = {module: module.training for module in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            extra = tuple(torch.as_tensor(a, device=device) for a in forward_args)
            output = model(torch.zeros((1, 4, length), device=device), *extra)
    except (RuntimeError, ValueError, IndexError) as error:
        raise LiftGenomicsError(
            f"the model does not accept regions of length {length} ({first_line(error)}); "
            "use --length to match its input length"
        ) from None
    finally:
        for module, training in flags.items():
            module.training = training
    for shape in _tensor_shapes(output):
        if 0 in shape:
            raise LiftGenomicsError(
                f"the model returns an output of shape {shape} for regions of length {length}; "
                "use a longer --length"
            )


def _tensor_shapes(output: Any) -> list[tuple[int, ...]]:
    """Shapes of the tensors in a model's output (a tensor, tuple, list or dict)."""
    if isinstance(output, torch.Tensor):
        return [tuple(output.shape)]
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, tuple | list):
        return [shape for part in output for shape in _tensor_shapes(part)]
    return []


def _format_args(arguments: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in arguments.items())
