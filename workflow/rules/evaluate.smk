rule evaluate:
    input:
        f"{SIMULATION}/test.ohe.npz",
        f"{SIMULATION}/simulation.yaml",
        hypothetical_files,
    output:
        hits="results/metrics/motif_hits.tsv",
        summary="results/metrics/summary.tsv",
        json="results/metrics/summary.json",
    params:
        methods=" ".join(METHODS),
        references=" ".join(REFERENCES),
        tasks=" ".join(map(str, TASKS)),
        hits=config["evaluation"]["hits_per_motif"],
        strong=config["evaluation"]["strong_log_odds"],
    log:
        "logs/evaluate.log",
    shell:
        "{LIFTGENOMICS} evaluate --simulation {SIMULATION} --attributions results/attributions"
        " --methods {params.methods} --references {params.references} --tasks {params.tasks}"
        " --hits-per-motif {params.hits} --strong-log-odds {params.strong}"
        " --out results/metrics > {log} 2>&1"
