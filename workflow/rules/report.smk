# The report shows the main run (the only run, or the first replicate) and, with several
# seeds, the replicate section.


rule report:
    input:
        figures=f"results/{MAIN_RUN}figures",
        summary=f"results/{MAIN_RUN}metrics/summary.tsv",
        model_metrics=f"results/{MAIN_RUN}model/metrics.json",
        replicates=rules.replicates.output if REPLICATED else [],
        discovery=["results/metrics/discovery.tsv"] if DISCOVERY_METHODS else [],
        discovery_logos=(
            ["results/discovery/true_motifs.png"] if DISCOVERY_METHODS else []
        ),
    output:
        "results/report/report.html",
    log:
        "logs/report.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        settings=json.dumps(config),
        replicates=lambda wildcards, input: (
            f"--replicates {input.replicates[0]} --comparisons {input.replicates[1]}"
            f" --replicates-figure {input.replicates[2]}"
            if REPLICATED
            else ""
        ),
        discovery=lambda wildcards, input: (
            f"--discovery {input.discovery[0]}"
            f" --discovery-root {os.path.dirname(input.discovery_logos[0])}"
            if DISCOVERY_METHODS
            else ""
        ),
    shell:
        "{params.cli} report --figures {input.figures} --summary {input.summary}"
        " --model-metrics {input.model_metrics} --settings {params.settings:q}"
        " {params.discovery} {params.replicates} --out {output} > {log} 2>&1"
