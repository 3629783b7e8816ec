"""Generated RTL include files are up to date with their generator."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_axi_read_port_includes_are_fresh(tmp_path: Path) -> None:
    gen = runpy.run_path(str(ROOT / "scripts" / "gen_axi_ports.py"))
    gen["write"](tmp_path)
    for name in gen["FILES"]:
        assert (tmp_path / name).read_text() == (ROOT / "rtl" / name).read_text(), \
            f"rtl/{name} is stale: run python scripts/gen_axi_ports.py"


def test_axi_read_port_groups_cover_16_channels() -> None:
    text = (ROOT / "rtl" / "spatten_axi_rd_ports.vh").read_text()
    for c in range(16):
        assert f"m_axi{c}_rdata" in text and f"m_axi{c}_arvalid" in text
    assert "m_axi16_" not in text
