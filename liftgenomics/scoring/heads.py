"""What ``score`` explains: the model's outputs and targets, resolved into named heads.

A *head* is one explained value per sequence: an output of the model (``output``: None for a
tensor, an index into a tuple, a key into a dict) reduced by a target (see
:mod:`liftgenomics.attribution.outputs`: a column index, ``"profile"``, ``"sum"`` or a window
``"start:stop"``). Each head gets its own output files, named by its ``name``.

The command line says what to explain in one of three ways:

- ``--profile-or-counts counts profile`` (chrombpnet's ``contribs_bw`` option): for a model
  returning BPNet's ``(profile, counts)`` pair (or a dict with those keys), ``profile`` is
  output 0 with target ``"profile"`` (Σ softmax(ℓ̄).detach() · ℓ̄) and ``counts`` output 1 with
  target 0. Heads named this way keep their name in every file (``hyp.counts.npz``), even alone.
  It is the default for a model whose output is such a pair (a BPNet or a ChromBPNet);
- ``--output profile|counts|INDEX|KEY`` with ``--target`` (default: ``profile`` for
  ``profile``, 0 otherwise);
- ``--target`` alone for a model returning one tensor: indices (``0``, ``1,2``, ``all``),
  ``profile``, ``sum``, windows ``start:stop``.

File names (:func:`file_names`): one head writes ``hyp.npz``, ``contrib.npz``, ``contrib.bw``,
as before; several write ``hyp.{name}.npz``, ``contrib.{name}.npz``, ``contrib.{name}.bw`` with
``name`` ``task{t}`` for an index, ``profile``, ``sum``, ``window{a}-{b}``, or the head's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from liftgenomics.attribution import outputs
from liftgenomics.errors import LiftGenomicsError

#: The two heads of a BPNet-style model, in chrombpnet's order: (output, target).
NAMED_HEADS = {"profile": (0, "profile"), "counts": (1, 0)}
DEFAULT_HEADS = ("counts", "profile")


@dataclass(frozen=True)
class Head:
    """One explained value per sequence and the name of its files.

    Attributes:
        name: File tag (``counts``, ``profile``, ``task0``, ...), unique among a run's heads.
        output: Index or key into a tuple/dict output; None for a tensor.
        target: The target as the engine takes it (an int or a string).
        named: Chosen by name (``profile``/``counts``): files carry the name even alone.
    """

    name: str
    output: int | str | None
    target: int | str
    named: bool = False


def file_names(heads: Sequence[Head]) -> dict[str, dict[str, str]]:
    """Per head name, its ``hyp``/``contrib``/``bigwig`` file names."""
    single = len(heads) == 1 and not heads[0].named
    names = {}
    for head in heads:
        tag = "" if single else f".{head.name}"
        names[head.name] = {
            "hyp": f"hyp{tag}.npz",
            "contrib": f"contrib{tag}.npz",
            "bigwig": f"contrib{tag}.bw",
        }
    return names


def target_name(target: int | str) -> str:
    """``task{t}``, ``profile``, ``sum`` or ``window{a}-{b}``."""
    parsed = outputs.parse_target(target)
    if parsed.kind == "index":
        return f"task{parsed.index}"
    if parsed.kind == "window":
        return f"window{parsed.start}-{parsed.stop}"
    return parsed.kind


def split_targets(specs: str | int | Sequence[str | int] | None) -> list[str | int] | None:
    """``["0,1", "profile"]`` -> ``[0, 1, "profile"]`` (``"all"`` is kept as it is)."""
    if specs is None:
        return None
    if isinstance(specs, int | str):
        specs = [specs]
    targets: list[str | int] = []
    for spec in specs:
        if isinstance(spec, int):
            targets.append(spec)
            continue
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            targets.append(int(part) if part.lstrip("-").isdigit() else part)
    if not targets:
        raise LiftGenomicsError("--target: at least one target is needed")
    return targets


def is_bpnet_pair(raw: Any) -> bool:
    """Whether a model output is BPNet's ``(profile (N, S, L), counts (N, 1))``."""
    if isinstance(raw, dict):
        raw = (raw.get("profile"), raw.get("counts"))
    return (
        isinstance(raw, tuple | list)
        and len(raw) == 2
        and isinstance(raw[0], torch.Tensor)
        and isinstance(raw[1], torch.Tensor)
        and raw[0].dim() == 3
        and raw[1].dim() == 2
        and raw[1].shape[1] == 1
    )


def resolve_heads(
    raw: Any,
    output: str | int | None = None,
    target: str | int | Sequence[str | int] | None = None,
    profile_or_counts: Sequence[str] | None = None,
) -> list[Head]:
    """The heads to score, checked against what the model returned for one sequence.

    Args:
        raw: The model's output for one sequence (a tensor, tuple, list or dict).
        output: ``profile``, ``counts``, an index (int or digits) or a dict key; None: the
            tensor the model returns, or both BPNet heads for a ``(profile, counts)`` pair.
        target: Targets (see :func:`split_targets`); None: the output's default.
        profile_or_counts: Heads by name, ``counts`` and/or ``profile``.

    Raises:
        LiftGenomicsError: for conflicting options, unknown names, an output the model does not
            return, or a target it cannot give (one line naming what the model returned).
    """
    targets = split_targets(target)
    if profile_or_counts:
        if output is not None or targets is not None:
            raise LiftGenomicsError(
                "--profile-or-counts chooses the outputs and targets itself; leave out "
                "--output and --target"
            )
        heads = [_named_head(raw, name) for name in _unique(profile_or_counts)]
    elif output is None and targets is None and is_bpnet_pair(raw):
        heads = [_named_head(raw, name) for name in DEFAULT_HEADS]
    else:
        heads = _output_heads(raw, output, targets)
    for head in heads:
        selected = outputs.select_output(raw, head.output)
        outputs.validate(selected, [outputs.parse_target(head.target)], selected.shape[0])
    return heads


def _unique(names: Sequence[str]) -> list[str]:
    chosen = []
    for name in names:
        if name not in NAMED_HEADS:
            raise LiftGenomicsError(
                f"--profile-or-counts: unknown head {name!r}; expected counts and/or profile"
            )
        if name in chosen:
            raise LiftGenomicsError(f"--profile-or-counts lists {name!r} twice")
        chosen.append(name)
    return chosen


def _named_head(raw: Any, name: str) -> Head:
    """``profile``/``counts`` of a BPNet pair (or the dict entry of that name)."""
    index, target = NAMED_HEADS[name]
    if isinstance(raw, dict):
        if name not in raw:
            raise LiftGenomicsError(
                f"{name}: the model returned {outputs.describe(raw)}, with no {name!r} entry"
            )
        return Head(name, name, target, named=True)
    if not isinstance(raw, tuple | list) or len(raw) <= index:
        raise LiftGenomicsError(
            f"{name}: the model returned {outputs.describe(raw)}, not BPNet's (profile, counts); "
            "use --output INDEX and --target"
        )
    return Head(name, index, target, named=True)


def _output_heads(raw: Any, output, targets: list[str | int] | None) -> list[Head]:
    named = None
    if isinstance(output, str) and output.lstrip("-").isdigit():
        output = int(output)
    elif output in NAMED_HEADS:
        named, (index, default) = output, NAMED_HEADS[output]
        if not (isinstance(raw, dict) and output in raw):
            if not isinstance(raw, tuple | list):
                raise LiftGenomicsError(
                    f"--output {output}: the model returned {outputs.describe(raw)}, not "
                    "BPNet's (profile, counts); use --target alone"
                )
            output = index
        if targets is None:
            targets = [default]
    if isinstance(output, str) and isinstance(raw, tuple | list):
        raise LiftGenomicsError(
            f"--output {output}: the model returned {outputs.describe(raw)}; give an index"
        )
    selected = outputs.select_output(raw, output)
    if targets is None:
        targets = ["profile"] if selected.dim() == 3 else [0]
    if "all" in targets:
        if len(targets) > 1 or selected.dim() != 2:
            raise LiftGenomicsError(
                "--target all means every column of an (N, T) output, alone"
            )
        targets = list(range(selected.shape[1]))
    names = [target_name(t) for t in targets]
    if len(set(names)) != len(names):
        raise LiftGenomicsError(f"--target lists a target twice: {targets}")
    if named is not None and len(targets) == 1 and targets[0] == NAMED_HEADS[named][1]:
        return [Head(named, output, targets[0], named=True)]
    return [Head(name, output, t) for name, t in zip(names, targets, strict=True)]


def group_by_output(heads: Sequence[Head]) -> list[tuple[int | str | None, list[Head]]]:
    """Heads of the same output together (one engine call each), in first-seen order."""
    groups: dict[Any, list[Head]] = {}
    for head in heads:
        groups.setdefault(head.output, []).append(head)
    return list(groups.items())



def planned_hyp_files(
    output: str | int | None = None,
    target: str | int | Sequence[str | int] | None = None,
    profile_or_counts: Sequence[str] | None = None,
) -> dict[str, str] | None:
    """Head name -> its ``hyp`` file, known from the options alone (for the workflow's DAG).

    Returns:
        The names and files :func:`resolve_heads` and :func:`file_names` will give, or None
        when they depend on what the model returns (no target named, or ``all``).
    """
    if profile_or_counts:
        names = _unique(profile_or_counts)
        heads = [Head(name, None, NAMED_HEADS[name][1], True) for name in names]
    else:
        targets = split_targets(target)
        if output in NAMED_HEADS and targets in (None, [NAMED_HEADS[output][1]]):
            heads = [Head(str(output), None, NAMED_HEADS[output][1], True)]
        elif targets is None or "all" in targets:
            return None
        else:
            heads = [Head(target_name(t), None, t) for t in targets]
    return {name: files["hyp"] for name, files in file_names(heads).items()}
