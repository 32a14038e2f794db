"""Benchmark: whole-process `vfiogen spec` vs ctypesgen on vfio.h 7.2.

Prints the median wall time of several runs of each command, cache warm,
in the same run on the same machine, and the peak RSS of the largest
process of each (gcc's preprocessor included). Run: `make bench`.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vfiogen.inputs import releases

RUNS = 9


def measure(cmd: list[str]) -> tuple[float, int]:
    """(median seconds, peak RSS in KiB) of a command run RUNS times; timed
    directly, the RSS read once through a wrapper that waits for it."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if out.returncode:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    wrapper = [
        sys.executable,
        "-c",
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
        *cmd,
    ]
    peak = int(subprocess.run(wrapper, capture_output=True, text=True).stdout.split()[-1])
    return statistics.median(times), peak


def in_process(header: Path, tree: Path) -> float:
    """Median seconds of the compilation alone, inside this process."""
    from vfiogen import pipeline as compiler
    from vfiogen.inputs import sources
    from vfiogen.ir.codec import to_json

    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        src = sources.from_header(header, [tree / "any-linux-any"])
        to_json(compiler.compile_spec(src, ("x86_64", "i386", "aarch64"), warn=False))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    rel = releases.get_release("7.2")
    tree = releases.fetch(rel, quiet=True)
    header = tree / "any-linux-any/linux/vfio.h"
    inc = [f"-I{tree / 'any-linux-any'}", f"-I{tree / 'x86-linux-any'}"]
    out = Path(tempfile.mkdtemp())
    base, _ = measure([sys.executable, "-c", "pass"])
    rows = []
    ours = [
        sys.executable,
        "-m",
        "vfiogen",
        "spec",
        "--header",
        str(header),
        *["-I" + str(tree / "any-linux-any")],
        "--abis",
        "x86_64,i386,aarch64",
        "-q",
        "-o",
        str(out / "s.json"),
    ]
    t, rss = measure(ours)
    rows.append(("vfiogen spec (vfio.h 7.2, 3 ABIs, overlay)", t, rss))
    beside = Path(sys.executable).parent / "ctypesgen"  # not a version manager's shell shim
    ctg = str(beside) if beside.is_file() else shutil.which("ctypesgen")
    if ctg:
        t, rss = measure(
            [ctg, *inc, "--cpp=gcc -E -D__signed__=signed", str(header), "-o", str(out / "c.py")]
        )
        rows.append(("ctypesgen 1.1.1 (vfio.h 7.2, 1 ABI)", t, rss))
    load = os.getloadavg()
    print(
        f"median of {RUNS} runs, whole process, cache warm; python startup alone: {base * 1000:.0f} ms; "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print(
        "  in process (spec from the spec cache + JSON, what a command without a kept answer "
        f"does; no startup, no imports): {in_process(header, tree) * 1000:.0f} ms"
    )
    for name, t, rss in rows:
        print(f"  {name:48} {t * 1000:7.0f} ms   peak RSS {rss / 1024:6.1f} MiB")
    if not ctg:
        print("  (ctypesgen not installed: pip install ctypesgen==1.1.1 to compare)")
    shutil.rmtree(out)


if __name__ == "__main__":
    main()
