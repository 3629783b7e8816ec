"""verif.lanes, the one lane-packing helper: the bit layout (lane i at bits [i*w, (i+1)*w),
two's complement modulo 2^w) against a per-lane reference, round trips, and the edge cases the
testbenches rely on (one row, no rows, no lanes, bits above the last lane)."""

from __future__ import annotations

import numpy as np
import pytest

from golden import blocks as blk
from verif.lanes import pack, pack_lanes, unpack, unpack_lanes


def reference_word(values: list[int], width: int) -> int:
    return sum((v % (1 << width)) << (i * width) for i, v in enumerate(values))


@pytest.mark.parametrize("width", [1, 3, 7, 8, 12, 16, 20, 32, 48])
@pytest.mark.parametrize("lanes", [1, 5, 8, 33])
def test_layout_and_round_trip(width: int, lanes: int) -> None:
    rng = np.random.default_rng([width, lanes])
    vals = rng.integers(-(1 << (width - 1)), 1 << (width - 1), size=(4, lanes))
    words = pack(vals, width)
    assert words == [reference_word(row.tolist(), width) for row in vals]
    assert np.array_equal(unpack(words, lanes, width, signed=True), vals)
    assert np.array_equal(unpack(words, lanes, width), vals % (1 << width))
    for row, word in zip(vals.tolist(), words, strict=True):
        assert pack_lanes(row, width) == word
        assert unpack_lanes(word, lanes, width, signed=True) == row


def test_a_beat_is_a_packed_memory_row() -> None:
    vals = np.arange(-8, 8).reshape(2, 8)
    data, stride = blk.pack_rows(vals, 5)
    assert pack(vals, 5) == [int.from_bytes(data[i * stride:(i + 1) * stride], "little")
                             for i in range(2)]


def test_edge_cases() -> None:
    assert pack([1, 2, 3], 4) == [0x321]  # 1-D: one row
    assert pack(np.zeros((0, 4), dtype=np.int64), 4) == []
    assert unpack([], 4, 4).shape == (0, 4)
    assert pack_lanes([], 8) == 0 and unpack_lanes(0xFF, 0, 8) == []
    assert unpack_lanes(0xABC, 2, 4) == [0xC, 0xB]  # bits above the last lane are ignored
    assert pack_lanes([-1, 16], 4) == 0x0F  # modulo 2^width
