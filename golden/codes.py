"""Codes shared by the golden model, the testbenches and the RTL, defined once here.
``golden.fixed.write_verilog_header`` emits them into rtl/spatten_fixed.vh (a test fails when
it is stale); the RTL uses the named defines, never the raw numbers:

* :class:`ErrorCode` — ERROR_CODE values of spatten_top (docs/architecture.md), ``SPATTEN_ERR_*``:
  spatten_csr (START checks), spatten_ctrl (AXI errors, abort), golden.accel.
* :class:`ImportanceOp` — ``in_op`` of token_importance / head_importance, ``SPATTEN_IMP_OP_*``:
  spatten_ctrl drives them, verif.importance (the benches) too.
* :class:`ByteClass` — byte-class ids of the DRAM traffic counters (kv_fetcher / e_writer
  ``job_class``), ``SPATTEN_CLASS_*``; golden.traffic names its classes after them.
* :class:`FetchJob` — what spatten_ctrl's current fetcher job loads (where the rows go),
  ``SPATTEN_FJOB_*``.

No dependencies, so every side can import it."""

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
    BAD_LAYOUT = 11  # regions: HEAD_STRIDE too small for a head's block, or a write overlaps


class ImportanceOp(IntEnum):
    """Operation of an importance-accumulator command packet (docs/importance.md)."""

    CLEAR = 0  # every entry reads 0 (live count 0)
    ACC = 1  # accumulate one row (token: probabilities; head: |E|)
    READ = 2  # stream the entries out
    COMPACT = 3  # token_importance only: keep the listed positions (head_importance: reserved)


class ByteClass(IntEnum):
    """Byte class of a memory job, the index of its traffic counter (golden/traffic.py)."""

    Q = 0
    K_MSB = 1
    K_LSB = 2
    V_MSB = 3
    V_LSB = 4  # never fetched (V has no progressive step)
    E = 5
    KEEP = 6  # the kept-token list (written, not counted in a CSR)
    NONE = 7  # a plane that is not fetched (kv_fetcher job_lsb_en = 0)


class FetchJob(IntEnum):
    """Kind of spatten_ctrl's current K/V fetcher job: where its rows go."""

    K_MSB = 0  # key buffer, MSB plane
    Q = 1  # query register
    K_LSB = 2  # key buffer, merged as the LSB plane
    V = 3  # value buffer
