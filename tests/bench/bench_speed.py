"""Benchmark (issue 11): the whole-process time of the main commands, next
to ctypesgen on the same header, in the same run, with the machine's load.

Cache warm: one warm-up run fills the user cache (compiled specs, the pins'
history, the kept answers of spec/diff/history, black's output, Jinja's
compiled templates), then the median of RUNS runs. "Specs cached, no
answer": the compiled specs and history cached but the command's answer
removed before each run (the compiler imported, the specs read). Cold
(cache empty): a cache of its own per run (the fetched release trees
shared); `build`'s and `spec`'s outputs are compared byte for byte with the
warm ones. Goals: build <= 1.5 s and <= 4x ctypesgen, spec <= 0.5x
ctypesgen, diff 6.1 7.2 <= 0.25 s, history <= 0.3 s.
Run: `python tests/bench/bench_speed.py` (from the checkout; bytecode
compiled first, as an installed package has it).
"""

from __future__ import annotations

import compileall
import filecmp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from vfiogen.data import PACKAGE
from vfiogen.inputs import releases

RUNS = 9
COLD_RUNS = 3


Timing = tuple[float, float]  # (median wall seconds, median CPU seconds: user + sys)


def cpu_of_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(cmd: list[str], runs: int = RUNS, **kw: object) -> Timing:
    """Medians of `cmd` (exit status 0 or 1) over `runs` runs after one
    warm-up run: wall time, and CPU time of the process and its children
    (gcc's too), which a loaded machine inflates far less than wall time."""
    walls, cpus = [], []
    for i in range(runs + 1):
        cpu, start = cpu_of_children(), time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
        if i:
            walls.append(time.perf_counter() - start)
            cpus.append(cpu_of_children() - cpu)
        if out.returncode not in (0, 1):
            raise SystemExit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr}")
    return statistics.median(walls), statistics.median(cpus)


def ctypesgen() -> str | None:
    """ctypesgen beside this interpreter (not a version manager's shell shim,
    which would add its own start-up time to ctypesgen's)."""
    beside = Path(sys.executable).parent / "ctypesgen"
    return str(beside) if beside.is_file() else shutil.which("ctypesgen")


def run_ok(cmd: list[str], env: dict[str, str]) -> None:
    """Run `cmd`; exit status 0 or 1 (`diff`: breaking) is success."""
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise SystemExit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr}")


def empty_cache() -> Path:
    """A cache directory of its own, sharing only the fetched release trees."""
    cache = Path(tempfile.mkdtemp(prefix="vfiogen-cold-"))
    (cache / "trees").symlink_to(releases.cache_dir() / "trees")
    return cache


def cold(cmd: list[str], before: Callable[[Path], None] | None = None) -> Timing:
    """Medians of `cmd` with an empty cache each run (`before` prepares it)."""
    walls, cpus = [], []
    for _ in range(COLD_RUNS):
        cache = empty_cache()
        if before is not None:
            before(cache)
        env = dict(os.environ, VFIOGEN_CACHE=str(cache))
        cpu, start = cpu_of_children(), time.perf_counter()
        run_ok(cmd, env)
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_of_children() - cpu)
        shutil.rmtree(cache)
    return statistics.median(walls), statistics.median(cpus)


def answers_removed(cmd: list[str], runs: int = RUNS) -> Timing:
    """Medians of `cmd` with the compiled specs and the pins' history cached
    but no kept answer (`cli.answers`): the compiler imported, the specs read."""
    cache = empty_cache()
    env = dict(os.environ, VFIOGEN_CACHE=str(cache))
    run_ok(cmd, env)
    walls, cpus = [], []
    for _ in range(runs):
        shutil.rmtree(cache / "answers", ignore_errors=True)
        cpu, start = cpu_of_children(), time.perf_counter()
        run_ok(cmd, env)
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_of_children() - cpu)
    shutil.rmtree(cache)
    return statistics.median(walls), statistics.median(cpus)


def same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    stack = [cmp]
    while stack:
        c = stack.pop()
        if c.left_only or c.right_only or c.funny_files:
            return False
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        if mismatch or errors:
            return False
        stack += c.subdirs.values()
    return True


def main() -> None:
    compileall.compile_dir(str(PACKAGE), quiet=1)
    for name in releases.load_pins():
        releases.fetch(releases.get_release(name), quiet=True)
    tree = releases.fetch(releases.get_release("7.2"), quiet=True)
    header = tree / "any-linux-any/linux/vfio.h"
    work = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    load_before = os.getloadavg()
    vfiogen = [sys.executable, "-m", "vfiogen"]
    rows: list[tuple[str, Timing]] = [
        ("python -c pass (interpreter start)", measure([sys.executable, "-c", "pass"]))
    ]
    ctg = ctypesgen()
    t_ctg = None
    if ctg:
        inc = [f"-I{tree / 'any-linux-any'}", f"-I{tree / 'x86-linux-any'}"]
        cmd = [ctg, *inc, "--cpp=gcc -E -D__signed__=signed", str(header), "-o", str(work / "c.py")]
        t_ctg = measure(cmd)
        rows.append(("ctypesgen 1.1.1 vfio.h 7.2 (x86_64)", t_ctg))
    warm_out = work / "warm"
    t_build = measure([*vfiogen, "build", "7.2", "-q", "--out", str(warm_out)])
    rows.append(("vfiogen build 7.2, cache warm", t_build))
    spec = [*vfiogen, "spec", "7.2", "-q", "-o"]
    rows.append(("vfiogen spec 7.2, cache warm", measure([*spec, str(work / "s.json")])))
    spec_header = [*vfiogen, "spec", "--header", str(header), f"-I{tree / 'any-linux-any'}"]
    spec_header += ["--abis", "x86_64,i386,aarch64", "-q", "-o"]
    rows.append(
        ("vfiogen spec --header vfio.h, cache warm", measure([*spec_header, str(work / "h.json")]))
    )
    rows.append(
        ("vfiogen diff 6.1 7.2, cache warm", measure([*vfiogen, "diff", "6.1", "7.2", "-q"]))
    )
    n = len(releases.load_pins())
    rows.append(
        (f"vfiogen history ({n} releases), cache warm", measure([*vfiogen, "history", "-q"]))
    )
    rows.append(
        (
            "vfiogen spec 7.2, specs cached, no answer",
            answers_removed([*spec, str(work / "a.json")]),
        )
    )
    rows.append(
        (
            "vfiogen diff 6.1 7.2, specs cached, no answer",
            answers_removed([*vfiogen, "diff", "6.1", "7.2", "-q"]),
        )
    )
    rows.append(("vfiogen spec 7.2, cache empty", cold([*spec, str(work / "s-cold.json")])))
    rows.append(
        (
            "vfiogen spec --header vfio.h, cache empty",
            cold([*spec_header, str(work / "h-cold.json")]),
        )
    )
    cold_out = work / "cold"
    rows.append(
        (
            "vfiogen build 7.2, cache empty",
            cold([*vfiogen, "build", "7.2", "-q", "--out", str(cold_out)]),
        )
    )
    load_after = os.getloadavg()
    print(
        f"median of {RUNS} runs (cold: {COLD_RUNS}), whole process, wall and CPU (user+sys, "
        f"children included); load average (1, 5, 15 min) before "
        f"{load_before[0]:.1f} {load_before[1]:.1f} {load_before[2]:.1f}, "
        f"after {load_after[0]:.1f} {load_after[1]:.1f} {load_after[2]:.1f}"
    )
    for name, (wall, cpu) in rows:
        ratio = ""
        if t_ctg and "vfiogen" in name:
            ratio = f"  {wall / t_ctg[0]:5.2f}x / {cpu / t_ctg[1]:5.2f}x ctypesgen"
        print(f"  {name:48} {wall * 1000:7.0f} ms wall {cpu * 1000:7.0f} ms CPU{ratio}")
    same_spec = all(
        filecmp.cmp(work / a, work / b, shallow=False)
        for a, b in (("s.json", "s-cold.json"), ("s.json", "a.json"), ("h.json", "h-cold.json"))
    )
    print(f"  cold and warm build outputs identical: {same_tree(warm_out, cold_out)}")
    print(f"  cold, uncached-answer and warm spec outputs identical: {same_spec}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
