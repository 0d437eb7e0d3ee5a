"""liftgenomics: DeepLIFT attributions for genomic deep learning models.

The package reproduces the DNA experiment of Shrikumar, Greenside & Kundaje (ICML 2017) and
scores a user's own sequences with DeepLIFT (Rescale, RevealCancel and the genomics default)
and its rivals. Data flows one way: sequences -> references -> attribution -> metrics -> plots.
"""

__version__ = "0.1.0"
