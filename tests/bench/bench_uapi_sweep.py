"""Benchmark-style figure: how many Linux 7.2 linux/*.h headers that gcc can
check alone come out of `vfiogen inspect` identical to gcc, per ABI.
Run: `python tests/bench/bench_uapi_sweep.py [-v]` (-v lists every failure)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "gen"))

import uapi_sweep  # noqa: E402


def main() -> None:
    start = time.perf_counter()
    verdicts = uapi_sweep.sweep()
    if "-v" in sys.argv:
        for abi, vs in verdicts.items():
            for v in vs:
                if v.refused:
                    print(f"{abi} {v.header}: refused: {v.refused}")
                elif v.bad:
                    print(f"{abi} {v.header}: {len(v.bad)} differ: {'; '.join(v.bad[:3])}")
    print(uapi_sweep.figure(verdicts))
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
