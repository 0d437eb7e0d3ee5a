# Variant effects (config `variants:`; see config/README.md): `liftgenomics variants`
# scattered over chunks of the checked variants, gathered (p- and q-values against the null
# pooled over every chunk) into one directory byte-identical to a single `variants` process
# with the same seed, batch and block sizes and threads.


rule score_variants_chunk:
    input:
        unpack(variant_inputs),
    output:
        temp(directory(f"{VARIANTS_OUT}/parts/{{chunk}}")),
    log:
        "logs/variants/score.{chunk}.log",
    benchmark:
        "results/benchmarks/variants/score.{chunk}.tsv"
    conda:
        ENV
    threads: VARIANTS["threads"]
    resources:
        gpu=GPU,
    params:
        cli=LIFTGENOMICS,
        options=variant_options(),
        chunks=VARIANTS["chunks"],
    shell:
        "{params.cli} variants {params.options} --chunk {wildcards.chunk}"
        " --chunks {params.chunks} --threads {threads} --quiet --out {output} > {log} 2>&1"


rule gather_variants:
    input:
        expand(f"{VARIANTS_OUT}/parts/{{chunk}}", chunk=VARIANT_CHUNKS),
    output:
        directory(f"{VARIANTS_OUT}/scores"),
    log:
        "logs/variants/gather.log",
    benchmark:
        "results/benchmarks/variants/gather.tsv"
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        logos=VARIANTS["logos"],
    shell:
        "{params.cli} gather-variants --parts {input} --out {output}"
        " --logos {params.logos} > {log} 2>&1"
