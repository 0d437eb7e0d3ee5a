# Shared values: the interpreter Snakemake runs under (so the installed package is found
# without activating anything), the reference names, and the GPU request.
from liftgenomics.references import parse_reference_spec

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
CHUNKS = range(config["attribution"]["chunks"])


def gpus_present():
    """1 when a CUDA device is visible, so GPU rules ask for one only where it exists."""
    import torch

    return 1 if torch.cuda.is_available() else 0


GPU = gpus_present()


wildcard_constraints:
    method="|".join(METHODS),
    reference="|".join(list(REFERENCES) + ["shared"]),
    chunk=r"\d+",


def chunk_reference(wildcards):
    """ISM does not use references: every reference folder gathers the same chunks."""
    return "shared" if wildcards.method == "ism" else wildcards.reference


def attribution_root(wildcards, input):
    """results/attributions, derived from the first gathered file's path."""
    first = input.attributions[0]
    for _ in range(3):  # {root}/{method}/{reference}/task{t}.hyp.npz
        first = os.path.dirname(first)
    return first


def hypothetical_files(wildcards=None):
    return expand(
        "results/attributions/{method}/{reference}/task{task}.hyp.npz",
        method=METHODS,
        reference=REFERENCES,
        task=TASKS,
    )


# De novo discovery (rules/discovery.smk): the config's grid of method x reference x task.
DISCOVERY = config["discovery"]
DISCOVERY_METHODS = DISCOVERY["methods"]
DISCOVERY_REFERENCES = [
    parse_reference_spec(spec).name for spec in DISCOVERY["references"]
]
DISCOVERY_TASKS = DISCOVERY["tasks"]


def check_discovery_grid():
    """The grid must be scored by the attribution step: fail at parse time, not mid-run."""
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
        f"results/attributions/{wildcards.method}/{wildcards.reference}/"
        f"task{wildcards.task}.hyp.npz"
    )


def discovery_runs(wildcards=None):
    return expand(
        "results/discovery/{method}/{reference}/task{task}",
        method=DISCOVERY_METHODS,
        reference=DISCOVERY_REFERENCES,
        task=DISCOVERY_TASKS,
    )
