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


FUZZ_FIXTURES = CHROMBPNET_FIXTURES.parent / "fuzz"


def test_a_keras_file_that_hangs_hdf5_is_refused_in_time(monkeypatch):
    """A byte inserted into the string storage: reading model_config looped forever in C."""
    from liftgenomics.models import h5read
    from liftgenomics.models.load import load_model

    monkeypatch.setattr(h5read, "TIMEOUT", 2.0)
    monkeypatch.setattr(h5read, "SECONDS_PER_MB", 0.0)
    path = FUZZ_FIXTURES / "hang-keras.h5"
    started = time.perf_counter()
    message = refused(lambda: load_model(f"keras:{path}"))
    assert time.perf_counter() - started < 10
    assert str(path) in message and "damaged" in message


def test_an_hdf5_read_that_never_finishes_is_killed(monkeypatch):
    from liftgenomics.models import h5read

    monkeypatch.setattr(h5read, "_child", lambda *_: time.sleep(3600))  # a loop in C, as it were
    path = CHROMBPNET_FIXTURES / "bias.h5"
    started = time.perf_counter()
    message = refused(lambda: h5read.read_h5(path, str(path), timeout=1.0))
    assert time.perf_counter() - started < 5
    assert message == f"{path}: reading the HDF5 file did not finish in 1 s; a damaged file?"


def test_an_hdf5_reader_killed_by_a_signal_is_reported(monkeypatch):
    import faulthandler
    import os
    import signal

    from liftgenomics.models import h5read
    from liftgenomics.models.chrombpnet import load_chrombpnet

    def crash(*_):
        faulthandler.disable()  # no traceback dump from the child
        os.kill(os.getpid(), signal.SIGSEGV)

    monkeypatch.setattr(h5read, "_child", crash)
    path = CHROMBPNET_FIXTURES / "nobias.h5"
    message = refused(lambda: load_chrombpnet(path))
    assert str(path) in message
    assert f"the HDF5 library crashed reading it (signal {int(signal.SIGSEGV)})" in message


def test_an_hdf5_child_that_fails_without_an_answer_is_reported(monkeypatch):
    from liftgenomics.models import h5read

    def fail(*_):
        raise MemoryError

    monkeypatch.setattr(h5read, "_child", fail)
    path = CHROMBPNET_FIXTURES / "bias.h5"
    assert "reading the HDF5 file failed" in refused(lambda: h5read.read_h5(path, str(path)))


def test_the_hdf5_mirror_matches_h5py(tmp_path):
    from liftgenomics.models import h5read

    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["text"] = "hello"
        h5.attrs["names"] = np.array([b"a", b"b"])
        h5.create_dataset("g/sub/x", data=np.arange(6, dtype="f4").reshape(2, 3))
        h5.create_dataset("g/s", data=np.array([b"abc"]))
        h5.create_dataset("big", shape=(10**6, 10**4), dtype="f4", chunks=(10, 10))
        h5["g/link"] = h5["g/sub"]  # a second hard link: visited once, as h5py does
    mirror = h5read.read_h5(path, str(path))
    assert mirror.attrs["text"] == "hello" and list(mirror.attrs["names"]) == [b"a", b"b"]
    assert "g/sub/x" in mirror and "g/nothing" not in mirror and "text" in mirror.attrs
    x = mirror["g"]["sub/x"]
    assert isinstance(x, h5read.H5Dataset) and x.shape == (2, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(x), np.arange(6).reshape(2, 3))
    assert x[()].shape == (2, 3) and x.name in ("/g/sub/x", "/g/link/x")  # first path walked
    assert mirror["g/s"].dtype.kind == "S" and mirror["big"].shape == (10**6, 10**4)
    with pytest.raises(ValueError, match="was not read"):
        mirror["big"][()]
    with h5py.File(path, "r") as h5:
        names: list[str] = []
        h5.visititems(lambda name, _: names.append(name))
    seen: list[str] = []
    mirror.visititems(lambda name, _: seen.append(name))
    assert len(seen) == len(names) and set(seen) <= set(names) | {"g/link", "g/link/x"}
    assert sorted(mirror.keys()) == ["big", "g"] and dict(mirror.items())["g"].name == "/g"
    with pytest.raises(h5read.NotHDF5Error, match="not a readable HDF5"):
        h5read.read_h5(b"not hdf5", "blob")


def test_a_motif_name_with_a_line_break_stays_one_line_in_the_simulation_config(tmp_path):
    """Case 693 of the 10,000-case simulation-config run: a listed motif name held a newline."""
    from liftgenomics.paper.simulation_config import load_simulation_config

    path = tmp_path / "simulation.yaml"
    path.write_text('motifs: ["line\\nbreak", TAL1_known1]\n')
    message = refused(lambda: load_simulation_config(path))
    assert "line\\nbreak" in message


def test_a_vcf_record_that_is_not_utf8_is_refused_in_one_line(tmp_path):
    """Case 208 of the variants-vcf fuzzing: pysam decodes a field only when it is read."""
    from liftgenomics.variants.records import read_variants

    path = tmp_path / "bad.vcf"
    path.write_bytes(b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                     b"chr1\t5\tr\xcb\x01s\tA\tG\t.\t.\t.\n")  # fmt: skip
    assert "bad.vcf:3" in refused(lambda: read_variants(path))
