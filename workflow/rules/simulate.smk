rule simulate:
    output:
        expand(
            f"{SIMULATION}/{{split}}.{{kind}}",
            split=SPLITS,
            kind=["fa", "labels.tsv", "motifs.tsv", "classes.tsv"],
        ),
        f"{SIMULATION}/test.ohe.npz",
        f"{SIMULATION}/simulation.yaml",
    params:
        settings=json.dumps(config["simulation"]),
    log:
        "logs/simulate.log",
    shell:
        "{LIFTGENOMICS} simulate --settings {params.settings:q} --out {SIMULATION} > {log} 2>&1"
