# Values and input functions of the regions target (rules/regions.smk), from the config's
# `regions:` section. Paths in it are relative to the working directory (--directory).
# (liftgenomics.scoring.heads imports torch: imported where used, so that reading the
# Snakefile without a `regions:` section stays quick.)

# Empty without a `regions:` section: the paper's experiment is the target then.
REGIONS = config.get("regions", {})
REGIONS_OUT = REGIONS.get("out", "results/regions")
REGION_CHUNKS = range(REGIONS.get("chunks", 1))


def region_inputs(wildcards):
    """The files a chunk reads: FASTA, BED, the model's file or folder, weights, control."""
    from liftgenomics.models.spec import parse_model_spec

    spec = parse_model_spec(REGIONS["model"])
    inputs = {"fasta": REGIONS["fasta"], "bed": REGIONS["bed"]}
    if spec.kind != "module":
        inputs["model"] = spec.location
    if REGIONS.get("weights"):
        inputs["weights"] = REGIONS["weights"]
    control = REGIONS.get("control")
    if control:
        inputs["control"] = [part for part in control.split(",") if part]
    return inputs


def region_score_options():
    """`liftgenomics score` options from the config (everything but the chunk and output)."""
    import json
    import shlex

    words = [
        "--model", REGIONS["model"], "--fasta", REGIONS["fasta"], "--bed", REGIONS["bed"],
        "--method", REGIONS["method"], "--references", REGIONS["references"],
        "--seed", str(REGIONS["seed"]), "--device", REGIONS["device"],
        "--scored-model", REGIONS["scored_model"],
    ]  # fmt: skip
    for key in ("weights", "output", "control", "length", "batch_size"):
        if REGIONS.get(key) is not None:
            words += [f"--{key.replace('_', '-')}", str(REGIONS[key])]
    if REGIONS.get("model_args"):
        words += ["--model-args", json.dumps(REGIONS["model_args"])]
    if REGIONS.get("target"):
        words += ["--target", *(str(t) for t in REGIONS["target"])]
    if REGIONS.get("profile_or_counts"):
        words += ["--profile-or-counts", *REGIONS["profile_or_counts"]]
    if REGIONS["pad"]:
        words.append("--pad")
    if not REGIONS["use_summit"]:
        words.append("--no-summit")
    return shlex.join(words)


def region_heads():
    """Head name -> hyp file, for the motif step (the config must name the heads)."""
    from liftgenomics.scoring.heads import planned_hyp_files

    files = planned_hyp_files(
        REGIONS.get("output"), REGIONS.get("target"), REGIONS.get("profile_or_counts")
    )
    if files is None:
        raise ValueError(
            "regions.modisco: name the scored heads with regions.target or "
            "regions.profile_or_counts (e.g. [counts, profile] for a ChromBPNet)"
        )
    return files


def regions_targets():
    """The default target when the config has a `regions:` section."""
    targets = [f"{REGIONS_OUT}/scores"]
    if REGIONS["modisco"]:
        targets += expand(f"{REGIONS_OUT}/modisco/{{head}}", head=region_heads())
    return targets
