"""Read a whole pickled bpnet-lite model (``torch.save(model)``) without running it.

bpnet-lite saves ``bpnetlite.bpnet.BPNet`` and ``bpnetlite.chrombpnet.ChromBPNet`` modules
whole. :func:`load_bpnet_lite` unpickles such a file with
:func:`~liftgenomics.models.unpickle.read_torch_pickle`, which maps bpnet-lite's classes and the
``torch.nn`` modules they contain to inert records (every other global is refused), then loads
the recorded tensors into :class:`~liftgenomics.models.architectures.BPNet` /
:class:`~liftgenomics.models.architectures.ChromBPNet`, sized from the tensors, with the pickled
``trimming``. bpnet-lite's count head averages the body over ``[trimming - 37, L - trimming +
37)``, so ``count_trimming = trimming - 37``; the input length is bpnet-lite's fit default,
``2 * trimming + 1000`` (its ``trimming = (in_window - out_window) // 2`` with
``out_window = 1000``: 2,114 for the defaults).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.architectures import describe_architecture
from liftgenomics.models.registry import build_model
from liftgenomics.models.state import check_state
from liftgenomics.models.unpickle import Inert, read_torch_pickle

BPNET = "bpnetlite.bpnet.BPNet"
CHROMBPNET = "bpnetlite.chrombpnet.ChromBPNet"
#: bpnet-lite's count head reaches this far past the profile window on each side.
COUNT_MARGIN = 37
#: bpnet-lite's default output window (``out_window``) for the input length.
OUT_WINDOW = 1000

#: Classes a bpnet-lite pickle may name; all become inert records.
CLASSES = frozenset(
    {
        BPNET,
        CHROMBPNET,
        "bpnetlite.bpnet.BasePairNet",  # recorded to be refused by name below
        "bpnetlite.chrombpnet._Log",
        "bpnetlite.chrombpnet._Exp",
        "bpnetlite.logging.Logger",  # the training log; never read
        "torch.nn.modules.conv.Conv1d",
        "torch.nn.modules.linear.Linear",
        "torch.nn.modules.linear.Identity",
        "torch.nn.modules.container.ModuleList",
        "torch.nn.modules.container.Sequential",
        "torch.nn.modules.activation.ReLU",
        "torch.nn.modules.activation.Softmax",
        "torch.nn.modules.flatten.Flatten",
        # numpy scalars in the training log, recorded only (never built).
        "numpy.dtype",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "_codecs.encode",
    }
)


def load_bpnet_lite(path: str | os.PathLike) -> nn.Module:
    """Load a pickled bpnet-lite ``BPNet`` or ``ChromBPNet`` without running its pickle.

    Args:
        path: The file ``torch.save(model)`` wrote (bpnet-lite's ``.torch``).

    Returns:
        In eval mode on the CPU: a :class:`BPNet` returning ``(profile (N, n_outputs, L_out),
        log counts (N, 1))``, or a :class:`ChromBPNet` (bias + accessibility); with
        ``input_length``, ``architecture`` (the registry dict that rebuilds it) and
        ``metadata = {"source": "bpnet-lite:PATH", "class": ..., "name": ...}``.

    Raises:
        LiftGenomicsError: one line naming the file: not a torch zip archive, truncated, a
            global other than torch's tensor rebuilding and bpnet-lite's classes (refused
            unrun), an unexpected structure or mismatched shapes.
    """
    where = str(path)
    record = read_torch_pickle(path, CLASSES)
    name = record.pickled_name if isinstance(record, Inert) else type(record).__name__
    if name == BPNET:
        model: nn.Module = _read_bpnet(record, where)
    elif name == CHROMBPNET:
        attributes = _attributes(record, where)
        modules = attributes.get("_modules", {})
        parts = {}
        for part in ("bias", "accessibility"):
            child = modules.get(part)
            if not (isinstance(child, Inert) and child.pickled_name == BPNET):
                raise LiftGenomicsError(
                    f"{where}: ChromBPNet's {part} model is "
                    f"{getattr(child, 'pickled_name', type(child).__name__)}, expected {BPNET}"
                )
            parts[part] = _read_bpnet(child, f"{where} ({part})")
        model = build_model(
            {
                "name": "chrombpnet_pair",
                "bias": parts["bias"].architecture,
                "accessibility": parts["accessibility"].architecture,
            }
        )
        model.load_state_dict(
            {
                f"{part}.{key}": value
                for part, m in parts.items()
                for key, value in m.state_dict().items()
            }
        )
        model.architecture = describe_architecture(model)
    else:
        raise LiftGenomicsError(
            f"{where}: holds a {name}, not a bpnet-lite {BPNET} or {CHROMBPNET}"
        )
    attributes = _attributes(record, where)
    model.metadata = {
        "source": f"bpnet-lite:{path}",
        "file": str(Path(path)),
        "class": name,
        "name": attributes.get("name") if isinstance(attributes.get("name"), str) else None,
    }
    return model.eval()


def _read_bpnet(record: Inert, where: str) -> nn.Module:
    """Our BPNet holding a recorded bpnet-lite BPNet's tensors."""
    attributes = _attributes(record, where)
    state = _state_dict(record, where)
    for key in ("iconv.weight", "fconv.weight", "linear.weight"):
        if key not in state:
            raise LiftGenomicsError(f"{where}: the BPNet has no {key}")
    iconv, fconv = state["iconv.weight"], state["fconv.weight"]
    if iconv.ndim != 3 or fconv.ndim != 3 or iconv.shape[1] != 4:
        raise LiftGenomicsError(
            f"{where}: iconv.weight {tuple(iconv.shape)} / fconv.weight {tuple(fconv.shape)} "
            "are not 1-D convolutions of one-hot DNA"
        )
    n_filters = iconv.shape[0]
    n_layers = sum(1 for key in state if key.startswith("rconvs.") and key.endswith(".weight"))
    sizes = {
        "n_filters": n_filters,
        "n_layers": n_layers,
        "n_outputs": fconv.shape[0],
        "n_control_tracks": fconv.shape[1] - n_filters,
    }
    for key, value in sizes.items():
        saved = attributes.get(key)
        if saved is not None and saved != value:
            raise LiftGenomicsError(
                f"{where}: the BPNet records {key} = {saved!r} but its tensors give {value}"
            )
    trimming = attributes.get("trimming")
    if not isinstance(trimming, int) or isinstance(trimming, bool) or trimming < 0:
        raise LiftGenomicsError(f"{where}: the BPNet has no integer trimming ({trimming!r})")
    _check_layers(record, n_layers, where)
    architecture = {
        "name": "bpnet",
        **sizes,
        "profile_output_bias": "fconv.bias" in state,
        "count_output_bias": "linear.bias" in state,
        "length": 2 * trimming + OUT_WINDOW,
        "trimming": trimming,
        "count_trimming": trimming - COUNT_MARGIN,
        "conv1_width": iconv.shape[2],
        "profile_width": fconv.shape[2],
    }
    try:
        with torch.random.fork_rng(devices=[]):
            model = build_model(architecture)
    except LiftGenomicsError as error:
        raise LiftGenomicsError(f"{where}: {error}") from None
    expected = model.state_dict()
    state = {
        key: value.to(expected[key].dtype) if key in expected else value
        for key, value in state.items()
    }
    check_state(state, expected, where)
    model.load_state_dict(state)
    model.architecture = describe_architecture(model)
    return model


def _attributes(record: Any, where: str) -> Mapping[str, Any]:
    """A recorded module's ``__dict__`` (what its pickle's BUILD gave it)."""
    state = record.state if isinstance(record, Inert) else None
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], Mapping):
        state = state[0]
    if not isinstance(state, Mapping):
        raise LiftGenomicsError(
            f"{where}: {getattr(record, 'pickled_name', type(record).__name__)} has no recorded "
            "module state; not a pickled torch module"
        )
    return state


def _state_dict(record: Inert, where: str, prefix: str = "") -> dict[str, torch.Tensor]:
    """The parameters and persistent buffers of a recorded module tree, as state-dict keys."""
    attributes = _attributes(record, where)
    skip = attributes.get("_non_persistent_buffers_set") or set()
    state: dict[str, torch.Tensor] = {}
    for group in ("_parameters", "_buffers"):
        tensors = attributes.get(group) or {}
        if not isinstance(tensors, Mapping):
            raise LiftGenomicsError(f"{where}: {prefix or 'the model'} {group} is not a mapping")
        for key, value in tensors.items():
            if value is None or (group == "_buffers" and key in skip):
                continue
            if not isinstance(value, torch.Tensor):
                raise LiftGenomicsError(f"{where}: {prefix}{key} is not a tensor")
            state[f"{prefix}{key}"] = value
    modules = attributes.get("_modules") or {}
    if not isinstance(modules, Mapping):
        raise LiftGenomicsError(f"{where}: {prefix or 'the model'} _modules is not a mapping")
    for key, child in modules.items():
        if child is None:
            continue
        if not isinstance(child, Inert):
            raise LiftGenomicsError(f"{where}: submodule {prefix}{key} is not a module")
        state.update(_state_dict(child, where, f"{prefix}{key}."))
    return state


def _check_layers(record: Inert, n_layers: int, where: str) -> None:
    """Refuse a BPNet whose convolutions are not bpnet-lite's (same padding, dilation 2**i)."""
    modules = _attributes(record, where).get("_modules") or {}
    rconvs = modules.get("rconvs")
    convs = [("iconv", modules.get("iconv"), 1)]
    if isinstance(rconvs, Inert):
        children = _attributes(rconvs, where).get("_modules") or {}
        convs += [(f"rconvs.{i}", children.get(str(i)), 2 ** (i + 1)) for i in range(n_layers)]
    convs.append(("fconv", modules.get("fconv"), 1))
    for name, conv, dilation in convs:
        if not (isinstance(conv, Inert) and conv.pickled_name == "torch.nn.modules.conv.Conv1d"):
            raise LiftGenomicsError(f"{where}: {name} is not a Conv1d")
        attributes = _attributes(conv, where)
        width = _first(attributes.get("kernel_size"))
        expected = {
            "stride": 1,
            "dilation": dilation,
            "padding": dilation * (width - 1) // 2 if isinstance(width, int) else None,
            "groups": 1,
        }
        expected["padding_mode"] = "zeros"
        for key, value in expected.items():
            saved = _first(attributes.get(key, value))
            if saved != value:
                raise LiftGenomicsError(
                    f"{where}: {name} has {key} {attributes.get(key)!r}, expected {value} "
                    "(bpnet-lite's BPNet layout)"
                )


def _first(value: Any) -> Any:
    """The first element of a 1-tuple (torch stores Conv1d sizes as tuples)."""
    if isinstance(value, tuple | list) and len(value) == 1:
        return value[0]
    return value
