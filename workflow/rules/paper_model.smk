# The DeepLIFT paper's own data and model in place of simulate and train (config
# `paper_model:`, see config/paper_model.yaml): the authors' sequences become
# results/simulation/ (the files `simulate` writes, the embedded instances as ground truth), and
# their Keras model a liftgenomics model directory results/model/ with its test metrics. The
# rest of the chain runs on them unchanged.


rule import_paper_data:
    input:
        sequences=f"{PAPER_DATA}/sequences.simdata.gz",
        test_ids=f"{PAPER_DATA}/test.txt.gz",
    output:
        expand(
            "results/simulation/{split}.{kind}",
            split=SPLITS,
            kind=["fa", "labels.tsv", "motifs.tsv", "classes.tsv"],
        ),
        "results/simulation/test.ohe.npz",
        "results/simulation/source.json",
        "results/simulation/simulation.yaml",
    log:
        "logs/import_paper_data.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        out=lambda wildcards, output: os.path.dirname(output[-1]),
        data=lambda wildcards, input: os.path.dirname(input.sequences),
        subset=PAPER_TEST_SUBSET,
    shell:
        "{params.cli} import-paper-data --data {params.data:q} --out {params.out}"
        " {params.subset} > {log} 2>&1"


rule convert_paper_model:
    input:
        architecture=f"{PAPER_DATA}/{PAPER_MODEL_JSON}",
        weights=f"{PAPER_DATA}/{PAPER_MODEL_WEIGHTS}",
    output:
        "results/model/model.json",
        weights="results/model/model.safetensors",
    log:
        "logs/convert_paper_model.log",
    benchmark:
        "results/benchmarks/convert_paper_model.tsv"
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        out=lambda wildcards, output: os.path.dirname(output.weights),
    shell:
        "{params.cli} convert --model keras:{input.architecture:q}"
        " --weights {input.weights:q} --out {params.out} > {log} 2>&1"


rule paper_model_metrics:
    input:
        model="results/model/model.safetensors",
        data=expand("results/simulation/test.{kind}", kind=["fa", "labels.tsv"]),
    output:
        "results/model/metrics.json",
    log:
        "logs/paper_model_metrics.log",
    benchmark:
        "results/benchmarks/paper_model_metrics.tsv"
    conda:
        ENV
    threads: 1
    params:
        cli=LIFTGENOMICS,
        data=lambda wildcards, input: os.path.dirname(input.data[0]),
        source=f"the authors' Keras model ({PAPER_MODEL_JSON}), converted",
    shell:
        "{params.cli} model-metrics --model {input.model} --data {params.data}"
        " --source {params.source:q} --threads {threads} --out {output} > {log} 2>&1"
