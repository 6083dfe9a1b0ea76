"""Tool checks of a generated design: Verilator lint, the Yosys latch count, and the
one way this project runs a Yosys script."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import EIEError
from .generate import GeneratedDesign
from .sram_verilog import SRAM_BLACKBOX_VERILOG


@dataclass
class ToolResult:
    ok: bool
    output: str
    command: list[str]


def lint(design: GeneratedDesign, *, waivers: bool = True, timeout: float = 600) -> ToolResult:
    """`verilator --lint-only -Wall` on the generated files (with the waiver file)."""
    from .tools import verilator_bin, verilator_env

    cmd = [verilator_bin(), "--lint-only", "-Wall", "--top-module", design.top]
    if waivers:
        cmd.append(str(design.waiver_file))
    cmd += [str(p) for p in design.verilog_files]
    try:
        proc = subprocess.run(cmd, env=verilator_env(), capture_output=True, text=True,
                              timeout=timeout, cwd=design.directory)
    except subprocess.TimeoutExpired:
        raise EIEError(f"verilator lint took more than {timeout:.0f} s") from None
    return ToolResult(proc.returncode == 0, proc.stdout + proc.stderr, cmd)


LATCH_CELLS = ("$dlatch", "$adlatch", "$dlatchsr", "$_DLATCH_P_", "$_DLATCH_N_")


def run_yosys(script: str, *, cwd, log_name: str = "yosys.log",
              timeout: float = 3600) -> str:
    """Run a Yosys script (text) in `cwd`; return the log; EIEError with its tail on failure."""
    from .tools import yosys_command

    cwd = Path(cwd)
    script_file = cwd / (Path(log_name).stem + ".ys")
    script_file.write_text(script)
    log_file = cwd / log_name
    cmd = yosys_command() + ["-q", "-l", log_file.name, "-s", script_file.name]
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EIEError(f"yosys ({script_file}) took more than {timeout:.0f} s") from None
    log = log_file.read_text() if log_file.exists() else ""
    if proc.returncode != 0:
        tail = "\n".join((log + proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise EIEError(f"yosys failed on {script_file} (log {log_file}):\n{tail}")
    return log


def count_latches(design: GeneratedDesign, work_dir=None) -> int:
    """Latches Yosys infers (`proc`) in the design; must be 0."""
    with tempfile.TemporaryDirectory(prefix="eie_latch_") as tmp:
        work = Path(work_dir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        (work / "eie_sram_bb.v").write_text(SRAM_BLACKBOX_VERILOG)
        # YoWASP's Yosys sees only its working directory: work on a copy of the design.
        shutil.copyfile(design.design_file, work / design.design_file.name)
        cells = " ".join(f"t:{c}" for c in LATCH_CELLS)
        script = (f"read_verilog -lib eie_sram_bb.v\n"
                  f"read_verilog {design.design_file.name}\n"
                  f"hierarchy -check -top {design.top}\n"
                  f"proc\n"
                  f"tee -o latches.txt select -count {cells}\n")
        log = run_yosys(script, cwd=work, log_name="latch_check.log")
        text = (work / "latches.txt").read_text() if (work / "latches.txt").exists() else log
        match = re.search(r"(\d+) objects", text)
        if match is None:
            raise EIEError("could not read the latch count from yosys")
        return int(match.group(1))
