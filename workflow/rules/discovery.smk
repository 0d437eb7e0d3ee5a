# De novo motif discovery: TF-MoDISco + TOMTOM on the scores of a grid of method x reference x
# task (config "discovery:"), graded against the simulated instances in discovery.tsv.
# TF-MoDISco sees the test sequences positive for the task, as it would see peaks: the
# others hold no instance the task's output needs, and all 800 cost ~4x the seqlets and
# ~3x the time (175 s against 56 s for the genomics default on one CPU).
# The grid and its helpers are in common.smk. With several replicate seeds it runs on the
# main run (the first seed's) only.


rule discover_motifs:
    input:
        ohe=f"results/{MAIN_RUN}simulation/test.ohe.npz",
        labels=f"results/{MAIN_RUN}simulation/test.labels.tsv",
        hyp=discovery_scores,
    output:
        directory("results/discovery/{method}/{reference}/task{task}"),
    log:
        "logs/discovery/{method}.{reference}.task{task}.log",
    benchmark:
        "results/benchmarks/discovery/{method}.{reference}.task{task}.tsv"
    wildcard_constraints:
        task=r"\d+",
    conda:
        ENV
    threads: 1
    params:
        cli=LIFTGENOMICS,
        window=DISCOVERY["window"],
        max_seqlets=DISCOVERY["max_seqlets"],
        min_seqlets=DISCOVERY["min_seqlets"],
        leiden_runs=DISCOVERY["leiden_runs"],
        seed=DISCOVERY["seed"],
    shell:
        "{params.cli} motifs --ohe {input.ohe} --hyp {input.hyp} --out {output}"
        " --labels {input.labels} --label {wildcards.task}"
        " --window {params.window} --max-seqlets {params.max_seqlets}"
        " --min-seqlets {params.min_seqlets} --leiden-runs {params.leiden_runs}"
        " --seed {params.seed} --threads {threads} --allow-empty > {log} 2>&1"


rule grade_discovery:
    input:
        ohe=f"results/{MAIN_RUN}simulation/test.ohe.npz",
        settings=f"results/{MAIN_RUN}simulation/simulation.yaml",
        runs=discovery_runs,
    output:
        table="results/metrics/discovery.tsv",
        logos="results/discovery/true_motifs.png",
    log:
        "logs/grade_discovery.log",
    conda:
        ENV
    params:
        cli=LIFTGENOMICS,
        simulation=lambda wildcards, input: os.path.dirname(input.ohe),
        root=lambda wildcards, output: os.path.dirname(output.logos),
        pairs=" ".join(f"{method}:{reference}" for method, reference in DISCOVERY_PAIRS),
        tasks=" ".join(map(str, DISCOVERY_TASKS)),
    shell:
        "{params.cli} grade-motifs --simulation {params.simulation}"
        " --discovery {params.root} --pairs {params.pairs} --tasks {params.tasks}"
        " --out {output.table} > {log} 2>&1"
