"""Atomic file output: write to a temporary name, rename when complete.

A failure or Ctrl-C in the middle of a write must never leave a file that looks finished, so
every output the package writes goes through :func:`atomic_path`. A command that writes an
output turns a failed write (a full disk, ``ulimit -f``) into one line (:func:`output_errors`)
and holds the output's lock (:mod:`liftgenomics.locks`).
"""

from __future__ import annotations

import contextlib
import errno
import os
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
        A temporary path in the same directory, removed again if the block raises.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=suffix + ".part", dir=final.parent
    )
    os.close(handle)
    tmp = Path(tmp_name)
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
