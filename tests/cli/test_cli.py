"""End-to-end tests of the command line: a tiny run, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from liftgenomics.attribution import attribute
from liftgenomics.cli import main
from liftgenomics.genome.sequence import load_one_hot
from liftgenomics.models.load import load_model

SETTINGS = {"n_sequences": 120, "length": 100, "valid_fraction": 0.2, "test_fraction": 0.2}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    assert main(["simulate", "--settings", json.dumps(SETTINGS), "--out", str(root / "sim")]) == 0
    status = main(
        [
            "train",
            "--data",
            str(root / "sim"),
            "--out",
            str(root / "model"),
            "--epochs",
            "1",
            "--threads",
            "1",
        ]
    )
    assert status == 0
    return root


def test_attribute_chunks_gather_to_the_direct_result(trained):
    root = trained
    ohe = str(root / "sim" / "test.ohe.npz")
    chunks = []
    for chunk in range(3):
        out = root / f"chunk{chunk}.npz"
        status = main(
            [
                "attribute",
                "--model",
                str(root / "model"),
                "--ohe",
                ohe,
                "--method",
                "deeplift_genomics",
                "--references",
                "dinuc:2",
                "--targets",
                "0,2",
                "--chunk",
                str(chunk),
                "--chunks",
                "3",
                "--seed",
                "3",
                "--out",
                str(out),
            ]
        )
        assert status == 0
        chunks.append(str(out))
    outputs = [str(root / "task0.hyp.npz"), str(root / "task2.hyp.npz")]
    assert main(["gather", "--chunks", *chunks, "--out", *outputs]) == 0
    direct = attribute(
        load_model(root / "model"),
        load_one_hot(ohe),
        "dinuc:2",
        [0, 2],
        method="deeplift_genomics",
        hypothetical=True,
        seed=3,
    )
    for task, path in enumerate(outputs):
        np.testing.assert_array_equal(load_one_hot(path), direct[:, task].numpy())


def test_gather_refuses_chunks_out_of_order(trained, capsys):
    root = trained
    ohe = str(root / "sim" / "test.ohe.npz")
    paths = []
    for chunk in range(2):
        path = str(root / f"c{chunk}.npz")
        main(
            [
                "attribute",
                "--model",
                str(root / "model"),
                "--ohe",
                ohe,
                "--method",
                "grad_input",
                "--references",
                "flat",
                "--chunk",
                str(chunk),
                "--chunks",
                "2",
                "--out",
                path,
            ]
        )
        paths.append(path)
    assert main(["gather", "--chunks", paths[1], paths[0], "--out", str(root / "x.npz")]) == 2
    assert "must be given in order" in capsys.readouterr().err
    assert not (root / "x.npz").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["simulate", "--settings", '{"lenght": 10}', "--out", "OUT"], "lenght"),
        (["simulate", "--settings", "[1", "--out", "OUT"], "not valid JSON"),
        (["train", "--data", "MISSING", "--out", "OUT"], "nope"),
        (["attribute", "--model", "MISSING", "--ohe", "x.npz", "--out", "OUT"], "nope"),
        (
            [
                "attribute",
                "--model",
                "MODEL",
                "--ohe",
                "OHE",
                "--references",
                "dinuc:x",
                "--out",
                "OUT",
            ],
            "dinuc",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(trained, tmp_path, capsys, arguments, message):
    replace = {
        "OUT": str(tmp_path / "out"),
        "MODEL": str(trained / "model"),
        "OHE": str(trained / "sim" / "test.ohe.npz"),
        "MISSING": str(tmp_path / "nope"),
    }
    arguments = [replace.get(a, a).replace("MISSING", str(tmp_path / "nope")) for a in arguments]
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("liftgenomics: error:") and "\n" not in error
    assert message in error
    assert not (tmp_path / "out").exists()


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    import subprocess
    import sys

    script = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_light_subcommands_start_without_torch(trained):
    """Gather (one job per method x reference in the workflow) must not pay torch's import."""
    chunk = trained / "chunk.npz"
    gathered = [trained / f"gathered{t}.hyp.npz" for t in range(3)]
    ohe = str(trained / "sim" / "test.ohe.npz")
    assert main(
        ["attribute", "--model", str(trained / "model"), "--ohe", ohe,
         "--method", "grad_input", "--targets", "0,1,2", "--out", str(chunk)]
    ) == 0  # fmt: skip
    code = (
        "from liftgenomics.cli import main\n"
        f"assert main(['gather', '--chunks', {str(chunk)!r}, '--out', "
        f"{', '.join(repr(str(p)) for p in gathered)}]) == 0"
    )
    loaded = _modules_after(code)
    assert all(p.is_file() for p in gathered)
    assert "torch" not in loaded
    assert "liftgenomics.attribution.methods" in loaded  # the parser's method choices


def test_train_help_states_the_real_defaults(capsys):
    from liftgenomics.paper.train import DEFAULTS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name, value in DEFAULTS.items():
        assert f"(default {value:g})" in text, name
