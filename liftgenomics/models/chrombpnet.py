"""Read chrombpnet/ENCODE Keras ``.h5`` models into PyTorch, with h5py only (no TensorFlow).

chrombpnet's BPNet (``bpnet_model.py``) is built of valid convolutions: ``bpnet_1st_conv``
(width 21, ReLU); ``bpnet_{i}conv`` for i = 1..n (width 3, dilation 2**i, ReLU), each added to
its input cropped by ``bpnet_{i}crop``; ``prof_out_precrop`` (width 75), cropped to the output
length and flattened; a global average (``gap``) of the body into the Dense
``logcount_predictions``. The accessibility model saved from a full ChromBPNet
("chrombpnet_nobias") has every name prefixed ``wo_bias_`` and its heads named
``wo_bias_bpnet_prof_out_precrop`` / ``wo_bias_bpnet_logcount_predictions``; a full model file
holds both sets, the bias model's unprefixed (bpnet-lite's ``BPNet.from_chrombpnet`` reads the
same names). Weights sit at ``model_weights/.../{layer}/kernel:0`` and ``bias:0``; Keras
convolution kernels are (width, in, out), PyTorch's (out, in, width).

Valid convolutions with crops equal same-padded ones on the central window, so each Keras
model becomes a :class:`~liftgenomics.models.architectures.BPNet` whose ``trimming`` is the total
padding plus the profile crop and whose count head averages the valid body; the prediction is
the Keras model's. The crop and the input length come from the file's ``model_config`` when it
has one (a ``save_weights`` file has none: no crop is assumed and the input length is free).

:func:`load_chrombpnet` reads one ``.h5`` (accessibility, bias or full model), or a directory
or ``.tar(.gz)`` of ENCODE folds (``fold_{N}/model.bias_scaled.fold_{N}.{ENCSR}.h5`` and
``fold_{N}/model.chrombpnet_nobias.fold_{N}.{ENCSR}.h5``), averaged by
:class:`~liftgenomics.models.architectures.FoldAverage`.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from liftgenomics.errors import LiftGenomicsError, first_line
from liftgenomics.models.architectures import (
    BPNet,
    ChromBPNet,
    FoldAverage,
    describe_architecture,
)
from liftgenomics.models.h5read import H5Dataset, H5Group, read_h5

#: Layer-name prefix of the accessibility model inside (or saved from) a full ChromBPNet.
ACCESSIBILITY_PREFIX = "wo_bias_"
_H5_SUFFIXES = (".h5", ".hdf5")
_NOT_HDF5 = "{where}: not an HDF5 (.h5) file ({error})"
_FOLD = re.compile(r"fold_(\d+)")

Opener = Callable[[], Any]  # returns a context manager yielding an H5File (h5read)


def load_chrombpnet(path: str | os.PathLike) -> nn.Module:
    """Load a chrombpnet model: one ``.h5`` file, or a directory / ``.tar(.gz)`` of folds.

    Args:
        path: An ``.h5`` file (an accessibility "chrombpnet_nobias" model, a bias model, or a
            full bias + accessibility model); or a directory or tar archive holding one model
            per ``fold_{N}`` (bias + accessibility files, a full model, or accessibility only).

    Returns:
        In eval mode, on the CPU: a :class:`BPNet` for an accessibility or bias file, a
        :class:`ChromBPNet` for a full model or a fold's bias + accessibility pair, or a
        :class:`FoldAverage` of those over several folds (which exposes ``.accessibility``
        and ``.bias`` fold averages when its folds have them). Each returns ``(profile
        (N, 1, L_out), counts (N, 1))``; ``input_length`` is set when the files record it, and
        ``metadata = {"source": "chrombpnet:PATH", "files": [...]}`` and ``architecture``
        (the registry dict that rebuilds it: ``bpnet``, ``chrombpnet_pair``, ``fold_average``).

    Raises:
        LiftGenomicsError: for a missing path, a file that is not HDF5, an ``.h5`` without the
            expected layers (the first missing one named), folds of different kinds, or no model.
    """
    path = Path(path)
    if not path.exists():
        raise LiftGenomicsError(f"{path}: chrombpnet model not found")
    if path.is_dir():
        files = _directory_files(path)
    elif path.name.endswith((".tar", ".tar.gz", ".tgz")):
        files = _tar_files(path)
    else:
        files = {path.name: _file_opener(path)}
        with files[path.name]() as h5:
            model = read_keras_model(h5, str(path))
        model.metadata = {"source": f"chrombpnet:{path}", "files": [str(path)]}
        model.architecture = describe_architecture(model)
        return model.eval()
    model = _load_folds(files, path)
    model.metadata = {"source": f"chrombpnet:{path}", "files": sorted(files)}
    model.architecture = describe_architecture(model)
    return model.eval()


def read_keras_model(h5: Any, where: str) -> nn.Module:
    """Build the PyTorch model of one open chrombpnet ``.h5`` file.

    Args:
        h5: The file as :func:`liftgenomics.models.h5read.read_h5` read it.
        where: The file's name, for messages.

    Returns:
        A :class:`BPNet` (one model in the file) or a :class:`ChromBPNet` (bias model
        unprefixed + accessibility model prefixed ``wo_bias_``).

    Raises:
        LiftGenomicsError: naming the file and the first missing layer or bad shape.
    """
    try:
        layers = _layer_groups(h5, where)
        config = _model_config(h5, where)
    except (RuntimeError, OSError, KeyError, ValueError, TypeError) as error:
        # h5py's errors for a damaged file surface while its groups are walked.
        raise LiftGenomicsError(f"{where}: unreadable HDF5 file ({first_line(error)})") from None
    prefixes = [p for p in ("", ACCESSIBILITY_PREFIX) if f"{p}bpnet_1st_conv" in layers]
    if not prefixes:
        raise LiftGenomicsError(
            f"{where}: no layer 'bpnet_1st_conv' or '{ACCESSIBILITY_PREFIX}bpnet_1st_conv'; not a "
            "chrombpnet model .h5"
        )
    parts = {prefix: _read_bpnet(layers, config, prefix, where) for prefix in prefixes}
    if len(parts) == 2:
        model: nn.Module = ChromBPNet(bias=parts[""], accessibility=parts[ACCESSIBILITY_PREFIX])
    else:
        model = parts[prefixes[0]]
    input_length = config.get("input_length")
    if input_length is not None:
        model.input_length = input_length
        for part in parts.values():
            part.input_length = input_length
    return model


def _read_bpnet(
    layers: dict[str, dict[str, np.ndarray]], config: dict[str, Any], prefix: str, where: str
) -> BPNet:
    """One BPNet from the layers named with ``prefix``."""
    head = f"{prefix}bpnet_" if prefix else ""

    def weights(name: str, *keys: str) -> list[np.ndarray]:
        if name not in layers:
            raise LiftGenomicsError(f"{where}: no layer {name!r}; not a chrombpnet model .h5")
        missing = [key for key in keys if key not in layers[name]]
        if missing:
            raise LiftGenomicsError(f"{where}: layer {name!r} has no {missing[0]!r} weights")
        arrays = [layers[name][key] for key in keys]
        # A kernel is (width, in, out) for a convolution, (in, out) for the Dense; a bias 1-D.
        expected = (2 if name.endswith("logcount_predictions") else 3, 1)
        for key, array, ndim in zip(keys, arrays, expected, strict=True):
            if array.ndim != ndim or 0 in array.shape:
                raise LiftGenomicsError(
                    f"{where}: layer {name!r} {key} has shape {array.shape}, expected {ndim}-D"
                )
        return arrays

    n_layers = 0
    while f"{prefix}bpnet_{n_layers + 1}conv" in layers:
        n_layers += 1
    first_kernel, first_bias = weights(f"{prefix}bpnet_1st_conv", "kernel", "bias")
    profile_kernel, profile_bias = weights(f"{head}prof_out_precrop", "kernel", "bias")
    count_kernel, count_bias = weights(f"{head}logcount_predictions", "kernel", "bias")
    conv1_width, n_filters = first_kernel.shape[0], first_kernel.shape[2]
    profile_width, n_outputs = profile_kernel.shape[0], profile_kernel.shape[2]
    if first_kernel.shape[1] != 4:
        raise LiftGenomicsError(
            f"{where}: {prefix}bpnet_1st_conv kernel has shape {first_kernel.shape}, expected "
            "(width, 4, filters)"
        )
    for width, name in ((conv1_width, "bpnet_1st_conv"), (profile_width, "prof_out_precrop")):
        if width % 2 == 0:
            raise LiftGenomicsError(f"{where}: {prefix}{name} has an even width {width}")
    _check_layout(config, prefix, n_layers, where)
    dilated = sum(2**i for i in range(1, n_layers + 1))
    conv1_pad, profile_pad = (conv1_width - 1) // 2, (profile_width - 1) // 2
    crop = _profile_crop(config, prefix, where)
    model = BPNet(
        n_filters=n_filters,
        n_layers=n_layers,
        n_outputs=n_outputs,
        n_control_tracks=0,
        trimming=conv1_pad + dilated + profile_pad + crop,
        count_trimming=conv1_pad + dilated,  # Keras' gap averages the whole valid body
        conv1_width=conv1_width,
        profile_width=profile_width,
    )
    state = {
        "iconv.weight": _conv(first_kernel),
        "iconv.bias": torch.from_numpy(first_bias),
        "fconv.weight": _conv(profile_kernel),
        "fconv.bias": torch.from_numpy(profile_bias),
        "linear.weight": torch.from_numpy(np.ascontiguousarray(count_kernel.T)),
        "linear.bias": torch.from_numpy(count_bias),
    }
    for i in range(1, n_layers + 1):
        kernel, bias = weights(f"{prefix}bpnet_{i}conv", "kernel", "bias")
        state[f"rconvs.{i - 1}.weight"] = _conv(kernel)
        state[f"rconvs.{i - 1}.bias"] = torch.from_numpy(bias)

    from liftgenomics.models.state import check_state

    check_state(state, model.state_dict(), f"{where} ({prefix or 'bias/bpnet '}model)")
    model.load_state_dict(state)
    return model


def _conv(kernel: np.ndarray) -> torch.Tensor:
    """A Keras Conv1D kernel (width, in, out) as PyTorch's (out, in, width)."""
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(2, 1, 0)))


def _layer_groups(h5: Any, where: str) -> dict[str, dict[str, np.ndarray]]:
    """Layer name -> {"kernel": array, "bias": array} for every group holding weights.

    Standalone models store ``model_weights/{layer}/{layer}/kernel:0``; a model nested in a
    full ChromBPNet stores ``model_weights/{submodel}/{layer}/kernel:0``; ``save_weights``
    files lack the ``model_weights`` level. The layer name is the holding group's name.
    """
    root = h5["model_weights"] if "model_weights" in h5 else h5
    found: dict[str, dict[str, np.ndarray]] = {}

    def visit(_name: str, group: Any) -> None:
        if not isinstance(group, H5Group):
            return
        arrays = {}
        for key, item in group.items():
            if isinstance(item, H5Dataset):
                if item.dtype.kind not in "fiu":
                    raise LiftGenomicsError(
                        f"{where}: {item.name} holds {item.dtype}, not numbers (weights)"
                    )
                arrays[key.split(":")[0]] = np.asarray(item[()], dtype=np.float32)
        if not arrays:
            return
        layer = group.name.rsplit("/", 1)[-1]
        if layer in found:
            raise LiftGenomicsError(f"{where}: two layers named {layer!r}; cannot tell them apart")
        found[layer] = arrays

    root.visititems(visit)
    return found


def _model_config(h5: Any, where: str) -> dict[str, Any]:
    """{"layers": {name: (class, config)}, "input_length": int | None} from ``model_config``.

    Parts of another shape than Keras writes (a layer that is not a mapping, a name that is
    not a string) are passed over; a recorded input length must be a positive integer.
    """
    raw = h5.attrs.get("model_config")
    if raw is None:
        return {"layers": {}, "input_length": None}
    try:
        document = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError):
        return {"layers": {}, "input_length": None}
    layers: dict[str, tuple[str, dict[str, Any]]] = {}
    input_length = None

    def walk(node: Any) -> None:
        nonlocal input_length
        config = node.get("config") if isinstance(node, dict) else None
        children = config.get("layers") if isinstance(config, dict) else None
        for layer in children if isinstance(children, list) else []:
            if not isinstance(layer, dict) or not isinstance(layer.get("config", {}), dict):
                continue
            cls, cfg = layer.get("class_name", ""), layer.get("config", {}) or {}
            name = cfg.get("name", layer.get("name"))
            if not isinstance(name, str):
                continue
            layers.setdefault(name, (cls, cfg))
            if cls == "InputLayer" and input_length is None:
                shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
                if isinstance(shape, list) and len(shape) == 3 and isinstance(shape[1], int):
                    if isinstance(shape[1], bool) or not 0 < shape[1] < 2**31:
                        raise LiftGenomicsError(
                            f"{where}: model_config records input length {shape[1]!r}"
                        )
                    input_length = shape[1]
            if "layers" in cfg:
                walk(layer)

    walk(document)
    return {"layers": layers, "input_length": input_length}


def _check_layout(config: dict[str, Any], prefix: str, n_layers: int, where: str) -> None:
    """Refuse a recorded layout other than chrombpnet's (valid padding, dilation 2**i)."""
    layers = config["layers"]
    names = [f"{prefix}bpnet_1st_conv"] + [f"{prefix}bpnet_{i}conv" for i in range(1, n_layers + 1)]
    for i, name in enumerate(names):
        if name not in layers:
            continue
        cfg = layers[name][1]
        if cfg.get("padding", "valid") != "valid":
            raise LiftGenomicsError(
                f"{where}: layer {name!r} has padding {cfg.get('padding')!r}; this reader takes "
                "chrombpnet's valid-padded layout"
            )
        dilation = cfg.get("dilation_rate", [1])
        dilation = dilation[0] if isinstance(dilation, list | tuple) else dilation
        if dilation != (2**i if i else 1):
            raise LiftGenomicsError(
                f"{where}: layer {name!r} has dilation {dilation}, expected {2**i if i else 1}"
            )


def _profile_crop(config: dict[str, Any], prefix: str, where: str) -> int:
    """The Cropping1D between the profile convolution and the flatten (0 when unrecorded)."""
    residual = re.compile(rf"^{re.escape(prefix)}bpnet_\d+crop$")
    crops = [
        cfg.get("cropping", 0)
        for name, (cls, cfg) in config["layers"].items()
        if cls == "Cropping1D"
        and name.startswith(prefix)
        and (prefix or not name.startswith(ACCESSIBILITY_PREFIX))
        and not residual.match(name)
    ]
    if not crops:
        return 0
    if len(crops) > 1:
        raise LiftGenomicsError(f"{where}: more than one profile crop layer for {prefix!r}")
    crop = crops[0]
    if isinstance(crop, list | tuple):
        if len(crop) != 2 or crop[0] != crop[1]:
            raise LiftGenomicsError(f"{where}: asymmetric profile crop {crop} is not supported")
        crop = crop[0]
    if not isinstance(crop, int) or isinstance(crop, bool) or not 0 <= crop < 2**31:
        raise LiftGenomicsError(f"{where}: profile crop {crop!r} is not a non-negative integer")
    return crop


def _file_opener(path: Path) -> Opener:
    @contextmanager
    def opener() -> Iterator[Any]:
        yield read_h5(path, str(path), not_hdf5=_NOT_HDF5)

    return opener


def _directory_files(directory: Path) -> dict[str, Opener]:
    return {
        str(path.relative_to(directory)): _file_opener(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name.lower().endswith(_H5_SUFFIXES)
    }


def _tar_files(archive: Path) -> dict[str, Opener]:
    try:
        with tarfile.open(archive, "r:*") as tar:
            blobs = {
                member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
                for member in tar.getmembers()
                if member.isfile() and member.name.lower().endswith(_H5_SUFFIXES)
            }
    except (tarfile.TarError, OSError, EOFError) as error:
        raise LiftGenomicsError(f"{archive}: not a readable tar archive ({error})") from None

    def opener_of(name: str, blob: bytes) -> Opener:
        @contextmanager
        def opener() -> Iterator[Any]:
            yield read_h5(blob, f"{archive}:{name}", not_hdf5=_NOT_HDF5)

        return opener

    return {name: opener_of(name, blob) for name, blob in blobs.items()}


def _role(name: str) -> str:
    """accessibility / bias / full, from an ENCODE-style file name."""
    base = name.rsplit("/", 1)[-1].lower()
    if "nobias" in base or "wo_bias" in base:
        return "accessibility"
    if "bias" in base:
        return "bias"
    return "full"


def _load_folds(files: dict[str, Opener], where: Path) -> nn.Module:
    """One model per ``fold_{N}`` (or the whole set as one fold); averaged when several."""
    if not files:
        raise LiftGenomicsError(f"{where}: no .h5 model file inside")
    folds: dict[int, dict[str, list[str]]] = {}
    for name in files:
        match = _FOLD.search(name)
        fold = int(match.group(1)) if match else -1
        folds.setdefault(fold, {}).setdefault(_role(name), []).append(name)
    if len(folds) > 1 and -1 in folds:
        stray = sorted(name for names in folds[-1].values() for name in names)
        raise LiftGenomicsError(
            f"{where}: .h5 files outside any fold_N folder: {', '.join(stray[:3])}"
        )
    models, kinds = [], set()
    for fold in sorted(folds):
        roles = folds[fold]
        for role, names in roles.items():
            # ENCODE ships both the raw and the scaled bias model; the scaled one is used.
            if role == "bias" and len(names) > 1:
                names.sort(key=lambda n: "bias_scaled" not in n.lower())
                roles[role] = names[:1]
            elif len(names) > 1:
                raise LiftGenomicsError(
                    f"{where}: fold {fold} has several {role} models: {', '.join(names)}"
                )
        if "accessibility" in roles:
            acc = _read(files, roles["accessibility"][0])
            if "bias" in roles:
                model: nn.Module = ChromBPNet(
                    bias=_read(files, roles["bias"][0]), accessibility=acc
                )
                model.input_length = getattr(acc, "input_length", None)
                kinds.add("bias + accessibility")
            else:
                model = acc
                kinds.add("accessibility")
        elif "full" in roles:
            model = _read(files, roles["full"][0])
            kinds.add("full")
        else:
            raise LiftGenomicsError(
                f"{where}: fold {fold} has no accessibility (chrombpnet_nobias) or full model"
            )
        models.append(model)
    if len(kinds) > 1:
        raise LiftGenomicsError(f"{where}: folds of different kinds ({', '.join(sorted(kinds))})")
    lengths = {getattr(model, "input_length", None) for model in models}
    if len(lengths) > 1:
        raise LiftGenomicsError(f"{where}: folds of different input lengths {sorted(lengths)}")
    return models[0] if len(models) == 1 else FoldAverage(models)


def _read(files: dict[str, Opener], name: str) -> nn.Module:
    with files[name]() as h5:
        return read_keras_model(h5, name)
