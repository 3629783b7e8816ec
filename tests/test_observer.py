"""verif.observer.StreamObserver, the stream-protocol observer of every testbench, on
hand-written signal traces (no simulator): bins, packet records, the hold check, reset."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from verif.observer import Port, StreamObserver

SIGNALS = ("valid", "ready", "last", "data")
NAMES = itertools.count()  # pyuvm: one uvm_root, children need distinct names


def make(ports: tuple[Port, ...]) -> tuple[StreamObserver, SimpleNamespace]:
    obs = StreamObserver(f"obs{next(NAMES)}", None)
    obs.ports = ports
    obs.build_phase()
    dut = SimpleNamespace(rst_n=SimpleNamespace(value=1), **{
        f"{p.prefix}_{s}": SimpleNamespace(value=0) for p in ports for s in SIGNALS})
    obs.bind(dut)
    return obs, dut


def run(obs: StreamObserver, dut: SimpleNamespace, prefix: str, trace: str) -> None:
    """One cycle per letter: ``-`` idle, ``s`` valid but stalled, ``b`` accepted beat,
    ``L`` accepted last beat, ``r`` reset."""
    for c in trace:
        dut.rst_n.value = int(c != "r")
        getattr(dut, f"{prefix}_valid").value = int(c in "sbL")
        getattr(dut, f"{prefix}_ready").value = int(c in "bL")
        getattr(dut, f"{prefix}_last").value = int(c == "L")
        obs.observe_cycle(dut)


def test_bins_and_packets() -> None:
    obs, dut = make((Port("in", bins=("stall", "gap", "back_to_back")),))
    run(obs, dut, "in", "bs-LbL--sbbL")
    assert obs.hits == {"in_stall": 2, "in_gap": 1, "in_back_to_back": 1}
    assert obs.starts["in"] == [1, 5, 10] and obs.ends["in"] == [4, 6, 12]
    assert obs.packet_spans("in") == [(2, 4), (2, 2), (3, 3)]
    assert obs.errors == []


def test_reset_ends_a_packet_without_counting() -> None:
    obs, dut = make((Port("in"),))
    run(obs, dut, "in", "b-rr-bL")
    assert obs.hits == {"in_stall": 0, "in_gap": 1}
    assert obs.starts["in"] == [1, 6] and obs.ends["in"] == [7]


def test_a_stalled_beat_must_hold_still() -> None:
    obs, dut = make((Port("out", bins={"stall": "out_backpressure"}, hold=("data",)),))
    dut.out_data.value = 5
    run(obs, dut, "out", "ss")
    assert obs.errors == [] and obs.hits == {"out_backpressure": 2}
    dut.out_data.value = 6  # changes while the beat is still stalled
    run(obs, dut, "out", "sb")
    assert len(obs.errors) == 1 and "stalled out beat changed" in obs.errors[0]


def test_one_beat_packets_and_bad_bins() -> None:
    obs, dut = make((Port("e", last=False, bins=("stall",)),))
    run(obs, dut, "e", "bsbb")
    assert obs.starts["e"] == obs.ends["e"] == [1, 3, 4] and obs.hits == {"e_stall": 1}
    with pytest.raises(ValueError, match="not countable"):
        Port("e", last=False).bin_names()  # no gap inside a one-beat packet
    with pytest.raises(ValueError, match="not countable"):
        Port("x", bins=("idle",)).bin_names()
