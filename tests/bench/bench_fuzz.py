"""Benchmark: throughput of the generated fuzzers (generated/fuzz/).

Prints, for the decoder harness, inputs per second over every target with
each engine there is (atheris, coverage-guided; mutate, pure Python), runs
of --seconds each, median of --runs; for the kernel fuzzer, requests per
second against files that answer ENOTTY (its own cost, no kernel handler
behind it) and, from the reports of the hardware tier's guest runs, against
real VFIO under TCG. Those reports are the rig's work dirs' fuzz-kernel.json
(--report, repeatable), or made here by booting the rig (--guest 7.2).

    python tests/bench/bench_fuzz.py [--seconds 10] [--runs 3] [--guest 7.2 ...] [--report PATH ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
GENERATED = ROOT / "generated"
HARNESS = GENERATED / "fuzz" / "harness.py"
RIG = ROOT / "tests" / "hardware" / "rig.py"
GUEST_TEST = ROOT / "tests" / "hardware" / "guest" / "test_fuzz_kernel.py"
sys.path.insert(0, str(GENERATED))


def harness_rate(engine: str, seconds: float) -> float:
    """Inputs per second of one harness run (its own summary line)."""
    out = subprocess.run(
        [sys.executable, str(HARNESS), "--engine", engine, "--seconds", str(seconds)],
        capture_output=True,
        text=True,
    )
    m = re.search(r"\((\d+) inputs/s\)", out.stdout)
    if out.returncode or m is None:
        raise SystemExit(
            f"harness --engine {engine} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}"
        )
    return float(m.group(1))


def null_device_rate(calls: int = 20000) -> float:
    """Requests per second of the kernel fuzzer when every fd is /dev/null."""
    from fuzz import kernel

    fds = {k: os.open(os.devnull, os.O_RDWR) for k in ("container", "group", "device")}
    rig = kernel.Rig("0000:00:03.0", fds, {e: 0 for e in kernel.EXTENSIONS})
    try:
        campaign = kernel.fuzz(kernel.Fuzzer(rig, random.Random(7)), calls)
    finally:
        rig.close()
        for fd in fds.values():
            os.close(fd)
    return campaign.calls / campaign.elapsed


def guest_report(kernel_name: str) -> Path:
    """Boot the rig with the kernel fuzzer's guest test; its report."""
    work = Path(tempfile.mkdtemp(prefix=f"vfiogen-bench-fuzz-{kernel_name}-"))
    start = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            str(RIG),
            "run",
            kernel_name,
            "--work",
            str(work),
            "--",
            str(GUEST_TEST),
            "-q",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    print(
        f"  (rig boot of {kernel_name}: {time.perf_counter() - start:.1f} s, exit {out.returncode})"
    )
    return work / "fuzz-kernel.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="length of one harness run")
    p.add_argument("--runs", type=int, default=3, help="harness runs per engine (median)")
    p.add_argument("--guest", action="append", default=[], help="boot this kernel (6.1, 7.2)")
    p.add_argument("--report", action="append", default=[], type=Path, help="a fuzz-kernel.json")
    args = p.parse_args()
    engines = ["mutate"]
    if importlib.util.find_spec("atheris") is not None:
        engines.insert(0, "atheris")
    print(f"decoder harness, every target, {args.seconds:.0f} s runs, median of {args.runs}")
    for engine in engines:
        rates = [harness_rate(engine, args.seconds) for _ in range(args.runs)]
        print(
            f"  {engine:8} {statistics.median(rates):10.0f} inputs/s  (runs: {', '.join(f'{r:.0f}' for r in rates)})"
        )
    print("kernel request fuzzer")
    print(f"  fds on /dev/null (its own cost)  {null_device_rate():8.0f} requests/s")
    reports = args.report + [guest_report(k) for k in args.guest]
    for path in reports:
        if not path.is_file():
            print(f"  {path}: no report")
            continue
        r = json.loads(path.read_text())
        print(
            f"  guest, Linux {r['kernel']:22} {r['requests_per_s']:8.0f} requests/s "
            f"({r['iterations']} in {r['elapsed_s']:.2f} s; {r['summary']})"
        )


if __name__ == "__main__":
    main()
