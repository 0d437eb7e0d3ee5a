"""The failures fuzzing found, each as one fixed input (the reader now refuses it in one line)."""

from __future__ import annotations

import io
import json
import shutil
import time
import types
import zipfile

import h5py
import numpy as np
import pytest

from liftgenomics.errors import LiftGenomicsError
from tests.fuzz.corpus import CHROMBPNET_FIXTURES, motifs_run, score_chunks


def refused(read) -> str:
    with pytest.raises(LiftGenomicsError) as error:
        read()
    message = str(error.value)
    assert "\n" not in message, message
    return message


def _not_a_zip(tmp_path, name):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, np.zeros((2, 4, 5), dtype=np.float32))
    path = tmp_path / name
    path.write_bytes(buffer.getvalue()[:12])  # zipfile.BadZipFile, not an OSError
    return path


def test_npz_readers_refuse_a_damaged_zip(tmp_path):
    from liftgenomics.genome.control import open_extra_inputs
    from liftgenomics.genome.sequence import load_one_hot
    from liftgenomics.motifs.discovery import load_inputs

    path = _not_a_zip(tmp_path, "x.npz")
    assert str(path) in refused(lambda: load_one_hot(path))
    assert str(path) in refused(lambda: load_inputs(path, path))
    model = types.SimpleNamespace(n_control_tracks=4)
    assert str(path) in refused(lambda: open_extra_inputs(str(path), model, 2))


def test_a_model_spec_too_long_for_a_path_is_parsed():
    from liftgenomics.models.spec import parse_model_spec

    assert parse_model_spec("pkg.module" * 500 + ":make").kind == "module"
    assert "\\n" in refused(lambda: parse_model_spec("a:b:c\n"))


def test_a_weights_file_with_a_malformed_pickle_is_refused(tmp_path):
    from liftgenomics.models.state import read_state_dict

    path = tmp_path / "w.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02h\x05.")  # BINGET of an empty memo
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
    assert str(path) in refused(lambda: read_state_dict(path))


def test_a_pickle_memo_bomb_is_refused_at_once(tmp_path):
    from liftgenomics.models.bpnet_lite import load_bpnet_lite

    path = tmp_path / "bomb.torch"
    with zipfile.ZipFile(path, "w") as archive:
        # LONG_BINPUT at index 2**30: the C unpickler would allocate an 8 GiB memo.
        archive.writestr("archive/data.pkl", b"\x80\x02]r\x00\x00\x00\x40.")
        archive.writestr("archive/byteorder", "little")
    started = time.perf_counter()
    assert "memo index" in refused(lambda: load_bpnet_lite(path))
    assert time.perf_counter() - started < 2


def test_a_chrombpnet_kernel_of_the_wrong_rank_is_refused(tmp_path):
    from liftgenomics.models.chrombpnet import load_chrombpnet

    path = tmp_path / "nobias.h5"
    shutil.copy(CHROMBPNET_FIXTURES / "nobias.h5", path)
    with h5py.File(path, "a") as h5:
        names = []
        h5.visititems(lambda name, node: names.append(name) if name.endswith("1st_conv/kernel:0")
                      else None)  # fmt: skip
        kernel = h5[names[0]][()]
        del h5[names[0]]
        h5.create_dataset(names[0], data=kernel.reshape(kernel.shape[0], -1))
    assert "expected 3-D" in refused(lambda: load_chrombpnet(path))


def test_a_chrombpnet_string_dataset_is_refused(tmp_path):
    from liftgenomics.models.chrombpnet import load_chrombpnet

    path = tmp_path / "nobias.h5"
    shutil.copy(CHROMBPNET_FIXTURES / "nobias.h5", path)
    with h5py.File(path, "a") as h5:
        names = []
        h5.visititems(lambda name, node: names.append(name) if name.endswith("bias:0") else None)
        del h5[names[0]]
        h5.create_dataset(names[0], data=np.array([b"abc"]))
    assert "not numbers" in refused(lambda: load_chrombpnet(path))


def test_a_keras_layer_name_with_a_line_break_stays_one_line(tmp_path):
    from liftgenomics.models.keras import load_keras
    from tests.models.keras_files import layer, write_keras2_model
    from tests.models.test_keras_errors import CONV, _config, _weights

    model = write_keras2_model(tmp_path / "m.h5", _config(), _weights(),
                               {"conv": CONV, "dense": CONV})  # fmt: skip
    config = _config(layer("Bogus", name="line\nbreak"))
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(config))
    assert "line\\nbreak" in refused(lambda: load_keras(arch, model))


def test_gather_refuses_a_score_json_that_is_not_an_object(tmp_path):
    from liftgenomics.scoring.gather import gather_scores

    root = tmp_path / "chunks"
    shutil.copytree(score_chunks(), root)
    (root / "chunk0" / "score.json").write_text("[]")
    dirs = [root / "chunk0", root / "chunk1"]
    assert "score.json" in refused(lambda: gather_scores(dirs, tmp_path / "out"))
    (root / "chunk0" / "score.json").write_text(json.dumps({"regions": 3, "chunk": 1e999}))
    assert "score.json" in refused(lambda: gather_scores(dirs, tmp_path / "out"))


def test_gather_refuses_a_chunk_npz_that_is_not_a_zip(tmp_path):
    from liftgenomics.scoring.gather import gather_scores

    root = tmp_path / "chunks"
    shutil.copytree(score_chunks(), root)
    target = root / "chunk1" / "ohe.npz"
    target.write_bytes(target.read_bytes()[:40])
    dirs = [root / "chunk0", root / "chunk1"]
    assert "ohe.npz" in refused(lambda: gather_scores(dirs, tmp_path / "out"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("name, text, message", [
    ("run/tomtom.tsv", "pattern\tp_value\tq_value\npos_0\t1\t1\n", "no column 'target'"),
    ("run/seqlets.tsv", "pattern\tregion\tstart\tend\npos_0\ts0\tten\t18\n", "not an integer"),
    ("run/patterns.tsv", b"pattern\trank\n\xff\xfe\t1\n", "not a readable table"),
    ("simulation/simulation.yaml", "motifs: [a\n", "not a readable simulation.yaml"),
    ("simulation/simulation.yaml", "motifs: 3\n", "expected 'motifs'"),
    ("simulation/test.classes.tsv", "id\tclass\ns0\tnobody\n", "class 'nobody'"),
])  # fmt: skip
def test_grading_refuses_bad_tables(tmp_path, name, text, message):
    from liftgenomics.motifs.grading import discovery_table

    root = tmp_path / "grading"
    shutil.copytree(motifs_run(), root)
    (root / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    runs = {("m", "flat", 0): root / "run"}
    assert message in refused(lambda: discovery_table(root / "simulation", runs))


def test_a_fasta_pyfaidx_cannot_index_is_refused(tmp_path):
    from liftgenomics.genome.regions import open_fasta

    path = tmp_path / "x.fa"
    path.write_text(">seq0 description 0\nTGGCCAAAATgtggtgggNTCTGAC\nTGATGTAATAGACCC\n"
                    "CAAAAGGGCGtcctttcgNGTGGCT\n\n>seq2 description 2\nGGCCGGGCTCctcaggaaNTCTCAT\n")
    assert "cannot index record 'seq0'" in refused(lambda: open_fasta(path))


def test_a_simulation_config_with_a_control_character_is_one_line(tmp_path):
    from liftgenomics.paper.simulation_config import load_simulation_config

    path = tmp_path / "simulation.yaml"
    path.write_bytes(b"length: 200\x0b\n")
    refused(lambda: load_simulation_config(path))


def test_two_keras_layers_of_one_name_are_refused_not_looped_over(tmp_path):
    from liftgenomics.models.keras import load_keras
    from tests.models.keras_files import layer, write_keras2_model
    from tests.models.test_keras_errors import CONV, _config, _weights

    model = write_keras2_model(tmp_path / "m.h5", _config(), _weights(),
                               {"conv": CONV, "dense": CONV})  # fmt: skip
    config = _config()
    config["config"]["layers"][-1:] = [layer("Flatten", name="flat")]  # "flat" twice: it
    arch = tmp_path / "arch.json"  # aliased itself, and lowering looped forever
    arch.write_text(json.dumps(config))
    started = time.perf_counter()
    assert "two layers named 'flat'" in refused(lambda: load_keras(arch, model))
    assert time.perf_counter() - started < 5
