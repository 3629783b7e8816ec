"""Generated RTL include files are up to date with their generator."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_axi_read_port_includes_are_fresh(tmp_path: Path) -> None:
    gen = runpy.run_path(str(ROOT / "scripts" / "gen_axi_ports.py"))
    gen["write"](tmp_path / "rtl", tmp_path / "tb")
    committed = [("rtl", name) for name in gen["FILES"]]
    committed += [("tb/run", name) for name in gen["TB_FILES"]]
    for folder, name in committed:
        fresh = tmp_path / ("rtl" if folder == "rtl" else "tb") / name
        assert fresh.read_text() == (ROOT / folder / name).read_text(), \
            f"{folder}/{name} is stale: run python scripts/gen_axi_ports.py"


def test_axi_read_port_groups_cover_16_channels() -> None:
    text = (ROOT / "rtl" / "spatten_axi_rd_ports.vh").read_text()
    for c in range(16):
        assert f"m_axi{c}_rdata" in text and f"m_axi{c}_arvalid" in text
    assert "m_axi16_" not in text
