rule report:
    input:
        figures="results/figures",
        summary="results/metrics/summary.tsv",
        model_metrics="results/model/metrics.json",
        discovery="results/metrics/discovery.tsv",
        discovery_logos="results/discovery/true_motifs.png",
    output:
        "results/report/report.html",
    log:
        "logs/report.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        settings=json.dumps(config),
        discovery_root=lambda wildcards, input: os.path.dirname(input.discovery_logos),
    shell:
        "{params.cli} report --figures {input.figures} --summary {input.summary}"
        " --model-metrics {input.model_metrics} --settings {params.settings:q}"
        " --discovery {input.discovery} --discovery-root {params.discovery_root}"
        " --out {output} > {log} 2>&1"
