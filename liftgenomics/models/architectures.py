"""Genomics architectures beyond the paper's CNN: BPNet, ChromBPNet, Basset, and fold averages.

- :class:`BPNet` has bpnet-lite 1.1's parameter names (``iconv``, ``rconvs.{i}``, ``fconv``,
  ``linear``), so a ``state_dict()`` saved from ``bpnetlite.bpnet.BPNet`` loads into it with
  ``torch.load(weights_only=True)``, and the same ``forward(X, X_ctl=None)`` returning
  ``(profile (N, n_outputs, L_out), counts (N, 1))``.
- :class:`ChromBPNet` is a bias BPNet plus an accessibility BPNet (``.bias``,
  ``.accessibility``): profile logits add, counts combine by logsumexp, as chrombpnet does.
  Interpretation scores ``.accessibility``.
- :func:`basset` is a Basset-style CNN (Kelley et al. 2016) returning logits (N, T), trainable
  by ``liftgenomics train`` like ``paper_cnn``.
- :class:`FoldAverage` averages the outputs of several models (cross-validation folds).
  Averaging is linear, so DeepLIFT scores of the average are the average of the folds' scores.

Every nonlinearity is a module called once per forward pass (``ReLU`` modules, no functional
calls), so attribution engines that hook modules see all of them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from liftgenomics.errors import LiftGenomicsError


class BPNet(nn.Module):
    """BPNet: a wide convolution, dilated residual convolutions, a profile and a count head.

    Same-padded convolutions; the profile is cropped by ``trimming`` on both sides and the
    count head averages the body over positions ``[count_trimming, L - count_trimming)``.
    With the defaults this is bpnet-lite 1.1's ``BPNet`` exactly (``count_trimming =
    trimming - (profile_width - 1) // 2``). A Keras chrombpnet model (valid convolutions, a
    profile crop, a global average of the valid body) is the same computation with
    ``trimming = pad + crop`` and ``count_trimming`` = the valid body's margin; see
    :mod:`liftgenomics.models.chrombpnet`.

    Args:
        n_filters: Channels of every body convolution.
        n_layers: Dilated residual layers (dilation 2, 4, ..., 2**n_layers).
        n_outputs: Profile tracks (1 unstranded, 2 stranded).
        n_control_tracks: Control-track channels concatenated before the profile head (and
            their log total before the count head); 0 for none.
        profile_output_bias: Bias in the profile convolution.
        count_output_bias: Bias in the count layer.
        trimming: Positions cropped from each side of the profile; default
            ``(conv1_width - 1) // 2 + (profile_width - 1) // 2 + sum(2**i)``.
        count_trimming: Positions left out on each side by the count head's average; default
            ``trimming - (profile_width - 1) // 2``.
        conv1_width: Width of the first convolution (odd).
        profile_width: Width of the profile convolution (odd).
    """

    def __init__(
        self,
        n_filters: int = 64,
        n_layers: int = 8,
        n_outputs: int = 2,
        n_control_tracks: int = 2,
        profile_output_bias: bool = True,
        count_output_bias: bool = True,
        trimming: int | None = None,
        count_trimming: int | None = None,
        conv1_width: int = 21,
        profile_width: int = 75,
    ) -> None:
        super().__init__()
        for name, value in (("conv1_width", conv1_width), ("profile_width", profile_width)):
            if value < 1 or value % 2 == 0:
                raise LiftGenomicsError(f"BPNet: {name} must be a positive odd number, got {value}")
        self.n_filters = n_filters
        self.n_layers = n_layers
        self.n_outputs = n_outputs
        self.n_control_tracks = n_control_tracks
        profile_pad = (profile_width - 1) // 2
        if trimming is None:
            trimming = (
                (conv1_width - 1) // 2 + profile_pad + sum(2**i for i in range(1, n_layers + 1))
            )
        self.trimming = trimming
        self.count_trimming = trimming - profile_pad if count_trimming is None else count_trimming

        self.iconv = nn.Conv1d(4, n_filters, conv1_width, padding=(conv1_width - 1) // 2)
        self.irelu = nn.ReLU()
        self.rconvs = nn.ModuleList(
            nn.Conv1d(n_filters, n_filters, 3, padding=2**i, dilation=2**i)
            for i in range(1, n_layers + 1)
        )
        self.rrelus = nn.ModuleList(nn.ReLU() for _ in range(n_layers))
        self.fconv = nn.Conv1d(
            n_filters + n_control_tracks,
            n_outputs,
            profile_width,
            padding=profile_pad,
            bias=profile_output_bias,
        )
        self.linear = nn.Linear(
            n_filters + (1 if n_control_tracks > 0 else 0), 1, bias=count_output_bias
        )

    def forward(
        self, X: torch.Tensor, X_ctl: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Profile logits (N, n_outputs, L - 2 * trimming) and log counts (N, 1)."""
        start, end = self.trimming, X.shape[2] - self.trimming
        h = self.irelu(self.iconv(X))
        for conv, relu in zip(self.rconvs, self.rrelus, strict=True):
            h = torch.add(h, relu(conv(h)))
        body = h if X_ctl is None else torch.cat([h, X_ctl], dim=1)
        profile = self.fconv(body)[:, :, start:end]

        lo, hi = max(self.count_trimming, 0), X.shape[2] - max(self.count_trimming, 0)
        pooled = torch.mean(h[:, :, lo:hi], dim=2)
        if X_ctl is not None:
            # Depends on the control track only: a constant for attribution of the sequence.
            total = torch.sum(X_ctl[:, :, lo:hi], dim=(1, 2)).unsqueeze(-1)
            pooled = torch.cat([pooled, torch.log(total + 1)], dim=-1)
        counts = self.linear(pooled).reshape(X.shape[0], 1)
        return profile, counts


class ChromBPNet(nn.Module):
    """ChromBPNet: a (frozen) Tn5 bias BPNet plus an accessibility BPNet.

    Profile logits add (the bias profile centre-cropped to the accessibility one's length);
    log counts combine as ``logsumexp([acc_counts, bias_counts])``. Parameter names
    (``bias.*``, ``accessibility.*``) are bpnet-lite's ``ChromBPNet``'s.

    Args:
        bias: The bias model, returning (profile, counts).
        accessibility: The accessibility model ("chrombpnet_nobias"), returning
            (profile, counts); the one interpretation scores.
    """

    def __init__(self, bias: nn.Module, accessibility: nn.Module) -> None:
        super().__init__()
        self.bias = bias
        self.accessibility = accessibility
        self.n_outputs = 1
        self.n_control_tracks = 0

    def forward(
        self, X: torch.Tensor, X_ctl: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Profile logits (N, 1, L_out) and log counts (N, 1); ``X_ctl`` is ignored."""
        acc_profile, acc_counts = self.accessibility(X)
        bias_profile, bias_counts = self.bias(X)
        n_acc, n_bias = acc_profile.shape[-1], bias_profile.shape[-1]
        if n_bias < n_acc:
            raise LiftGenomicsError(
                f"ChromBPNet: the bias model's profile ({n_bias}) is shorter than the "
                f"accessibility model's ({n_acc})"
            )
        crop = (n_bias - n_acc) // 2
        profile = acc_profile + bias_profile[:, :, crop : crop + n_acc]
        counts = torch.logsumexp(torch.cat([acc_counts, bias_counts], dim=-1), dim=-1, keepdim=True)
        return profile, counts


class FoldAverage(nn.Module):
    """The element-wise mean of several models' outputs (tensors or tuples of tensors).

    When every fold has ``.accessibility`` (or ``.bias``), the average of those submodels is
    exposed under the same name, so a fold-averaged ChromBPNet is interpreted like one.

    Args:
        folds: The models, all returning outputs of the same structure and shapes.
    """

    def __init__(self, folds: Sequence[nn.Module]) -> None:
        super().__init__()
        if not folds:
            raise LiftGenomicsError("FoldAverage needs at least one model")
        self.folds = nn.ModuleList(folds)
        for part in ("accessibility", "bias"):
            if all(isinstance(getattr(fold, part, None), nn.Module) for fold in folds):
                # Registered as a submodule of its own; its folds share the parameters.
                setattr(self, part, FoldAverage([getattr(fold, part) for fold in folds]))
        first = folds[0]
        for attribute in ("input_length", "n_outputs", "n_control_tracks"):
            if hasattr(first, attribute):
                setattr(self, attribute, getattr(first, attribute))

    def forward(self, X: torch.Tensor, *args, **kwargs):
        """The mean over folds of ``fold(X, *args, **kwargs)``."""
        outputs = [fold(X, *args, **kwargs) for fold in self.folds]
        if isinstance(outputs[0], tuple):
            return tuple(torch.stack(parts).mean(dim=0) for parts in zip(*outputs, strict=True))
        return torch.stack(outputs).mean(dim=0)


def bpnet(
    n_filters: int = 64,
    n_layers: int = 8,
    n_outputs: int = 2,
    n_control_tracks: int = 2,
    profile_output_bias: bool = True,
    count_output_bias: bool = True,
    length: int | None = 2114,
    trimming: int | None = None,
    count_trimming: int | None = None,
    conv1_width: int = 21,
    profile_width: int = 75,
) -> BPNet:
    """A :class:`BPNet` with ``input_length = length`` (registry entry).

    With the defaults it is bpnet-lite-compatible; ``trimming``, ``count_trimming`` and the
    widths describe the models the chrombpnet and bpnet-lite readers build (see :class:`BPNet`).
    ``length=None`` (a weights-only file that records none) leaves ``input_length`` unset.

    Raises:
        LiftGenomicsError: if ``length`` leaves no profile position.
    """
    model = BPNet(
        n_filters,
        n_layers,
        n_outputs,
        n_control_tracks,
        profile_output_bias,
        count_output_bias,
        trimming=trimming,
        count_trimming=count_trimming,
        conv1_width=conv1_width,
        profile_width=profile_width,
    )
    if length is None:
        return model
    if length - 2 * model.trimming < 1:
        raise LiftGenomicsError(
            f"bpnet: length {length} is too short (the profile trims {model.trimming} "
            "positions from each side)"
        )
    model.input_length = length
    return model


def describe_architecture(model: nn.Module) -> dict:
    """The registry architecture dict that rebuilds a :class:`BPNet`, :class:`ChromBPNet` or
    :class:`FoldAverage` of them (``{"name": "bpnet", ...}``, ``"chrombpnet_pair"``,
    ``"fold_average"``): what the chrombpnet and bpnet-lite readers record as
    ``model.architecture``.

    Raises:
        LiftGenomicsError: for any other module (or a BPNet whose layers were changed).
    """
    if isinstance(model, FoldAverage):
        return {"name": "fold_average", "folds": [describe_architecture(f) for f in model.folds]}
    if isinstance(model, ChromBPNet):
        return {
            "name": "chrombpnet_pair",
            "bias": describe_architecture(model.bias),
            "accessibility": describe_architecture(model.accessibility),
        }
    if not isinstance(model, BPNet):
        raise LiftGenomicsError(
            f"no registry architecture describes a {type(model).__name__} module"
        )
    return {
        "name": "bpnet",
        "n_filters": model.n_filters,
        "n_layers": model.n_layers,
        "n_outputs": model.n_outputs,
        "n_control_tracks": model.n_control_tracks,
        "profile_output_bias": model.fconv.bias is not None,
        "count_output_bias": model.linear.bias is not None,
        "length": getattr(model, "input_length", None),
        "trimming": model.trimming,
        "count_trimming": model.count_trimming,
        "conv1_width": model.iconv.kernel_size[0],
        "profile_width": model.fconv.kernel_size[0],
    }


def chrombpnet(
    n_filters: int = 512,
    n_layers: int = 8,
    bias_filters: int = 128,
    bias_layers: int = 4,
    length: int = 2114,
) -> ChromBPNet:
    """A :class:`ChromBPNet` shaped as chrombpnet's defaults (registry entry).

    Both parts are unstranded BPNets without control tracks; ``input_length = length``.
    """
    accessibility = bpnet(n_filters, n_layers, 1, 0, length=length)
    bias = bpnet(bias_filters, bias_layers, 1, 0, length=length)
    model = ChromBPNet(bias, accessibility)
    model.input_length = length
    return model


def basset(
    n_tasks: int = 3,
    length: int = 600,
    filters: Sequence[int] = (300, 200, 200),
    widths: Sequence[int] = (19, 11, 7),
    pools: Sequence[int] = (3, 4, 4),
    hidden: int = 1000,
    dropout: float = 0.3,
) -> nn.Sequential:
    """A Basset-style CNN returning logits (N, n_tasks) (registry entry).

    Three blocks Conv1d (valid) -> BatchNorm1d -> ReLU -> MaxPool1d, then two fully connected
    layers (ReLU, Dropout) and a linear output; the sigmoid is left to the loss, as for
    ``paper_cnn``. A plain ``nn.Sequential`` so it slices.

    Args:
        n_tasks: Outputs.
        length: Input length; stored as ``input_length``.
        filters, widths, pools: Per block: channels, convolution width, pooling width.
        hidden: Units of both fully connected layers.
        dropout: Dropout after each fully connected layer.

    Raises:
        LiftGenomicsError: for blocks of different counts or a length too short for them.
    """
    filters, widths, pools = list(filters), list(widths), list(pools)
    if not len(filters) == len(widths) == len(pools) >= 1:
        raise LiftGenomicsError(
            "basset: filters, widths and pools must have the same (non-zero) number of blocks"
        )
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels, remaining = 4, length
    for i, (n, width, pool) in enumerate(zip(filters, widths, pools, strict=True), start=1):
        remaining = (remaining - width + 1) // pool
        if remaining < 1:
            raise LiftGenomicsError(
                f"basset: length {length} is too short for block {i} (width {width}, pool {pool})"
            )
        layers[f"conv{i}"] = nn.Conv1d(channels, n, width)
        layers[f"bn{i}"] = nn.BatchNorm1d(n)
        layers[f"relu{i}"] = nn.ReLU()
        layers[f"pool{i}"] = nn.MaxPool1d(pool)
        channels = n
    layers["flatten"] = nn.Flatten()
    layers["dense1"] = nn.Linear(channels * remaining, hidden)
    layers["relu_d1"] = nn.ReLU()
    layers["dropout1"] = nn.Dropout(dropout)
    layers["dense2"] = nn.Linear(hidden, hidden)
    layers["relu_d2"] = nn.ReLU()
    layers["dropout2"] = nn.Dropout(dropout)
    layers["output"] = nn.Linear(hidden, n_tasks)
    model = nn.Sequential(layers)
    model.input_length = length
    model.n_tasks = n_tasks
    return model


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
