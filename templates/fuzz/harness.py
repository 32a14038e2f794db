#!/usr/bin/env python3
# vfiogen's fuzz runtime, copied verbatim from templates/fuzz/harness.py by `vfiogen build`.
"""Coverage-guided fuzzing of the vfio decoders (fuzz/targets.py), for a time.

    python generated/fuzz/harness.py --seconds 60                 # every target
    python generated/fuzz/harness.py --seconds 60 --target walk   # the walk.* targets
    python generated/fuzz/harness.py --replay WORK/artifacts/crash-*   # rerun inputs
    python generated/fuzz/harness.py --list

Engine: atheris (libFuzzer for Python: `pip install atheris`), the vfio
package and the targets instrumented for coverage. Without atheris,
`--engine mutate` runs seeded random mutations of the same corpus in pure
Python (reproducible with --seed, not coverage-guided). The corpus starts
from fuzz/seeds/*.txt plus, for every target, zeros the size of its struct;
an input's first byte picks the target. Any outcome of an input other than
a decoded value or vfio.errors.DecodeError (another exception, a failed
check of what was decoded, an input running longer than --timeout) is a
failure: the input is saved under the work dir's artifacts/.

Exit status: 0 when the time ran out without a failure, 1 on a failure
(libFuzzer's own status when atheris found it), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import random
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    sys.path[0] = str(HERE.parent)  # generated/: the `vfio` and `fuzz` packages

if TYPE_CHECKING:
    from fuzz.targets import Target

SEEDS = HERE / "seeds"
INTERESTING = (
    *(0, 1, 4, 7, 8, 0x10, 0x20, 0x7F, 0x80, 0xFF, 0x100, 0x1000, 0x7FFF, 0xFFFF),
    *(0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF),
)


def load_seeds() -> dict[str, list[tuple[str, bytes]]]:
    """target -> [(what, bytes)] from the seed files: a `== target: what`
    line, then the bytes as hex."""
    out: dict[str, list[tuple[str, bytes]]] = {}
    for path in sorted(SEEDS.glob("*.txt")):
        target, what = "", ""
        hexdigits: list[str] = []
        for line in path.read_text().splitlines() + ["== end"]:
            if line.startswith("=="):
                if target:
                    out.setdefault(target, []).append((what, bytes.fromhex("".join(hexdigits))))
                target, _, what = line[2:].strip().partition(": ")
                hexdigits = []
            elif line and not line.startswith("#"):
                hexdigits.append(line.replace(" ", ""))
    return out


def select(targets: tuple[Target, ...], wanted: list[str]) -> tuple[Target, ...]:
    """The targets named, or whose kind is named ("walk"); all when none are."""
    if not wanted:
        return targets
    chosen = tuple(t for t in targets if t.name in wanted or t.name.split(".")[0] in wanted)
    unknown = [
        w for w in wanted if not any(t.name == w or t.name.startswith(w + ".") for t in targets)
    ]
    if unknown:
        print(f"harness: no target {', '.join(unknown)} (see --list)", file=sys.stderr)
        sys.exit(2)
    return chosen


def initial_corpus(selected: tuple[Target, ...]) -> list[bytes]:
    """Every seed of the selected targets, and zeros of each target's size,
    each behind the byte that selects its target."""
    seeds = load_seeds()
    out = []
    for i, t in enumerate(selected):
        prefix = bytes([i % 256])
        out.append(prefix + bytes(t.size))
        out += [prefix + data for _, data in seeds.get(t.name, [])]
    return out


class Stats:
    """Inputs run per target kind, and how they ended."""

    def __init__(self, selected: tuple[Target, ...], engine: str) -> None:
        self.selected = selected
        self.engine = engine
        self.start = time.monotonic()
        self.kinds = [t.name.split(".")[0] for t in selected]
        self.runs: dict[str, list[int]] = {k: [0, 0] for k in self.kinds}  # decoded, DecodeError
        self.seen = [False] * len(selected)
        self.total = 0

    def record(self, data: bytes, decoded: bool) -> None:
        self.total += 1
        if data:
            i = data[0] % len(self.selected)
            self.seen[i] = True
            self.runs[self.kinds[i]][0 if decoded else 1] += 1

    def report(self) -> None:
        elapsed = time.monotonic() - self.start
        total = self.total
        for kind, (ok, rejected) in self.runs.items():
            print(
                f"harness: {kind:10} {ok + rejected:10} inputs, {ok} decoded, {rejected} DecodeError"
            )
        missed = [t.name for t, s in zip(self.selected, self.seen) if not s]
        if missed:
            print(f"harness: {len(missed)} targets never ran: {', '.join(missed[:8])}")
        print(
            f"harness: {total} inputs in {elapsed:.1f} s ({total / max(elapsed, 1e-9):.0f} inputs/s), "
            f"engine {self.engine}, {len(self.selected)} targets, 0 failures"
        )
        sys.stdout.flush()


def fuzz_atheris(args: argparse.Namespace, work: Path) -> int:
    atheris: Any = importlib.import_module("atheris")  # no type stubs

    with atheris.instrument_imports(include=["vfio", "fuzz"]):
        from fuzz import targets
    selected = select(targets.TARGETS, args.target)
    corpus, seeds = work / "corpus", work / "seeds"
    for d in (corpus, seeds, work / "artifacts"):
        d.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(initial_corpus(selected)):
        (seeds / f"seed-{i:04}").write_bytes(data)
    stats = Stats(selected, f"atheris {getattr(atheris, '__version__', '')}".strip())
    deadline = stats.start + args.seconds

    def one(data: bytes) -> None:
        try:
            decoded = targets.run(selected, data)
        except Exception:
            print(f"harness: failure in target {selected[data[0] % len(selected)].name}")
            raise
        stats.record(data, decoded)
        if time.monotonic() >= deadline or stats.total == args.runs > 0:
            stats.report()
            if args.work is None:
                shutil.rmtree(work, ignore_errors=True)
            os._exit(0)  # libFuzzer has no clean way back; its corpus is on disk already

    atheris.Setup(
        [
            sys.argv[0],
            f"-max_total_time={int(args.seconds) + 60}",
            f"-timeout={args.timeout}",
            f"-seed={args.seed}",
            f"-artifact_prefix={work / 'artifacts'}/",
            "-print_final_stats=1",
            str(corpus),
            str(seeds),
        ],
        one,
    )
    atheris.Fuzz()
    return 1  # not reached: libFuzzer exits


class Hang(Exception):
    """An input ran longer than --timeout."""


def mutate(data: bytes, rng: random.Random, corpus: list[bytes]) -> bytes:
    """One to four of: bit flip, random byte, interesting or offset-like
    integer at an aligned position, insert, delete, truncate, splice. The
    first byte (the target) is kept."""
    head, buf = data[:1], bytearray(data[1:])
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        if op == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op in (2, 3) and len(buf) >= 4:
            i = rng.randrange(len(buf) // 4) * 4
            value = rng.choice(INTERESTING) if op == 2 else rng.randrange(0, len(buf) + 64, 4)
            struct.pack_into("=I", buf, i, value + rng.choice((0, 0, 0, 1, 2, -4)) & 0xFFFFFFFF)
        elif op == 4:
            i = rng.randrange(len(buf) + 1)
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 4, 8, 16))))
        elif op == 5 and buf:
            i = rng.randrange(len(buf))
            del buf[i : i + rng.choice((1, 4, 8, 16))]
        elif op == 6 and buf:
            del buf[rng.randrange(len(buf)) :]
        elif op == 7:
            other = rng.choice(corpus)[1:]
            i = rng.randrange(len(buf) + 1)
            buf[i:] = other[rng.randrange(len(other) + 1) :]
    return head + bytes(buf[:65536])


def fuzz_mutate(args: argparse.Namespace, work: Path) -> int:
    from fuzz import targets

    selected = select(targets.TARGETS, args.target)
    corpus = initial_corpus(selected)
    rng = random.Random(args.seed)
    stats = Stats(selected, f"mutate (seed {args.seed}, not coverage-guided)")
    deadline = stats.start + args.seconds

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"an input ran longer than {args.timeout} s")

    signal.signal(signal.SIGALRM, alarm)
    # the seeds as they are first, then mutations of the corpus
    pending = list(corpus)
    while time.monotonic() < deadline and not stats.total == args.runs > 0:
        data = pending.pop() if pending else mutate(rng.choice(corpus), rng, corpus)
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
        try:
            decoded = targets.run(selected, data)
        except Exception as exc:  # every other outcome is the failure we look for
            signal.setitimer(signal.ITIMER_REAL, 0)
            kind = "timeout" if isinstance(exc, Hang) else "crash"
            saved = work / "artifacts" / f"{kind}-{stats.total}"
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_bytes(data)
            traceback.print_exc()
            print(
                f"harness: failure in target {selected[data[0] % len(selected)].name}, input saved to {saved}"
            )
            return 1
        signal.setitimer(signal.ITIMER_REAL, 0)
        stats.record(data, decoded)
        if decoded and len(corpus) < 4096 and rng.random() < 0.02:
            corpus.append(data)
    stats.report()
    return 0


def replay(args: argparse.Namespace) -> int:
    """Run saved inputs once each, with the traceback of any failure."""
    from fuzz import targets

    selected = select(targets.TARGETS, args.target)
    for path in args.replay:
        data = Path(path).read_bytes()
        name = selected[data[0] % len(selected)].name if data else "-"
        decoded = targets.run(selected, data)
        print(f"harness: {path}: {name}: {'decoded' if decoded else 'DecodeError'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz (default 60)")
    p.add_argument("--runs", type=int, default=0, help="stop after this many inputs (0: no limit)")
    p.add_argument("--target", action="append", default=[], help="a target or kind (repeatable)")
    p.add_argument("--engine", choices=("auto", "atheris", "mutate"), default="auto")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    p.add_argument("--work", type=Path, help="corpus and artifacts (default: a temporary dir)")
    p.add_argument("--list", action="store_true", help="list the targets and their seeds")
    p.add_argument("--replay", nargs="+", metavar="FILE", help="run saved inputs once")
    args = p.parse_args(argv)
    if args.list:
        from fuzz import targets

        seeds = load_seeds()
        for t in targets.TARGETS:
            print(f"{t.name:60} {len(seeds.get(t.name, []))} seeds")
        return 0
    if args.replay:
        return replay(args)
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if importlib.util.find_spec("atheris") else "mutate"
    work = args.work or Path(tempfile.mkdtemp(prefix="vfio-fuzz-"))
    rc = (fuzz_atheris if engine == "atheris" else fuzz_mutate)(args, work)
    if rc == 0 and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    elif rc:
        print(f"harness: work dir kept: {work}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
