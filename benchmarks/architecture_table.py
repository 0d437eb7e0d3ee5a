"""Which architectures each method scores, and DeepLIFT's largest summation-to-delta error.

Real-sized models with random weights (BPNet 64 filters × 8 dilated layers at L = 2,114 with
a control track; ChromBPNet 512/8 + bias 128/4 on its accessibility model and whole; Basset
at L = 600), plus the engine issue's toy forms (gated, exp, in-place residual, LayerNorm,
attention). Prints a Markdown table: "scored (max |Σ − Δt|)" or "refused". Not a test:

    python benchmarks/architecture_table.py [--sequences 2] [--references 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liftgenomics.attribution import attribute_with_details  # noqa: E402
from liftgenomics.errors import LiftGenomicsError  # noqa: E402
from liftgenomics.genome.shuffles import dinucleotide_shuffle  # noqa: E402
from liftgenomics.models.architectures import BPNet, basset, chrombpnet  # noqa: E402
from tests.toy_models import Attention, ExpCNN, GatedCNN, InplaceResidual, NormCNN  # noqa: E402

METHODS = ("deeplift_rescale", "deeplift_genomics", "deeplift_revealcancel",
           "integrated_gradients", "ism")  # fmt: skip


def cases(n: int):
    """(name, model, length, target, output, forward_args)."""
    torch.manual_seed(0)
    control = torch.rand(n, 2, 2114)
    full = chrombpnet()
    yield "BPNet counts (+control)", BPNet(), 2114, 0, 1, (control,)
    yield "BPNet profile (+control)", BPNet(), 2114, "profile", 0, (control,)
    yield "ChromBPNet accessibility counts", full.accessibility, 2114, 0, 1, ()
    yield "ChromBPNet accessibility profile", full.accessibility, 2114, "profile", 0, ()
    yield "ChromBPNet full counts (logsumexp)", full, 2114, 0, 1, ()
    yield "Basset", basset(), 600, 0, None, ()
    toys = (
        ("gated CNN", GatedCNN), ("exp CNN", ExpCNN), ("in-place residual CNN", InplaceResidual),
        ("LayerNorm/RMSNorm CNN", NormCNN), ("attention", Attention),
    )  # fmt: skip
    for name, factory in toys:
        yield name, factory(), 200, 0, None, ()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=2)
    parser.add_argument("--references", type=int, default=4)
    args = parser.parse_args()
    print("| model | " + " | ".join(METHODS) + " |")
    print("| --- " * (len(METHODS) + 1) + "|")
    for name, model, length, target, output, forward_args in cases(args.sequences):
        model.eval()
        generator = torch.Generator().manual_seed(1)
        index = torch.randint(0, 4, (args.sequences, length), generator=generator)
        X = torch.nn.functional.one_hot(index, 4).permute(0, 2, 1).float()
        refs = torch.from_numpy(dinucleotide_shuffle(X.numpy(), args.references, seed=2))
        cells = []
        for method in METHODS:
            if method == "ism" and length > 1000:
                cells.append("(slow: not run)")
                continue
            try:
                result = attribute_with_details(
                    model, X, refs, target, method=method, output=output,
                    forward_args=forward_args, steps=4,
                )  # fmt: skip
            except LiftGenomicsError as error:
                cells.append("refused: " + str(error).split(":")[0][:40])
                continue
            error = float(result.max_error.max())
            cells.append(f"scored ({error:.1e})" if error == error else "scored")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
