# Attribution is scattered over chunks of test sequences and gathered in order; references
# are seeded per sequence, so the gathered files do not depend on the number of chunks.
# Reference-free methods (gradient x input, guided backprop, ISM) are computed once per run
# (reference "shared"; see common.smk) and gathered into every reference's folder.


rule attribute_chunk:
    input:
        model="results/{run}model/model.safetensors",
        ohe="results/{run}simulation/test.ohe.npz",
    output:
        temp("results/{run}attributions/{method}/{reference}/chunks/{chunk}.npz"),
    log:
        "logs/{run}attribute/{method}.{reference}.{chunk}.log",
    benchmark:
        "results/{run}benchmarks/attribute/{method}.{reference}.{chunk}.tsv"
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
        seed=lambda wildcards: run_seed(wildcards, "attribution"),
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
            "results/{run}attributions/{method}/{reference}/chunks/{chunk}.npz",
            run=wildcards.run,
            method=wildcards.method,
            reference=chunk_reference(wildcards),
            chunk=CHUNKS,
        ),
    output:
        expand(
            "results/{{run}}attributions/{{method}}/{{reference}}/task{task}.hyp.npz",
            task=TASKS,
        ),
    log:
        "logs/{run}gather/{method}.{reference}.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
    shell:
        "{params.cli} gather --chunks {input} --out {output} > {log} 2>&1"
