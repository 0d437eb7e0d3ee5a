"""Download the DeepLIFT paper's released model and data, each file checked by SHA-256.

The authors released the data set of their figure 5 and the Keras model they explained in the
``AvantiShri/model_storage`` GitHub repository (``deeplift/genomics/``), the files the original
deeplift genomics example downloads (``kundajelab/deeplift``,
``examples/genomics/grab_model_and_data.sh``). :data:`PAPER_FILES` holds the same URLs and the
SHA-256 of each file; :func:`fetch_paper_data` downloads them, each atomically and checked.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from liftgenomics.errors import LiftGenomicsError
from liftgenomics.io import atomic_path

#: The model's architecture (Keras 2.1.6 JSON) and weights, the data set and the test ids.
MODEL_JSON = "keras2_conv1d_record_5_model_PQzyq_modelJson.json"
MODEL_WEIGHTS = "keras2_conv1d_record_5_model_PQzyq_modelWeights.h5"
SEQUENCES = "sequences.simdata.gz"
TEST_IDS = "test.txt.gz"

_STORAGE = "https://raw.githubusercontent.com/AvantiShri/model_storage"


class PaperFile(NamedTuple):
    """One released file: where it is downloaded from and its SHA-256."""

    url: str
    sha256: str


#: The released files, from the URLs of ``kundajelab/deeplift``'s
#: ``examples/genomics/grab_model_and_data.sh`` (the commits are theirs), with the SHA-256 of
#: the files downloaded from there.
PAPER_FILES: dict[str, PaperFile] = {
    MODEL_JSON: PaperFile(
        f"{_STORAGE}/b6e1d69/deeplift/genomics/{MODEL_JSON}",
        "2917ffd75e5c5414da670be411cddc4dde932d0e20d51f6a26e3e82791dc4521",
    ),
    MODEL_WEIGHTS: PaperFile(
        f"{_STORAGE}/b6e1d69/deeplift/genomics/{MODEL_WEIGHTS}",
        "f1650759a946a4aaf8e8f7a897bd37e387945b280857647bc60167e8b892bc20",
    ),
    SEQUENCES: PaperFile(
        f"{_STORAGE}/db919b12f750e5844402153233249bb3d24e9e9a/deeplift/genomics/{SEQUENCES}",
        "84a4f65ee3a9b75e40f7d9aaa72e74ad0c4de5529784f381f51000daf4b79d57",
    ),
    TEST_IDS: PaperFile(
        f"{_STORAGE}/9aadb769735c60eb90f7d3d896632ac749a1bdd2/deeplift/genomics/{TEST_IDS}",
        "c3005b68b1ed37e03902808f47c39ff0fa4a2456e6efd66edf06cb2713b44c9f",
    ),
}


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _urlopen(url: str, timeout: float) -> Any:
    """``urllib.request.urlopen`` (one place for tests to replace)."""
    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (fixed https URLs)


def fetch_paper_data(
    directory: str | os.PathLike,
    *,
    timeout: float = 60.0,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Download the paper's four files into ``directory``, each checked against its SHA-256.

    A file already there with the right checksum is kept. Each download goes to a temporary
    name and is renamed only once complete and verified: a failure leaves no partial file.

    Args:
        directory: Where to put the files (created if needed).
        timeout: Seconds to wait on the network per request.
        log: Receives one line per file.

    Returns:
        The four paths.

    Raises:
        LiftGenomicsError: one line, if a download fails (no network, HTTP error) or a file's
            checksum differs.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (url, sha256) in PAPER_FILES.items():
        path = directory / name
        paths.append(path)
        if path.is_file() and file_sha256(path) == sha256:
            log(f"{path}: present, checksum ok")
            continue
        digest = hashlib.sha256()
        with atomic_path(path) as tmp:
            try:
                with _urlopen(url, timeout) as response, tmp.open("wb") as out:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        digest.update(block)
                        out.write(block)
            except (urllib.error.URLError, OSError, ValueError) as error:
                reason = getattr(error, "reason", error)
                raise LiftGenomicsError(
                    f"could not download {url} ({reason}); without internet, copy the four "
                    f"files ({', '.join(PAPER_FILES)}) into {directory} by hand"
                ) from None
            if digest.hexdigest() != sha256:
                raise LiftGenomicsError(
                    f"{url}: SHA-256 {digest.hexdigest()} differs from the expected {sha256}; "
                    "nothing was written"
                )
        log(f"{path}: downloaded, checksum ok")
    return paths
