"""Write the regions test's data: genome.fa, peaks.narrowPeak, tiny_model.safetensors.

Run from this directory (``python make_regions_data.py``); the outputs are committed, so CI
does not run it. Seeded: the same files every time.
"""

import numpy as np
import torch
from safetensors.torch import save_file

from tiny_model import tiny_cnn

rng = np.random.default_rng(13)
sizes = {"chr1": 2000, "chr2": 1500}
with open("genome.fa", "w") as fasta:
    for chrom, size in sizes.items():
        sequence = list(rng.choice(list("ACGT"), size))
        for start in range(50, size - 20, 137):  # a GATA-like site every 137 bp
            sequence[start : start + 6] = list("AGATAA")
        sequence[300:310] = list("NNNNNNNNNN")
        text = "".join(sequence)
        fasta.write(f">{chrom}\n")
        for line in range(0, size, 60):
            fasta.write(text[line : line + 60] + "\n")

# narrowPeak: chrom start end name score strand signal p q summit. 14 peaks; the last runs
# off chr2's end once resized to 100 bp and is skipped.
rows = []
for i, start in enumerate(range(100, 1900, 240)):
    rows.append(("chr1", start, start + 80, f"peak{i + 1}", 40 if i % 3 else -1))
for j, start in enumerate(range(150, 1400, 230)):
    rows.append(("chr2", start, start + 90, f"peak{len(rows) + 1}", 30))
rows.append(("chr2", 1440, 1490, "edge", -1))
with open("peaks.narrowPeak", "w") as bed:
    for chrom, start, end, name, summit in rows:
        bed.write(f"{chrom}\t{start}\t{end}\t{name}\t0\t.\t1.0\t-1\t-1\t{summit}\n")

torch.manual_seed(5)
save_file(tiny_cnn().state_dict(), "tiny_model.safetensors")
