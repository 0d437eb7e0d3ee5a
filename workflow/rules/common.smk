# Shared values: the interpreter Snakemake runs under (so the installed package is found
# without activating anything), the reference names, the GPU request, and the runs.
#
# The rules from simulate to plot take a run prefix, the wildcard {run}, which is empty
# for the ordinary run (results/simulation, results/model, ... as always), and
# "replicates/seed{s}/" for replicate s when config `replicates.seeds` names several seeds
# (results/replicates/seed{s}/simulation, ...). Each replicate is its own independent chain of
# jobs; only the summary step (rules/replicates.smk) joins them.
import re

from liftgenomics.genome.references import parse_reference_spec
from liftgenomics.paper import fetch as paper_files

PYTHON = sys.executable
LIFTGENOMICS = f"{PYTHON} -m liftgenomics"
ENV = "../envs/liftgenomics.yaml"
SPLITS = ["train", "valid", "test"]
METHODS = config["attribution"]["methods"]
REFERENCES = {
    parse_reference_spec(spec).name: spec
    for spec in config["attribution"]["references"]
}
TASKS = config["attribution"]["tasks"]


def restricted_references():
    """attribution.method_references as reference names, checked against the grid."""
    restricted = {}
    for method, specs in config["attribution"]["method_references"].items():
        names = [parse_reference_spec(spec).name for spec in specs]
        unknown = [spec for spec, name in zip(specs, names) if name not in REFERENCES]
        if method not in METHODS or unknown:
            raise ValueError(
                f"config attribution.method_references.{method}: the method must be one of "
                f"attribution.methods and its references among attribution.references "
                f"{list(config['attribution']['references'])} (not {unknown})"
            )
        restricted[method] = names
    return restricted


# Methods scored against some references only (integrated gradients against the flat
# reference by default: against 20 shuffles it costs ten DeepLIFT runs).
METHOD_REFERENCES = restricted_references()


def references_of(method):
    """The reference names ``method`` is scored against, in the config's order."""
    return METHOD_REFERENCES.get(method, list(REFERENCES))


METHOD_REFERENCES_ARGUMENT = " ".join(
    f"{method}={','.join(names)}" for method, names in METHOD_REFERENCES.items()
)
CHUNKS = range(config["attribution"]["chunks"])
# Methods that take no reference (the paper's gradient x input and guided backprop; ISM): their
# chunks are computed once per run, under the reference name "shared".
REFERENCE_FREE = {"grad_input", "guided_backprop", "ism"}
SEEDS = config["replicates"]["seeds"]
VARY = set(config["replicates"]["vary"])
REPLICATED = len(SEEDS) > 1
RUNS = [f"replicates/seed{seed}/" for seed in SEEDS] if REPLICATED else [""]
# The run whose figures and per-run tables the report shows.
MAIN_RUN = RUNS[0]

# With a `paper_model:` section, the authors' data and model replace simulate and train
# (rules/paper_model.smk); paths are relative to the working directory.
PAPER_MODEL = config.get("paper_model")
if PAPER_MODEL and REPLICATED:
    raise ValueError(
        "config paper_model: the authors' model is one fixed model; use one replicate seed"
    )
PAPER_DATA = PAPER_MODEL["directory"].rstrip("/") if PAPER_MODEL else None
PAPER_MODEL_JSON = paper_files.MODEL_JSON
PAPER_MODEL_WEIGHTS = paper_files.MODEL_WEIGHTS
PAPER_TEST_SUBSET = (
    f"--test-sequences {PAPER_MODEL['test_sequences']}"
    if PAPER_MODEL and PAPER_MODEL.get("test_sequences")
    else ""
)


def gpus_present():
    """1 when an NVIDIA GPU is visible, so GPU rules ask for one only where it exists.

    Told from the driver, not torch: every Snakemake start reads this file (each SLURM job
    twice), and importing torch would cost about a second each time.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    import shutil

    return 1 if shutil.which("nvidia-smi") else 0


GPU = gpus_present()


wildcard_constraints:
    run=r"(replicates/seed\d+/)?",
    method="|".join(METHODS),
    reference="|".join(list(REFERENCES) + ["shared"]),
    chunk=r"\d+",


def chunk_reference(wildcards):
    """Reference-free methods: every reference folder gathers the same (shared) chunks."""
    return "shared" if wildcards.method in REFERENCE_FREE else wildcards.reference


def replicate_seed(wildcards):
    """Replicate s's seed s, from its run prefix; None for the ordinary run."""
    if not wildcards.run:
        return None
    return int(re.fullmatch(r"replicates/seed(\d+)/", wildcards.run).group(1))


def run_seed(wildcards, stage):
    """The seed of ``stage`` (training or attribution) in the run ``wildcards.run``.

    The ordinary run keeps the config's seeds. Replicate s seeds its training from s where
    `replicates.vary` names it, and always its references (a new draw per replicate).
    """
    seed = replicate_seed(wildcards)
    if seed is None or (stage != "attribution" and stage not in VARY):
        return config[stage]["seed"]
    return seed


def simulation_settings(wildcards):
    """The simulation overrides as JSON; replicate s simulates with seed s if `vary` says."""
    seed = replicate_seed(wildcards)
    if seed is None or "simulation" not in VARY:
        return json.dumps(config["simulation"])
    return json.dumps({**config["simulation"], "seed": seed})


def attribution_root(wildcards, input):
    """results/attributions, derived from the first gathered file's path."""
    first = input.attributions[0]
    for _ in range(3):  # {root}/{method}/{reference}/task{t}.hyp.npz
        first = os.path.dirname(first)
    return first


def hypothetical_files(wildcards):
    return [
        f"results/{wildcards.run}attributions/{method}/{reference}/task{task}.hyp.npz"
        for method in METHODS
        for reference in references_of(method)
        for task in TASKS
    ]


# De novo discovery (rules/discovery.smk): the config's grid of method x reference x task
# (no methods: no discovery runs and no report section).
DISCOVERY = config["discovery"]
DISCOVERY_METHODS = DISCOVERY["methods"]
DISCOVERY_REFERENCES = [
    parse_reference_spec(spec).name for spec in DISCOVERY["references"]
]
DISCOVERY_TASKS = DISCOVERY["tasks"]


def check_discovery_grid():
    """The grid must be scored by the attribution step: fail at parse time, not mid-run."""
    if not DISCOVERY_METHODS:
        return
    for name, chosen, known in (
        ("methods", DISCOVERY_METHODS, METHODS),
        ("references", DISCOVERY_REFERENCES, list(REFERENCES)),
        ("tasks", DISCOVERY_TASKS, TASKS),
    ):
        missing = [value for value in chosen if value not in known]
        if missing:
            raise ValueError(
                f"config discovery.{name}: {missing} not in attribution.{name} {known}"
            )


check_discovery_grid()


def discovery_scores(wildcards):
    """The hypothetical scores one discovery run reads (one place to change their layout)."""
    return (
        f"results/{MAIN_RUN}attributions/{wildcards.method}/{wildcards.reference}/"
        f"task{wildcards.task}.hyp.npz"
    )


def discovery_grid():
    """(method, reference) pairs to discover on. A method not scored against a discovery
    reference (attribution.method_references) is discovered on its own first reference
    instead, once; discovery.tsv names the reference of every row."""
    pairs = []
    for method in DISCOVERY_METHODS:
        chosen = [r for r in DISCOVERY_REFERENCES if r in references_of(method)]
        for reference in chosen or references_of(method)[:1]:
            pairs.append((method, reference))
    return pairs


DISCOVERY_PAIRS = discovery_grid()


def discovery_runs(wildcards=None):
    return [
        f"results/discovery/{method}/{reference}/task{task}"
        for method, reference in DISCOVERY_PAIRS
        for task in DISCOVERY_TASKS
    ]
