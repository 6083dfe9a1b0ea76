"""A compressed-model folder is one model: every file is checksummed, the manifest seals
itself, model.eie and manifest.json carry the same model id, and a damaged, edited,
mixed-up or malformed folder is one clean EIEError naming the file."""

import hashlib
import json
import shutil

import numpy as np
import pytest

from compress.container import read_container, read_model_id
from compress.images import pack_layers
from compress.manifest import (IMAGES_VERSION, read_images, read_manifest, read_model_dir,
                               seal_manifest, verify_model_dir, write_images)
from compress.manifest_schema import MODEL_FILES, image_file_names
from compress.pipeline import CompressOptions, compress_file
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from eie_hw.output import MARKER
from sim.run import simulate

CONFIG = EIEConfig(n_pes=4, act_entries=16, bias_entries=32, spmat_words=256,
                   ptr_entries=256, max_layers=4)
OPTIONS = CompressOptions(density=0.3, kmeans_iterations=10, balance="balanced")
FILES = ["manifest.json", *MODEL_FILES, *image_file_names(CONFIG.n_pes)]
X = np.random.default_rng(9).normal(0, 1, (2, 30)).astype(np.float32)


def _model_file(path, seed):
    rng = np.random.default_rng(seed)
    np.savez(path, **{"fc1.weight": rng.normal(0, 1, (40, 30)).astype(np.float32),
                      "fc1.bias": rng.normal(0, 0.1, 40).astype(np.float32),
                      "fc2.weight": rng.normal(0, 1, (10, 40)).astype(np.float32)})
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    model = _model_file(root / "m.npz", 0)
    results = {name: compress_file(model, root / name, CONFIG, OPTIONS)
               for name in ("good", "again")}
    results["other"] = compress_file(_model_file(root / "o.npz", 1), root / "other", CONFIG,
                                     OPTIONS)
    return {name: result.directory for name, result in results.items()}


@pytest.fixture
def folder(folders, tmp_path):
    """A fresh copy of the good folder, to damage."""
    return shutil.copytree(folders["good"], tmp_path / "model")


def _refused(folder, *names, simulate_too=True) -> str:
    """The one-line error of reading `folder`; it names every one of `names`."""
    calls = [read_images, verify_model_dir]
    if simulate_too:
        calls.append(lambda d: simulate(d, X))
    messages = []
    for call in calls:
        with pytest.raises(EIEError) as info:
            call(folder)
        messages.append(str(info.value))
    for message in messages:
        assert "\n" not in message, message
        assert "eie compress" in message, message
        for name in names:
            assert name in message, message
    return messages[0]


def _model_refused(folder, *names) -> str:
    """The one-line error of read_model_dir(folder); it names every one of `names`."""
    with pytest.raises(EIEError) as info:
        read_model_dir(folder)
    message = str(info.value)
    assert "\n" not in message and "eie compress" in message, message
    for name in names:
        assert name in message, message
    return message


class _Whole:
    """A change that replaces the whole manifest (the others change it in place)."""

    def __init__(self, make):
        self.make = make


def _edit_manifest(folder, change, seal=False):
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    if isinstance(change, _Whole):
        manifest = change.make(manifest)
    else:
        change(manifest)
    if seal:
        seal_manifest(manifest)
    path.write_text(json.dumps(manifest, indent=1) + "\n")


def _set(*path_and_value):
    *path, value = path_and_value

    def change(manifest):
        target = manifest
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _drop(*path):
    def change(manifest):
        target = manifest
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return change


# ----------------------------------------------------------------------------- intact

def test_the_untouched_folder_loads_and_simulates(folders):
    folder = folders["good"]
    manifest = verify_model_dir(folder)
    assert manifest["version"] == IMAGES_VERSION
    assert manifest["model_id"] == read_model_id(folder / "model.eie")
    assert sorted(manifest["files"]) == sorted(FILES[1:])
    model, config, encoded = read_model_dir(folder, CONFIG)
    images = read_images(folder, CONFIG)
    assert pack_layers(model.layers, config, encoded=encoded).equals(images)
    report = simulate(folder, X)
    assert len(report["outputs"]) == 2
    written = json.loads((folder / "report.json").read_text())
    assert written["model_id"] == manifest["model_id"] and "seconds" not in written


def test_the_file_list_is_the_whole_folder(folders):
    """FILES drives the damage tests below: it must be every file compress writes."""
    folder = folders["good"]
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert on_disk == set(FILES) | {MARKER}


def test_the_same_input_gives_byte_identical_folders(folders):
    a, b = folders["good"], folders["again"]
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*"))
    assert names == sorted(str(p.relative_to(b)) for p in b.rglob("*"))
    for name in names:
        if (a / name).is_file():
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
            # Nothing written names the staging folder (or the output folder).
            assert b".eie-tmp-" not in (a / name).read_bytes(), name
            assert a.name.encode() not in (a / name).read_bytes(), name
    assert read_model_id(a / "model.eie") == read_model_id(b / "model.eie")
    other = read_model_id(folders["other"] / "model.eie")
    assert other != read_model_id(a / "model.eie")


def test_images_only_folders_still_work(folders, tmp_path):
    images = read_images(folders["good"])
    write_images(images, tmp_path)
    manifest = read_manifest(tmp_path)
    assert manifest["model_id"] is None
    assert sorted(manifest["files"]) == sorted(image_file_names(CONFIG.n_pes))
    assert read_images(tmp_path).equals(images)
    for call in (verify_model_dir, read_model_dir):
        with pytest.raises(EIEError, match="memory images only.*eie compress -o DIR"):
            call(tmp_path)


# ----------------------------------------------------------------------------- damage

def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


DAMAGE = {"flip": _flip, "truncate": _truncate, "delete": lambda path: path.unlink()}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("rel", FILES)
def test_every_damaged_file_is_named(folder, rel, damage):
    assert (folder / rel).stat().st_size > 0
    DAMAGE[damage](folder / rel)
    _refused(folder, rel)
    _model_refused(folder, rel)


def test_model_file_of_another_model_is_refused(folder, folders):
    shutil.copy(folders["other"] / "model.eie", folder / "model.eie")
    ours = read_manifest(folder)["model_id"]
    theirs = read_model_id(folder / "model.eie")
    message = _refused(folder, "model.eie", "manifest.json", ours, theirs)
    assert "belongs to another model" in message
    assert _model_refused(folder) == message
    # read_container checks the file alone: it is a valid model of its own.
    read_container(folder / "model.eie")


def test_manifest_of_another_model_is_refused(folder, folders):
    shutil.copy(folders["other"] / "manifest.json", folder / "manifest.json")
    _refused(folder, "model.eie", "manifest.json")
    _model_refused(folder, "model.eie", "manifest.json", "another model")


@pytest.mark.parametrize("key, value", [
    ("relu", False), ("weight_frac", 3), ("rows", 41), ("cols", 31), ("last", True),
    ("ptr_base", 2), ("bias_base", 1), ("name", "fcX"), ("entries", [1, 1, 1, 1]),
    ("spmat_base", [1, 1, 1, 1]), ("codebook_float", [0.0] * 16),
    ("bias_float", [0.0] * 40), ("row_order", list(range(40))[::-1]),
])
def test_every_edited_descriptor_is_refused(folder, key, value):
    _edit_manifest(folder, lambda m: m["layers"][0].__setitem__(key, value))
    _refused(folder, "manifest.json")


def test_every_descriptor_float_is_sealed(folder):
    """A last-digit change of one float, which no structural check can see."""
    def change(manifest):
        manifest["layers"][1]["codebook_float"][3] += 1e-9
    _edit_manifest(folder, change)
    assert "own checksum" in _refused(folder, "manifest.json")


@pytest.mark.parametrize("key, value", [("relu", False), ("weight_frac", 3),
                                        ("ptr_base", 2), ("bias_base", 1)])
def test_layers_hex_must_hold_the_manifests_descriptors(folder, key, value):
    """Even with the manifest re-sealed, layers.hex (what the CCU loads) disagrees."""
    _edit_manifest(folder, lambda m: m["layers"][0].__setitem__(key, value), seal=True)
    message = _refused(folder, "images/layers.hex", "manifest.json", simulate_too=False)
    assert "layer descriptors" in message and "fc1" in message


def _bump(key, pe=None, by=1):
    def change(manifest):
        layer = manifest["layers"][0]
        if pe is None:
            layer[key] = [v + by for v in layer[key]]
        else:
            layer[key][pe] += by
    return change


@pytest.mark.parametrize("change, what", [
    (_bump("codebook_float", by=0.5), "codebook_float"), (_bump("bias_float"), "bias_float"),
    (_set("layers", 0, "bias_float", None), "bias_float"), (_bump("entries", 2), "entries"),
    (_bump("spmat_base", 1), "spmat_base"), (_bump("fillers", 3), "fillers"),
], ids=["codebook", "bias", "no bias", "entries", "spmat_base", "fillers"])
def test_descriptors_must_agree_with_the_images(folder, change, what):
    """Even re-sealed, a manifest that disagrees with its own images is refused."""
    _edit_manifest(folder, change, seal=True)
    message = _refused(folder, "manifest.json", "fc1")
    assert "disagrees with the images" in message and what in message


def test_layers_hex_with_its_checksum_updated_is_refused(folder):
    path = folder / "images" / "layers.hex"
    lines = path.read_bytes().splitlines(keepends=True)
    data = lines[0] + lines[0]
    path.write_bytes(data)

    def change(manifest):
        manifest["files"]["images/layers.hex"] = hashlib.sha256(data).hexdigest()
    _edit_manifest(folder, change, seal=True)
    assert "layer fc2" in _refused(folder, "images/layers.hex")


# ----------------------------------------------------------------------------- malformed

MALFORMED = {
    "a list": _Whole(lambda m: [m]),
    "a string": _Whole(lambda m: "manifest"),
    "no format": _drop("format"),
    "old version": _set("version", 1),
    "version as text": _set("version", "2"),
    "no layers": _drop("layers"),
    "no files": _drop("files"),
    "no seal": _drop("manifest_sha256"),
    "unknown key": _set("comment", "hello"),
    "config a list": _set("config", [4]),
    "config lacks n_pes": _drop("config", "n_pes"),
    "config n_pes text": _set("config", "n_pes", "4"),
    "config unknown field": _set("config", "colour", 1),
    "config invalid": _set("config", "sram_width", 33),
    "descriptor_fields other": _set("descriptor_fields", [["rows", 99]]),
    "descriptor_fields text": _set("descriptor_fields", "rows"),
    "model_id number": _set("model_id", 7),
    "model_id short": _set("model_id", "abc"),
    "layers empty": _set("layers", []),
    "layers a dict": _set("layers", {"fc1": {}}),
    "layer a string": _set("layers", 0, "fc1"),
    "extra layer": lambda m: m["layers"].append(m["layers"][-1]),
    "missing layer": lambda m: m["layers"].pop(0),
    "too many layers": lambda m: m["layers"].extend([m["layers"][0]] * 4),
    "layer lacks rows": _drop("layers", 0, "rows"),
    "rows text": _set("layers", 0, "rows", "40"),
    "rows true": _set("layers", 0, "rows", True),
    "rows float": _set("layers", 0, "rows", 40.0),
    "rows too wide": _set("layers", 0, "rows", 10 ** 9),
    "rows zero": _set("layers", 0, "rows", 0),
    "relu 1": _set("layers", 0, "relu", 1),
    "layer unknown key": _set("layers", 0, "colour", "red"),
    "entries for 3 PEs": _set("layers", 0, "entries", [1, 1, 1]),
    "spmat_base for 5 PEs": _set("layers", 0, "spmat_base", [0] * 5),
    "fillers negative": _set("layers", 0, "fillers", [-1, 0, 0, 0]),
    "fillers above entries": _set("layers", 0, "fillers", [10 ** 6] * 4),
    "entries past spmat": _set("layers", 0, "entries", [10 ** 6] * 4),
    "entries text": _set("layers", 0, "entries", ["1", "1", "1", "1"]),
    "codebook short": _set("layers", 0, "codebook_float", [0.0] * 15),
    "codebook text": _set("layers", 0, "codebook_float", "0"),
    "bias short": _set("layers", 0, "bias_float", [0.0] * 39),
    "row_order not a permutation": _set("layers", 0, "row_order", [0] * 40),
    "row_order of floats": _set("layers", 0, "row_order", [float(i) for i in range(40)]),
    "ptr_base negative": _set("layers", 0, "ptr_base", -2),
    "ptr_base past the pointers": _set("layers", 1, "ptr_base", 250),
    "weight_frac too large": _set("layers", 0, "weight_frac", 32),
    "two last layers": _set("layers", 0, "last", True),
    "shapes do not chain": _set("layers", 1, "cols", 39),
    "pes short": lambda m: m["pes"].pop(),
    "pes item a number": _set("pes", 0, 5),
    "pes lacks spmat_words": _drop("pes", 0, "spmat_words"),
    "pes too large": _set("pes", 0, "spmat_words", 10 ** 6),
    "files a list": _set("files", []),
    "file digest a number": _set("files", "images/layers.hex", 5),
    "file digest short": _set("files", "images/layers.hex", "abc"),
    "file missing": _drop("files", "images/pe003/spmat.hex"),
    "file of no model": _drop("files", "report.txt"),
    "file outside": _set("files", "../../etc/passwd", "0" * 64),
}


@pytest.mark.parametrize("seal", [False, True], ids=["as edited", "re-sealed"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_manifest_is_one_clean_error(folder, case, seal):
    """Never a KeyError or TypeError, whether or not the seal was recomputed."""
    if seal and case in ("a list", "a string", "no seal"):
        pytest.skip("only an object has a seal, and sealing adds it")
    _edit_manifest(folder, MALFORMED[case], seal=seal)
    _refused(folder, "manifest.json", simulate_too=False)
    _model_refused(folder, "manifest.json")


@pytest.mark.parametrize("text", [b"", b"{", b"null", b"\xff\xfe", b"[" * 100000, b"{}"])
def test_unreadable_manifest(folder, text):
    (folder / "manifest.json").write_bytes(text)
    _refused(folder, "manifest.json")


def test_an_old_version_says_to_recompress(folder):
    _edit_manifest(folder, _set("version", 1), seal=True)
    assert "version 1; this eie reads version" in _refused(folder, "manifest.json")


# ----------------------------------------------------------------------------- writing

def test_compress_writes_through_the_output_writer(folders, tmp_path):
    model = folders["good"].parent / "m.npz"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(EIEError, match="not written by eie"):
        compress_file(model, foreign, CONFIG, OPTIONS)
    assert (foreign / "notes.txt").read_text() == "mine"
    result = compress_file(model, foreign, CONFIG, OPTIONS, force=True)
    assert result.directory == foreign and not (foreign / "notes.txt").exists()
    assert result.seconds > 0 and result.report["seconds"] == result.seconds
    assert [p.name for p in tmp_path.iterdir()] == ["foreign"]   # no staging left
    verify_model_dir(foreign)


def _paths(value, prefix=()):
    """Every (path, value) inside a JSON document."""
    yield prefix, value
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        yield from _paths(item, prefix + (key,))


def test_random_mutations_are_clean_errors(folder):
    """Any value anywhere replaced by another JSON type, or any key dropped, re-sealed
    or not: read_images succeeds (the change was harmless) or raises EIEError."""
    path = folder / "manifest.json"
    pristine = json.loads(path.read_text())
    places = [p for p, _ in _paths(pristine) if p]
    rng = np.random.default_rng(0)
    replacements = [None, True, -1, 0, 2 ** 70, 1.5, "x", "0" * 64, [], [0], {}, {"a": 1}]
    for trial in range(400):
        manifest = json.loads(json.dumps(pristine))
        where = places[rng.integers(len(places))]
        parent = manifest
        for key in where[:-1]:
            parent = parent[key]
        if rng.random() < 0.2 and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = replacements[rng.integers(len(replacements))]
        path.write_text(json.dumps(seal_manifest(manifest) if trial % 2 else manifest))
        try:
            read_images(folder)
        except EIEError as exc:
            assert "manifest.json" in str(exc) and "\n" not in str(exc), (where, exc)
