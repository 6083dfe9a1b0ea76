"""The corpus of bad inputs the CLI fuzz test (tests/test_cli_fuzz.py) runs.

`make_files(root)` writes every bad file once; `CASES` lists (case id, argv template);
`TAMPERS` lists ways to damage a copy of a good compressed folder. Templates name paths
as `{name}` (keys of the dict `make_files` returns). Every case must end with exit status
2 and one error line, never a traceback, and leave every folder it names unchanged.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np

SMALL = ["--pes", "2", "--act-entries", "64", "--bias-entries", "64", "--spmat-words", "512",
         "--ptr-entries", "512", "--max-layers", "4"]


def good_model(rng) -> dict:
    return {"fc1.weight": rng.normal(0, 0.3, (16, 12)).astype(np.float32),
            "fc1.bias": rng.normal(0, 0.1, 16).astype(np.float32),
            "fc2.weight": rng.normal(0, 0.3, (6, 16)).astype(np.float32)}


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _huge_header_npz(path: Path) -> None:
    """A valid .npz whose member header claims 10**12 float32s (4 TB)."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }"
    header = header.ljust(118) + "\n"
    member = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("fc1.weight.npy", member + b"\0" * 64)


def _duplicate_key_npz(path: Path, rng) -> None:
    weight = good_model(rng)["fc1.weight"]
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as z:
        warnings.simplefilter("ignore", UserWarning)     # zipfile's "Duplicate name": meant
        for scale in (1.0, -1.0):
            buffer = io.BytesIO()
            np.save(buffer, weight * scale)
            z.writestr("fc1.weight.npy", buffer.getvalue())


def _bad_models(root: Path, rng) -> dict[str, Path]:
    good = good_model(rng)
    w1, b1, w2 = good["fc1.weight"], good["fc1.bias"], good["fc2.weight"]
    models = {
        "complex_weight": {"fc1.weight": w1 + 1j * w1, "fc2.weight": w2},
        "complex_bias": {"fc1.weight": w1, "fc1.bias": b1 + 1j, "fc2.weight": w2},
        "nan_weight": {"fc1.weight": np.where(w1 > 0.5, np.nan, w1), "fc2.weight": w2},
        "inf_bias": {"fc1.weight": w1, "fc1.bias": b1 * np.inf, "fc2.weight": w2},
        "vector_weight": {"fc1.weight": w1[0]},
        "cube_weight": {"fc1.weight": w1[None]},
        "empty_weight": {"fc1.weight": np.zeros((0, 12), np.float32)},
        "string_weight": {"fc1.weight": np.array([["a", "b"]])},
        "bool_weight": {"fc1.weight": w1 > 0},
        "no_chain": {"fc1.weight": w1, "fc2.weight": w2[:, :5]},
        "bias_shape": {"fc1.weight": w1, "fc1.bias": b1[:3]},
        "unknown_key": {"fc1.weight": w1, "fc1.gamma": b1},
        "no_dot_key": {"weights": w1},
        "only_bias": {"fc1.bias": b1},
        "codes_no_codebook": {"fc1.codes": np.ones((4, 4), np.uint8)},
        "codes_range": {"fc1.codes": np.full((4, 4), 99, np.uint8),
                        "fc1.codebook": np.zeros(16, np.float32)},
        "codebook_zero": {"fc1.codes": np.ones((4, 4), np.uint8),
                          "fc1.codebook": np.ones(16, np.float32)},
        "codebook_size": {"fc1.codes": np.ones((4, 4), np.uint8),
                          "fc1.codebook": np.zeros(5, np.float32)},
        "weight_and_codes": {"fc1.weight": w1, "fc1.codes": np.ones((16, 12), np.uint8)},
        "relu_flag": {"fc1.weight": w1, "fc1.relu": np.array(7)},
        "empty_archive": {},
    }
    paths = {}
    for name, arrays in models.items():
        paths[f"m_{name}"] = root / f"{name}.npz"
        paths[f"m_{name}"].write_bytes(_npz_bytes(**arrays))
    return paths


def _bad_inputs(root: Path) -> dict[str, Path]:
    arrays = {"x_empty_batch": np.zeros((0, 12), np.float32),
              "x_empty_vector": np.zeros(0, np.float32),
              "x_complex": np.ones(12) + 1j,
              "x_wrong_length": np.ones(5, np.float32),
              "x_wrong_columns": np.ones((3, 5), np.float32),
              "x_cube": np.ones((2, 2, 12), np.float32),
              "x_strings": np.array(["a"] * 12),
              "x_nan": np.full(12, np.nan, np.float32)}
    paths = {}
    for name, array in arrays.items():
        paths[name] = root / f"{name}.npy"
        np.save(paths[name], array)
    paths["x_object"] = root / "x_object.npy"
    np.save(paths["x_object"], np.array([object()] * 2, dtype=object), allow_pickle=True)
    paths["x_npz"] = root / "x_archive.npy"
    paths["x_npz"].write_bytes(_npz_bytes(x=np.ones(12)))
    return paths


def make_files(root: Path) -> dict[str, Path]:
    """Every bad (and the few good) input files; returns name -> path."""
    rng = np.random.default_rng(7)
    root.mkdir(parents=True, exist_ok=True)
    files = {"root": root, "missing": root / "does-not-exist"}
    files["model"] = root / "model.npz"
    files["model"].write_bytes(_npz_bytes(**good_model(rng)))
    files["other_model"] = root / "other.npz"
    files["other_model"].write_bytes(_npz_bytes(**good_model(rng)))
    files["x"] = root / "x.npy"
    np.save(files["x"], rng.normal(0, 1, 12).astype(np.float32))
    files["text"] = root / "notes.txt"
    files["text"].write_text("just some text\n")
    files["text_npz"] = root / "text.npz"
    files["text_npz"].write_text("fc1.weight = [[1, 2], [3, 4]]\n")
    files["text_npy"] = root / "text.npy"
    files["text_npy"].write_text("1 2 3\n")
    files["empty_file"] = root / "empty.npz"
    files["empty_file"].write_bytes(b"")
    files["truncated_npz"] = root / "truncated.npz"
    files["truncated_npz"].write_bytes(_npz_bytes(**good_model(rng))[:300])
    files["pickle_npz"] = root / "pickle.npz"
    np.savez(files["pickle_npz"], **{"fc1.weight": np.array([object()], dtype=object)})
    files["huge_npz"] = root / "huge.npz"
    _huge_header_npz(files["huge_npz"])
    files["dup_npz"] = root / "dup.npz"
    _duplicate_key_npz(files["dup_npz"], rng)
    files.update(_bad_models(root, rng))
    files.update(_bad_inputs(root))
    files.update(_bad_configs(root))
    files["foreign"] = root / "foreign"
    files["foreign"].mkdir()
    (files["foreign"] / "thesis.tex").write_text("precious\n")
    files["subdir"] = root / "subdir"
    files["subdir"].mkdir()
    files["bad_dataset"] = root / "dataset.npz"
    files["bad_dataset"].write_bytes(_npz_bytes(x_train=np.ones((4, 3))))
    files["text_liberty"] = root / "cells.lib"
    files["text_liberty"].write_text("this is not a liberty file\n")
    files.update(_bad_synth_reports(root))
    return files


def _bad_synth_reports(root: Path) -> dict[str, Path]:
    """eie synth reports without a clock: no timing, and version 2 (glue not timed)."""
    docs = {"untimed_report": {"version": 3, "timing": {"skipped": "no liberty file"}},
            "old_report": {"version": 2, "timing": {"pe": {"min_period_ns": 1.5}}}}
    paths = {name: root / f"{name}.json" for name in docs}
    for name, doc in docs.items():
        paths[name].write_text(json.dumps({"format": "eie-synth-report", **doc}))
    return paths


def _bad_configs(root: Path) -> dict[str, Path]:
    texts = {"cfg_latin1": "{\"n_pes\": 4, \"name\": \"caf\xe9\"}".encode("latin-1"),
             "cfg_binary": bytes(range(256)),
             "cfg_list": b"[1, 2, 3]",
             "cfg_string": b"\"n_pes\"",
             "cfg_not_json": b"n_pes = 4\n",
             "cfg_unknown": b"{\"n_pe\": 4}",
             "cfg_type": b"{\"n_pes\": \"four\"}",
             "cfg_float": b"{\"n_pes\": 4.5}",
             "cfg_negative": b"{\"fifo_depth\": -2}",
             "cfg_huge": b"{\"n_pes\": 100000000}",
             "cfg_wrapped_list": b"{\"format\": \"eie-config\", \"version\": 1, \"config\": [1]}",
             "cfg_version": b"{\"format\": \"eie-config\", \"version\": 99, \"config\": {}}"}
    paths = {}
    for name, data in texts.items():
        paths[name] = root / f"{name}.json"
        paths[name].write_bytes(data)
    return paths


# ----------------------------------------------------------------------------- cases

def _variants(prefix: str, head: list[str], variants: dict) -> list[tuple[str, list[str]]]:
    """(f"{prefix}-{key}", head + args) for each variant."""
    return [(f"{prefix}-{key}", [*head, *args]) for key, args in variants.items()]


def _model_cases() -> list[tuple[str, list[str]]]:
    names = ["missing", "subdir", "text", "text_npz", "empty_file", "truncated_npz",
             "pickle_npz", "huge_npz", "dup_npz"] + [
        f"m_{n}" for n in ("complex_weight", "complex_bias", "nan_weight", "inf_bias",
                           "vector_weight", "cube_weight", "empty_weight", "string_weight",
                           "bool_weight", "no_chain", "bias_shape", "unknown_key",
                           "no_dot_key", "only_bias", "codes_no_codebook", "codes_range",
                           "codebook_zero", "codebook_size", "weight_and_codes", "relu_flag",
                           "empty_archive")]
    return [(f"compress-{n}", ["compress", f"{{{n}}}", "-o", "{out}", *SMALL]) for n in names]


def _compress_flag_cases() -> list[tuple[str, list[str]]]:
    flags = {"density-2": ["--density", "2"], "density-neg": ["--density", "-0.1"],
             "density-text": ["--density", "abc"], "density-layer": ["--density", "fc9=0.1"],
             "density-nan": ["--density", "nan"],
             "wfrac-plain": ["--weight-frac", "3"], "wfrac-range": ["--weight-frac", "fc1=99"],
             "wfrac-layer": ["--weight-frac", "fc7=3"], "kmeans-neg": ["--kmeans-iterations", "-1"],
             "balance": ["--balance", "random"], "pes-0": ["--pes", "0"],
             "pes-neg": ["--pes", "-3"], "pes-huge": ["--pes", "100000"],
             "pes-model": ["--pes", "64"], "fifo-0": ["--fifo-depth", "0"],
             "width-3": ["--sram-width", "3"], "spmat-tiny": ["--spmat-words", "1"],
             "global-layer": ["--global-prune", "--density", "fc1=0.2"]}
    cases = [(f"compress-{k}", ["compress", "{model}", "-o", "{out}", *SMALL, *v])
             for k, v in flags.items()]
    outputs = {"empty": "", "file": "{text}", "foreign": "{foreign}",
               "under-file": "{text}/sub", "existing-good-other": None}
    for k, out in outputs.items():
        if out is not None:
            cases.append((f"compress-out-{k}", ["compress", "{model}", "-o", out, *SMALL]))
    for name in ("cfg_latin1", "cfg_binary", "cfg_list", "cfg_string", "cfg_not_json",
                 "cfg_unknown", "cfg_type", "cfg_float", "cfg_negative", "cfg_huge",
                 "cfg_wrapped_list", "cfg_version", "subdir", "missing"):
        cases.append((f"compress-config-{name}",
                      ["compress", "{model}", "-o", "{out}", "--config", f"{{{name}}}"]))
    return cases


def _simulate_cases() -> list[tuple[str, list[str]]]:
    cases = []
    for name in ("missing", "subdir", "text", "text_npy", "x_npz", "x_empty_batch",
                 "x_empty_vector", "x_complex", "x_wrong_length", "x_wrong_columns", "x_cube",
                 "x_strings", "x_object", "x_nan", "empty_file"):
        cases.append((f"simulate-input-{name}",
                      ["simulate", "{good}", "--input", f"{{{name}}}"]))
    for name in ("missing", "subdir", "foreign", "text"):
        cases.append((f"simulate-dir-{name}", ["simulate", f"{{{name}}}", "--input", "{x}"]))
    for k, v in {"json-dir": ["--json", "{subdir}"], "json-empty": ["--json", ""],
                 "json-under-file": ["--json", "{text}/r.json"],
                 "waves-golden": ["--waves", "{root}/w.vcd"],
                 "waves-dir": ["--backend", "amaranth", "--waves", "{subdir}"],
                 "waves-fst-amaranth": ["--backend", "amaranth", "--waves", "{root}/w.fst"],
                 "backend": ["--backend", "spice"], "load": ["--load", "magic"],
                 "macros-golden": ["--macros", "fakeram45"],
                 "macros-missing": ["--backend", "verilator", "--macros", "{missing}"],
                 "packing": ["--pes", "4"], "width": ["--sram-width", "128"],
                 "config-list": ["--config", "{cfg_list}"],
                 "config-latin1": ["--config", "{cfg_latin1}"],
                 **_clock_variants(["--backend", "model"]),
                 "clock-golden": ["--clock-ns", "1.25"]}.items():
        cases.append((f"simulate-{k}", ["simulate", "{good}", "--input", "{x}", *v]))
    return cases


def _evaluate_power_cases() -> list[tuple[str, list[str]]]:
    """`eie evaluate` and `eie power` (issues 14, 15): bad folders, data sets, flags."""
    cases = []
    for name in ("missing", "subdir", "foreign", "text"):
        cases.append((f"evaluate-dir-{name}", ["evaluate", f"{{{name}}}"]))
        cases.append((f"power-synth-{name}", ["power", "--synth", f"{{{name}}}",
                                              "-o", "{out}"]))
    for name in ("missing", "text", "text_npy", "empty_file", "model"):
        cases.append((f"evaluate-dataset-{name}", ["evaluate", "{good}", "--dataset",
                                                   f"{{{name}}}"]))
    for k, v in {"samples-0": ["--samples", "0"], "backend": ["--backend", "spice"],
                 "json-dir": ["--json", "{subdir}"], "reference-missing":
                 ["--reference", "{missing}"], "reference-text": ["--reference", "{text}"]
                 }.items():
        cases.append((f"evaluate-{k}", ["evaluate", "{good}", *v]))
    for k, v in {"clock-0": ["--clock-ns", "0"], "layer": ["--layer", "Alex-9"],
                 "both": ["--layer", "Alex-8", "--model", "{good}"]}.items():
        cases.append((f"power-{k}", ["power", "--synth", "{subdir}", "-o", "{out}", *v]))
    return cases


def _clock_variants(head: list[str]) -> dict[str, list[str]]:
    """Bad --clock-ns / --synth-report values (simulate, sweep)."""
    values = {"clock-0": "0", "clock-neg": "-1.25", "clock-text": "fast", "clock-nan": "nan",
              "clock-inf": "inf"}
    cases = {k: [*head, f"--clock-ns={v}"] for k, v in values.items()}
    cases["clock-both"] = [*head, "--clock-ns", "1", "--synth-report", "{text}"]
    for k in ("missing", "text", "subdir", "cfg_list", "cfg_unknown", "cfg_binary",
              "untimed_report", "old_report"):
        cases[f"report-{k}"] = [*head, "--synth-report", f"{{{k}}}"]
    return cases


def _generate_synth_cases() -> list[tuple[str, list[str]]]:
    outputs = {"out-empty": "", "out-file": "{text}", "out-foreign": "{foreign}",
               "out-under-file": "{text}/d"}
    flags = {"pes-huge": "--pes=100000", "pes-0": "--pes=0",
             "memory-huge": "--spmat-words=1000000000", "clock-0": "--clock-ns=0",
             "clock-text": "--clock-ns=fast", "config-binary": "--config={cfg_binary}",
             "config-dir": "--config={subdir}"}
    variants = {**{k: ["-o", out] for k, out in outputs.items()},
                **{k: ["-o", "{out}", flag] for k, flag in flags.items()}}
    cases = _variants("generate", ["generate"], variants) + _variants("synth", ["synth"],
                                                                       variants)
    cases += [("generate-name", ["generate", "-o", "{out}", "--design-name", "1 bad"]),
              ("generate-platform", ["generate", "-o", "{out}", "--platform", "../x"]),
              ("generate-macros-missing", ["generate", "-o", "{out}", "--macros", "{missing}"]),
              ("generate-macros-text", ["generate", "-o", "{out}", "--macros", "{text}"]),
              ("generate-macros-dir", ["generate", "-o", "{out}", "--macros", "{subdir}"]),
              ("generate-macros-name", ["generate", "-o", "{out}", "--macros", "fakeram99"]),
              ("synth-liberty-missing", ["synth", "-o", "{out}", "--liberty", "{missing}"]),
              ("synth-liberty-dir", ["synth", "-o", "{out}", "--liberty", "{subdir}"]),
              ("synth-liberty-text", ["synth", "-o", "{out}", "--pes", "1", "--liberty",
                                      "{text_liberty}"])]
    cases += [(f"synth-macros-{k}", ["synth", "-o", "{out}", "--macros", v])
              for k, v in (("missing", "{missing}"), ("text", "{text}"), ("dir", "{subdir}"),
                           ("list", "{cfg_list}"), ("binary", "{cfg_binary}"))]
    cases += [("synth-macros-access", ["synth", "-o", "{out}", "--sram-access-ns", "0.4"]),
              ("synth-clock-inf", ["synth", "-o", "{out}", "--clock-ns=inf"]),
              ("generate-clock-inf", ["generate", "-o", "{out}", "--clock-ns=inf"])]
    return cases


def _sweep_cases() -> list[tuple[str, list[str]]]:
    base = ["sweep", "-o", "{out}", "--quiet", "--no-plots", "--jobs", "1"]
    variants = {"layers-bogus": ["--layers", "Alex-99"], "layers-empty": ["--layers", ","],
                "layers-custom": ["--layers", "10x10:2:0.5"], "nothing": [],
                "range-huge": ["--layers", "16x8:0.1:0.5", "--sweep", "n_pes=1..100000000"],
                "product-huge": ["--layers", "16x8:0.1:0.5", "--sweep", "fifo_depth=1..1000",
                                 "--sweep", "n_pes=1..1000"],
                "pes-huge": ["--layers", "16x8:0.1:0.5", "--sweep", "n_pes=100000"],
                "field": ["--layers", "Alex-7", "--sweep", "bogus=1,2"],
                "values": ["--layers", "Alex-7", "--sweep", "fifo_depth=a,b"],
                "range-back": ["--layers", "Alex-7", "--sweep", "fifo_depth=8..1"],
                "samples-0": ["--layers", "Alex-7", "--samples", "0"],
                "jobs-0": ["--layers", "Alex-7", "--jobs", "0"],
                "balance": ["--layers", "Alex-7", "--balance", "magic"],
                "model-missing": ["--model", "{missing}"],
                "model-foreign": ["--model", "{foreign}"],
                "input-no-model": ["--layers", "Alex-7", "--input", "{x}"],
                "input-bad": ["--model", "{good}", "--input", "{text_npy}"],
                "synth-liberty": ["--layers", "Alex-7", "--synth", "--liberty", "{missing}"],
                "config-list": ["--layers", "Alex-7", "--config", "{cfg_list}"],
                **_clock_variants(["--layers", "16x8:0.1:0.5"])}
    outputs = {k: ["-o", out, "--layers", "16x8:0.1:0.5", "--quiet", "--no-plots"]
               for k, out in {"empty": "", "file": "{text}", "foreign": "{foreign}"}.items()}
    return _variants("sweep", base, variants) + _variants("sweep-out", ["sweep"], outputs)


def _train_cases() -> list[tuple[str, list[str]]]:
    model = ["-o", "{root}/m.npz"]           # a valid output: the other flag is the bad one
    train = {"out-dir": ["-o", "{subdir}"], "out-empty": ["-o", ""],
             "out-under-file": ["-o", "{text}/m.npz"]}
    for key, flag, value in (("dataset-missing", "--dataset", "{missing}"),
                             ("dataset-text", "--dataset", "{text_npz}"),
                             ("dataset-keys", "--dataset", "{bad_dataset}"),
                             ("dataset-dir", "--dataset", "{subdir}"),
                             ("hidden", "--hidden", "abc"),
                             ("from-missing", "--from", "{missing}"),
                             ("from-text", "--from", "{text_npz}"),
                             ("density-alone", "--density", "0.1"),
                             ("quantized-dir", "--quantized", "{subdir}"),
                             ("report-dir", "--report", "{subdir}")):
        train[key] = [*model, flag, value]
    report = ["-o", "{root}/d.json"]
    dsd = {"out-dir": ["-o", "{subdir}"], "out-empty": ["-o", ""],
           **{key: [*report, flag, value] for key, flag, value in (
               ("seeds", "--seeds", "a,b"), ("seeds-empty", "--seeds", ","),
               ("dataset", "--dataset", "{text_npz}"), ("hidden", "--hidden", "x"))}}
    demo = {"out-empty": ["-o", ""], "out-file": ["-o", "{text}"],
            "out-foreign": ["-o", "{foreign}"], "backend": ["--backend", "spice"],
            "seed": ["--seed", "x"]}
    return (_variants("train", ["train"], train) + _variants("dsd", ["dsd"], dsd)
            + _variants("demo", ["demo"], demo))


CASES = (_model_cases() + _compress_flag_cases() + _simulate_cases()
         + _generate_synth_cases() + _sweep_cases() + _train_cases()
         + _evaluate_power_cases())


# ----------------------------------------------------------------------------- tampering

def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(0, path.stat().st_size // 2)])


def _edit_manifest(change):
    def tamper(folder: Path) -> None:
        path = folder / "manifest.json"
        manifest = json.loads(path.read_text())
        change(manifest)
        path.write_text(json.dumps(manifest, indent=1) + "\n")
    return tamper


def _set_layer(field, value):
    def change(manifest):
        manifest["layers"][0][field] = value
    return change


FILES = ("model.eie", "manifest.json", "config.json", "report.json", "report.txt",
         "images/codebook.hex", "images/layers.hex", "images/pe000/spmat.hex",
         "images/pe001/ptr_even.hex", "images/pe001/ptr_odd.hex", "images/pe000/bias.hex")

TAMPERS = {}
for _rel in FILES:
    TAMPERS[f"flip-{_rel}"] = (lambda rel: lambda f: _flip(f / rel))(_rel)
    TAMPERS[f"truncate-{_rel}"] = (lambda rel: lambda f: _truncate(f / rel))(_rel)
    TAMPERS[f"delete-{_rel}"] = (lambda rel: lambda f: (f / rel).unlink())(_rel)
for _field, _value in {"relu": False, "weight_frac": 3, "rows": 15, "cols": 11,
                       "row_order": list(range(16))[::-1], "codebook_float": [0.0] * 16,
                       "bias_float": [0.0] * 16, "last": True, "name": "fcX",
                       "entries": [0, 0], "spmat_base": [1, 1]}.items():
    TAMPERS[f"manifest-{_field}"] = _edit_manifest(_set_layer(_field, _value))
TAMPERS.update({
    "manifest-list": lambda f: (f / "manifest.json").write_text("[]\n"),
    "manifest-no-layers": _edit_manifest(lambda m: m.pop("layers")),
    "manifest-extra-layer": _edit_manifest(lambda m: m["layers"].append(m["layers"][0])),
    "manifest-layer-type": _edit_manifest(lambda m: m["layers"].__setitem__(0, "fc1")),
    "manifest-files-type": _edit_manifest(lambda m: m.__setitem__("files", [])),
    "manifest-config": _edit_manifest(lambda m: m["config"].__setitem__("n_pes", 4)),
    "manifest-pes": _edit_manifest(lambda m: m["pes"].pop()),
    "manifest-not-json": lambda f: (f / "manifest.json").write_text("{"),
    "extra-pe-folder": lambda f: (f / "images" / "pe000").rename(f / "images" / "pe009"),
})
