"""``variants`` (ref/alt effects, a shuffled null and allele attributions of VCF/table
variants) and ``gather-variants`` (its chunks joined). Both hold the lock of their ``--out``."""

from __future__ import annotations

import argparse

from liftgenomics.cli.options import (
    DEVICE_HELP,
    Subparsers,
    add_batch_size_option,
    add_chunk_options,
    add_device_option,
    add_model_options,
    add_seed_option,
    add_steps_option,
    add_threads_option,
    set_threads,
)


def add_variants(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "variants",
        help="score SNPs and indels of a VCF or table: ref/alt predictions, logFC, JSD, "
        "p/q-values against a shuffled null, exact allele attributions",
        description="Score each variant with the model on windows laid out as chrombpnet's "
        "variant scorer does (the variant at L // 2; indels keep the left flank), forward and "
        "reverse complement averaged; write variants.tsv, skipped.tsv, null.npz, variants.json "
        "and, with --attribute, both alleles' attributions against the same references "
        "(.npz and chrombpnet's variant SHAP .h5). Files appear only when all are done.",
    )
    add_model_options(parser)
    parser.add_argument("--fasta", required=True, help="genome FASTA, plain or bgzipped")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--vcf", help="VCF 4.x, plain, bgzipped (.vcf.gz) or BCF")
    source.add_argument(
        "--variants", help="headerless tab-separated table in the layout of --schema"
    )
    parser.add_argument(
        "--schema",
        choices=("chrombpnet", "bed", "plink", "original"),
        help="layout of --variants: chrombpnet (chr, 1-based pos, allele1, allele2, id), bed "
        "(chr, 0-based pos, end, allele1, allele2, id), plink .bim, original (chr, pos, id, "
        "allele1, allele2)",
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--length", type=int, help="window length (default: the model's)")
    parser.add_argument(
        "--output", help="the output of a tuple/dict model to read, if not a BPNet pair"
    )
    parser.add_argument(
        "--forward-only", action="store_true", help="no reverse-complement averaging"
    )
    parser.add_argument(
        "--ref-mismatch",
        choices=("skip", "flip", "error"),
        default="skip",
        help="allele1 is not the genome's base: skip (to skipped.tsv), flip the alleles when "
        "the genome has allele2, or stop with an error (default skip)",
    )
    parser.add_argument(
        "--n-shuffles",
        type=int,
        default=10,
        help="dinucleotide-shuffled null windows per variant, both alleles written back "
        "(default 10; 0: no p-values)",
    )
    parser.add_argument(
        "--null", help="null.npz of an earlier run with this model and settings, reused"
    )
    parser.add_argument(
        "--attribute",
        nargs="?",
        const="deeplift_genomics",
        metavar="METHOD",
        help="also explain both alleles (default method deeplift_genomics) against the same "
        "references",
    )
    parser.add_argument(
        "--attribute-heads",
        nargs="+",
        choices=("counts", "profile"),
        help="the BPNet/ChromBPNet heads --attribute explains (default both)",
    )
    parser.add_argument(
        "--references", default="dinuc:20", help="references of --attribute (default dinuc:20)"
    )
    parser.add_argument(
        "--logos", type=int, default=0, help="ref-over-alt logos of the top N variants"
    )
    add_steps_option(parser)
    add_seed_option(parser)
    add_batch_size_option(parser)
    parser.add_argument(
        "--block", type=int, default=1024, help="variants per streamed block (default 1024)"
    )
    add_device_option(parser, help=DEVICE_HELP)
    add_chunk_options(
        parser,
        chunk_help="score only this chunk of the variants (0-based)",
        chunks_help="split the variants into this many chunks (join them with "
        "gather-variants)",
    )
    add_threads_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress report")
    parser.set_defaults(run=_run_variants)


def _run_variants(args: argparse.Namespace) -> None:
    from liftgenomics.errors import LiftGenomicsError
    from liftgenomics.variants.pipeline import score_variants

    if args.variants and not args.schema:
        raise LiftGenomicsError("--variants needs --schema (chrombpnet, bed, plink, original)")
    if args.vcf and args.schema:
        raise LiftGenomicsError("--schema describes a --variants table, not a VCF")
    set_threads(args.threads)
    output = int(args.output) if args.output and args.output.isdigit() else args.output
    score_variants(
        args.model,
        args.fasta,
        args.vcf or args.variants,
        args.out,
        weights=args.weights,
        model_args=args.model_args,
        schema=args.schema,
        length=args.length,
        output=output,
        forward_only=args.forward_only,
        ref_mismatch=args.ref_mismatch,
        n_shuffles=args.n_shuffles,
        null=args.null,
        attribute=args.attribute,
        heads=tuple(args.attribute_heads) if args.attribute_heads else None,
        references=args.references,
        steps=args.steps,
        logos=args.logos,
        seed=args.seed,
        batch_size=args.batch_size or 32,
        block=args.block,
        device=args.device,
        chunk=args.chunk,
        chunks=args.chunks,
        progress=not args.quiet,
    )


def add_gather_variants(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "gather-variants",
        help="join 'variants --chunk i --chunks n' parts into one 'variants' directory",
        description="Join the part directories of one chunked 'variants' run, in chunk order, "
        "into the directory one process writes (byte-identical): the p- and q-values are "
        "computed here, against the null pooled over every part.",
    )
    parser.add_argument("--parts", nargs="+", required=True, help="part directories, in order")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--logos", type=int, default=0, help="ref-over-alt logos of the top N variants"
    )
    parser.set_defaults(run=_run_gather_variants)


def _run_gather_variants(args: argparse.Namespace) -> None:
    from liftgenomics.variants.outputs import gather_variants

    gather_variants(args.parts, args.out, logos=args.logos)
