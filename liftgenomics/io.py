"""Atomic file output: write to a temporary name, rename when complete.

A failure or Ctrl-C in the middle of a write must never leave a file that looks finished, so
every output the package writes goes through :func:`atomic_path`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


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
