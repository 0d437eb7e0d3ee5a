"""Mutators and the per-case contract shared by ``tests/fuzz`` and ``benchmarks/fuzz.py``.

A case is a valid file (or value) mutated by one seeded mutator: truncation, byte flips,
insertions, an empty file, CRLF line ends, lower-case, Unicode, huge or negative numbers,
header lines, tree edits of JSON/YAML values, wrong dtypes or shapes of arrays. The contract
(:func:`run_case`): the reader returns, or raises :class:`LiftGenomicsError` with one non-empty
line; any other exception, a message with a newline, a run past the time limit, or reaching an
unrestricted unpickler is a failure.
"""

from __future__ import annotations

import contextlib
import copy
import math
import pickle
import random
import re
import signal
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from liftgenomics.errors import LiftGenomicsError

#: Per-case time limit (seconds).
TIME_LIMIT = 5.0

# --------------------------------------------------------------------------- bytes


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def empty(data: bytes, rng: random.Random) -> bytes:
    return b""


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def insert_bytes(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return data[:at] + junk + data[at:]


def delete_span(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, max(1, len(data) // 8)) :]


def duplicate_span(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    stop = min(len(data), start + rng.randint(1, 256))
    return data[:stop] + data[start:stop] + data[stop:]


def nul_bytes(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + b"\x00" * rng.randint(1, 4) + data[at:]


BYTE_MUTATORS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    truncate, empty, flip_bytes, flip_bits, insert_bytes, delete_span, duplicate_span, nul_bytes,
)  # fmt: skip

# --------------------------------------------------------------------------- text

WEIRD_TEXT = ("é", "\u00a0", "\ufeff", "Ω", "\U0001f9ec", "\u2028", "\x85", "\t", " ", "\x0c",
              "\r", "\\", "'", '"', ">", "#", "=", ":", "-", ".", "nan", "inf", "-1", "0",
              "1e999", "")  # fmt: skip
WEIRD_NUMBERS = ("-1", "-0", "0", "1", "2147483648", "9223372036854775808", "1" + "0" * 30,
                 "-" + "9" * 25, "1.5", "1e999", "-1e999", "nan", "inf", "0x10", "1_000", "",
                 "٣", "1e-400", "00012")  # fmt: skip
_NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def text_mutator(function: Callable[[str, random.Random], str]):
    """Lift a ``str -> str`` mutation to bytes (undecodable bytes kept as they are)."""

    def mutate(data: bytes, rng: random.Random) -> bytes:
        return _bytes(function(_text(data), rng))

    mutate.__name__ = function.__name__
    return mutate


@text_mutator
def crlf(text: str, rng: random.Random) -> str:
    return text.replace("\n", "\r\n")


@text_mutator
def lone_cr(text: str, rng: random.Random) -> str:
    return text.replace("\n", "\r")


@text_mutator
def lower_case(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return text.lower()
    start = rng.randrange(len(text) + 1)
    stop = min(len(text), start + rng.randint(1, 200))
    return text[:start] + text[start:stop].lower() + text[stop:]


@text_mutator
def upper_case(text: str, rng: random.Random) -> str:
    return text.upper()


@text_mutator
def insert_weird(text: str, rng: random.Random) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(WEIRD_TEXT) + text[at:]


@text_mutator
def replace_number(text: str, rng: random.Random) -> str:
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return text
    match = rng.choice(numbers)
    return text[: match.start()] + rng.choice(WEIRD_NUMBERS) + text[match.end() :]


@text_mutator
def negate_number(text: str, rng: random.Random) -> str:
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return text
    match = rng.choice(numbers)
    return text[: match.start()] + "-" + text[match.start() :]


def _lines(text: str) -> list[str]:
    return text.split("\n")


@text_mutator
def delete_line(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


@text_mutator
def duplicate_line(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    at = rng.randrange(len(lines))
    lines.insert(at, lines[at])
    return "\n".join(lines)


@text_mutator
def swap_lines(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


@text_mutator
def blank_lines(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    lines.insert(rng.randrange(len(lines) + 1), rng.choice(["", " ", "\t", "  \t "]))
    return "\n".join(lines)


@text_mutator
def header_line(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    header = rng.choice(["track name=x", "browser position chr1:1-10", "# comment", "#", "track",
                         "browserless", "trackless\t1\t2", ">", ">x", "MOTIF", "---",
                         "chrom\tstart\tend"])  # fmt: skip
    lines.insert(rng.randrange(len(lines) + 1), header)
    return "\n".join(lines)


@text_mutator
def tabs_spaces(text: str, rng: random.Random) -> str:
    return text.replace("\t", " ") if rng.random() < 0.5 else text.replace(" ", "\t")


@text_mutator
def drop_field(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    at = rng.randrange(len(lines))
    fields = re.split(r"(\s+)", lines[at])
    if len(fields) > 1:
        index = rng.randrange(0, len(fields), 2)
        fields[index] = rng.choice(["", ".", "x", "-"])
    lines[at] = "".join(fields)
    return "\n".join(lines)


@text_mutator
def long_line(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    at = rng.randrange(len(lines))
    lines[at] = lines[at] * rng.randint(2, 200)
    return "\n".join(lines)


@text_mutator
def strip_newline(text: str, rng: random.Random) -> str:
    return text.rstrip("\n")


TEXT_MUTATORS = (crlf, lone_cr, lower_case, upper_case, insert_weird, replace_number,
                 negate_number, delete_line, duplicate_line, swap_lines, blank_lines, header_line,
                 tabs_spaces, drop_field, long_line, strip_newline)  # fmt: skip

# --------------------------------------------------------------------------- trees (JSON, YAML)

WEIRD_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 2**63, -(2**63), 10**30, 1.5, -0.5, math.nan, math.inf,
    -math.inf, "", "x", "é\U0001f9ec", "1", "line\nbreak", [], [None], [1, 2], {}, {"a": 1}, [[[]]],
)  # fmt: skip


def tree_paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path (tuple of keys/indices) to a node of a JSON-like tree, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from tree_paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from tree_paths(child, prefix + (index,))


def _get(tree: Any, path: tuple) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def mutate_tree(tree: Any, rng: random.Random) -> Any:
    """A deep copy of ``tree`` with one node replaced, deleted, duplicated or re-typed."""
    tree = copy.deepcopy(tree)
    paths = list(tree_paths(tree))
    path = rng.choice(paths)
    action = rng.choice(("replace", "replace", "replace", "delete", "add", "retype", "scale"))
    if not path:
        return rng.choice(WEIRD_VALUES) if action == "replace" else tree
    parent, key = _get(tree, path[:-1]), path[-1]
    node = parent[key]
    if action == "delete":
        del parent[key]
    elif action == "add":
        if isinstance(node, dict):
            node[rng.choice(["extra", "", "é", "1"])] = rng.choice(WEIRD_VALUES)
        elif isinstance(node, list):
            node.insert(rng.randrange(len(node) + 1), copy.deepcopy(rng.choice(node or [None])))
        else:
            parent[key] = [node, node]
    elif action == "retype":
        parent[key] = str(node) if not isinstance(node, str) else [node]
    elif action == "scale" and isinstance(node, int | float) and not isinstance(node, bool):
        parent[key] = rng.choice([-node, node * 10**6, node + 0.5, -1, 0])
    else:
        parent[key] = copy.deepcopy(rng.choice(WEIRD_VALUES))
    return tree


# --------------------------------------------------------------------------- arrays


def mutate_array(array: np.ndarray, rng: random.Random) -> np.ndarray:
    """``array`` with a wrong dtype, shape or values."""
    action = rng.choice(("dtype", "shape", "values", "empty", "transpose", "scalar", "slice"))
    if action == "dtype":
        dtype = rng.choice(["int8", "int64", "uint8", "float16", "float64", "bool", "complex64",
                            "U3", "S2", ">f4", "datetime64[s]"])  # fmt: skip
        try:
            return array.astype(dtype)
        except (ValueError, TypeError):  # objects that have no such dtype
            return array.astype(str)
    if action == "shape":
        return array.reshape(-1) if rng.random() < 0.5 else array[..., None]
    if action == "values":
        out = array.astype(np.float32, copy=True)
        flat = out.reshape(-1)
        for _ in range(rng.randint(1, 4)):
            if flat.size:
                flat[rng.randrange(flat.size)] = rng.choice([np.nan, np.inf, -np.inf, -1, 1e30, 2])
        return out
    if action == "empty":
        return array[:0]
    if action == "transpose":
        return np.swapaxes(array, -1, -2) if array.ndim >= 2 else array
    if action == "scalar":
        return np.asarray(rng.choice([0, 1.5, np.nan]))
    axis = rng.randrange(array.ndim) if array.ndim else 0
    return np.take(array, range(max(1, array.shape[axis] - 1) if array.ndim else 0), axis=axis)


# --------------------------------------------------------------------------- contract


class Timeout(BaseException):
    """A case ran past the time limit (BaseException: a reader's ``except Exception`` cannot
    swallow it)."""


class Unpickled(BaseException):
    """A reader reached an unrestricted unpickler."""


@contextlib.contextmanager
def time_limit(seconds: float = TIME_LIMIT) -> Iterator[None]:
    def expire(signum, frame):
        raise Timeout(f"ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def no_unpickling() -> Iterator[list[str]]:
    """Make ``pickle.load``/``loads``/``Unpickler`` fail (and record it) if a reader reaches them.

    :class:`liftgenomics.models.unpickle.RestrictedUnpickler` subclasses the original
    ``pickle.Unpickler`` and keeps working; torch's ``weights_only`` unpickler is its own.
    """
    reached: list[str] = []
    saved = pickle.load, pickle.loads, pickle.Unpickler

    def refuse(what: str):
        def call(*args, **kwargs):
            reached.append(what)
            raise Unpickled(f"{what} was called")

        return call

    pickle.load, pickle.loads, pickle.Unpickler = (
        refuse("pickle.load"), refuse("pickle.loads"), refuse("pickle.Unpickler"),
    )  # fmt: skip
    try:
        yield reached
    finally:
        pickle.load, pickle.loads, pickle.Unpickler = saved


#: Outcomes of a case; the last four are failures.
VALID, REFUSED, ERROR, MULTILINE, TIMEOUT, UNPICKLE = (
    "valid", "refused", "error", "multi-line", "timeout", "unpickle",
)  # fmt: skip
FAILURES = (ERROR, MULTILINE, TIMEOUT, UNPICKLE)


@dataclass
class Outcome:
    kind: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.kind in FAILURES


def run_case(read: Callable[[], Any], seconds: float = TIME_LIMIT) -> Outcome:
    """Run ``read()`` under the contract and say how it ended."""
    try:
        with no_unpickling() as reached, time_limit(seconds):
            read()
    except LiftGenomicsError as error:
        message = str(error)
        if "\n" in message or "\r" in message or not message.strip():
            return Outcome(MULTILINE, repr(message))
        return Outcome(REFUSED, message)
    except Timeout as error:
        return Outcome(TIMEOUT, str(error))
    except Unpickled as error:
        return Outcome(UNPICKLE, str(error))
    except Exception as error:  # noqa: BLE001 - any other exception is what we look for
        frames = traceback.extract_tb(error.__traceback__)
        ours = [frame for frame in frames if "liftgenomics/" in frame.filename] or frames
        where = f"{ours[-1].filename}:{ours[-1].lineno}" if ours else "?"
        return Outcome(ERROR, f"{type(error).__name__}: {str(error)[:200]!r} at {where}")
    if reached:
        return Outcome(UNPICKLE, ", ".join(reached))
    return Outcome(VALID)


def check_case(read: Callable[[], Any], seconds: float = TIME_LIMIT) -> Outcome:
    """:func:`run_case`, failing the test (an AssertionError naming the outcome) on a failure."""
    outcome = run_case(read, seconds)
    assert not outcome.failed, f"{outcome.kind}: {outcome.detail}"
    return outcome
