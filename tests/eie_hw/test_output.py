"""The one output writer (eie_hw/output.py): staging sibling, lock, one rename."""

import errno
import os

import numpy as np
import pytest

from eie_hw import output
from eie_hw.errors import EIEError
from eie_hw.output import MARKER, check_output_path, output_folder, write_file, write_json


def write(target, files: dict, **kw):
    with output_folder(target, "test", **kw) as staging:
        for name, text in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(text)


def siblings(target):
    return sorted(p.name for p in target.parent.iterdir() if p.name != target.name)


def test_a_complete_run_replaces_the_folder_whole(tmp_path):
    target = tmp_path / "out"
    write(target, {"a": "1", "pe003/x": "old"})
    write(target, {"b": "2"})
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "b"]
    assert siblings(target) == []                  # no staging folder, lock or old copy


@pytest.mark.parametrize("failure", [KeyboardInterrupt, EIEError, RuntimeError])
def test_a_failed_run_leaves_the_previous_folder(tmp_path, failure):
    target = tmp_path / "out"
    write(target, {"a": "1"})
    with pytest.raises(failure):
        with output_folder(target, "test") as staging:
            (staging / "a").write_text("half")
            raise failure("stop")
    assert (target / "a").read_text() == "1"
    assert siblings(target) == []


def test_a_full_disk_is_one_error_and_changes_nothing(tmp_path):
    target = tmp_path / "out"
    write(target, {"a": "1"})
    with pytest.raises(EIEError, match="disk is full.*unchanged"):
        with output_folder(target, "test"):
            raise OSError(errno.ENOSPC, "No space left on device", str(target / "a"))
    assert (target / "a").read_text() == "1"


def test_foreign_folders_and_files_need_force(tmp_path):
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter1.tex").write_text("precious")
    with pytest.raises(EIEError, match="not written by eie.*--force"):
        write(foreign, {"a": "1"})
    assert (foreign / "chapter1.tex").read_text() == "precious"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep")
    with pytest.raises(EIEError, match="is a file.*--force"):
        write(a_file, {"a": "1"})
    assert a_file.read_text() == "keep"
    write(foreign, {"a": "1"}, force=True)
    write(a_file, {"a": "1"}, force=True)
    assert (foreign / "a").is_file() and (a_file / "a").is_file()


def test_empty_and_impossible_paths_are_refused(tmp_path):
    for bad in ("", "  ", None):
        with pytest.raises(EIEError, match="empty"):
            check_output_path(bad, folder=True)
    (tmp_path / "f").write_text("")
    with pytest.raises(EIEError, match="is a file, not a folder"):
        check_output_path(tmp_path / "f" / "sub", folder=True)
    with pytest.raises(EIEError, match="is a folder"):
        write_json(tmp_path, {})


def test_a_second_writer_is_told_the_folder_is_in_use(tmp_path):
    target = tmp_path / "out"
    write(target, {"a": "1"})
    with output_folder(target, "test") as staging:
        (staging / "b").write_text("2")
        with pytest.raises(EIEError, match=f"in use.*pid {os.getpid()}"):
            write(target, {"c": "3"})
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "b"]


def test_leftovers_of_a_killed_run_are_tidied(tmp_path):
    target = tmp_path / "out"
    write(target, {"a": "1"})
    stale = tmp_path / ".out.eie-tmp-99999"
    stale.mkdir()
    (stale / "junk").write_text("")
    write(target, {"b": "2"})
    assert siblings(target) == []
    # Killed between the two renames of the fallback: the old folder is put back.
    target.rename(tmp_path / ".out.eie-old-99999")
    with pytest.raises(KeyboardInterrupt):
        with output_folder(target, "test"):
            raise KeyboardInterrupt
    assert (target / "b").read_text() == "2"


def test_the_two_rename_fallback(tmp_path, monkeypatch):
    monkeypatch.setattr(output, "_renameat2", lambda: None)
    target = tmp_path / "out"
    write(target, {"a": "1"})
    write(target, {"b": "2"})
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "b"]
    assert siblings(target) == []


def test_write_file_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    write_file(path, "old")

    def broken_replace(src, dst):
        raise OSError(errno.EIO, "I/O error", str(dst))
    monkeypatch.setattr(output.os, "replace", broken_replace)
    with pytest.raises(EIEError, match="cannot write"):
        write_file(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_recompressing_with_fewer_pes_leaves_no_stale_pe_folders(tmp_path):
    from compress.pipeline import CompressOptions, compress_file
    from helpers import small_config
    rng = np.random.default_rng(0)
    model = tmp_path / "m.npz"
    np.savez(model, **{"fc1.weight": rng.normal(0, 1, (16, 12)).astype(np.float32)})
    out = tmp_path / "model"
    compress_file(model, out, small_config(n_pes=4), CompressOptions())
    compress_file(model, out, small_config(n_pes=2), CompressOptions())
    assert sorted(p.name for p in (out / "images").iterdir() if p.is_dir()) == \
        ["pe000", "pe001"]
