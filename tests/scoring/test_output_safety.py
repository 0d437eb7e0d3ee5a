"""``score`` never loses or mixes output (issue #21): two runs into one ``--out`` (the output
lock), a full disk or ``ulimit -f`` mid-run, and a rerun after SIGKILL.

Subprocesses run the real CLI (``python -m liftgenomics score``) on a tiny factory model; its
forward can be told to wait for a file, which holds a run in the middle of scoring (its staged
``.part`` files exist, its lock is held) for exactly as long as a test needs.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from liftgenomics import locks
from liftgenomics.cli import main
from liftgenomics.errors import LiftGenomicsError
from liftgenomics.locks import lock_path, output_lock
from liftgenomics.scoring import writers

MODEL = '''
import os
import time

import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self, hold=None, lock=None):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(4, 3, 5, padding=2)
        self.dense = nn.Linear(3, 2)
        self.hold, self.lock = hold, lock

    def forward(self, x):
        # Once the run holds its lock (it is scoring), wait for the file ``hold``.
        while self.hold and os.path.exists(self.lock) and not os.path.exists(self.hold):
            time.sleep(0.02)
        return self.dense(torch.relu(self.conv(x)).mean(dim=2))


def tiny(hold=None, lock=None):
    return Tiny(hold, lock)
'''

N_REGIONS = 12
LENGTH = 40


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The model file, an indexed FASTA of 12 records, and a reference run's output bytes."""
    root = tmp_path_factory.mktemp("safety")
    (root / "tiny.py").write_text(MODEL)
    rng = np.random.default_rng(5)
    with open(root / "seqs.fa", "w") as handle:
        for i in range(N_REGIONS):
            handle.write(f">r{i}\n{''.join(rng.choice(list('ACGT'), LENGTH))}\n")
    assert main(score_argv(root, root / "reference")) == 0  # also writes seqs.fa.fai
    return root, snapshot(root / "reference")


def score_argv(root: Path, out: Path, hold: Path | None = None) -> list[str]:
    model_args = json.dumps({"hold": None if hold is None else str(hold), "lock": None})
    if hold is not None:
        model_args = json.dumps({"hold": str(hold), "lock": str(lock_path(out))})
    return [
        "score", "--model", f"{root / 'tiny.py'}:tiny", "--model-args", model_args,
        "--fasta", str(root / "seqs.fa"), "--length", str(LENGTH), "--method", "deeplift_rescale",
        "--references", "dinuc:2", "--target", "0", "1", "--batch-size", "4",
        "--chunk-size", "4", "--threads", "1", "--quiet", "--out", str(out),
    ]  # fmt: skip


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every entry of a directory (hidden ones too) -> its bytes."""
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def spawn(argv: list[str], **kwargs) -> subprocess.Popen:
    environment = os.environ | {"PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "liftgenomics", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        **kwargs,
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"run ended early ({process.returncode}): {process.stderr.read()}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def staged(out: Path) -> list[Path]:
    return [path for path in out.iterdir() if path.name.endswith(".part")] if out.is_dir() else []


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


# --- the lock ---------------------------------------------------------------------------------


def test_live_lock_refuses(inputs, tmp_path, capsys):
    root, _ = inputs
    out = tmp_path / "out"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        lock_path(out).write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname()}))
        assert main(score_argv(root, out)) == 2
    finally:
        sleeper.kill()
        sleeper.wait()
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and f"another run (pid {sleeper.pid})" in error[0]
    assert not any(out.iterdir())  # nothing written; the other run's lock left alone
    assert json.loads(lock_path(out).read_text())["pid"] == sleeper.pid


def test_stale_lock_is_taken_over(inputs, tmp_path, capsys):
    root, reference = inputs
    out = tmp_path / "out"
    pid = dead_pid()
    lock_path(out).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    assert main(score_argv(root, out)) == 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "taking over the lock" in error[0] and f"pid {pid}" in error[0]
    assert snapshot(out) == reference
    assert not lock_path(out).exists()


def test_lock_owners(tmp_path, monkeypatch):
    """Own pid but not taken by this process (a container's reused pid): stale. Another host:
    never taken over. An empty lock (its writer died before writing): stale. Released at the
    end of the block, also on an error."""
    target = tmp_path / "out"
    lock = lock_path(target)
    assert lock == tmp_path / ".out.lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    with pytest.warns(UserWarning, match="taking over"), output_lock(target):
        with pytest.raises(LiftGenomicsError, match=f"another run \\(pid {os.getpid()}\\)"):
            with output_lock(target):
                pass
    assert not lock.exists()
    lock.write_text("")
    monkeypatch.setattr(locks, "LOCK_WRITE_WAIT", 0.1)
    with pytest.warns(UserWarning, match="taking over"), output_lock(target):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere.example"}))
    with pytest.raises(LiftGenomicsError, match="pid 1 on elsewhere.example.*remove"):
        with output_lock(target):
            pass
    lock.unlink()
    with pytest.raises(KeyboardInterrupt), output_lock(target):
        raise KeyboardInterrupt
    assert not lock.exists()


def test_lock_inside_when_the_parent_is_read_only(inputs, tmp_path, monkeypatch):
    """--out an existing directory in a parent this user cannot write: the lock is inside it
    while the run lasts, and gone at the end."""
    root, reference = inputs
    out = tmp_path / "out"
    out.mkdir()
    access = os.access
    monkeypatch.setattr(
        locks.os, "access", lambda path, mode: Path(path) != tmp_path and access(path, mode)
    )
    assert lock_path(out) == out / locks.INNER_LOCK
    assert main(score_argv(root, out)) == 0
    assert snapshot(out) == reference


def test_sigterm_releases_the_lock(inputs, tmp_path):
    """SIGTERM mid-run (a scheduler's time limit): exit 130, nothing in --out, no lock."""
    root, _ = inputs
    out = tmp_path / "out"
    run = spawn(score_argv(root, out, hold=tmp_path / "never"))
    try:
        wait_for(lambda: lock_path(out).exists() and staged(out), run)
        run.send_signal(signal.SIGTERM)
        _, error = run.communicate(timeout=30)
    finally:
        run.kill()
        run.communicate()
    assert run.returncode == 130, error
    assert list(out.iterdir()) == []
    assert not lock_path(out).exists()


def test_two_runs_into_one_directory(inputs, tmp_path):
    """A second run while the first is mid-scoring exits 2 in one line naming the first's pid;
    the first's outputs are a single run's bytes."""
    root, reference = inputs
    out, go = tmp_path / "out", tmp_path / "go"
    first = spawn(score_argv(root, out, hold=go))
    try:
        wait_for(lambda: lock_path(out).exists() and staged(out), first)
        second = spawn(score_argv(root, out))
        _, error = second.communicate(timeout=60)
        go.touch()
        _, first_error = first.communicate(timeout=60)
    finally:
        first.kill()
        first.communicate()
    assert second.returncode == 2
    lines = error.strip().splitlines()
    assert len(lines) == 1 and f"another run (pid {first.pid})" in lines[0], error
    assert first.returncode == 0, first_error
    assert snapshot(out) == reference
    assert not lock_path(out).exists()


# --- a full disk ------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_file_size_limit(inputs, tmp_path, fraction):
    """``ulimit -f``: a tiny limit (the first header fails) and half the largest output (the
    run is cut short mid-file): one line, exit 2, nothing in --out, no lock left."""
    root, reference = inputs
    limit = max(1, int(fraction * max(len(data) for data in reference.values())))

    def limit_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes then fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = tmp_path / "out"
    run = spawn(score_argv(root, out), preexec_fn=limit_size)
    _, error = run.communicate(timeout=60)
    assert run.returncode == 2, error
    assert error.strip().splitlines() == [
        f"liftgenomics: error: file size limit reached writing {out}"
    ]
    assert list(out.iterdir()) == []
    assert not lock_path(out).exists()


@pytest.mark.parametrize("after", [0, 3])
def test_no_space_left(inputs, tmp_path, monkeypatch, capsys, after):
    """ENOSPC on the first or a later row block, into a directory holding an earlier complete
    run: one line, exit 2, the earlier run's files untouched, no staged file or lock left."""
    root, reference = inputs
    out = tmp_path / "out"
    out.mkdir()
    for name, data in reference.items():
        (out / name).write_bytes(data)
    append = writers.NpzStreamWriter.append
    calls = []

    def full_disk(self, rows):
        calls.append(1)
        if len(calls) > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        append(self, rows)

    monkeypatch.setattr(writers.NpzStreamWriter, "append", full_disk)
    assert main(score_argv(root, out)) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"liftgenomics: error: no space left writing {out}"]
    assert snapshot(out) == reference
    assert not lock_path(out).exists()


# --- a hard kill ------------------------------------------------------------------------------


def test_rerun_after_sigkill(inputs, tmp_path, capsys):
    """SIGKILL mid-run leaves its lock and staged .part files; the rerun takes the lock over,
    removes them and writes a single run's bytes, with nothing else in --out."""
    root, reference = inputs
    out = tmp_path / "out"
    killed = spawn(score_argv(root, out, hold=tmp_path / "never"))
    try:
        wait_for(lambda: len(staged(out)) >= 3, killed)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.communicate()
    assert staged(out) and lock_path(out).exists()
    assert main(score_argv(root, out)) == 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and f"pid {killed.pid}" in error[0]
    assert snapshot(out) == reference
    assert not lock_path(out).exists()
