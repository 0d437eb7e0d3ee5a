"""Tests for liftgenomics.models.bpnet_lite and .unpickle: whole pickled bpnet-lite models.

The pickles are written here with ``torch.save`` of stand-in modules registered under
bpnet-lite's names (``bpnetlite.bpnet.BPNet``, ...) in ``sys.modules``, laid out as bpnet-lite
1.1 lays its modules out, so no bpnet-lite is needed; what the reader builds is checked against
a NumPy forward pass written from bpnet-lite's ``forward`` (same-padded convolutions, residual
adds, the profile crop, the count head's mean over ``[trimming - 37, L - trimming + 37)``).
Hostile pickles (``os.system``, ``builtins.eval``) are refused without being run. With the real
CTCF BPNet present, its known behaviour on a pasted CTCF motif is checked.
"""

from __future__ import annotations

import pickle
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.models.architectures import BPNet, ChromBPNet
from liftgenomics.models.bpnet_lite import load_bpnet_lite
from liftgenomics.models.load import load_model
from liftgenomics.models.registry import build_model

REAL_MODELS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-models"
CTCF_MODEL = REAL_MODELS / "bpnet-lite-ctcf" / "example.torch"


# --- stand-ins for bpnet-lite's classes, pickled under bpnet-lite's names -----------------


class Logger:
    """bpnet-lite's training log (its pickle is recorded by the reader, never used)."""

    def __init__(self, names):
        self.names, self.data = names, {name: [np.float32(1.5)] for name in names}


class StandInBPNet(nn.Module):
    """bpnet-lite 1.1's BPNet.__init__ (attributes and submodules in its order)."""

    def __init__(
        self,
        n_filters,
        n_layers,
        n_outputs,
        n_control_tracks,
        trimming,
        profile_bias=True,
        count_bias=True,
    ):
        super().__init__()
        self.n_filters, self.n_layers = n_filters, n_layers
        self.n_outputs, self.n_control_tracks = n_outputs, n_control_tracks
        self.count_loss_weight = 1
        self.name = "tiny"
        self.trimming = trimming
        self.iconv = nn.Conv1d(4, n_filters, kernel_size=21, padding=10)
        self.irelu = nn.ReLU()
        self.rconvs = nn.ModuleList(
            nn.Conv1d(n_filters, n_filters, kernel_size=3, padding=2**i, dilation=2**i)
            for i in range(1, n_layers + 1)
        )
        self.rrelus = nn.ModuleList(nn.ReLU() for _ in range(n_layers))
        self.fconv = nn.Conv1d(
            n_filters + n_control_tracks, n_outputs, kernel_size=75, padding=37, bias=profile_bias
        )
        self.linear = nn.Linear(n_filters + (1 if n_control_tracks else 0), 1, bias=count_bias)
        self.logger = Logger(["Epoch", "Training MNLL"])


class StandInLog(nn.Module):
    pass


class StandInExp(nn.Module):
    pass


class StandInChromBPNet(nn.Module):
    """bpnet-lite 1.1's ChromBPNet.__init__."""

    def __init__(self, bias, accessibility):
        super().__init__()
        self.bias, self.accessibility = bias, accessibility
        self.name, self.logger = "ChromBPNet", None
        self.n_control_tracks, self.n_outputs = accessibility.n_control_tracks, 1
        self._log, self._exp1, self._exp2 = StandInLog(), StandInExp(), StandInExp()


class StandInLSTM(nn.LSTM):
    """A foreign class the reader must refuse."""


NAMES = {
    "bpnetlite.bpnet": {"BPNet": StandInBPNet},
    "bpnetlite.chrombpnet": {
        "ChromBPNet": StandInChromBPNet,
        "_Log": StandInLog,
        "_Exp": StandInExp,
    },
    "bpnetlite.logging": {"Logger": Logger},
    "evil.layers": {"LSTM": StandInLSTM},
}


for _module_name, _classes in NAMES.items():
    for _name, _cls in _classes.items():
        _cls.__module__, _cls.__qualname__, _cls.__name__ = _module_name, _name, _name


@pytest.fixture(autouse=True)
def bpnetlite_names(monkeypatch):
    """Register the stand-ins' modules under bpnet-lite's names in sys.modules, for torch.save."""
    for package in {name.split(".")[0] for name in NAMES}:
        monkeypatch.setitem(sys.modules, package, types.ModuleType(package))
    for module_name, classes in NAMES.items():
        module = types.ModuleType(module_name)
        for name, cls in classes.items():
            setattr(module, name, cls)
        monkeypatch.setitem(sys.modules, module_name, module)


def tiny_bpnet(
    seed, n_filters=6, n_layers=3, n_outputs=2, n_control_tracks=0, trimming=70, **kwargs
):
    torch.manual_seed(seed)
    model = StandInBPNet(n_filters, n_layers, n_outputs, n_control_tracks, trimming, **kwargs)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.3)
    return model.eval()


def write_bpnet_lite(path, seed=0, **kwargs):
    """torch.save a stand-in bpnet-lite BPNet; returns its weights as NumPy arrays."""
    model = tiny_bpnet(seed, **kwargs)
    torch.save(model, path)
    return model_weights(model)


def model_weights(model):
    return {key: value.detach().double().numpy() for key, value in model.state_dict().items()}


# --- an independent NumPy forward of bpnet-lite's BPNet --------------------------------------


def np_conv(x, weight, bias, dilation=1):
    """Same-padded Conv1d, channels first: x (N, C, L), weight (O, C, W)."""
    width = weight.shape[2]
    pad = dilation * (width - 1) // 2
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    out = np.zeros((x.shape[0], weight.shape[0], x.shape[2]))
    for j in range(width):
        out += np.einsum(
            "ncl,oc->nol", padded[:, :, j * dilation : j * dilation + x.shape[2]], weight[:, :, j]
        )
    return out if bias is None else out + bias[None, :, None]


def numpy_bpnet(X, w, n_layers, trimming, X_ctl=None):
    """bpnet-lite 1.1's BPNet.forward in NumPy: (profile (N, O, L - 2t), counts (N,))."""
    h = np.maximum(np_conv(X, w["iconv.weight"], w["iconv.bias"]), 0)
    for i in range(n_layers):
        conv = np_conv(h, w[f"rconvs.{i}.weight"], w[f"rconvs.{i}.bias"], dilation=2 ** (i + 1))
        h = h + np.maximum(conv, 0)
    start, end = trimming, X.shape[2] - trimming
    body = h if X_ctl is None else np.concatenate([h, X_ctl], axis=1)
    profile = np_conv(body, w["fconv.weight"], w.get("fconv.bias"))[:, :, start:end]
    pooled = h[:, :, max(start - 37, 0) : end + 37].mean(axis=2)
    if X_ctl is not None:
        total = X_ctl[:, :, max(start - 37, 0) : end + 37].sum(axis=(1, 2))
        pooled = np.concatenate([pooled, np.log(total + 1)[:, None]], axis=1)
    counts = pooled @ w["linear.weight"].T + w.get("linear.bias", 0.0)
    return profile, counts[:, 0]


@pytest.fixture(scope="module")
def sequences():
    rng = np.random.default_rng(5)
    return np.eye(4)[rng.integers(0, 4, (3, 300))].transpose(0, 2, 1)  # (N, 4, L)


def predict(model, X, *extra):
    with torch.no_grad():
        profile, counts = model(torch.from_numpy(X).float(), *extra)
    return profile.double().numpy(), counts[:, 0].double().numpy()


def assert_close(ours, expected):
    for a, b in zip(ours, expected, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


# --- reading pickles written here ----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"n_control_tracks": 2, "n_outputs": 1, "profile_bias": False, "count_bias": False},
        {"n_layers": 2, "trimming": 20},  # count window past the profile's: clipped at 0
    ],
)
def test_a_pickled_bpnet_matches_numpy(tmp_path, sequences, kwargs):
    weights = write_bpnet_lite(tmp_path / "m.torch", seed=1, **kwargs)
    model = load_model(f"bpnet-lite:{tmp_path / 'm.torch'}")
    assert isinstance(model, BPNet) and not model.training
    n_layers = kwargs.get("n_layers", 3)
    trimming = kwargs.get("trimming", 70)
    assert model.input_length == 2 * trimming + 1000
    assert model.metadata["source"] == f"bpnet-lite:{tmp_path / 'm.torch'}"
    assert model.metadata["class"] == "bpnetlite.bpnet.BPNet"
    assert model.architecture["trimming"] == trimming
    assert model.architecture["count_trimming"] == trimming - 37
    n_ctl = kwargs.get("n_control_tracks", 0)
    if n_ctl:
        X_ctl = np.random.default_rng(2).poisson(2.0, (len(sequences), n_ctl, 300)).astype(float)
        ours = predict(model, sequences, torch.from_numpy(X_ctl).float())
        expected = numpy_bpnet(sequences, weights, n_layers, trimming, X_ctl)
    else:
        ours = predict(model, sequences)
        expected = numpy_bpnet(sequences, weights, n_layers, trimming)
    assert_close(ours, expected)
    # The recorded architecture rebuilds the same module.
    rebuilt = build_model(model.architecture)
    rebuilt.load_state_dict(model.state_dict())
    assert_close(
        predict(rebuilt.eval(), sequences, *([torch.from_numpy(X_ctl).float()] if n_ctl else [])),
        ours,
    )


def test_tensors_are_read_exactly_with_offsets_strides_dtypes_and_byteorder(tmp_path):
    model = tiny_bpnet(3)
    with torch.no_grad():
        # A strided view into a shared storage with an offset, and a double-precision model.
        base = torch.randn(3, 2 * 6, dtype=torch.float64)
        model.double()
        model.linear.weight = nn.Parameter(base[1:2, ::2])
        model.iconv.bias = nn.Parameter(base[2, :6])
    assert model.linear.weight.storage_offset() == 12 and model.linear.weight.stride() == (12, 2)
    torch.save(model, tmp_path / "little.torch")
    expected = model_weights(model)
    loaded = load_bpnet_lite(tmp_path / "little.torch")
    for key, value in loaded.state_dict().items():
        assert value.dtype == torch.float32
        np.testing.assert_array_equal(value.numpy(), expected[key].astype(np.float32), key)

    # The same archive with big-endian storages and byteorder "big".
    with (
        zipfile.ZipFile(tmp_path / "little.torch") as source,
        zipfile.ZipFile(tmp_path / "big.torch", "w") as target,
    ):
        for name in source.namelist():
            data = source.read(name)
            if name.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in name:
                data = np.frombuffer(data, "<f8").astype(">f8").tobytes()
            target.writestr(name, data)
    big = load_bpnet_lite(tmp_path / "big.torch")
    for key, value in big.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), expected[key].astype(np.float32), key)


def test_a_pickled_chrombpnet_matches_numpy(tmp_path, sequences):
    bias = tiny_bpnet(4, n_filters=4, n_layers=2, n_outputs=1, trimming=60)
    accessibility = tiny_bpnet(5, n_filters=6, n_layers=3, n_outputs=1, trimming=70)
    torch.save(StandInChromBPNet(bias, accessibility), tmp_path / "c.torch")
    model = load_model(f"bpnet-lite:{tmp_path / 'c.torch'}")
    assert isinstance(model, ChromBPNet) and model.architecture["name"] == "chrombpnet_pair"
    assert model.input_length == 2 * 70 + 1000
    bias_profile, bias_counts = numpy_bpnet(sequences, model_weights(bias), 2, 60)
    acc_profile, acc_counts = numpy_bpnet(sequences, model_weights(accessibility), 3, 70)
    crop = (bias_profile.shape[2] - acc_profile.shape[2]) // 2
    profile = acc_profile + bias_profile[:, :, crop : crop + acc_profile.shape[2]]
    assert_close(predict(model, sequences), (profile, np.logaddexp(acc_counts, bias_counts)))
    assert_close(predict(model.accessibility, sequences), (acc_profile, acc_counts))


# --- refusals --------------------------------------------------------------------------------


def torch_zip(path, pickle_bytes):
    """A zip in torch.save's layout around the given data.pkl."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle_bytes)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")


@pytest.mark.parametrize(
    "payload, named",
    [
        (lambda marker: b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.", "os.system"),
        (
            lambda marker: (
                b"cbuiltins\neval\n(S'open(" + repr(str(marker)).encode() + b', "w")\'\ntR.'
            ),
            "builtins.eval",
        ),
        (
            lambda marker: (
                b"csubprocess\nPopen\n((S'touch'\nS'" + str(marker).encode() + b"'\nltR."
            ),
            "subprocess.Popen",
        ),
    ],
)
def test_hostile_globals_are_refused_unrun(tmp_path, payload, named):
    marker = tmp_path / "marker"
    torch_zip(tmp_path / "evil.torch", payload(marker))
    with pytest.raises(LiftGenomicsError) as error:
        load_model(f"bpnet-lite:{tmp_path / 'evil.torch'}")
    message = str(error.value)
    assert "\n" not in message and named in message and "evil.torch" in message
    assert not marker.exists()


def test_score_refuses_a_hostile_pickle_in_one_line_and_writes_nothing(tmp_path, capsys):
    from liftgenomics.cli import main

    marker = tmp_path / "marker"
    torch_zip(tmp_path / "evil.torch", b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    (tmp_path / "in.fa").write_text(">s\n" + "ACGT" * 50 + "\n")
    out = tmp_path / "out"
    status = main([
        "score", "--model", f"bpnet-lite:{tmp_path / 'evil.torch'}", "--fasta",
        str(tmp_path / "in.fa"), "--out", str(out), "--quiet",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "os.system" in err
    assert not out.exists() and not marker.exists()


def test_hostile_global_inside_a_real_looking_model_is_refused(tmp_path):
    marker = tmp_path / "marker"

    class Hostile:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    model = tiny_bpnet(0)
    model.name = Hostile()
    torch.save(model, tmp_path / "m.torch")
    with pytest.raises(LiftGenomicsError, match=r"names posix\.system|names os\.system"):
        load_bpnet_lite(tmp_path / "m.torch")
    assert not marker.exists()


def test_foreign_module_class_is_refused(tmp_path):
    model = tiny_bpnet(0)
    model.extra = StandInLSTM(4, 4)
    torch.save(model, tmp_path / "m.torch")
    with pytest.raises(LiftGenomicsError, match=r"evil\.layers\.LSTM, which this reader does"):
        load_bpnet_lite(tmp_path / "m.torch")


def bad_files():
    def not_zip(path):
        path.write_text("hello\n")

    def truncated(path):
        torch.save(tiny_bpnet(0), path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    def state_dict(path):
        torch.save(tiny_bpnet(0).state_dict(), path)

    def wrong_width(path):
        model = tiny_bpnet(0)
        model.rconvs[1] = nn.Conv1d(6, 6, kernel_size=5, padding=8, dilation=4)
        torch.save(model, path)

    def no_trimming(path):
        model = tiny_bpnet(0)
        model.trimming = None
        torch.save(model, path)

    def missing_storage(path):
        torch.save(tiny_bpnet(0), path)
        with zipfile.ZipFile(path) as source:
            members = {name: source.read(name) for name in source.namelist()}
        with zipfile.ZipFile(path, "w") as target:
            for name, data in members.items():
                if not name.endswith("/data/0"):
                    target.writestr(name, data)

    def two_pickles(path):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("a/data.pkl", pickle.dumps(1))
            archive.writestr("b/data.pkl", pickle.dumps(2))

    def broadcast(path):
        model = tiny_bpnet(0)
        model.iconv.bias = nn.Parameter(torch.zeros(1).expand(6))
        torch.save(model, path)

    def garbage_pickle(path):
        torch_zip(path, b"\x80\x02garbage")

    return [
        (not_zip, "not a torch.save zip archive"),
        (truncated, "not a torch.save zip archive, or truncated"),
        (state_dict, "holds a OrderedDict, not a bpnet-lite"),
        (wrong_width, "rconvs.1.weight has shape"),
        (no_trimming, "no integer trimming"),
        (missing_storage, "the archive has no bad/data/0"),
        (two_pickles, "expected one ARCHIVE/data.pkl, found 2"),
        (garbage_pickle, "unreadable pickle"),
        (broadcast, "is larger than its storage"),
    ]


@pytest.mark.parametrize("make, message", bad_files(), ids=lambda v: getattr(v, "__name__", ""))
def test_bad_files_are_one_line_errors(tmp_path, make, message):
    path = tmp_path / "bad.torch"
    make(path)
    with pytest.raises(LiftGenomicsError) as error:
        load_bpnet_lite(path)
    text = str(error.value)
    assert "\n" not in text and str(path) in text and message in text, text


def test_a_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(LiftGenomicsError, match="file not found"):
        load_model(f"bpnet-lite:{tmp_path / 'absent.torch'}")


# --- the real CTCF BPNet (skipped where the shared data is absent) --------------------------

real = pytest.mark.skipif(
    not CTCF_MODEL.is_file(), reason=f"real models not present at {REAL_MODELS}"
)


def make_ctcf_inputs():
    """10 random 2,114-bp sequences, and the same with CTCF_known1's consensus in the middle:
    (without, with, motif start, motif end)."""
    from liftgenomics.motifs.meme import get_motif

    consensus = get_motif("CTCF_known1").probabilities.argmax(axis=1)
    rng = np.random.default_rng(0)
    X0 = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (10, 2114))].transpose(0, 2, 1).copy()
    X1 = X0.copy()
    start = 2114 // 2 - len(consensus) // 2
    X1[:, :, start : start + len(consensus)] = np.eye(4, dtype=np.float32)[consensus].T
    return X0, X1, start, start + len(consensus)


@pytest.fixture(scope="module")
def ctcf_inputs():
    return make_ctcf_inputs()


@real
def test_real_ctcf_bpnet_counts_rise_and_profile_peaks_at_a_pasted_motif(ctcf_inputs):
    """Measured: median log count 3.89 without, 5.45 with the consensus (README: ~3.5 ->
    ~4.9 for sampled motifs); plus-strand peaks 927-991, minus-strand 1120-1216 around the
    motif at 1048-1067."""
    model = load_model(f"bpnet-lite:{CTCF_MODEL}")
    assert model.architecture["n_filters"] == 64 and model.architecture["n_layers"] == 8
    assert model.input_length == 2114 and model.n_control_tracks == 0
    X0, X1, start, end = ctcf_inputs
    with torch.no_grad():
        _, counts0 = model(torch.from_numpy(X0))
        profile1, counts1 = model(torch.from_numpy(X1))
    assert profile1.shape == (10, 2, 1000)
    without, with_motif = np.median(counts0.numpy()), np.median(counts1.numpy())
    assert 3.0 < without < 4.3 and with_motif > without + 1.0, (without, with_motif)
    peaks = profile1.argmax(dim=-1).numpy() + model.trimming  # input coordinates
    plus, minus = np.median(peaks[:, 0]), np.median(peaks[:, 1])
    assert start - 150 < plus < start and end < minus < end + 200, (plus, minus)


@real
def test_real_ctcf_bpnet_deeplift_concentrates_on_the_motif(ctcf_inputs):
    """Measured: a median 67 % of |attribution| within 20 bp of the motif; top position
    inside it for all 10 sequences."""
    from liftgenomics.attribution import attribute

    model = load_model(f"bpnet-lite:{CTCF_MODEL}")
    _, X1, start, end = ctcf_inputs
    scores = attribute(model, X1, "dinuc:5", target=0, output=1, method="deeplift_rescale", seed=0)
    mass = np.abs(scores.numpy()).sum(axis=1)
    near = mass[:, start - 20 : end + 20].sum(axis=1) / mass.sum(axis=1)
    assert np.median(near) > 0.5, near
    top = mass.argmax(axis=1)
    assert np.mean((top >= start) & (top < end)) >= 0.8, top
