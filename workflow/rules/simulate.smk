rule simulate:
    output:
        expand(
            "results/simulation/{split}.{kind}",
            split=SPLITS,
            kind=["fa", "labels.tsv", "motifs.tsv", "classes.tsv"],
        ),
        "results/simulation/test.ohe.npz",
        "results/simulation/simulation.yaml",
    log:
        "logs/simulate.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        out=lambda wildcards, output: os.path.dirname(output[-1]),
        settings=json.dumps(config["simulation"]),
    shell:
        "{params.cli} simulate --settings {params.settings:q} --out {params.out} > {log} 2>&1"
