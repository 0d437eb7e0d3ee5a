"""The option groups that several subcommands share, tested through real command lines.

``attribute`` and ``score`` take the same model, method, reference and run options; ``evaluate``
and ``figures`` the same method x reference x task grid. Each test parses (or runs) real argv
with :func:`liftgenomics.cli.build_parser` or :func:`liftgenomics.cli.main`.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from liftgenomics.attribution import METHODS
from liftgenomics.cli import build_parser, main
from liftgenomics.cli.options import attribution_settings, json_object, parse_json
from liftgenomics.errors import LiftGenomicsError

#: Each command's required arguments besides --model.
REQUIRED = {
    "attribute": ["--ohe", "x.npz", "--out", "out.npz"],
    "score": ["--fasta", "x.fa", "--out", "out"],
}
#: The destinations of the options attribute and score share.
SHARED = (
    "model",
    "weights",
    "model_args",
    "method",
    "references",
    "seed",
    "steps",
    "batch_size",
    "device",
    "threads",
    "chunk",
    "chunks",
)


def parse(command: str, *extra: str):
    return build_parser().parse_args([command, "--model", "m", *REQUIRED[command], *extra])


def shared_values(command: str, *extra: str) -> dict:
    args = parse(command, *extra)
    return {name: getattr(args, name) for name in SHARED}


def one_line_exit_2(argv: list[str], capsys) -> str:
    """The error line of a command line that argparse refuses (exit 2, one line)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("liftgenomics: error:") and "\n" not in error
    return error


def test_attribute_and_score_share_the_defaults():
    attribute, score = shared_values("attribute"), shared_values("score")
    assert attribute == score
    assert attribute == {
        "model": "m",
        "weights": None,
        "model_args": None,
        "method": "deeplift_genomics",
        "references": "dinuc:20",
        "seed": 0,
        "steps": 10,
        "batch_size": None,
        "device": "auto",
        "threads": None,
        "chunk": 0,
        "chunks": 1,
    }


def test_attribute_and_score_read_the_shared_flags_alike():
    given = [
        "--weights", "w.safetensors", "--model-args", '{"n_filters": 8}',
        "--method", "integrated_gradients", "--references", "flat:0.3,0.2,0.2,0.3",
        "--seed", "7", "--steps", "25", "--batch-size", "16", "--device", "cpu",
        "--threads", "2", "--chunk", "1", "--chunks", "4",
    ]  # fmt: skip
    attribute, score = shared_values("attribute", *given), shared_values("score", *given)
    assert attribute == score
    assert attribute["method"] == "integrated_gradients"
    assert attribute["references"] == "flat:0.3,0.2,0.2,0.3"
    assert (attribute["seed"], attribute["steps"], attribute["batch_size"]) == (7, 25, 16)
    assert (attribute["chunk"], attribute["chunks"], attribute["threads"]) == (1, 4, 2)


def test_the_runners_pass_the_same_settings():
    given = ["--method", "ism", "--seed", "3", "--batch-size", "5"]
    settings = attribution_settings(parse("attribute", *given))
    assert settings == attribution_settings(parse("score", *given))
    assert settings == {
        "method": "ism",
        "references": "dinuc:20",
        "seed": 3,
        "steps": 10,
        "batch_size": 5,
        "device": "auto",
    }


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_is_accepted_by_both(method):
    assert parse("attribute", "--method", method).method == method
    assert parse("score", "--method", method).method == method


def test_an_unknown_method_is_one_line_exit_2_with_the_same_choices(capsys):
    errors = {
        command: one_line_exit_2(
            [command, "--model", "m", *REQUIRED[command], "--method", "deeplift"], capsys
        )
        for command in REQUIRED
    }
    for command, error in errors.items():
        assert f"liftgenomics {command}: argument --method: invalid choice: 'deeplift'" in error
        assert "deeplift_genomics" in error and error.endswith("(see --help)")
    attribute, score = (errors[c].split(": argument ", 1)[1] for c in ("attribute", "score"))
    assert attribute == score


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_model_is_required(command, capsys):
    error = one_line_exit_2([command, *REQUIRED[command]], capsys)
    assert "the following arguments are required: --model" in error


@pytest.mark.parametrize("command", sorted(REQUIRED))
@pytest.mark.parametrize("flag", ["--seed", "--steps", "--batch-size", "--threads", "--chunk"])
def test_integer_run_options_refuse_other_text(command, flag, capsys):
    argv = [command, "--model", "m", *REQUIRED[command], flag, "two"]
    error = one_line_exit_2(argv, capsys)
    assert f"argument {flag}: invalid int value: 'two'" in error


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_threads_below_one_is_a_user_error(command, tmp_path, capsys):
    out = str(tmp_path / "out")
    argv = [command, "--model", "m", *REQUIRED[command][:-1], out, "--threads", "0"]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error == "liftgenomics: error: --threads must be >= 1, got 0"
    assert not (tmp_path / "out").exists()


def test_parsing_score_and_attribute_does_not_import_torch():
    code = (
        "import sys\n"
        "from liftgenomics.cli import build_parser\n"
        "parser = build_parser()\n"
        "parser.parse_args(['score', '--model', 'm', '--fasta', 'f', '--out', 'o'])\n"
        "parser.parse_args(['attribute', '--model', 'm', '--ohe', 'x', '--out', 'o'])\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


GRID = {
    "evaluate": ["--simulation", "s", "--attributions", "a", "--out", "o"],
    "figures": [
        "--simulation", "s", "--attributions", "a", "--metrics", "m",
        "--logo-reference", "flat", "--out", "o",
    ],
}  # fmt: skip


@pytest.mark.parametrize("command", sorted(GRID))
def test_the_grid_options_of_evaluate_and_figures(command):
    grid = ["--methods", "ism", "grad_input", "--references", "flat", "dinuc20", "--tasks", "0"]
    args = build_parser().parse_args([command, *GRID[command], *grid])
    assert (args.methods, args.references, args.tasks) == (
        ["ism", "grad_input"],
        ["flat", "dinuc20"],
        [0],
    )
    assert args.method_references == []


@pytest.mark.parametrize("command", sorted(GRID))
def test_method_references_outside_the_grid_are_exit_2(command, tmp_path, capsys):
    argv = [
        command, *GRID[command][:-1], str(tmp_path / "out"),
        "--methods", "ism", "--references", "flat", "--tasks", "0",
        "--method-references", "grad_input=flat",
    ]  # fmt: skip
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("liftgenomics: error: --method-references 'grad_input=flat'")
    assert "\n" not in error and "not among ['ism']" in error


@pytest.mark.parametrize("command", sorted(GRID))
def test_tasks_are_integers(command, capsys):
    argv = [command, *GRID[command], "--methods", "ism", "--references", "flat", "--tasks", "x"]
    assert "argument --tasks: invalid int value: 'x'" in one_line_exit_2(argv, capsys)


def test_json_options_name_their_flag():
    assert json_object('{"a": 1}') == {"a": 1}
    with pytest.raises(LiftGenomicsError, match="^--settings is not valid JSON"):
        json_object("{a")
    with pytest.raises(LiftGenomicsError, match="^--settings must be a JSON object$"):
        json_object("[1]")
    with pytest.raises(LiftGenomicsError, match="^--architecture is not valid JSON"):
        parse_json("{", "--architecture")


def test_bad_architecture_json_is_one_line_exit_2(tmp_path, capsys):
    argv = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "model")]
    assert main([*argv, "--architecture", "{basset"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("liftgenomics: error: --architecture is not valid JSON (")
    assert "\n" not in error
    assert not (tmp_path / "model").exists()
