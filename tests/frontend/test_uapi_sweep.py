"""Issue 11's goal: at least 95% of the Linux 7.2 linux/*.h headers that gcc
can check alone come out of vfiogen identical to gcc, on x86_64 and i386
(every size, alignment, offset, bit-field, constant and request number; no
record or integer macro of the header missed). gcc's answers are cached in
build/gcc-answers, so a rerun only recompiles with vfiogen."""

from __future__ import annotations

import pytest

import uapi_sweep
from support import require_compiler


@pytest.mark.gcc
def test_uapi_headers_match_gcc() -> None:
    for abi in uapi_sweep.SWEEP_ABIS:
        require_compiler(abi)
    verdicts = uapi_sweep.sweep()
    for abi, vs in verdicts.items():
        assert len(vs) > 400, f"{abi}: only {len(vs)} checkable headers"
        same = sum(v.identical for v in vs)
        assert same >= 0.95 * len(vs), (
            uapi_sweep.figure(verdicts)
            + "\n"
            + "\n".join(
                f"{v.header}: {v.refused or '; '.join(v.bad[:2])}" for v in vs if not v.identical
            )
        )
