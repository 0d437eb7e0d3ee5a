"""Read a whole HDF5 file in a forked child process, with a time limit, into plain Python objects.

A damaged HDF5 file (one byte inserted into its string storage) can make the HDF5 C library loop
forever or crash while h5py reads it, holding the GIL, so no signal handler or alarm in this
process can stop it. :func:`read_h5` therefore opens the file in a forked child that touches only
h5py and NumPy, walks every group and dataset, copies the attributes (as h5py decodes them) and
the dataset values into :class:`H5Group` / :class:`H5Dataset` mirrors, and sends them back
pickled over a pipe. The parent kills a child that runs past the time limit and reports a child
killed by a signal, each as a one-line :class:`~liftgenomics.errors.LiftGenomicsError`.

The mirrors offer the part of h5py's interface the model readers use: ``attrs``,
``keys()``/``items()``, ``__getitem__`` with ``/``-paths, ``__contains__``, ``visititems``, and a
dataset's ``name``, ``shape``, ``dtype``, ``size``, ``[()]`` and ``np.asarray``. An error h5py
raised in the child for one attribute, group or dataset is raised again (same type, same first
line) when the reader touches that object, so the readers' messages stay as they were.
"""

from __future__ import annotations

import io
import os
import pickle
import select
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from liftgenomics.errors import LiftGenomicsError, first_line

#: Seconds a read may take before its child is killed (plus :data:`SECONDS_PER_MB` per MB).
#: A real model file reads in ~40 ms (a 30 MB ChromBPNet in ~0.1 s); a damaged one can loop
#: in the HDF5 C library forever, so the wait is short and grows with the file.
TIMEOUT = 3.0
#: Extra seconds allowed per MB of file.
SECONDS_PER_MB = 1.0
#: How much larger than the file a dataset (or all datasets together) may claim to be.
MAX_EXPANSION = 1000
#: Dataset kinds whose values are copied (numbers and booleans); others keep shape and dtype only.
READ_KINDS = "biuf"
#: Deepest group nesting walked (a damaged file can link a group into itself).
MAX_DEPTH = 64
#: Most objects walked in one file.
MAX_OBJECTS = 200_000
#: The error types an h5py failure is re-raised as in the parent.
_ERRORS: dict[str, type[Exception]] = {cls.__name__: cls for cls in (
    OSError, RuntimeError, KeyError, ValueError, TypeError, UnicodeDecodeError)}  # fmt: skip


#: What the parent's unpickler resolves: the mirrors and NumPy's array and scalar rebuilders.
_GLOBALS = {
    (__name__, "H5File"), (__name__, "H5Group"), (__name__, "H5Dataset"), (__name__, "H5Attrs"),
    (__name__, "_Failed"), ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    *(("builtins", name) for name in ("bytes", "str", "int", "float", "complex", "bool", "tuple",
                                      "list", "dict", "set", "frozenset")),
}  # fmt: skip


class _Unpickler(pickle.Unpickler):
    """Reads back the child's answer, resolving only :data:`_GLOBALS` (no other code)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of an HDF5 copy")
        return super().find_class(module, name)


class NotHDF5Error(LiftGenomicsError):
    """h5py could not open the file; ``detail`` is its error as one line."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


class _Failed:
    """What h5py raised for one object in the child, raised again when the object is used."""

    def __init__(self, error: BaseException) -> None:
        self.kind = type(error).__name__ if type(error).__name__ in _ERRORS else "OSError"
        self.text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        if isinstance(error, UnicodeDecodeError):
            self.kind, self.text = "ValueError", f"UnicodeDecodeError: {self.text}"

    def throw(self) -> None:
        raise _ERRORS[self.kind](self.text)


class H5Attrs:
    """A node's attributes: name -> value as h5py returned it."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._failed: _Failed | None = None

    def __contains__(self, name: object) -> bool:
        if self._failed is not None:
            self._failed.throw()
        return name in self._values

    def __getitem__(self, name: str) -> Any:
        if self._failed is not None:
            self._failed.throw()
        value = self._values[name]
        if isinstance(value, _Failed):
            value.throw()
        return value

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def keys(self) -> list[str]:
        if self._failed is not None:
            self._failed.throw()
        return list(self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())


class H5Dataset:
    """A dataset's shape, dtype and (for numbers within the size limit) its values."""

    def __init__(self, name: str, shape: tuple[int, ...], dtype: np.dtype, compressed: bool
                 ) -> None:  # fmt: skip
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.compressed = compressed
        self.attrs = H5Attrs()
        self._value: np.ndarray | None = None
        self._failed: _Failed | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def value(self) -> np.ndarray:
        """The values; raises what h5py raised, or ValueError for a dataset left unread."""
        if self._failed is not None:
            self._failed.throw()
        if self._value is None:
            raise ValueError(
                f"{self.name}: dataset of dtype {self.dtype} and shape {self.shape} was not read "
                "(not numbers, or larger than the file holds)"
            )
        return self._value

    def __getitem__(self, key: Any) -> Any:
        return self.value()[key]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        value = self.value()
        return value if dtype is None else value.astype(dtype, copy=False)


class H5Group:
    """A group: its attributes and members (groups and datasets) by name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.attrs = H5Attrs()
        self._members: dict[str, H5Group | H5Dataset | _Failed] = {}
        self._failed: _Failed | None = None

    def _check(self) -> None:
        if self._failed is not None:
            self._failed.throw()

    def keys(self) -> list[str]:
        self._check()
        return list(self._members)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def _member(self, name: str) -> H5Group | H5Dataset:
        self._check()
        member = self._members[name]
        if isinstance(member, _Failed):
            member.throw()
        return member  # type: ignore[return-value]

    def items(self) -> list[tuple[str, H5Group | H5Dataset]]:
        return [(name, self._member(name)) for name in self.keys()]

    def __getitem__(self, path: str) -> H5Group | H5Dataset:
        node: H5Group | H5Dataset = self
        for part in (p for p in path.split("/") if p):
            if not isinstance(node, H5Group):
                raise KeyError(f"{path!r}: {node.name} is not a group")
            if part not in node.keys():
                raise KeyError(f"Unable to open object (object {part!r} doesn't exist)")
            node = node._member(part)
        return node

    def __contains__(self, path: object) -> bool:
        try:
            self[str(path)]
        except KeyError:
            return False
        return True

    def get(self, path: str, default: Any = None) -> Any:
        return self[path] if path in self else default

    def visititems(self, func: Callable[[str, Any], Any]) -> Any:
        """``func(relative name, object)`` for every object below, each once, as h5py does."""
        seen = {id(self)}

        def walk(group: H5Group, prefix: str) -> Any:
            for name, member in group.items():
                if id(member) in seen:
                    continue
                seen.add(id(member))
                result = func(prefix + name, member)
                if result is not None:
                    return result
                if isinstance(member, H5Group):
                    result = walk(member, prefix + name + "/")
                    if result is not None:
                        return result
            return None

        return walk(self, "")


class H5File(H5Group):
    """The root group of a file read by :func:`read_h5`, with the file's byte size."""

    def __init__(self, filename: str, file_size: int) -> None:
        super().__init__("/")
        self.filename = filename
        self.file_size = file_size

    def __enter__(self) -> H5File:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None


def _copy_attrs(node: Any, into: H5Attrs) -> None:
    try:
        names = list(node.attrs.keys())
    except Exception as error:  # noqa: BLE001 - h5py raises many types for a damaged file
        into._failed = _Failed(error)
        return
    for name in names:
        try:
            value = node.attrs[name]
            if not isinstance(value, str | bytes | int | float | np.ndarray | np.generic) or (
                isinstance(value, np.ndarray) and value.dtype.kind == "O"
                and not all(isinstance(item, str | bytes) for item in value.ravel())
            ):  # fmt: skip
                value = _Failed(TypeError(f"attribute {name} of type {type(value).__name__}"))
            into._values[name] = value
        except Exception as error:  # noqa: BLE001
            into._values[name] = _Failed(error)


def _walk(source: str | bytes, filename: str) -> H5File | _Failed:
    """Open and copy a whole file (runs in the child)."""
    import h5py

    size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
    try:
        handle = h5py.File(io.BytesIO(source) if isinstance(source, bytes) else source, "r")
    except Exception as error:  # noqa: BLE001
        return _Failed(error)
    budget = [size * MAX_EXPANSION + 4096, MAX_OBJECTS]
    mirrors: dict[Any, H5Group | H5Dataset] = {}
    # Attributes are read after the structure, and not at all in a file whose structure is
    # damaged (h5py can loop forever in one): the reader then meets the structure's error.
    pending: list[tuple[Any, H5Attrs]] = []
    damage: list[_Failed] = []

    def failed(error: BaseException) -> _Failed:
        damage.append(_Failed(error))
        return damage[-1]

    def dataset(node: Any) -> H5Dataset:
        dtype = np.dtype(node.dtype.str)  # without h5py's metadata (vlen strings, references)
        compressed = node.id.get_create_plist().get_nfilters() > 0
        mirror = H5Dataset(node.name, tuple(int(n) for n in node.shape), dtype, compressed)
        pending.append((node, mirror.attrs))
        nbytes = mirror.size * dtype.itemsize
        if dtype.kind in READ_KINDS and nbytes <= min(budget[0], size * MAX_EXPANSION + 4096):
            try:
                mirror._value = np.asarray(node[()])
                budget[0] -= nbytes
            except Exception as error:  # noqa: BLE001
                mirror._failed = _Failed(error)
        return mirror

    def group(node: Any, mirror: H5Group, depth: int) -> None:
        pending.append((node, mirror.attrs))
        try:
            names = list(node.keys())
        except Exception as error:  # noqa: BLE001
            mirror._failed = failed(error)
            return
        for name in names:
            budget[1] -= 1
            if budget[1] < 0 or depth > MAX_DEPTH:
                mirror._members[name] = failed(RuntimeError("too many or too deep HDF5 objects"))
                continue
            try:
                child = node[name]
                key = child.id
                if key in mirrors:
                    mirror._members[name] = mirrors[key]
                elif isinstance(child, h5py.Group):
                    sub = mirrors[key] = H5Group(child.name)
                    mirror._members[name] = sub
                    group(child, sub, depth + 1)
                elif isinstance(child, h5py.Dataset):
                    mirror._members[name] = mirrors[key] = dataset(child)
                else:
                    mirror._members[name] = failed(TypeError(f"{name}: not a group or dataset"))
            except Exception as error:  # noqa: BLE001
                mirror._members[name] = failed(error)

    with handle:
        root = H5File(filename, size)
        group(handle, root, 0)
        for node, attrs in pending:
            if damage:
                attrs._failed = damage[0]
            else:
                _copy_attrs(node, attrs)
    return root


def _child(send: int, source: str | bytes, filename: str) -> None:
    """The child's work: walk the file and write the pickled result to ``send``."""
    try:
        result: Any = _walk(source, filename)
    except Exception as error:  # noqa: BLE001
        result = _Failed(error)
    data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    with os.fdopen(send, "wb") as pipe:
        pipe.write(data)


def read_h5(source: str | os.PathLike | bytes, where: str, timeout: float | None = None,
            not_hdf5: str = "{where}: not a readable HDF5 file ({error})") -> H5File:  # fmt: skip
    """Every group, attribute and dataset of an HDF5 file, read in a forked child.

    Args:
        source: The file's path, or its bytes (a tar member).
        where: The file's name, for messages.
        timeout: Seconds before the child is killed (default :data:`TIMEOUT` plus
            :data:`SECONDS_PER_MB` per MB of file).
        not_hdf5: The message when h5py cannot open the file, with ``{where}`` and ``{error}``
            (h5py's error as one line).

    Returns:
        The root :class:`H5File`; errors h5py raised for single objects are raised again when
        they are used.

    Raises:
        NotHDF5Error: for a file h5py cannot open.
        LiftGenomicsError: for a read that did not finish in time, or a child that crashed.
    """
    import h5py  # noqa: F401 - imported here, before the fork, so the child need not

    if not isinstance(source, bytes):
        source = os.fspath(source)
        size = Path(source).stat().st_size
    else:
        size = len(source)
    if timeout is None:
        timeout = TIMEOUT + SECONDS_PER_MB * size / 1e6
    receive, send = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code = 0
        try:
            os.close(receive)
            _child(send, source, where)
        except BaseException:  # noqa: BLE001 - the parent sees a child with no answer
            code = 1
        finally:
            os._exit(code)
    os.close(send)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([receive], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pid = 0
                raise LiftGenomicsError(
                    f"{where}: reading the HDF5 file did not finish in {timeout:.3g} s; "
                    "a damaged file?"
                )
            chunk = os.read(receive, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        os.close(receive)
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise LiftGenomicsError(
            f"{where}: the HDF5 library crashed reading it (signal {os.WTERMSIG(status)}); "
            "a damaged file?"
        )
    if not chunks:
        raise LiftGenomicsError(
            f"{where}: reading the HDF5 file failed (exit status {os.WEXITSTATUS(status)}); "
            "a damaged file?"
        )
    try:  # our own child's pickle of mirrors and arrays, read back with no other globals
        result = _Unpickler(io.BytesIO(b"".join(chunks))).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError) as error:
        raise LiftGenomicsError(
            f"{where}: the HDF5 reader's answer could not be read ({first_line(error)})"
        ) from None
    if isinstance(result, _Failed):
        detail = f"{result.kind}: {result.text}" if result.text else result.kind
        raise NotHDF5Error(not_hdf5.format(where=where, error=detail), detail)
    return result
