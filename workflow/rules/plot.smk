rule plot:
    input:
        ohe="results/{run}simulation/test.ohe.npz",
        hits="results/{run}metrics/motif_hits.tsv",
        summary="results/{run}metrics/summary.tsv",
        attributions=hypothetical_files,
    output:
        directory("results/{run}figures"),
    log:
        "logs/{run}plot.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        simulation=lambda wildcards, input: os.path.dirname(input.ohe),
        attributions=attribution_root,
        metrics=lambda wildcards, input: os.path.dirname(input.summary),
        methods=" ".join(METHODS),
        references=" ".join(REFERENCES),
        tasks=" ".join(map(str, TASKS)),
        restricted=METHOD_REFERENCES_ARGUMENT,
        logo_reference=config["report"]["logo_reference"],
        examples=config["report"]["examples_per_class"],
    shell:
        "{params.cli} figures --simulation {params.simulation}"
        " --attributions {params.attributions} --metrics {params.metrics}"
        " --methods {params.methods} --references {params.references}"
        " --tasks {params.tasks} --method-references {params.restricted}"
        " --logo-reference {params.logo_reference}"
        " --examples-per-class {params.examples} --out {output} > {log} 2>&1"
