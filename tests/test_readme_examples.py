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
import pandas as pd
import pytest
import torch

from liftgenomics.cli import main
from liftgenomics.models.architectures import BPNet

README = Path(__file__).resolve().parents[1] / "README.md"
TINY = {"n_filters": 3, "n_layers": 2, "n_outputs": 2, "n_control_tracks": 2, "length": 140}
pyBigWig = pytest.importorskip("pyBigWig")


def readme_command(marker: str, command: str = "score") -> list[str]:
    """The argv of the README's ``liftgenomics {command}`` command that contains ``marker``."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    for block in blocks:
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            if line.startswith(f"liftgenomics {command} ") and marker in line:
                return shlex.split(line)[1:]
    raise AssertionError(f"README has no 'liftgenomics {command}' command with {marker!r}")


def swap(argv: list[str], values: dict[str, str]) -> list[str]:
    """The same command with the values of some options replaced."""
    out = list(argv)
    for option, value in values.items():
        out[out.index(option) + 1] = value
    return out


def test_readme_bpnet_example(tmp_path):
    argv = readme_command("liftgenomics.models.architectures:bpnet")
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


def planted_gata_model(width: int, log_odds: np.ndarray, threshold: float) -> torch.nn.Module:
    """The paper's CNN shape with hand-set weights: its output is the mean over positions of
    relu(GATA_disc1 log-odds − threshold), so only the planted motif can move it."""
    from liftgenomics.models.architectures import paper_cnn

    model = paper_cnn(n_tasks=1, length=200, filters=2, width=width, hidden=2, dropout=0.0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.conv1.weight[0] = torch.from_numpy(log_odds.T.astype(np.float32))
        model.conv1.bias[0] = -threshold
        model.conv2.weight[0, 0, 0] = 1.0
        model.dense1.weight[0, 0] = 1.0
        model.dense2.weight[0, 0] = 1.0
    return model.eval()


def test_readme_score_then_motifs(tmp_path):
    """README: `score` on a BED, then `motifs` on its outputs, with the README's own defaults.

    300 regions of 200 bp, each with one GATA_disc1 instance sampled from its PWM at a known
    place, scored by a model that sees only that motif: TF-MoDISco must find it, TOMTOM must
    name it (q < 0.05 against the whole ENCODE compendium), and its seqlets must sit on the
    planted instances.
    """
    from liftgenomics.models.directory import save_model
    from liftgenomics.motifs.meme import load_encode_compendium

    motif = load_encode_compendium()["GATA_disc1"]
    pwm = motif.probabilities / motif.probabilities.sum(axis=1, keepdims=True)
    log_odds = np.log((pwm * 0.97 + 0.0075) / 0.25)
    width, n_regions = motif.width, 300
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 4, (n_regions, 200))
    starts = rng.integers(40, 160 - width, n_regions)
    for row, start in enumerate(starts):
        for j in range(width):
            codes[row, start + j] = rng.choice(4, p=pwm[j])
    genome = "".join("ACGT"[c] for c in codes.ravel())
    (tmp_path / "g.fa").write_text(">chr1\n" + genome + "\n")
    (tmp_path / "p.bed").write_text(
        "".join(f"chr1\t{200 * r}\t{200 * r + 200}\tr{r}\n" for r in range(n_regions))
    )
    model = planted_gata_model(width, log_odds, threshold=log_odds.max(axis=1).sum() - 6.0)
    save_model(model, tmp_path / "model", {
        "name": "paper_cnn", "n_tasks": 1, "length": 200, "filters": 2, "width": width,
        "hidden": 2, "dropout": 0.0,
    })  # fmt: skip

    scores = tmp_path / "scores"
    argv = swap(readme_command("--bed peaks.bed --out scores "), {
        "--model": str(tmp_path / "model"), "--fasta": str(tmp_path / "g.fa"),
        "--bed": str(tmp_path / "p.bed"), "--out": str(scores),
    })  # fmt: skip
    assert main([*argv, "--quiet", "--device", "cpu"]) == 0
    argv = swap(readme_command("--hyp scores/hyp.npz", command="motifs"), {
        "--ohe": str(scores / "ohe.npz"), "--hyp": str(scores / "hyp.npz"),
        "--out": str(scores / "motifs"),
    })  # fmt: skip
    assert main(argv) == 0

    patterns = pd.read_csv(scores / "motifs" / "patterns.tsv", sep="\t")
    first = patterns.iloc[0]
    assert first["sign"] == "+" and first["match1"] == "GATA_disc1" and first["q1"] < 0.05
    seqlets = pd.read_csv(scores / "motifs" / "seqlets.tsv", sep="\t")
    mine = seqlets[seqlets["pattern"] == first["pattern"]]
    assert len(mine) >= 100
    planted = {f"r{r}": (int(s), int(s) + width) for r, s in enumerate(starts)}
    on_instance = [
        min(end, planted[region][1]) > max(start, planted[region][0])
        for region, start, end in zip(mine["region"], mine["start"], mine["end"], strict=True)
    ]
    assert np.mean(on_instance) >= 0.9
