"""The one exception type for bad user input.

Every error a user can cause (a malformed file, a wrong shape, an unknown name, a model the
attribution engine cannot score exactly) is raised as :class:`LiftGenomicsError` with a one-line
message that says what is wrong and where. The CLI prints it and exits non-zero.
"""


class LiftGenomicsError(Exception):
    """A user-facing error with a one-line message."""


def first_line(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def printable(text: str) -> str:
    """Text from a file or an argument as a message shows it: escaped when it holds a line
    break or another control character, so that the message stays one line."""
    return text if text.isprintable() else repr(text)[1:-1]
