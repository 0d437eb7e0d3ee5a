rule report:
    input:
        figures="results/figures",
        summary="results/metrics/summary.tsv",
        model_metrics="results/model/metrics.json",
    output:
        "results/report/report.html",
    log:
        "logs/report.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        settings=json.dumps(config),
    shell:
        "{params.cli} report --figures {input.figures} --summary {input.summary}"
        " --model-metrics {input.model_metrics} --settings {params.settings:q}"
        " --out {output} > {log} 2>&1"
