"""Benchmark (issue 11): the short commands of this checkout against another
git ref, interleaved round by round (each round runs every command once),
with ctypesgen in the same rounds, so both sides see the same load.

The other ref is exported with `git archive` to a temporary directory and
bytecode compiled (as this checkout is), then run with PYTHONPATH pointing
at it; both share the user cache (each finds its own entries: the keys hold
the generator's digest). Warm: one round before the measured ones fills the
cache. The spec outputs of both sides are compared byte for byte.
Run: `python tests/bench/bench_ab.py [REF] [ROUNDS]` (default: main, 9).
"""

from __future__ import annotations

import compileall
import filecmp
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench_speed import ctypesgen
from vfiogen.inputs import releases

ROOT = Path(__file__).parents[2]


def export(ref: str, into: Path) -> Path:
    """gen/, headers/ and templates/ of `ref`, compiled; its gen/ folder."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "gen", "headers", "templates"],
        check=True,
        capture_output=True,
    ).stdout
    tar = into / "ref.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    compileall.compile_dir(str(into / "gen"), quiet=1)
    return into / "gen"


def main() -> None:
    ref = sys.argv[1] if len(sys.argv) > 1 else "main"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    compileall.compile_dir(str(ROOT / "gen"), quiet=1)
    for name in releases.load_pins():
        releases.fetch(releases.get_release(name), quiet=True)
    tree = releases.fetch(releases.get_release("7.2"), quiet=True)
    header = tree / "any-linux-any/linux/vfio.h"
    work = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    py = sys.executable
    cmds: dict[str, tuple[dict[str, str], list[str]]] = {"python -c pass": ({}, [py, "-c", "pass"])}
    ctg = ctypesgen()
    if ctg:
        inc = [f"-I{tree / 'any-linux-any'}", f"-I{tree / 'x86-linux-any'}"]
        cmd = [ctg, *inc, "--cpp=gcc -E -D__signed__=signed", str(header), "-o", str(work / "c.py")]
        cmds["ctypesgen vfio.h 7.2"] = ({}, cmd)
    for side, gen in ((ref, export(ref, work)), ("this checkout", ROOT / "gen")):
        env = {"PYTHONPATH": str(gen)}
        tag = "ref" if side == ref else "this"
        run = [py, "-m", "vfiogen"]
        cmds[f"{side}: spec 7.2"] = (env, [*run, "spec", "7.2", "-q", "-o", str(work / f"{tag}-s")])
        spec_header = [*run, "spec", "--header", str(header), f"-I{tree / 'any-linux-any'}"]
        spec_header += ["--abis", "x86_64,i386,aarch64", "-q", "-o", str(work / f"{tag}-h")]
        cmds[f"{side}: spec --header vfio.h"] = (env, spec_header)
        cmds[f"{side}: diff 6.1 7.2"] = (env, [*run, "diff", "6.1", "7.2", "-q"])
        cmds[f"{side}: history"] = (env, [*run, "history", "-q"])
    walls: dict[str, list[float]] = {k: [] for k in cmds}
    cpus: dict[str, list[float]] = {k: [] for k in cmds}
    load_before = os.getloadavg()
    for r in range(rounds + 1):
        for name, (env, argv) in cmds.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            out = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if out.returncode not in (0, 1):
                raise SystemExit(f"failed ({out.returncode}): {' '.join(argv)}\n{out.stderr}")
            if r:
                walls[name].append(wall)
                cpus[name].append(
                    after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                )
    load_after = os.getloadavg()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, median of {rounds} interleaved "
        f"rounds, cache warm; load average {load_before[0]:.1f} -> {load_after[0]:.1f}"
    )
    base = "ctypesgen vfio.h 7.2"
    for name in cmds:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        ratio = ""
        if base in cmds:
            ratio = (
                f"  {wall / statistics.median(walls[base]):5.2f}x / "
                f"{cpu / statistics.median(cpus[base]):5.2f}x ctypesgen"
            )
        print(f"  {name:36} {wall * 1000:6.0f} ms wall {cpu * 1000:5.0f} ms CPU{ratio}")
    same = all(
        filecmp.cmp(work / f"ref-{x}", work / f"this-{x}", shallow=False) for x in ("s", "h")
    )
    print(f"  spec outputs of both sides identical: {same}")


if __name__ == "__main__":
    main()
