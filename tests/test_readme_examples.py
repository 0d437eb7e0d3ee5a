"""The README's worked BPNet example (b), run from the README's own text at tiny sizes.

The ``liftgenomics score`` command is read from README.md, so a changed flag or name there
breaks this test; only the sizes and file paths are swapped for tiny ones. Checks against an
independent forward pass of the model: the explained values in regions.tsv (the count head and
the softmax-weighted profile computed by hand) and summation-to-delta of the saved scores.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from liftgenomics.architectures import BPNet
from liftgenomics.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
TINY = {"n_filters": 3, "n_layers": 2, "n_outputs": 2, "n_control_tracks": 2, "length": 140}
pyBigWig = pytest.importorskip("pyBigWig")


def readme_command(marker: str) -> list[str]:
    """The argv of the README's ``liftgenomics score`` command that contains ``marker``."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    for block in blocks:
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            if line.startswith("liftgenomics score") and marker in line:
                return shlex.split(line)[1:]
    raise AssertionError(f"README has no 'liftgenomics score' command with {marker!r}")


def swap(argv: list[str], values: dict[str, str]) -> list[str]:
    """The same command with the values of some options replaced."""
    out = list(argv)
    for option, value in values.items():
        out[out.index(option) + 1] = value
    return out


def test_readme_bpnet_example(tmp_path):
    argv = readme_command("liftgenomics.architectures:bpnet")
    # The README's model: bpnet-lite's BPNet, saved as a state dict; ours has its names.
    try:
        from bpnetlite.bpnet import BPNet as LiteBPNet

        torch.manual_seed(0)
        lite = LiteBPNet(**{k: v for k, v in TINY.items() if k != "length"}, verbose=False)
    except ImportError:
        torch.manual_seed(0)
        lite = BPNet(**{k: v for k, v in TINY.items() if k != "length"})
    torch.save(lite.state_dict(), tmp_path / "bpnet.pt")
    rng = np.random.default_rng(0)
    genome = "".join(rng.choice(list("ACGT"), 600))
    (tmp_path / "g.fa").write_text(">chr1\n" + genome + "\n")
    (tmp_path / "p.narrowPeak").write_text(
        "".join(f"chr1\t{s}\t{s + 50}\tpk{s}\t0\t.\t1\t-1\t-1\t25\n" for s in (100, 250, 400))
    )
    tracks = []
    for strand in ("plus", "minus"):
        values = rng.poisson(3.0, 600).astype(float)
        handle = pyBigWig.open(str(tmp_path / f"{strand}.bw"), "w")
        handle.addHeader([("chr1", 600)])
        handle.addEntries("chr1", 0, values=values.tolist(), span=1, step=1)
        handle.close()
        tracks.append(values)
    out = tmp_path / "bpnet_scores"
    argv = swap(argv, {
        "--model-args": json.dumps(TINY), "--weights": str(tmp_path / "bpnet.pt"),
        "--control": f"{tmp_path / 'plus.bw'},{tmp_path / 'minus.bw'}",
        "--fasta": str(tmp_path / "g.fa"), "--bed": str(tmp_path / "p.narrowPeak"),
        "--references": "dinuc:3", "--out": str(out),
    })  # fmt: skip
    assert main([*argv, "--quiet", "--device", "cpu"]) == 0
    names = {p.name for p in out.iterdir()}
    for head in ("counts", "profile"):
        assert {f"hyp.{head}.npz", f"contrib.{head}.npz", f"contrib.{head}.bw"} <= names
    # Independent oracle: the model run by hand on the regions and their control.
    X = np.load(out / "ohe.npz")["arr_0"]
    rows = [line.split("\t") for line in (out / "regions.tsv").read_text().splitlines()]
    header, rows = rows[0], rows[1:]
    starts = [int(row[2]) for row in rows]
    assert starts == [125 - 70, 275 - 70, 425 - 70]  # summit-centred, 140 bp
    control = np.stack([[t[s : s + 140] for t in tracks] for s in starts]).astype(np.float32)
    lite.eval()
    with torch.no_grad():
        profile, counts = lite(torch.from_numpy(X), torch.from_numpy(control))
    logits = profile.reshape(len(X), -1).double()
    centred = logits - logits.mean(dim=1, keepdim=True)
    by_hand = (torch.softmax(centred, dim=1) * centred).sum(dim=1)
    predicted = {name: [float(row[header.index(f"prediction_{name}")]) for row in rows]
                 for name in ("counts", "profile")}  # fmt: skip
    np.testing.assert_allclose(predicted["counts"], counts[:, 0].numpy(), rtol=1e-5)
    np.testing.assert_allclose(predicted["profile"], by_hand.numpy(), rtol=1e-5, atol=1e-6)
    assert max(float(row[-1]) for row in rows) < 1e-4  # summation-to-delta, every pair
