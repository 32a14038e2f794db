"""Benchmark: the reference docs of the newest release, sources and HTML.

Prints the median wall time of: rendering the pages from a compiled spec
(in process), the whole `vfiogen docs` command (compile with the release
history, render, write), and the Sphinx HTML build of those sources from
scratch (the command CI runs). Run: `python tests/bench/bench_docs.py`.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vfiogen import pipeline as compiler
from vfiogen.inputs import releases
from vfiogen.inputs import sources
from vfiogen.cli.docs import sphinx_command
from vfiogen.emit.docs import build as docs

RUNS = 5
HTML_RUNS = 3


def median_seconds(cmd: list[str], runs: int, before: Path | None = None) -> float:
    times = []
    for _ in range(runs):
        if before is not None:
            shutil.rmtree(before, ignore_errors=True)
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if out.returncode:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    return statistics.median(times)


def main() -> None:
    newest = list(releases.load_pins())[-1]
    spec = compiler.compile_spec(sources.from_release(newest, quiet=True), warn=False)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        tree = docs.render_docs(spec)
        times.append(time.perf_counter() - start)
    render = statistics.median(times)
    out = Path(tempfile.mkdtemp())
    cli = median_seconds(
        [sys.executable, "-m", "vfiogen", "docs", newest, "-q", "--out", str(out / "src")], RUNS
    )
    html = median_seconds(sphinx_command(out / "src", out / "html"), HTML_RUNS, before=out / "html")
    pages = sum(p.endswith(".md") for p in tree)
    print(f"reference docs of {newest}: {pages} pages; median wall time, cache warm")
    print(f"  render_docs(spec), in process                 {render * 1000:7.0f} ms")
    print(f"  vfiogen docs {newest} (compile+history+render+write) {cli * 1000:7.0f} ms")
    print(f"  sphinx HTML build, from scratch (-n -W)        {html * 1000:7.0f} ms")
    shutil.rmtree(out)


if __name__ == "__main__":
    main()
