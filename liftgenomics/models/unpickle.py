"""Read a ``torch.save`` zip archive of a whole pickled object without running any of it.

``torch.save(model)`` writes a zip: ``{archive}/data.pkl`` (the pickle), ``{archive}/data/{key}``
(one raw storage per key), ``{archive}/byteorder``. A plain ``torch.load`` of it imports and
calls whatever globals the pickle names; ``torch.load(weights_only=True)`` refuses a whole
module. :func:`read_torch_pickle` reads it with :class:`RestrictedUnpickler`, whose
``find_class`` resolves only:

- torch's tensor-rebuilding functions (``torch._utils._rebuild_tensor_v2``,
  ``_rebuild_parameter``, ``_rebuild_parameter_with_state``), reimplemented here: a tensor is
  built from the archive's raw bytes (dtype, byte order, offset and strides as the pickle gives
  them), never by torch's own loader;
- torch's storage type names (``torch.FloatStorage``, ..., ``torch.UntypedStorage``), as markers
  of a dtype for ``persistent_load``;
- ``collections.OrderedDict`` and ``builtins.set`` (plain containers);
- the class names the caller lists, each mapped to an inert :class:`Inert` stand-in that records
  its constructor arguments and pickled state and has no behaviour (never the real class, never
  its ``__setstate__``).

Every other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, any other class) is
refused with one line naming it, before anything is called.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import pickletools
import zipfile
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from liftgenomics.errors import LiftGenomicsError, first_line

#: torch's storage type names -> the dtype of their elements.
STORAGE_DTYPES: dict[str, torch.dtype] = {
    "DoubleStorage": torch.float64,
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "UntypedStorage": torch.uint8,
}
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


class Inert:
    """A stand-in for a pickled class or function: it records what the pickle gives it.

    Attributes:
        pickled_name: ``module.qualname`` as the pickle names it (set on each subclass).
        args: The positional arguments the pickle constructed it with.
        state: What the pickle's BUILD gave it (a module's ``__dict__``), or None.
    """

    pickled_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Inert:
        record = object.__new__(cls)
        record.args = args
        record.state = None
        return record

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<inert {self.pickled_name}>"


class _StorageType:
    """What ``torch.FloatStorage`` & co. resolve to: the element dtype, for persistent_load."""

    def __init__(self, name: str, dtype: torch.dtype) -> None:
        self.name, self.dtype = name, dtype


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickle a ``torch.save`` ``data.pkl``, resolving only the globals listed above.

    Args:
        file: The pickle's bytes as a binary file.
        archive: The open zip archive holding the storages.
        prefix: The archive's top folder (``"example/"``).
        classes: ``module.qualname`` names to map to inert stand-ins.
        where: The file's name, for messages.
    """

    def __init__(
        self,
        file: io.BytesIO,
        archive: zipfile.ZipFile,
        prefix: str,
        classes: Iterable[str],
        where: str,
    ) -> None:
        super().__init__(file)
        self._archive, self._prefix, self._where = archive, prefix, where
        self._classes = set(classes)
        self._stand_ins: dict[str, type[Inert]] = {}
        self._storages: dict[str, torch.Tensor] = {}
        self._big_endian = _byteorder(archive, prefix, where) == "big"

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if full == "torch._utils._rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if full == "torch._utils._rebuild_parameter":
            return _rebuild_parameter
        if full == "torch._utils._rebuild_parameter_with_state":
            return _rebuild_parameter_with_state
        if module in ("torch", "torch.storage") and name in STORAGE_DTYPES:
            return _StorageType(name, STORAGE_DTYPES[name])
        if full == "collections.OrderedDict":
            return OrderedDict
        if full in ("builtins.set", "__builtin__.set"):
            return set
        if full in self._classes:
            if full not in self._stand_ins:
                self._stand_ins[full] = type(name, (Inert,), {"pickled_name": full})
            return self._stand_ins[full]
        raise LiftGenomicsError(
            f"{self._where}: the pickle names {full}, which this reader does not allow; refused "
            "without running it"
        )

    def persistent_load(self, pid: Any) -> torch.Tensor:
        """A storage of the archive, as a flat tensor of its dtype."""
        if not (
            isinstance(pid, tuple)
            and len(pid) == 5
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
            and isinstance(pid[2], str)
            and isinstance(pid[4], int)
        ):
            raise LiftGenomicsError(f"{self._where}: unexpected persistent id {pid!r:.80}")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if key not in self._storages:
            self._storages[key] = self._read_storage(key, storage_type.dtype, numel)
        storage = self._storages[key]
        if storage.dtype != storage_type.dtype:
            raise LiftGenomicsError(
                f"{self._where}: storage {key} is read as two dtypes ({storage.dtype}, "
                f"{storage_type.dtype})"
            )
        return storage

    def _read_storage(self, key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        member = f"{self._prefix}data/{key}"
        try:
            raw = self._archive.read(member)
        except KeyError:
            raise LiftGenomicsError(f"{self._where}: the archive has no {member}") from None
        itemsize = torch.empty((), dtype=dtype).element_size()
        if numel < 0 or len(raw) < numel * itemsize:
            raise LiftGenomicsError(
                f"{self._where}: {member} holds {len(raw)} bytes, expected {numel} elements of "
                f"{itemsize} bytes"
            )
        words = np.frombuffer(raw, dtype=_UNSIGNED[itemsize], count=numel).copy()
        if self._big_endian and itemsize > 1:
            words = words.byteswap()
        return torch.from_numpy(words).view(dtype)


def read_torch_pickle(path: str | os.PathLike, classes: Iterable[str]) -> Any:
    """The object a ``torch.save`` zip file holds, its classes as inert stand-ins.

    Args:
        path: The file ``torch.save`` wrote.
        classes: ``module.qualname`` names the pickle may instantiate (as :class:`Inert`
            stand-ins; their names are kept in ``pickled_name``).

    Returns:
        The unpickled object graph: tensors, containers, and :class:`Inert` records.

    Raises:
        LiftGenomicsError: one line naming the file, for a missing file, a file that is not a
            torch zip archive (or is truncated), a global outside the allowed ones (refused
            before anything is called), or a malformed pickle or storage.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise LiftGenomicsError(f"{where}: file not found")
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [
                name
                for name in archive.namelist()
                if name.endswith("/data.pkl") and name.count("/") == 1
            ]
            if len(pickles) != 1:
                raise LiftGenomicsError(
                    f"{where}: not a torch.save archive (expected one ARCHIVE/data.pkl, found "
                    f"{len(pickles)})"
                )
            prefix = pickles[0][: -len("data.pkl")]
            data = archive.read(pickles[0])
            _check_memo(data, where)
            unpickler = RestrictedUnpickler(io.BytesIO(data), archive, prefix, classes, where)
            return unpickler.load()
    except LiftGenomicsError:
        raise
    except zipfile.BadZipFile as error:
        raise LiftGenomicsError(
            f"{where}: not a torch.save zip archive, or truncated ({first_line(error)})"
        ) from None
    except Exception as error:  # a malformed pickle: nothing was run, so report it plainly
        raise LiftGenomicsError(f"{where}: unreadable pickle ({first_line(error)})") from None


def _check_memo(data: bytes, where: str) -> None:
    """Refuse a memo index no pickle of this size writes, before unpickling.

    The C unpickler grows its memo to the largest index a ``PUT`` names, so one corrupted
    ``LONG_BINPUT`` would allocate gigabytes; the opcodes are parsed (nothing is run) to
    catch it. A malformed opcode stream raises ``ValueError`` here, reported as unreadable.
    """
    for opcode, argument, position in pickletools.genops(data):
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and int(argument) > len(data):
            raise LiftGenomicsError(
                f"{where}: malformed pickle (memo index {argument} at byte {position})"
            )


def _byteorder(archive: zipfile.ZipFile, prefix: str, where: str) -> str:
    try:
        order = archive.read(f"{prefix}byteorder").decode().strip()
    except KeyError:
        return "little"  # torch wrote no byteorder record before 1.11: little-endian
    if order not in ("little", "big"):
        raise LiftGenomicsError(f"{where}: unknown byteorder {order!r}")
    return order


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> torch.Tensor:
    """torch's ``_rebuild_tensor_v2``, from a flat storage tensor; bounds are checked."""
    if not isinstance(storage, torch.Tensor) or storage.ndim != 1:
        raise ValueError("a tensor's storage is not an archive storage")
    if not (
        _is_int(storage_offset)
        and isinstance(size, tuple)
        and isinstance(stride, tuple)
        and len(size) == len(stride)
        and all(_is_int(n) and n >= 0 for n in size)
        and all(_is_int(s) and s >= 0 for s in stride)
        and storage_offset >= 0
    ):
        raise ValueError(f"bad tensor layout: offset {storage_offset!r}, size {size!r}")
    if all(size):
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if math.prod(size) > storage.numel():
            # Only a broadcast (stride-0) view holds more elements than its storage; refused so
            # that a crafted size cannot allocate without bound.
            raise ValueError(f"tensor of size {size} is larger than its storage")
        if last >= storage.numel():
            raise ValueError(
                f"tensor of size {size} and stride {stride} runs past its storage "
                f"({storage.numel()} elements)"
            )
        return torch.as_strided(storage, size, stride, storage_offset).clone()
    return torch.empty(size, dtype=storage.dtype)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any) -> torch.Tensor:
    """torch's ``_rebuild_parameter``: the parameter's data (no gradient state is needed)."""
    if not isinstance(data, torch.Tensor):
        raise ValueError("a parameter's data is not a tensor")
    return data


def _rebuild_parameter_with_state(
    data: Any, requires_grad: Any, backward_hooks: Any, state: Any
) -> torch.Tensor:
    """torch's ``_rebuild_parameter_with_state``: the data; the Python state is dropped."""
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
