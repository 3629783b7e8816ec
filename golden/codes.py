"""ERROR_CODE values of spatten_top (docs/architecture.md), shared by the golden command model
(``golden.accel``) and the RTL: ``golden.fixed.write_verilog_header`` emits them as
``SPATTEN_ERR_<NAME>`` defines into rtl/spatten_fixed.vh, which spatten_csr (START checks) and
spatten_ctrl (AXI errors, abort) use. No dependencies, so both sides can import it."""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    NONE = 0
    BAD_N = 1
    BAD_D = 2
    BAD_HEADS = 3
    K_GT_LIVE = 4
    MISALIGNED = 5
    START_BUSY = 6
    AXI_READ = 7
    AXI_WRITE = 8
    BAD_BITS = 9
    ABORTED = 10  # CTRL.ABORT ended the command (an AXI error in the same command wins: 7 / 8)
