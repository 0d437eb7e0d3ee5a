rule plot:
    input:
        hits="results/metrics/motif_hits.tsv",
        summary="results/metrics/summary.tsv",
        attributions=hypothetical_files,
    output:
        directory("results/figures"),
    params:
        methods=" ".join(METHODS),
        references=" ".join(REFERENCES),
        tasks=" ".join(map(str, TASKS)),
        logo_reference=config["report"]["logo_reference"],
        examples=config["report"]["examples_per_class"],
    log:
        "logs/plot.log",
    shell:
        "{LIFTGENOMICS} figures --simulation {SIMULATION} --attributions results/attributions"
        " --metrics results/metrics --methods {params.methods}"
        " --references {params.references} --tasks {params.tasks}"
        " --logo-reference {params.logo_reference} --examples-per-class {params.examples}"
        " --out {output} > {log} 2>&1"
