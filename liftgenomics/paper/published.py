"""Numbers the DeepLIFT paper published, for the report to show beside a run's own.

Source: Shrikumar, Greenside & Kundaje, "Learning Important Features Through Propagating
Activation Differences", ICML 2017 (PMLR 70:3145-3153), figure 5b: the false-negative rate (%)
of strong motif instances (log-odds ≥ 7) in sequences holding both motifs, scored on task 0
against the flat reference (0.3, 0.2, 0.2, 0.3), per method, on the authors' model and data.
ISM was not part of the comparison.
"""

from __future__ import annotations

from typing import NamedTuple


class PublishedRate(NamedTuple):
    """One method's published false-negative rates (%), TAL1 and GATA instances."""

    tal1: float
    gata: float


#: Method -> the paper's figure-5b false-negative rates (%), flat reference, task 0; in the
#: figure's order. Methods absent here (ISM) were not in the paper.
FIGURE_5B_FALSE_NEGATIVES: dict[str, PublishedRate] = {
    "grad_input": PublishedRate(tal1=11.6, gata=3.8),
    "integrated_gradients": PublishedRate(tal1=8.0, gata=6.4),
    "deeplift_rescale": PublishedRate(tal1=7.0, gata=4.5),
    "deeplift_revealcancel": PublishedRate(tal1=0.0, gata=0.0),
    "guided_backprop": PublishedRate(tal1=0.0, gata=0.0),
    "deeplift_genomics": PublishedRate(tal1=0.0, gata=0.0),
}
#: The motif names of the two columns (the compendium's names for the paper's TAL1 and GATA1).
FIGURE_5B_MOTIFS = {"tal1": "TAL1_known1", "gata": "GATA_disc1"}
#: The reference, task and strong log-odds the published rates were computed with.
FIGURE_5B_REFERENCE = "flat"
FIGURE_5B_TASK = 0
FIGURE_5B_SOURCE = (
    "Shrikumar, Greenside & Kundaje, ICML 2017, figure 5b (the authors' model and data, "
    "flat reference, task 0, strong hits: log-odds ≥ 7)"
)
