"""Generated RTL include files are up to date with their generator, and the tops use them."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the tops that share spatten_top's CSR slave / write port lists, and the generated includes
# that must replace their hand-written copies
USERS = {
    "rtl/spatten_top.v": (
        "spatten_axil_ports.vh",
        "spatten_axiw_ports.vh",
        "spatten_axi_rd_ports.vh",
        "spatten_axil_conn.vh",
        "spatten_axiw_map.vh",
        "spatten_axi_rd_map.vh",
    ),
    "tb/run/spatten_bench_top.v": (
        "spatten_axil_ports.vh",
        "spatten_axiw_ports.vh",
        "spatten_axil_conn.vh",
        "spatten_axiw_conn.vh",
        "spatten_axi_rd_conn.vh",
    ),
}
# a signal of a generated port group (outside comments: the tops name them only through the
# includes, so any such name is a hand-written declaration or connection)
PORT_SIGNAL = re.compile(r"\b(?:s_axil|m_axiw|m_axi\d+)_\w+")
COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def _generator() -> dict:
    return runpy.run_path(str(ROOT / "scripts" / "gen_axi_ports.py"))


def test_axi_port_includes_are_fresh(tmp_path: Path) -> None:
    gen = _generator()
    gen["write"](tmp_path / "rtl", tmp_path / "tb")
    committed = [("rtl", name) for name in gen["FILES"]]
    committed += [("tb/run", name) for name in gen["TB_FILES"]]
    used = {name for includes in USERS.values() for name in includes}
    assert used <= {name for _folder, name in committed}
    for folder, name in committed:
        fresh = tmp_path / ("rtl" if folder == "rtl" else "tb") / name
        assert fresh.read_text() == (ROOT / folder / name).read_text(), (
            f"{folder}/{name} is stale: run python scripts/gen_axi_ports.py"
        )


def test_axi_read_port_groups_cover_16_channels() -> None:
    text = (ROOT / "rtl" / "spatten_axi_rd_ports.vh").read_text()
    for c in range(16):
        assert f"m_axi{c}_rdata" in text and f"m_axi{c}_arvalid" in text
    assert "m_axi16_" not in text


def test_csr_and_write_port_lists_cover_the_protocol() -> None:
    gen = _generator()
    axil = {name for name, _d, _w in gen["AXIL"]}
    axiw = {name for name, _d, _w in gen["AXIW"]}
    for ch in ("aw", "w", "ar"):
        assert {f"{ch}valid", f"{ch}ready"} <= axil | axiw
    assert {"bvalid", "bready", "bresp", "rvalid", "rready", "rdata", "rresp"} <= axil
    assert {"awid", "wdata", "wstrb", "wlast", "bid", "bresp", "bvalid", "bready"} <= axiw


def test_tops_include_the_generated_lists_and_repeat_none() -> None:
    for path, includes in USERS.items():
        text = (ROOT / path).read_text()
        for name in includes:
            assert f'`include "{name}"' in text, f"{path} does not include {name}"
        found = PORT_SIGNAL.search(COMMENT.sub("", text))
        assert found is None, f"{path} repeats a generated port list: {found.group(0)}"
