rule report:
    input:
        figures="results/figures",
        summary="results/metrics/summary.tsv",
        model_metrics="results/model/metrics.json",
    output:
        "results/report/report.html",
    params:
        settings=json.dumps(config),
    log:
        "logs/report.log",
    shell:
        "{LIFTGENOMICS} report --figures {input.figures} --summary {input.summary}"
        " --model-metrics {input.model_metrics} --settings {params.settings:q}"
        " --out {output} > {log} 2>&1"
