# Several seeds (config `replicates.seeds`): each replicate's chain runs under
# results/replicates/seed{s}/ (see common.smk); this step joins their metrics into the spread
# over seeds and the paired method comparisons, and draws the per-seed false-negative figure.


rule replicates:
    input:
        summaries=expand("results/{run}metrics/summary.tsv", run=RUNS),
        model_metrics=expand("results/{run}model/metrics.json", run=RUNS),
    output:
        summary="results/metrics/replicates.tsv",
        comparisons="results/metrics/comparisons.tsv",
        figure="results/replicates/false_negatives.png",
    log:
        "logs/replicates.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        seeds=" ".join(map(str, SEEDS)),
        alpha=config["replicates"]["alpha"],
        out=lambda wildcards, output: os.path.dirname(output.summary),
    shell:
        "{params.cli} replicates --summaries {input.summaries}"
        " --model-metrics {input.model_metrics} --seeds {params.seeds}"
        " --alpha {params.alpha} --out {params.out} --figure {output.figure} > {log} 2>&1"
