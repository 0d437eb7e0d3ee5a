rule train:
    input:
        expand(f"{SIMULATION}/{{split}}.{{kind}}", split=SPLITS, kind=["fa", "labels.tsv"]),
    output:
        "results/model/model.safetensors",
        "results/model/model.json",
        "results/model/metrics.json",
    params:
        epochs=config["training"]["epochs"],
        batch_size=config["training"]["batch_size"],
        lr=config["training"]["lr"],
        patience=config["training"]["patience"],
        seed=config["training"]["seed"],
        device=config["training"]["device"],
    resources:
        gpu=GPU,
    threads: workflow.cores
    log:
        "logs/train.log",
    benchmark:
        "benchmarks/train.tsv"
    shell:
        "{LIFTGENOMICS} train --data {SIMULATION} --out results/model"
        " --epochs {params.epochs} --batch-size {params.batch_size} --lr {params.lr}"
        " --patience {params.patience} --seed {params.seed} --device {params.device}"
        " > {log} 2>&1"
