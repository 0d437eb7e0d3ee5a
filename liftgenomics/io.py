"""Atomic file output: write to a temporary name, rename when complete.

A failure or Ctrl-C in the middle of a write must never leave a file that looks finished, so
every output the package writes goes through :func:`atomic_path`. A writer killed outright
(SIGKILL, a node that went down) cannot remove its temporary file; the next write of the same
output does, telling a dead writer's file from a live one's by an ``flock`` each writer holds
on its own until it is done. A command that writes an output turns a failed write (a full
disk, ``ulimit -f``) into one line (:func:`output_errors`) and holds the output's lock
(:mod:`liftgenomics.locks`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from liftgenomics.errors import LiftGenomicsError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    Args:
        path: The final destination.
        suffix: Suffix for the temporary name (some writers, e.g. ``np.savez``, append one
            unless the name already ends with it).

    Yields:
        A temporary path in the same directory, removed again if the block raises. This
        process holds an ``flock`` on it until the block ends (a writer that locks the file
        itself, as HDF5 does, must be told not to).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _locked_temporary(final, suffix)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the output the permissions the umask allows.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)  # releases the flock
    remove_dead_temporaries(final, suffix)


def _locked_temporary(final: Path, suffix: str) -> tuple[int, Path]:
    """A new temporary file beside ``final``, with an exclusive ``flock`` held on it."""
    while True:
        fd, name = tempfile.mkstemp(
            prefix=f".{final.name}.", suffix=suffix + ".part", dir=final.parent
        )
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A cleaner may have taken the file for a dead writer's between mkstemp and flock and
        # removed it: then the path is gone (or another file's) and we start again.
        try:
            if os.stat(name).st_ino == os.fstat(fd).st_ino:
                return fd, Path(name)
        except FileNotFoundError:
            pass
        os.close(fd)


def remove_dead_temporaries(path: str | os.PathLike, suffix: str = "") -> list[Path]:
    """Remove temporary files of ``path`` that :func:`atomic_path` writers left when killed.

    A live writer holds an ``flock`` on its temporary file; one that was killed holds none, so
    a file whose lock can be taken is a dead writer's. Safe while other writers of the same
    output are running.

    Args:
        path: The output whose temporaries to look for.
        suffix: The ``suffix`` those writers passed to :func:`atomic_path`.

    Returns:
        The files removed.
    """
    final = Path(path)
    staged = re.compile(rf"\.{re.escape(final.name)}\.[a-z0-9_]{{8}}{re.escape(suffix)}\.part")
    removed = []
    try:
        siblings = list(final.parent.iterdir())
    except OSError:
        return removed
    for sibling in siblings:
        if not staged.fullmatch(sibling.name):
            continue
        try:
            fd = os.open(sibling, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(sibling).st_ino == os.fstat(fd).st_ino:
                sibling.unlink()
                removed.append(sibling)
        except OSError:
            pass  # a live writer holds it, or it went meanwhile
        finally:
            os.close(fd)
    return removed


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_npz_atomic(path: str | os.PathLike, array) -> None:
    """Save one array as ``np.savez_compressed(path, array)`` (key ``arr_0``), atomically.

    This is the layout TF-MoDISco's ``modisco motifs -s ohe.npz -a hyp.npz`` reads.
    """
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, array)


#: errno -> what a failed write of an output says (a full disk, a quota, ``ulimit -f``, ...).
_WRITE_FAILURES = {
    errno.ENOSPC: "no space left",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file size limit reached",
    errno.EROFS: "read-only file system",
}


@contextlib.contextmanager
def output_errors(target: str | os.PathLike) -> Iterator[None]:
    """Turn a failed write of an output (full disk, quota, ``ulimit -f``, read-only file
    system) into a one-line :class:`LiftGenomicsError` naming ``target``; other errors pass."""
    try:
        yield
    except OSError as error:
        reason = _WRITE_FAILURES.get(error.errno)
        if reason is None:
            raise
        raise LiftGenomicsError(f"{reason} writing {target}") from None
