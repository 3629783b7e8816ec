"""Host side of the benchmark's HDL read memory (``tb/run/axi_rd_mem_model.v`` in
``tb/run/spatten_bench_top.v``, docs/performance.md §5).

:class:`HdlMemDevice` is a ``verif.axil.AxilDevice`` whose read ports are served by the HDL
model instead of cocotbext-axi: no Python runs per read beat, so a 16-channel build simulates
at Verilator speed. The bytearray ``mem`` stays the host's view (``write_mem`` / ``read_mem``,
the golden model's input, E and KEEP read back after DONE); the write port ``m_axiw_*`` keeps
the cocotbext-axi write RAM, which writes into the same bytearray. The HDL memory mirrors the
bytearray: every byte range the host or the write port changed is marked dirty and, before
the next memory read or CSR write (so before every START), the 32-byte words covering the dirty ranges are
written to a hex file (``@word`` address + one 256-bit word per line, byte 31 first) that the
model loads with ``$readmemh`` on the next clock edge (backdoor, no bus time). ``read_back``
reads the HDL memory itself (``$writememh`` of a word range): the check that the mirror holds.

File names come from the plusargs ``+axi_rd_mem_file=PATH`` / ``+axi_rd_mem_dump=PATH``
(:func:`plusargs`), read by both the model and this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import cocotb
import numpy as np
from cocotb.handle import HierarchyObject
from cocotb.triggers import ReadOnly, RisingEdge

from verif.axil import AxilConfig, AxilDevice

WORD = 32  # bytes per model word = one AXI beat
LOAD_ARG, DUMP_ARG = "axi_rd_mem_file", "axi_rd_mem_dump"
TOPLEVEL = "spatten_bench_top"
TB_RUN = Path(__file__).resolve().parents[1] / "tb" / "run"
SOURCES = ("spatten_bench_top.v", "axi_rd_mem_model.v")  # in tb/run/
# only the wrapper's ports and the profiled controller state visible through VPI (the .vlt
# file): Verilator optimises the rest, the cocotb runner's --public-flat-rw undone
VERILATOR_ARGS = ("--no-public-flat-rw", str(TB_RUN / "spatten_bench_top.vlt"))
CXX_OPT = "-O2"  # C++ optimisation of the benchmark build (Verilator's default: -Os)


def plusargs(folder: Path) -> list[str]:
    """Simulator plusargs naming the backdoor files (in ``folder``)."""
    return [f"+{LOAD_ARG}={folder / 'axi_rd_mem_load.hex'}",
            f"+{DUMP_ARG}={folder / 'axi_rd_mem_dump.hex'}"]


def merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Word spans [lo, hi) covering the byte ranges [lo, hi), sorted, overlaps merged."""
    spans: list[tuple[int, int]] = []
    for lo, hi in sorted((lo // WORD, -(-hi // WORD)) for lo, hi in ranges if hi > lo):
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def hex_words(data: bytes) -> bytes:
    """``$readmemh`` lines of whole 32-byte words (little-endian bytes -> MSB-first hex)."""
    words = np.frombuffer(data, dtype=np.uint8).reshape(-1, WORD)[:, ::-1]
    text = np.frombuffer(words.tobytes().hex().encode(), dtype=f"S{2 * WORD}")
    return b"\n".join(text.tolist()) + b"\n"


def load_text(mem: bytes | bytearray, spans: Sequence[tuple[int, int]],
              patch: dict[int, int] | None = None) -> bytes:
    """Hex file of ``mem``'s word spans; ``patch`` XORs bytes of the file only (a mutant)."""
    parts = []
    for lo, hi in spans:
        data = bytearray(mem[lo * WORD:hi * WORD])
        for addr, xor in (patch or {}).items():
            if lo * WORD <= addr < hi * WORD:
                data[addr - lo * WORD] ^= xor
        parts.append(b"@%x\n" % lo + hex_words(bytes(data)))
    return b"".join(parts)


def parse_dump(text: str) -> bytes:
    """Bytes of a ``$writememh`` file of 256-bit words (comments and @ lines skipped)."""
    out = bytearray()
    for line in text.split("\n"):
        tok = line.split("//")[0].strip()
        if tok and not tok.startswith("@"):
            out += bytes.fromhex(tok.rjust(2 * WORD, "0"))[::-1]
    return bytes(out)


class HdlMemDevice(AxilDevice):
    """``AxilDevice`` on ``spatten_bench_top`` (see the module docstring)."""

    def __init__(self, dut: HierarchyObject, cfg: AxilConfig | None = None) -> None:
        super().__init__(dut, cfg)
        args = cocotb.plusargs
        if LOAD_ARG not in args or DUMP_ARG not in args:
            raise RuntimeError(f"{TOPLEVEL} needs +{LOAD_ARG}= and +{DUMP_ARG}= plusargs "
                               "(verif.hdl_mem.plusargs)")
        self.load_file, self.dump_file = Path(str(args[LOAD_ARG])), Path(str(args[DUMP_ARG]))
        self.dirty: list[tuple[int, int]] = []  # both start zeroed
        self.patch: dict[int, int] = {}
        self.high = 0  # end of the highest byte range ever marked
        self._seq = {"load": 0, "dump": 0}
        dut.mem_load_req.value = 0
        dut.mem_dump_req.value = 0
        for wram in self.writers:
            wram.on_write = self._mark

    def _mark(self, addr: int, n: int) -> None:
        self.high = max(self.high, addr + n)
        if self.dirty and self.dirty[-1][1] == addr:  # the next beat of a burst
            self.dirty[-1] = (self.dirty[-1][0], addr + n)
        else:
            self.dirty.append((addr, addr + n))

    def corrupt(self, addr: int, xor: int) -> None:
        """From now on, flip bits ``xor`` of the byte at ``addr`` in the HDL memory only
        (every load of its word): a mutant the golden comparison must catch (the golden model
        reads the intact bytearray)."""
        self.patch[addr] = xor
        self._mark(addr, 1)

    async def _handshake(self, name: str) -> None:
        """Toggle ``mem_<name>_req``; return after the model has acknowledged it."""
        self._seq[name] ^= 1
        getattr(self.dut, f"mem_{name}_req").value = self._seq[name]
        ack = getattr(self.dut, f"mem_{name}_ack")
        while True:
            await RisingEdge(self.clk)
            await ReadOnly()
            if int(ack.value) == self._seq[name]:
                break
        await RisingEdge(self.clk)

    async def flush(self) -> None:
        """Load the dirty words into the HDL memory (no-op when nothing changed)."""
        if not self.dirty:
            return
        self.load_file.write_bytes(load_text(self.mem, merge(self.dirty), self.patch))
        self.dirty = []
        await self._handshake("load")

    async def read_back(self, addr: int, n: int) -> bytes:
        """``n`` bytes at ``addr`` read from the HDL memory (``$writememh``), after a flush."""
        await self.flush()
        lo, hi = addr // WORD, -(-(addr + n) // WORD)
        self.dut.mem_dump_lo.value = lo
        self.dut.mem_dump_hi.value = hi - 1
        await self._handshake("dump")
        data = parse_dump(self.dump_file.read_text())
        return data[addr - lo * WORD:addr - lo * WORD + n]

    async def mirror_errors(self) -> list[int]:
        """Addresses where the HDL memory differs from the bytearray (read back through the
        backdoor over every byte ever written): empty unless a byte was ``corrupt``-ed."""
        if not self.high:
            return []
        got = np.frombuffer(await self.read_back(0, self.high), dtype=np.uint8)
        want = np.frombuffer(bytes(self.mem[:self.high]), dtype=np.uint8)
        return np.flatnonzero(got != want).tolist()

    # ------------------------------------------------------------------ Device protocol
    async def write_mem(self, addr: int, data: bytes) -> None:
        await super().write_mem(addr, data)
        self._mark(addr, len(data))

    async def read_mem(self, addr: int, n: int) -> bytes:
        await self.flush()  # the golden model reads the image right after the host wrote it
        return await super().read_mem(addr, n)

    async def write_reg(self, off: int, val: int) -> None:
        await self.flush()
        await super().write_reg(off, val)
