"""The DeepLIFT paper's DNA experiment: the GATA1/TAL1 simulation, training the paper's CNN,
motif-recovery metrics of attribution scores, and the paper's claim tested over seeds; the
authors' own released data and model (:mod:`~liftgenomics.paper.authors`) and their published
figure-5b numbers (:mod:`~liftgenomics.paper.published`).
"""
