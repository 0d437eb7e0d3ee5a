"""One writer per output: a lock file beside it, holding the writer's pid, host and start time.

A command that writes an output directory or file holds its lock (:func:`output_lock`) for as
long as it writes, so two runs never write into one output at once: a second live writer is
refused in one line naming the first's pid; a lock left by a dead run (a SIGKILL, a node that
went down) is taken over with a one-line warning.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from liftgenomics.errors import LiftGenomicsError

#: Locks this process holds: lock path -> inode of the lock file it created.
_HELD: dict[Path, int] = {}

#: Seconds a lock file still empty (its writer between creating and writing it) is read again
#: before it counts as left by a run that died in between.
LOCK_WRITE_WAIT = 1.0

#: The lock's name inside an output directory whose parent this user cannot write.
INNER_LOCK = ".liftgenomics.lock"


def lock_path(target: str | os.PathLike) -> Path:
    """The lock file of an output ``target`` (a file or a directory): ``.{name}.lock`` beside it.

    Beside, not inside: a finished output directory holds only its outputs, and a writer that
    builds a directory elsewhere and renames it into place can lock it too. Only for an
    existing directory in a parent this user cannot write (``--out /scratch/$USER``) is it
    :data:`INNER_LOCK` inside, for as long as the run lasts.
    """
    final = Path(os.path.abspath(target))
    beside = final.parent / f".{final.name or 'root'}.lock"
    if final.is_dir() and not os.access(final.parent, os.W_OK | os.X_OK):
        return final / INNER_LOCK
    return beside


@contextlib.contextmanager
def output_lock(target: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of an output for the block: a second live writer is refused in one line.

    The lock file ``.{name}.lock`` (:func:`lock_path`) is created with ``O_CREAT | O_EXCL``
    and holds the writer's pid, host and process start time as JSON. It is removed when the
    block ends, however it ends (an error, Ctrl-C, SIGTERM turned into KeyboardInterrupt). A
    lock left by a run that is gone (SIGKILL, a power cut) — its pid not alive on this host,
    or alive but a different process (another start time, a zombie) — is taken over with a
    one-line warning. A lock from another host is never taken over: the message says which
    file to remove if that run is gone.

    Yields:
        The lock file's path.

    Raises:
        LiftGenomicsError: another live run holds the lock.
    """
    lock = acquire_output_lock(target)
    try:
        yield lock
    finally:
        release_output_lock(lock)


def acquire_output_lock(target: str | os.PathLike) -> Path:
    """Take the lock of ``target`` (see :func:`output_lock`); release it with
    :func:`release_output_lock`."""
    lock = lock_path(target)
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "start": _start_time(os.getpid())}
    for _attempt in range(10):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as error:
            if not isinstance(error, FileExistsError):
                raise LiftGenomicsError(
                    f"{target}: cannot create the lock file {lock} ({error.strerror})"
                ) from None
            owner = _read_lock(lock)
            if owner is None:  # released (or taken over) meanwhile: try again
                continue
            if _alive(lock, owner):
                where = "" if owner.get("host") == me["host"] else f" on {owner.get('host')}"
                raise LiftGenomicsError(
                    f"{target}: another run (pid {owner.get('pid')}{where}) is writing it; "
                    f"wait for it to finish (or, if it is gone, remove {lock})"
                ) from None
            if _remove_stale(lock, owner):
                warnings.warn(
                    f"{target}: taking over the lock of a run that is gone "
                    f"(pid {owner.get('pid')}, {lock})",
                    stacklevel=3,
                )
            continue
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(me) + "\n")
                _HELD[lock] = os.fstat(handle.fileno()).st_ino
        except BaseException:
            _HELD.pop(lock, None)
            lock.unlink(missing_ok=True)
            raise
        return lock
    raise LiftGenomicsError(f"{target}: could not take the lock {lock} (other runs keep taking it)")


def release_output_lock(lock: Path) -> None:
    """Remove a lock this process holds (and only if the file is still the one it created)."""
    inode = _HELD.pop(lock, None)
    try:
        if inode is not None and os.stat(lock).st_ino == inode:
            lock.unlink()
    except FileNotFoundError:
        pass


def _read_lock(lock: Path) -> dict | None:
    """A lock file's owner (pid, host, start, inode); None once it is gone. A lock still being
    written (empty) is read again for :data:`LOCK_WRITE_WAIT` s, then taken as left by a dead
    run."""
    deadline = time.monotonic() + LOCK_WRITE_WAIT
    while True:
        try:
            with open(lock, encoding="utf-8") as handle:
                inode = os.fstat(handle.fileno()).st_ino
                text = handle.read()
        except FileNotFoundError:
            return None
        try:
            owner = json.loads(text)
            if isinstance(owner, dict) and isinstance(owner.get("pid"), int):
                return owner | {"inode": inode}
        except ValueError:
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return {"pid": None, "host": socket.gethostname(), "inode": inode}


def _alive(lock: Path, owner: dict) -> bool:
    """Whether the run that wrote a lock may still be running."""
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname():
        return True  # cannot tell from here
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():  # this process: alive only if it took this lock itself
        return _HELD.get(lock) == owner.get("inode")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process
    start = _start_time(pid)
    if start is None:
        return not _is_zombie(pid)
    return owner.get("start") in (None, start) and not _is_zombie(pid)


def _proc_stat(pid: int) -> list[str] | None:
    """The fields after the command name of ``/proc/PID/stat`` (Linux), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def _start_time(pid: int) -> int | None:
    """A process's start time in clock ticks since boot (Linux), telling a reused pid apart."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def _is_zombie(pid: int) -> bool:
    fields = _proc_stat(pid)
    return bool(fields) and fields[0] in ("Z", "X")


def _remove_stale(lock: Path, owner: dict) -> bool:
    """Remove a dead run's lock; False if another run replaced it meanwhile (put back)."""
    grave = lock.with_name(f"{lock.name}.{os.getpid()}.stale")
    try:
        os.replace(lock, grave)
    except FileNotFoundError:
        return False
    if os.stat(grave).st_ino == owner.get("inode"):
        grave.unlink(missing_ok=True)
        return True
    # Another run took the lock over between our read and the rename: give it back.
    with contextlib.suppress(FileExistsError):
        os.link(grave, lock)
    grave.unlink(missing_ok=True)
    return False
