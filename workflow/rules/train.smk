rule train:
    input:
        data=expand(
            "results/{{run}}simulation/{split}.{kind}",
            split=SPLITS,
            kind=["fa", "labels.tsv"],
        ),
    output:
        "results/{run}model/model.json",
        "results/{run}model/metrics.json",
        weights="results/{run}model/model.safetensors",
    log:
        "logs/{run}train.log",
    benchmark:
        "results/{run}benchmarks/train.tsv"
    conda:
        ENV
    threads: config["training"].get("threads", workflow.cores)
    resources:
        gpu=GPU,
    params:
        cli=LIFTGENOMICS,
        data=lambda wildcards, input: os.path.dirname(input.data[0]),
        out=lambda wildcards, output: os.path.dirname(output.weights),
        epochs=config["training"]["epochs"],
        batch_size=config["training"]["batch_size"],
        lr=config["training"]["lr"],
        patience=config["training"]["patience"],
        seed=lambda wildcards: run_seed(wildcards, "training"),
        device=config["training"]["device"],
    shell:
        "{params.cli} train --data {params.data} --out {params.out}"
        " --epochs {params.epochs} --batch-size {params.batch_size} --lr {params.lr}"
        " --patience {params.patience} --seed {params.seed} --device {params.device}"
        " --threads {threads}"
        " > {log} 2>&1"
