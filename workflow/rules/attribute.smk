# Attribution is scattered over chunks of test sequences and gathered in order; references
# are seeded per sequence, so the gathered files do not depend on the number of chunks.
# ISM ignores references: its chunks are computed once (reference "shared"; see common.smk).


rule attribute_chunk:
    input:
        model="results/model/model.safetensors",
        ohe="results/simulation/test.ohe.npz",
    output:
        temp("results/attributions/{method}/{reference}/chunks/{chunk}.npz"),
    log:
        "logs/attribute/{method}.{reference}.{chunk}.log",
    benchmark:
        "results/benchmarks/attribute/{method}.{reference}.{chunk}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        gpu=GPU,
    params:
        cli=LIFTGENOMICS,
        spec=lambda wildcards: REFERENCES.get(wildcards.reference, "zero"),
        chunks=config["attribution"]["chunks"],
        targets=",".join(map(str, TASKS)),
        seed=config["attribution"]["seed"],
        steps=config["attribution"]["ig_steps"],
        device=config["attribution"]["device"],
    shell:
        "{params.cli} attribute --model {input.model} --ohe {input.ohe}"
        " --method {wildcards.method} --references {params.spec:q}"
        " --targets {params.targets} --chunk {wildcards.chunk} --chunks {params.chunks}"
        " --seed {params.seed} --steps {params.steps} --device {params.device}"
        " --threads {threads}"
        " --out {output} > {log} 2>&1"


rule gather_attributions:
    input:
        lambda wildcards: expand(
            "results/attributions/{method}/{reference}/chunks/{chunk}.npz",
            method=wildcards.method,
            reference=chunk_reference(wildcards),
            chunk=CHUNKS,
        ),
    output:
        expand(
            "results/attributions/{{method}}/{{reference}}/task{task}.hyp.npz",
            task=TASKS,
        ),
    log:
        "logs/gather/{method}.{reference}.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
    shell:
        "{params.cli} gather --chunks {input} --out {output} > {log} 2>&1"
