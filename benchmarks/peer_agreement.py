"""Our DeepLIFT Rescale against tangermeme's ``deep_lift_shap`` on BPNet and ChromBPNet.

Same model (float64), same references (dinucleotide shuffles), per-position sums over the four
channels (both project onto the base present), largest difference relative to the largest
score. Counts heads: tangermeme and we both apply Rescale with the captum/tangermeme max-pool
split, so they must agree to rounding. Profile heads: we explain the BPNet convention
Σ softmax(ℓ̄).detach()·ℓ̄ with the weights taken at the real input for every reference (the
target is then linear in ℓ̄ and summation-to-delta exact); tangermeme scores bpnet-lite's
``ProfileWrapper`` (ℓ̄·softmax(ℓ̄), not detached) with its own softmax rule, a different
quantity, so their difference is reported, not expected to vanish. Not a test (tangermeme is a
``bench`` extra):

    python benchmarks/peer_agreement.py [--sequences 4] [--references 10] [--length 2114]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from torch import nn

from liftgenomics.attribution import attribute_with_details
from liftgenomics.genome.shuffles import dinucleotide_shuffle
from liftgenomics.models.architectures import BPNet


class Counts(nn.Module):
    """The count head alone, as tangermeme wants a (N, T) output."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, X):
        return self.model(X)[1]


class Profile(nn.Module):
    """bpnet-lite's ProfileWrapper: ℓ̄ · softmax(ℓ̄) summed (not detached)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, X):
        logits = self.model(X)[0].flatten(1)
        logits = logits - logits.mean(dim=-1, keepdim=True)
        return (logits * torch.softmax(logits, dim=-1)).sum(dim=-1, keepdim=True)


def bpnet(filters: int, layers: int, seed: int) -> BPNet:
    torch.manual_seed(seed)
    model = BPNet(n_filters=filters, n_layers=layers, n_control_tracks=0).double().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(0.5)
    return model


def position_sums(scores) -> np.ndarray:
    return np.asarray(scores, dtype=np.float64).sum(axis=-2)


def compare(name: str, model: nn.Module, X, refs, output, target) -> None:
    from tangermeme.deep_lift_shap import deep_lift_shap

    ours = attribute_with_details(model, X, refs, target, method="deeplift_rescale",
                                  output=output)  # fmt: skip
    wrapper = Counts(model) if output == 1 else Profile(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = deep_lift_shap(
            wrapper, X.double(), target=0, references=refs.double(), batch_size=refs.shape[1],
            dtype=torch.float64, device="cpu",
        )  # fmt: skip
    a, b = position_sums(ours.scores[:, 0].numpy()), position_sums(theirs.detach().numpy())
    scale = max(np.abs(a).max(), np.abs(b).max())
    print(f"{name:32s} max |ours - tangermeme| / max |score| = {np.abs(a - b).max() / scale:.2e}"
          f"   our max summation error {float(ours.max_error.max()):.1e}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--references", type=int, default=10)
    parser.add_argument("--length", type=int, default=2114)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--layers", type=int, default=8)
    args = parser.parse_args()
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (args.sequences, args.length))]
    X = torch.from_numpy(X.transpose(0, 2, 1).copy())
    refs = torch.from_numpy(dinucleotide_shuffle(X.numpy(), args.references, seed=1))
    model = bpnet(args.filters, args.layers, seed=0)
    compare("BPNet counts", model, X, refs, 1, 0)
    compare("BPNet profile (vs ProfileWrapper)", model, X, refs, 0, "profile")
    accessibility = bpnet(args.filters, args.layers, seed=1)  # ChromBPNet's nobias model
    compare("ChromBPNet accessibility counts", accessibility, X, refs, 1, 0)


if __name__ == "__main__":
    main()
