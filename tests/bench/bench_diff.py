"""Benchmark: whole-process `vfiogen diff 6.1 7.2` and `vfiogen history`, next
to libabigail on the same pair (check-uapi.sh's recipe: gcc -g of each header,
abidw, abidiff).

Prints the median wall time of several runs of each command, cache warm
(every pinned release fetched first). abidiff sees one header on one ABI,
so its line is vfio.h on x86_64 (6.1 has no iommufd.h); ours compares both
headers on four ABIs. Run: `python tests/bench/bench_diff.py`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vfiogen.inputs import releases

sys.path.insert(0, str(Path(__file__).parent.parent))
from uapi_facts import check_uapi_command  # noqa: E402  (the recipe the tests use)

RUNS = 9
OLD, NEW = "6.1", "7.2"


def measure(cmd: list[str], ok: tuple[int, ...] = (0,), runs: int = RUNS, **kw: object) -> float:
    """Median seconds of `cmd` over `runs` runs (one warm-up run first)."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
        if i:
            times.append(time.perf_counter() - start)
        if out.returncode not in ok:
            raise SystemExit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr}")
    return statistics.median(times)


def main() -> None:
    for name in releases.load_pins():
        releases.fetch(releases.get_release(name), quiet=True)
    vfiogen = [sys.executable, "-m", "vfiogen"]
    rows = [
        ("python -c pass (interpreter start)", measure([sys.executable, "-c", "pass"])),
        (
            f"vfiogen diff {OLD} {NEW} (text)",
            measure([*vfiogen, "diff", OLD, NEW, "-q"], ok=(0, 1)),
        ),
        (
            f"vfiogen diff {OLD} {NEW} --format json",
            measure([*vfiogen, "diff", OLD, NEW, "-q", "--format", "json"], ok=(0, 1)),
        ),
        (
            f"vfiogen diff {OLD} {NEW} --format html",
            measure([*vfiogen, "diff", OLD, NEW, "-q", "--format", "html"], ok=(0, 1)),
        ),
        (
            f"vfiogen history ({len(releases.load_pins())} releases)",
            measure([*vfiogen, "history", "-q"], runs=5),
        ),
    ]
    if shutil.which("abidiff") and shutil.which("abidw"):
        work = Path(tempfile.mkdtemp(prefix="bench-abidiff-"))
        header, abi = "linux/vfio.h", "x86_64"
        objs, xmls = {}, {}
        t_gcc = t_abidw = 0.0
        for rel in (OLD, NEW):
            objs[rel] = work / f"{rel}.o"
            xmls[rel] = work / f"{rel}.xml"
            t_gcc += measure(
                check_uapi_command(rel, header, abi, objs[rel]),
                input="int main(void) { return 0; }\n",
            )
            t_abidw += measure(
                ["abidw", "--load-all-types", "--out-file", str(xmls[rel]), str(objs[rel])]
            )
        t_diff = measure(
            ["abidiff", "--non-reachable-types", str(xmls[OLD]), str(xmls[NEW])],
            ok=tuple(range(16)),
        )
        t_direct = measure(
            ["abidiff", "--non-reachable-types", str(objs[OLD]), str(objs[NEW])],
            ok=tuple(range(16)),
        )
        rows += [
            (f"abidiff: gcc -g of vfio.h, 2 releases ({abi})", t_gcc),
            ("abidiff: abidw --load-all-types, 2 objects", t_abidw),
            ("abidiff: abidiff of the two ABI XML files", t_diff),
            ("abidiff: total (gcc + abidw + abidiff)", t_gcc + t_abidw + t_diff),
            ("abidiff on the two objects directly (as check-uapi.sh)", t_direct),
        ]
    else:
        rows.append(("abidiff: not installed (tests/install-abigail.sh)", float("nan")))
    width = max(len(r[0]) for r in rows)
    load = os.getloadavg()
    print(
        f"median of {RUNS} runs (history: 5), cache warm, {sys.version.split()[0]}, "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    for label, seconds in rows:
        print(f"{label:{width}}  {seconds * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
