"""Variant effects (``liftgenomics variants``): ref/alt predictions, scores, a shuffled null
and exact allele attributions for SNPs and indels from a VCF or a chrombpnet-style table.

Data flows one way through the room's modules:

- :mod:`.records`: VCF (pysam) and headerless TSV layouts -> :class:`.records.Variant` rows
  (multi-allelic records split, VCF anchor bases stripped, duplicates dropped);
- :mod:`.windows`: the reference-allele check against the FASTA and the two allele windows
  of each variant, laid out as chrombpnet's variant scorer does;
- :mod:`.effects`: predictions of both alleles (forward and reverse complement averaged) and
  the per-variant scores (logFC, JSD, ...);
- :mod:`.null`: the dinucleotide-shuffled null, empirical p-values and BH q-values;
- :mod:`.attributions`: allele attributions against shared references, chrombpnet's variant
  SHAP ``.h5`` layout, ref-over-alt logos;
- :mod:`.pipeline`: the streamed run, its chunks and outputs (``variants.tsv``,
  ``skipped.tsv``, ``variants.json``).
"""
