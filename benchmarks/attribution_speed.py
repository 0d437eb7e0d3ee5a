"""Attribution throughput: liftgenomics against tangermeme, captum and the gradient floor.

Measures in one run, on the same model, inputs and references, how many (sequence, reference)
pairs per second each scorer gets through, and prints them with ratios taken round by round
(every function is called once per round, in turn, so a busy machine slows them all alike):

* ours: ``deeplift_rescale``, ``deeplift_genomics``, ``grad_input`` and
  ``integrated_gradients``, hypothetical contributions on, references given;
* tangermeme's ``deep_lift_shap`` and captum's ``DeepLift`` (per-sequence references), when
  installed;
* the gradient floor: one forward and one backward pass with respect to the input only (no
  parameter gradients) over the same N·K inputs, the cost below which no backprop-based scorer
  can go;
* end to end, references generated inside: ours with ``"dinuc:K"`` against tangermeme's
  ``deep_lift_shap(..., n_shuffles=K)``;
* dinucleotide shuffles, ours against tangermeme's (the functions of ``shuffle_speed.py``).

Three models: the paper CNN (L = 200), a deeper, wider max-pooling CNN (L = 1,000, four
convolutions of 256 filters) and a BPNet (L = 2,114, 64 filters, 8 dilated residual layers,
its count head explained). The gradient floor is timed at its own best batch size (the
fastest per pair of a few sizes, measured first), ours at the engine's default batch size
(chosen per model from its activation sizes) unless ``--batch-pairs`` fixes both. It also
reports each scorer's peak memory (above what was held
before the call) and how closely our Rescale scores agree with the peers' (per-position sums
over the four channels: captum leaves −reference on the reference's channel where we and
tangermeme project onto the base present). Not a test:

    python benchmarks/attribution_speed.py [--sequences 32] [--deep-sequences 8]
        [--references 20] [--device cpu] [--dtype float32] [--threads 2] [--repeats 3]
    python benchmarks/attribution_speed.py --keep-freed-memory   # glibc keeps freed blocks
    python benchmarks/attribution_speed.py --profile deeplift_rescale --models paper
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shuffle_speed import paired_times, random_one_hot, tangermeme_shuffle  # noqa: E402

from liftgenomics.attribution import attribute  # noqa: E402
from liftgenomics.genome.shuffles import dinucleotide_shuffle  # noqa: E402
from liftgenomics.models.architectures import glorot_init, paper_cnn  # noqa: E402

#: Our scorers timed with precomputed references (hypothetical contributions on).
OUR_METHODS = ("deeplift_rescale", "deeplift_genomics", "grad_input", "integrated_gradients")
FLOOR = "gradient floor"
TANGERMEME = "tangermeme deep_lift_shap"
CAPTUM = "captum DeepLift"
OURS_END_TO_END = "deeplift_rescale dinuc (e2e)"
TANGERMEME_END_TO_END = "tangermeme dinuc (e2e)"
OUR_SHUFFLE = "liftgenomics shuffle"
TANGERMEME_SHUFFLE = "tangermeme shuffle"
#: Rows compared with a tangermeme row in the "vs tangermeme" column.
PEER_OF = {
    "deeplift_rescale": TANGERMEME,
    OURS_END_TO_END: TANGERMEME_END_TO_END,
    OUR_SHUFFLE: TANGERMEME_SHUFFLE,
}
SHUFFLES = (OUR_SHUFFLE, TANGERMEME_SHUFFLE)


@dataclass
class Setting:
    """One model with its inputs and references, and how to run scorers on it."""

    name: str
    model: nn.Module
    X: torch.Tensor  # (N, 4, L) float32 on the CPU
    references: torch.Tensor  # (N, K, 4, L) float32 on the CPU
    device: torch.device
    dtype: torch.dtype
    batch_pairs: int  # the peers' pairs per batch (and ours/the floor's when fixed)
    steps: int
    output: int | None = None  # the model output explained (BPNet: 1, the counts)
    fixed_batch: bool = False  # --batch-pairs given: everyone uses it
    floor_pairs: int = 0  # the floor's best pairs per batch (measured)
    functions: dict[str, Callable[[], object]] = field(default_factory=dict)

    @property
    def pairs(self) -> int:
        """(sequence, reference) pairs scored per call."""
        return self.references.shape[0] * self.references.shape[1]


# ---------------------------------------------------------------------------------------------
# Models and data


def deep_cnn(
    n_tasks: int = 3, filters: int = 256, hidden: int = 64, length: int = 1000
) -> nn.Sequential:
    """A deeper, wider CNN with max pooling: four valid convolutions of ``filters`` channels.

    Conv(4->f, 11) ReLU MaxPool(4) Conv(f->f, 7) ReLU MaxPool(4) Conv(f->f, 5) ReLU MaxPool(2)
    Conv(f->f, 5) ReLU, global average, Linear(f->hidden) ReLU Linear(hidden->n_tasks). At
    L = 1,000 that is about 150 M multiply-adds per sequence (the paper CNN: about 5 M).
    """
    model = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv1d(4, filters, 11),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool1d(4),
            conv2=nn.Conv1d(filters, filters, 7),
            relu2=nn.ReLU(),
            pool2=nn.MaxPool1d(4),
            conv3=nn.Conv1d(filters, filters, 5),
            relu3=nn.ReLU(),
            pool3=nn.MaxPool1d(2),
            conv4=nn.Conv1d(filters, filters, 5),
            relu4=nn.ReLU(),
            pool=nn.AdaptiveAvgPool1d(1),
            flatten=nn.Flatten(),
            dense1=nn.Linear(filters, hidden),
            relu5=nn.ReLU(),
            dense2=nn.Linear(hidden, n_tasks),
        )
    )
    model.input_length = length
    glorot_init(model)
    return model


class CountHead(nn.Module):
    """A BPNet's count head alone, (N, 1): what tangermeme and captum need."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, X):
        return self.model(X)[1]


def bpnet(length: int = 2114) -> nn.Module:
    """BPNet as bpnet-lite builds it: 64 filters, 8 dilated residual layers, no control."""
    from liftgenomics.models.architectures import BPNet

    torch.manual_seed(7)
    model = BPNet(n_filters=64, n_layers=8, n_control_tracks=0)
    model.input_length = length
    return model


def build_model(name: str) -> nn.Module:
    """The benchmark's models by name (``paper``: L = 200; ``deep``: L = 1,000; ``bpnet``:
    L = 2,114), in eval mode.

    Biases are drawn small and non-zero so that units are not all switched at zero.
    """
    if name == "bpnet":
        return bpnet().eval()
    model = paper_cnn(length=200) if name == "paper" else deep_cnn()
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, nn.Conv1d | nn.Linear):
                layer.bias.copy_(0.05 * torch.randn(layer.bias.shape, generator=generator))
    return model.eval()


def make_data(n: int, k: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random one-hot sequences (n, 4, L) and k dinucleotide shuffles of each (n, k, 4, L)."""
    X = random_one_hot(n, length, seed)
    references = dinucleotide_shuffle(X, k, seed=seed)
    return torch.from_numpy(X), torch.from_numpy(references)


# ---------------------------------------------------------------------------------------------
# The scorers


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so a timer stopped afterwards counts all of it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def explained(setting: Setting, output) -> torch.Tensor:
    """The explained column of a model output (the BPNet's counts)."""
    chosen = output if setting.output is None else output[setting.output]
    return chosen[:, 0]


def gradient_floor(setting: Setting, pairs: int | None = None) -> torch.Tensor:
    """One forward + backward w.r.t. the input only over all N·K reference inputs."""
    pairs = pairs or setting.floor_pairs or setting.batch_pairs
    inputs = setting.references.reshape((-1,) + tuple(setting.X.shape[1:]))
    grads = []
    for start in range(0, inputs.shape[0], pairs):
        chunk = inputs[start : start + pairs]
        x = chunk.to(setting.device, setting.dtype).requires_grad_(True)
        (grad,) = torch.autograd.grad(explained(setting, setting.model(x)).sum(), x)
        grads.append(grad.cpu())
    return torch.cat(grads)


def best_floor_pairs(setting: Setting) -> int:
    """The floor's fastest pairs per batch among a few sizes (each timed twice, best kept)."""
    if setting.fixed_batch:
        return setting.batch_pairs
    k = setting.references.shape[1]
    total = setting.pairs
    candidates = sorted({p for p in (1, 2, 5, 10, 20, 40, 80, 160, 320, 640) if p <= total})
    candidates = [p for p in candidates if p >= min(k, total) // 4] or candidates
    rates = {}
    for pairs in candidates:
        spent = []
        for _ in range(2):
            started = time.perf_counter()
            gradient_floor(setting, pairs)
            synchronize(setting.device)
            spent.append(time.perf_counter() - started)
        rates[pairs] = total / min(spent)
    best = max(rates, key=rates.get)
    print(f"floor pairs/s by batch ({setting.name}): "
          + ", ".join(f"{p}: {r:,.0f}" for p, r in rates.items()) + f" -> {best}")  # fmt: skip
    return best


def ours(setting: Setting, method: str, references, hypothetical: bool = True) -> torch.Tensor:
    """liftgenomics' :func:`attribute` with the same pairs per batch as the peers."""
    k = setting.references.shape[1]
    return attribute(
        setting.model,
        setting.X,
        references,
        0,
        method=method,
        output=setting.output,
        hypothetical=hypothetical,
        batch_size=max(1, setting.batch_pairs // k) if setting.fixed_batch else None,
        device=setting.device,
        seed=1,
        steps=setting.steps,
    )


def tangermeme_scorer() -> Callable | None:
    """tangermeme's deep_lift_shap, or None when tangermeme is not installed."""
    try:
        from tangermeme.deep_lift_shap import deep_lift_shap
    except ImportError:
        return None
    return deep_lift_shap


def tangermeme_scores(setting: Setting, references=None, hypothetical: bool = True) -> torch.Tensor:
    """tangermeme's deep_lift_shap with given references (or its own dinucleotide shuffles)."""
    deep_lift_shap = tangermeme_scorer()
    k = setting.references.shape[1]
    given = {} if references is None else {"references": references}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return deep_lift_shap(
            peer_model(setting),
            setting.X,
            target=0,
            batch_size=setting.batch_pairs,
            n_shuffles=k,
            hypothetical=hypothetical,
            device=setting.device,
            dtype=setting.dtype,
            random_state=1,
            **given,
        )


def peer_model(setting: Setting) -> nn.Module:
    """The model as the peers take it: one (N, T) output."""
    return setting.model if setting.output is None else CountHead(setting.model)


def captum_available() -> bool:
    """Whether captum is installed."""
    try:
        import captum.attr  # noqa: F401
    except ImportError:
        return False
    return True


def captum_scores(setting: Setting) -> torch.Tensor:
    """captum's DeepLift, one reference per input row, averaged over each sequence's K.

    Returns:
        (N, 4, L): the mean over references of (x − ref) · m, captum's own attributions (not
        projected: the reference's channel keeps −ref · m).
    """
    from captum.attr import DeepLift

    n, k = setting.references.shape[:2]
    explainer = DeepLift(peer_model(setting))
    inputs = setting.X.repeat_interleave(k, dim=0)
    baselines = setting.references.reshape((-1,) + tuple(setting.X.shape[1:]))
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for start in range(0, n * k, setting.batch_pairs):
            stop = start + setting.batch_pairs
            x = inputs[start:stop].to(setting.device, setting.dtype)
            r = baselines[start:stop].to(setting.device, setting.dtype)
            out.append(explainer.attribute(x, r, target=0).detach().cpu())
    return torch.cat(out).reshape((n, k) + tuple(setting.X.shape[1:])).mean(dim=1)


def captum_summation_error(setting: Setting) -> tuple[float, float]:
    """captum's own max |Σ attributions − Δt| and max |Δt| over one batch of pairs."""
    from captum.attr import DeepLift

    k = setting.references.shape[1]
    pairs = min(setting.pairs, setting.batch_pairs)
    x = setting.X.repeat_interleave(k, dim=0)[:pairs].to(setting.device, setting.dtype)
    r = setting.references.reshape((-1,) + tuple(setting.X.shape[1:]))[:pairs]
    r = r.to(setting.device, setting.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = peer_model(setting)
        _, error = DeepLift(model).attribute(x, r, target=0, return_convergence_delta=True)
        with torch.no_grad():
            delta = model(x)[:, 0] - model(r)[:, 0]
    return float(error.abs().max()), float(delta.abs().max())


def add_functions(setting: Setting, shuffle_rival: Callable | None) -> None:
    """Fill ``setting.functions``: every scorer timed on this setting, floor first."""
    functions = setting.functions
    k = setting.references.shape[1]
    functions[FLOOR] = lambda: gradient_floor(setting)
    for method in OUR_METHODS:
        if method == "integrated_gradients" and setting.output is not None:
            continue  # K x steps BPNet passes: minutes per round, and not a DeepLIFT target
        functions[method] = lambda method=method: ours(setting, method, setting.references)
    if tangermeme_scorer() is not None:
        functions[TANGERMEME] = lambda: tangermeme_scores(setting, setting.references)
    if captum_available() and setting.output is None:
        functions[CAPTUM] = lambda: captum_scores(setting)
    functions[OURS_END_TO_END] = lambda: ours(setting, "deeplift_rescale", f"dinuc:{k}")
    if tangermeme_scorer() is not None:
        functions[TANGERMEME_END_TO_END] = lambda: tangermeme_scores(setting)
    X_numpy = setting.X.numpy()
    functions[OUR_SHUFFLE] = lambda: dinucleotide_shuffle(X_numpy, k, seed=1)
    if shuffle_rival is not None:
        functions[TANGERMEME_SHUFFLE] = lambda: shuffle_rival(setting.X, n=k, random_state=1)
    for name, function in list(functions.items()):
        functions[name] = synchronized(function, setting.device)


def synchronized(function: Callable[[], object], device: torch.device) -> Callable[[], object]:
    """``function`` followed by a device synchronisation."""

    def run() -> object:
        result = function()
        synchronize(device)
        return result

    return run


# ---------------------------------------------------------------------------------------------
# Peak memory


def _release_freed_memory() -> None:
    """Give freed heap pages back to the OS (glibc), so RSS starts from what is in use."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks up to 32 MiB for reuse (process-wide, for every scorer).

    By default glibc returns memory freed at the top of the heap to the OS and maps large
    blocks afresh, so every batch pays page faults again for its activations; how often
    depends on each scorer's allocation pattern more than on its arithmetic. Returns whether
    the settings took.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.mallopt(-1, 2**30)  # M_TRIM_THRESHOLD
        mmap = libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD (glibc's maximum)
    except (OSError, AttributeError):
        return False
    return bool(trim and mmap)


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def peak_memory(function: Callable[[], object], device: torch.device) -> float | None:
    """MiB allocated at the peak of one call above what was held before it.

    On CUDA: the allocator's peak. On a CPU: the resident set sampled every 0.5 ms by a
    thread (torch releases the GIL in its kernels), after freed heap pages were returned;
    None where /proc is unavailable.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        function()
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    _release_freed_memory()
    base = _resident_bytes()
    if base is None:
        return None
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _resident_bytes() or 0)
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        function()
    finally:
        done.set()
        sampler.join()
    peak[0] = max(peak[0], _resident_bytes() or 0)
    return (peak[0] - base) / 2**20


# ---------------------------------------------------------------------------------------------
# Agreement


def position_sums(scores: torch.Tensor) -> torch.Tensor:
    """Per-position sums over the four channels: (N, 4, L) -> (N, L)."""
    return scores.double().sum(dim=1)


def agreement(setting: Setting) -> list[tuple[str, float, float]]:
    """(peer, max |difference|, max |difference| / max |ours|) of per-position sums.

    Ours is deeplift_rescale (actual contributions); the peers claim the Rescale rule too.
    """
    mine = position_sums(ours(setting, "deeplift_rescale", setting.references, False))
    scale = float(mine.abs().max())
    rows = []
    peers: dict[str, Callable[[], torch.Tensor]] = {}
    if tangermeme_scorer() is not None:
        peers[TANGERMEME] = lambda: tangermeme_scores(setting, setting.references, False)
    if captum_available() and setting.output is None:
        peers[CAPTUM] = lambda: captum_scores(setting)
    for name, score in peers.items():
        difference = float((position_sums(score()) - mine).abs().max())
        rows.append((name, difference, difference / scale))
    if tangermeme_scorer() is not None:
        mine_hyp = ours(setting, "deeplift_rescale", setting.references, True).double()
        theirs = tangermeme_scores(setting, setting.references, True).double()
        difference = float((theirs - mine_hyp).abs().max())
        rows.append(
            (f"{TANGERMEME} (hypothetical, all 4 channels)", difference, difference / scale)
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Report


def measure(setting: Setting, repeats: int, memory: bool) -> tuple[dict, dict]:
    """Times per round of every function (interleaved) and their peak memory."""
    names = list(setting.functions)
    times = paired_times([setting.functions[name] for name in names], repeats)
    peaks = {}
    if memory:
        for name in names:
            peaks[name] = peak_memory(setting.functions[name], setting.device)
    return dict(zip(names, times, strict=True)), peaks


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of numerator time / denominator time (a throughput ratio)."""
    return float(np.median(np.array(numerator) / np.array(denominator)))


def print_table(setting: Setting, times: dict, peaks: dict) -> None:
    """The throughput table of one setting, floor and peer ratios included."""
    n, k = setting.references.shape[:2]
    length = setting.X.shape[2]
    print(
        f"\n== {setting.name}: N={n} sequences x K={k} references, L={length}, "
        f"peers {setting.batch_pairs} pairs/batch, floor {setting.floor_pairs}, "
        f"ours {'fixed' if setting.fixed_batch else 'engine default'}, {setting.device.type}, "
        f"{str(setting.dtype)[6:]}, "
        f"{torch.get_num_threads()} threads, IG steps={setting.steps} =="
    )
    header = f"{'scorer':<34} {'pairs/s':>9} {'median s':>9} {'vs floor':>9} {'vs tgm':>7}"
    print(header + f" {'peak MiB':>9}")
    for name, spent in times.items():
        if name in SHUFFLES:
            continue
        print(_row(name, spent, times, setting.pairs, peaks.get(name), floor=True))
    print(f"{'shuffles (K per sequence)':<34} {'shuf/s':>9}")
    for name in SHUFFLES:
        if name in times:
            print(_row(name, times[name], times, setting.pairs, peaks.get(name), floor=False))


def _row(name: str, spent: list, times: dict, pairs: int, peak, floor: bool) -> str:
    line = f"{name:<34} {pairs / min(spent):>9,.0f} {float(np.median(spent)):>9.3f}"
    line += f" {median_ratio(times[FLOOR], spent):>8.2f}x" if floor else f" {'':>9}"
    peer = PEER_OF.get(name)
    line += f" {median_ratio(times[peer], spent):>6.2f}x" if peer in times else f" {'':>7}"
    line += f" {peak:>9.0f}" if peak is not None else f" {'n/a':>9}"
    return line


def print_agreement(setting: Setting) -> None:
    """How far the peers' Rescale scores are from ours."""
    rows = agreement(setting)
    if not rows:
        return
    print(f"agreement with our deeplift_rescale, per-position sums over channels ({setting.name}):")
    for name, difference, relative in rows:
        print(f"  {name:<58} max |diff| {difference:.2e}  ({relative:.1e} of max |score|)")
    if captum_available() and setting.output is None:
        error, delta = captum_summation_error(setting)
        print(
            f"  captum's own summation-to-delta error (first batch): {error:.2e} with max "
            f"|f(x) - f(ref)| {delta:.2e} (ours is checked on every pair, tolerance 1e-4 rel.)"
        )


def profile(setting: Setting, name: str, rows: int) -> None:
    """Run one function under the PyTorch profiler and print its top ops by self CPU time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    function = setting.functions[name]
    function()
    activities = [ProfilerActivity.CPU]
    if setting.device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with torch_profile(activities=activities) as profiler:
        function()
    sort = "self_cuda_time_total" if setting.device.type == "cuda" else "self_cpu_time_total"
    print(f"\n== profile of {name} on {setting.name} ==")
    print(profiler.key_averages().table(sort_by=sort, row_limit=rows))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=32, help="N for the paper CNN")
    parser.add_argument("--deep-sequences", type=int, default=8, help="N for the deep CNN")
    parser.add_argument("--bpnet-sequences", type=int, default=2, help="N for the BPNet")
    parser.add_argument("--references", type=int, default=20, help="K per sequence")
    parser.add_argument("--models", nargs="+", choices=("paper", "deep", "bpnet"),
                        default=["paper", "deep", "bpnet"])  # fmt: skip
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds")
    parser.add_argument(
        "--batch-pairs", type=int, default=None,
        help="pairs per batch for everyone (default: peers 320, ours the engine's, floor best)",
    )  # fmt: skip
    parser.add_argument("--steps", type=int, default=10, help="integrated-gradients steps")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory pass")
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="glibc keeps freed blocks for reuse (fewer page faults, all scorers alike)",
    )
    parser.add_argument("--no-agreement", action="store_true", help="skip the agreement check")
    parser.add_argument("--profile", metavar="SCORER", help="profile one scorer instead")
    parser.add_argument("--profile-rows", type=int, default=15)
    return parser.parse_args(argv)


def resolve(device: str) -> torch.device:
    """``auto`` -> CUDA when available; refuse an absent CUDA."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available on this machine")
    return resolved


def make_setting(name: str, args: argparse.Namespace) -> Setting:
    """Model, inputs and references for one model name."""
    device = resolve(args.device)
    dtype = getattr(torch, args.dtype)
    model = build_model(name).to(device, dtype)
    n = {"paper": args.sequences, "deep": args.deep_sequences, "bpnet": args.bpnet_sequences}
    X, references = make_data(n[name], args.references, model.input_length, seed=11)
    label = {"paper": "paper CNN", "deep": "deep max-pool CNN", "bpnet": "BPNet counts"}[name]
    fixed = args.batch_pairs is not None
    return Setting(
        label, model, X, references, device, dtype, args.batch_pairs or 320, args.steps,
        output=1 if name == "bpnet" else None, fixed_batch=fixed,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.keep_freed_memory:
        print(f"glibc keeps freed memory for reuse: {keep_freed_memory()}")
    shuffle_rival = tangermeme_shuffle()
    missing = [
        package
        for package, present in (
            ("tangermeme", tangermeme_scorer() is not None),
            ("captum", captum_available()),
        )
        if not present
    ]
    if missing:
        print(f"not installed, not compared: {', '.join(missing)} (pip install -e '.[bench]')")
    print(
        f"{args.repeats} interleaved rounds after a warm-up; 'vs floor' and 'vs tgm' are the "
        "median over rounds of (their time / this row's time): above 1 is faster than them"
    )
    for name in args.models:
        setting = make_setting(name, args)
        setting.floor_pairs = best_floor_pairs(setting)
        add_functions(setting, shuffle_rival)
        if args.profile:
            profile(setting, args.profile, args.profile_rows)
            continue
        started = time.perf_counter()
        times, peaks = measure(setting, args.repeats, not args.no_memory)
        print_table(setting, times, peaks)
        if not args.no_agreement:
            print_agreement(setting)
        print(f"({time.perf_counter() - started:.0f} s)")
    if resolve(args.device).type == "cpu":
        print("\nCUDA: not measured here (run with --device cuda on a GPU machine)")


if __name__ == "__main__":
    main()
