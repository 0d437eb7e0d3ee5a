# Values and input functions of the variants target (rules/variants.smk), from the config's
# `variants:` section. Paths in it are relative to the working directory (--directory).

# Empty without a `variants:` section.
VARIANTS = config.get("variants", {})
VARIANTS_OUT = VARIANTS.get("out", "results/variants")
VARIANT_CHUNKS = range(VARIANTS.get("chunks", 1))


def variant_inputs(wildcards):
    """The files a chunk reads: FASTA, the variants, the model's file or folder, weights."""
    from liftgenomics.models.spec import parse_model_spec

    spec = parse_model_spec(VARIANTS["model"])
    inputs = {
        "fasta": VARIANTS["fasta"],
        "variants": VARIANTS.get("vcf") or VARIANTS["table"],
    }
    if spec.kind != "module":
        inputs["model"] = spec.location
    if VARIANTS.get("weights"):
        inputs["weights"] = VARIANTS["weights"]
    return inputs


def variant_options():
    """`liftgenomics variants` options from the config (all but the chunk and output)."""
    import json
    import shlex

    words = ["--model", VARIANTS["model"], "--fasta", VARIANTS["fasta"]]
    if VARIANTS.get("vcf"):
        words += ["--vcf", VARIANTS["vcf"]]
    else:
        words += ["--variants", VARIANTS["table"], "--schema", VARIANTS["schema"]]
    for key in (
        "weights", "length", "output", "ref_mismatch", "n_shuffles", "references", "seed",
        "device", "batch_size", "block",
    ):  # fmt: skip
        if VARIANTS.get(key) is not None:
            words += [f"--{key.replace('_', '-')}", str(VARIANTS[key])]
    if VARIANTS.get("model_args"):
        words += ["--model-args", json.dumps(VARIANTS["model_args"])]
    if VARIANTS.get("attribute"):
        words += ["--attribute", VARIANTS["attribute"]]
    if VARIANTS.get("attribute_heads"):
        words += ["--attribute-heads", *VARIANTS["attribute_heads"]]
    if VARIANTS.get("forward_only"):
        words.append("--forward-only")
    return shlex.join(words)


def variants_targets():
    """The targets of a `variants:` section (none without one)."""
    return [f"{VARIANTS_OUT}/scores"] if VARIANTS else []
