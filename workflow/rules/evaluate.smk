rule evaluate:
    input:
        ohe="results/{run}simulation/test.ohe.npz",
        settings="results/{run}simulation/simulation.yaml",
        attributions=hypothetical_files,
    output:
        hits="results/{run}metrics/motif_hits.tsv",
        summary="results/{run}metrics/summary.tsv",
        json="results/{run}metrics/summary.json",
    log:
        "logs/{run}evaluate.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        simulation=lambda wildcards, input: os.path.dirname(input.ohe),
        attributions=attribution_root,
        out=lambda wildcards, output: os.path.dirname(output.summary),
        methods=" ".join(METHODS),
        references=" ".join(REFERENCES),
        tasks=" ".join(map(str, TASKS)),
        restricted=METHOD_REFERENCES_ARGUMENT,
        hits=config["evaluation"]["hits_per_motif"],
        strong=config["evaluation"]["strong_log_odds"],
    shell:
        "{params.cli} evaluate --simulation {params.simulation}"
        " --attributions {params.attributions} --methods {params.methods}"
        " --references {params.references} --tasks {params.tasks}"
        " --method-references {params.restricted}"
        " --hits-per-motif {params.hits} --strong-log-odds {params.strong}"
        " --out {params.out} > {log} 2>&1"
