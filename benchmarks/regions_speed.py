"""Regions per second for BPNet-sized inputs: liftgenomics against tangermeme's deep_lift_shap.

One bpnet-lite ``BPNet`` (64 filters, 8 dilated residual layers, 2 stranded profile tracks, no
control; L = 2,114), random one-hot regions, ``deeplift_rescale`` with 20 dinucleotide
shuffles per region, for the two heads chrombpnet's ``contribs_bw`` scores:

* counts: ours with ``output=1, target=0`` against ``deep_lift_shap(CountWrapper(model))``;
* profile: ours with ``output=0, target="profile"`` (softmax weights taken at the real input,
  so summation-to-delta is exact) against ``deep_lift_shap(ProfileWrapper(model))`` with
  bpnet-lite's ``_ProfileLogitScaling`` registered as a nonlinearity (as bpnet-lite calls it).

Timed end to end, references generated inside (ours ``"dinuc:20"``, tangermeme
``n_shuffles=20``), each call once per round, in turn, so a busy machine slows both alike.
Agreement: both scored again on the same references (tangermeme's shuffles), per-position sums
over the four channels of the actual contributions, in float64; reported as
max |ours − theirs| / max |theirs|. Not a test (tangermeme and bpnet-lite are bench extras):

    nice python benchmarks/regions_speed.py [--regions 4] [--threads 1] [--rounds 1]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

LENGTH = 2114
SHUFFLES = 20


def make_inputs(n: int, seed: int = 0) -> torch.Tensor:
    """Random one-hot regions (n, 4, L)."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, 4, LENGTH), dtype=np.float32)
    X[np.arange(n)[:, None], rng.integers(0, 4, (n, LENGTH)), np.arange(LENGTH)] = 1.0
    return torch.from_numpy(X)


def ours(model, X, references, head: str, batch_size: int | None = None) -> torch.Tensor:
    """Actual contributions (n, 4, L) of one head."""
    from liftgenomics.attribution.engine import attribute_with_details

    output, target = (1, 0) if head == "counts" else (0, "profile")
    result = attribute_with_details(
        model, X, references, target, output=output, method="deeplift_rescale", seed=0,
        device="cpu", batch_size=batch_size,
    )  # fmt: skip
    return result.scores[:, 0]


def theirs(model, X, references, head: str) -> torch.Tensor:
    """tangermeme's actual contributions (n, 4, L) of the same head."""
    from bpnetlite.bpnet import CountWrapper, ProfileWrapper, _ProfileLogitScaling
    from tangermeme.deep_lift_shap import _nonlinear, deep_lift_shap

    if head == "counts":
        wrapper, extra = CountWrapper(model), None
    else:
        wrapper, extra = ProfileWrapper(model), {_ProfileLogitScaling: _nonlinear}
    kwargs = {"n_shuffles": SHUFFLES, "random_state": 0} if references is None else {
        "references": references
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return deep_lift_shap(
            wrapper, X, device="cpu", additional_nonlinear_ops=extra, warning_threshold=1e9,
            **kwargs,
        )  # fmt: skip


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |Σ_c a − Σ_c b| / max |Σ_c b| per position, in float64."""
    a64, b64 = a.double().sum(dim=1), b.double().sum(dim=1)
    return float((a64 - b64).abs().max() / b64.abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--batch-size", type=int, help="our sequences per batch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from bpnetlite.bpnet import BPNet
    from tangermeme.ersatz import dinucleotide_shuffle

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=0, verbose=False)
    model.eval()
    X = make_inputs(args.regions)
    print(f"BPNet 64 filters x 8 layers, L = {LENGTH}, {args.regions} regions, "
          f"{SHUFFLES} dinucleotide shuffles, deeplift_rescale, {args.threads} thread(s)")
    refs = dinucleotide_shuffle(X, n=SHUFFLES, random_state=0).float()  # (n, K, 4, L)
    for head in ("counts", "profile"):
        agree = relative_difference(ours(model, X, refs, head, args.batch_size),
                                    theirs(model, X, refs, head))  # fmt: skip
        times = {"ours": [], "tangermeme": []}
        for _ in range(args.rounds):
            start = time.perf_counter()
            ours(model, X, f"dinuc:{SHUFFLES}", head, args.batch_size)
            times["ours"].append(time.perf_counter() - start)
            start = time.perf_counter()
            theirs(model, X, None, head)
            times["tangermeme"].append(time.perf_counter() - start)
        best = {name: min(values) for name, values in times.items()}
        rates = {name: args.regions / seconds for name, seconds in best.items()}
        print(f"\n{head}: same references, per-position sums, float64: "
              f"max relative difference {agree:.2e}")
        for name, rate in rates.items():
            hours = 10_000 / rate / 3600 * args.threads
            print(f"  {name:<11} {rate:7.3f} regions/s   10,000 regions: {hours:5.2f} "
                  f"core-hours")
        print(f"  ours / tangermeme: {rates['ours'] / rates['tangermeme']:.2f}x")


if __name__ == "__main__":
    main()
