"""Run a packed network on the generated Verilog, in Verilator, driven by cocotb.

Flow (`run_verilator`):

1. `build_design(config)` (sim/verilator_build.py) generates and Verilates the design,
   cached per design.
2. The job (images directory, inputs as .npy, options, result path) is written as JSON;
   the simulator gets its path as the plusarg `+EIE_COCOTB_JOB=...` and the SRAM
   backdoor as `+EIE_IMAGES=<images_dir>/images` (unless loading through the host port).
3. `sim/cocotb_tb.py` runs `sim.amaranth_backend.run_samples` with a `CocotbHost` (the
   same host protocol and cycle timing as the Amaranth backend) and writes the
   `HardwareRun` as JSON, which is read back here.

The build root: sim/verilator_build.py (`$EIE_VERILATOR_BUILD`, else the user's cache).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compress.images import MemoryImages
from compress.manifest import read_images
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

from .amaranth_backend import HardwareRun
from .verilator_build import (BUILD_ROOT_ENV, WAVE_FORMATS, Build, build_design,  # noqa: F401
                              check_waves, default_build_root, environ, resolve_build_root,
                              tail, verilator_runner)

TEST_MODULE = "sim.cocotb_tb"
CLOCK_PS = 1250   # 800 MHz, the generated constraint's default clock


@dataclass
class VerilatorRun(HardwareRun):
    """A `HardwareRun` plus what the Verilator run cost and produced."""
    build_dir: Path | None = None
    build_seconds: float = 0.0       # Verilator + C++ build in this call (0 when cached)
    generate_seconds: float = 0.0    # Verilog generation in this call (0 when cached)
    build_cached: bool = False
    sim_seconds: float = 0.0         # wall time of the simulator process
    run_seconds: float = 0.0         # wall time of the host protocol inside the simulator
    host_cycles: int = 0             # clock cycles simulated by the protocol
    compute_seconds: float = 0.0     # wall time of the layers' compute phases
    compute_cycles: int = 0          # clock cycles of those phases
    waves: Path | None = None


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
                  cycle_limit: int = 1_000_000, work_dir=None,
                  build_waves=None, macros=None, stop=None) -> VerilatorRun:
    """Run a batch of integer inputs on the Verilated design, like `run_amaranth`.

    `images_dir`: the directory `eie compress -o DIR` (or `write_images`) wrote, holding
    manifest.json and images/; `images`: the same images in memory (read from
    `images_dir` when None). `config`: the design (default: the images' own; it may
    differ only in non-packing fields such as fifo_depth). The memories are loaded through
    the SRAM `$readmemh` backdoor, or with `load_via_host` through the host port.
    `waves`: "vcd", "fst" or "saif" writes a waveform (SAIF: activity) into the run
    directory, a path ending in .vcd/.fst/.saif writes it there; its path is
    `result.waves`. `build_waves` ("vcd"/"fst"/"saif"):
    use the build with that tracing support even without `waves` (tracing stays off; one
    build then serves runs with and without waveforms). `work_dir`: where the job
    files go (default: a fresh directory under `<build_root>/runs`, removed after a
    successful run without waves). `macros`: run the design whose memories are built
    from that SRAM macro library (`eie generate --macros`).
    """
    from eie_hw.tools import verilator_env

    if stop is not None and len(np.atleast_2d(x_int)) != 1:
        raise EIEError("a run stopped inside the compute phase takes one sample")
    say = progress or (lambda message: None)
    compressed = _compressed_dir(images_dir)
    if images is None:
        images = read_images(compressed, config)
    config = config or images.config
    images.config.check_packing_compatible(config, what=str(compressed))
    fmt = check_waves(waves)
    build_fmt = check_waves(build_waves) or fmt
    if fmt is not None and build_fmt != fmt:
        raise EIEError(f"waves={waves!r} needs a build with {fmt} tracing, not {build_fmt}")
    build_root = resolve_build_root(build_root)

    build = build_design(config, build_root, waves=build_fmt, progress=progress,
                         macros=macros)
    design, build_dir, build_seconds = build
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
           "result": str(result_path), "stop": stop}
    job_path = work / "job.json"
    job_path.write_text(json.dumps(job, indent=1))

    plusargs = [f"+EIE_COCOTB_JOB={job_path}"]
    if not load_via_host:
        plusargs.append(f"+EIE_IMAGES={compressed / 'images'}")
    test_args = ["--trace", "--trace-file", str(wave_path)] if wave_path else []
    log_file = work / "sim.log"
    say(f"simulating {len(x)} sample(s) on Verilator"
        + (" (loading through the host port)" if load_via_host else ""))
    verilator = verilator_runner()
    # The runner looks at PYTEST_CURRENT_TEST to turn failures into sys.exit; this
    # function reports failures itself (the result file), whoever calls it.
    env = {k: v for k, v in verilator_env().items() if k != "PYTEST_CURRENT_TEST"}
    env.setdefault("COCOTB_LOG_LEVEL", "WARNING")
    # The bench imports numpy inside the simulator process; an idle BLAS thread pool
    # there spins on the second core that the simulation wants (7 % of its time).
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    start = time.perf_counter()
    try:
        with environ(env):
            verilator.test(test_module=TEST_MODULE, hdl_toplevel=design.top,
                        hdl_toplevel_lang="verilog",
                        build_dir=str(build_dir), test_dir=str(work),
                        results_xml=str(work / "results.xml"), plusargs=plusargs,
                        test_args=test_args, log_file=str(log_file))
    except (RuntimeError, SystemExit) as exc:
        raise EIEError(f"the Verilator simulation failed ({exc}); the end of "
                       f"{log_file}:\n{tail(log_file)}") from None
    sim_seconds = time.perf_counter() - start
    if not result_path.is_file():
        raise EIEError(f"the Verilator simulation wrote no result; the end of "
                       f"{log_file}:\n{tail(log_file)}")
    from .cocotb_tb import run_from_json
    data = json.loads(result_path.read_text())
    base = run_from_json(data["run"])
    run = VerilatorRun(**{f.name: getattr(base, f.name)
                          for f in dataclasses.fields(HardwareRun)})
    run.build_dir, run.build_seconds = build_dir, build_seconds
    run.build_cached = build.cached
    run.generate_seconds = build.generate_seconds
    run.sim_seconds = sim_seconds
    run.run_seconds = float(data["meta"]["run_seconds"])
    run.host_cycles = int(data["meta"]["host_cycles"])
    run.compute_seconds = float(data["meta"].get("compute_seconds", 0.0))
    run.compute_cycles = int(data["meta"].get("compute_cycles", 0))
    if wave_path is not None:
        if not wave_path.is_file():
            raise EIEError(f"the simulation wrote no waveform {wave_path}")
        run.waves = wave_path
    if own_dir and wave_path is None:
        shutil.rmtree(work, ignore_errors=True)
    elif own_dir and wave_path is not None and wave_path.parent != work:
        shutil.rmtree(work, ignore_errors=True)
    return run


def report_fields(run: VerilatorRun) -> dict:
    """What the Verilator run cost, for the `eie simulate` JSON report."""
    return {
        "build_dir": str(run.build_dir) if run.build_dir else None,
        "build_cached": run.build_cached,
        "generate_seconds": round(run.generate_seconds, 3),
        "build_seconds": round(run.build_seconds, 3),
        "simulation_seconds": round(run.sim_seconds, 3),
        "simulated_cycles": run.host_cycles,
        "compute_seconds": round(run.compute_seconds, 3),
        "compute_cycles": run.compute_cycles,
        "waves": str(run.waves) if run.waves else None,
    }


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
    match = all(run.golden_matches(golden))
    print(json.dumps({"golden_match": match, "cycles": run.total_cycles,
                      "build_seconds": run.build_seconds, "sim_seconds": run.sim_seconds,
                      "waves": str(run.waves) if run.waves else None}))
    return 0 if match else 1


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
