"""The DeepLIFT paper's DNA experiment: the GATA1/TAL1 simulation, training the paper's CNN,
motif-recovery metrics of attribution scores, and the paper's claim tested over seeds.
"""
