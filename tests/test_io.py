"""Atomic outputs: a killed writer's temporary file is removed by the next write, a live one's
is not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from liftgenomics.io import atomic_path, remove_dead_temporaries


def _parts(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


def _killed_writer(out) -> None:
    """Start a process that opens an atomic write of ``out``, then SIGKILL it mid-write."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from liftgenomics.io import atomic_path
        with atomic_path({str(out)!r}, suffix=".npz") as tmp:
            tmp.write_bytes(b"half")
            print("writing", flush=True)
            time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    child.send_signal(signal.SIGKILL)
    child.wait()


def test_a_killed_writers_file_is_removed_by_the_next_write(tmp_path):
    out = tmp_path / "0.npz"
    _killed_writer(out)
    assert len(_parts(tmp_path)) == 1 and not out.exists()  # what CI's kill_resume found
    with atomic_path(out, suffix=".npz") as tmp, open(tmp, "wb") as handle:  # the rerun
        np.savez(handle, rows=np.arange(3))
    assert _parts(tmp_path) == []
    with np.load(out) as archive:
        np.testing.assert_array_equal(archive["rows"], np.arange(3))


def test_a_live_writers_file_is_kept(tmp_path):
    out = tmp_path / "x.txt"
    with atomic_path(out) as outer:
        outer.write_text("outer")
        with atomic_path(out) as inner:  # a second writer finishing while the first writes
            inner.write_text("inner")
        assert outer.exists() and out.read_text() == "inner"
        assert remove_dead_temporaries(out) == []
    assert out.read_text() == "outer" and _parts(tmp_path) == []


def test_only_the_outputs_own_temporaries_are_touched(tmp_path):
    out = tmp_path / "a.npz"
    others = [
        tmp_path / ".a.npz.abcdefgh.part",  # another suffix
        tmp_path / ".b.npz.abcdefgh.npz.part",  # another output
        tmp_path / ".a.npz.abcdefgh.npz.partial",
        tmp_path / "a.npz.abcdefgh.npz.part",  # not hidden: not ours
    ]
    for other in others:
        other.write_text("")
    dead = tmp_path / ".a.npz.k2_9zzzz.npz.part"
    dead.write_text("")
    assert remove_dead_temporaries(out, ".npz") == [dead]
    assert all(other.exists() for other in others)


def test_a_failed_write_leaves_no_temporary(tmp_path):
    out = tmp_path / "y.txt"
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk gone")
    assert not out.exists() and _parts(tmp_path) == []


def test_the_output_gets_the_umasks_permissions(tmp_path):
    out = tmp_path / "z.txt"
    old = os.umask(0o027)
    try:
        with atomic_path(out) as tmp:
            tmp.write_text("z")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o640
