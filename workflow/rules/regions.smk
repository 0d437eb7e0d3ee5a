# Genome-scale scoring of your own regions (config `regions:`; see config/README.md):
# `liftgenomics score` scattered over chunks of the BED, gathered in order into one directory
# byte-identical to a single `score` run with the same seed, batch size and threads; then,
# with `regions.modisco: true`, TF-MoDISco (`liftgenomics motifs`) on each head's scores.


rule score_regions_chunk:
    input:
        unpack(region_inputs),
    output:
        temp(directory(f"{REGIONS_OUT}/chunks/{{chunk}}")),
    log:
        "logs/regions/score.{chunk}.log",
    benchmark:
        "results/benchmarks/regions/score.{chunk}.tsv"
    conda:
        ENV
    threads: REGIONS["threads"]
    resources:
        gpu=GPU,
    params:
        cli=LIFTGENOMICS,
        options=region_score_options(),
        chunks=REGIONS["chunks"],
    shell:
        "{params.cli} score {params.options} --chunk {wildcards.chunk}"
        " --chunks {params.chunks} --threads {threads} --quiet --out {output} > {log} 2>&1"


rule gather_region_scores:
    input:
        expand(f"{REGIONS_OUT}/chunks/{{chunk}}", chunk=REGION_CHUNKS),
    output:
        directory(f"{REGIONS_OUT}/scores"),
    log:
        "logs/regions/gather.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        bigwig="--bigwig" if REGIONS["bigwig"] else "",
        fasta=REGIONS["fasta"],
    shell:
        "{params.cli} gather-scores --chunks {input} --out {output} {params.bigwig}"
        " --fasta {params.fasta:q} > {log} 2>&1"


rule region_motifs:
    input:
        f"{REGIONS_OUT}/scores",
    output:
        directory(f"{REGIONS_OUT}/modisco/{{head}}"),
    log:
        "logs/regions/motifs.{head}.log",
    benchmark:
        "results/benchmarks/regions/motifs.{head}.tsv"
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        hyp=lambda wildcards: region_heads()[wildcards.head],
    shell:
        "{params.cli} motifs --ohe {input}/ohe.npz --hyp {input}/{params.hyp}"
        " --out {output} > {log} 2>&1"
