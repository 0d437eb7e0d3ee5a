rule simulate:
    output:
        expand(
            "results/{{run}}simulation/{split}.{kind}",
            split=SPLITS,
            kind=["fa", "labels.tsv", "motifs.tsv", "classes.tsv"],
        ),
        "results/{run}simulation/test.ohe.npz",
        "results/{run}simulation/simulation.yaml",
    log:
        "logs/{run}simulate.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        out=lambda wildcards, output: os.path.dirname(output[-1]),
        settings=simulation_settings,
    shell:
        "{params.cli} simulate --settings {params.settings:q} --out {params.out} > {log} 2>&1"
