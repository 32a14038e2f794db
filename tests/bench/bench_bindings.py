"""Benchmark the generated bindings: import time against ctypesgen's output
of the same header, and encode/decode of common structs and a capability
chain against hand-written struct.Struct code. Run: `make bench`."""

from __future__ import annotations

import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
sys.path.insert(0, str(ROOT / "generated"))

from vfio import abi, caps  # noqa: E402

RUNS = 15


def import_us(module: str, path: Path, prefix: str) -> float:
    """Median microseconds of the module's own imports (sum of the self
    times of modules named `prefix*`), bytecode compiled beforehand."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(path)], check=True)
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            cwd=path,
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(path)},
        )
        total = 0
        for line in out.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)", line)
            if m and m.group(2).strip().startswith(prefix):
                total += int(m.group(1))
        samples.append(total)
    return statistics.median(samples)


def ns(stmt, number: int = 20000) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e9


def main() -> None:
    print(f"import (own modules, bytecode compiled, median of {RUNS})")
    print(
        f"  import vfio.abi + vfio.requests      {import_us('vfio.requests', ROOT / 'generated', 'vfio') / 1000:6.2f} ms"
    )
    print(
        f"  import vfio.api (everything)         {import_us('vfio.api', ROOT / 'generated', 'vfio') / 1000:6.2f} ms"
    )
    ctg = shutil.which("ctypesgen")
    if ctg:
        from vfiogen.inputs import releases

        tree = releases.fetch(releases.get_release("7.2"), quiet=True)
        tmp = Path(tempfile.mkdtemp())
        subprocess.run(
            [
                ctg,
                f"-I{tree / 'any-linux-any'}",
                f"-I{tree / 'x86-linux-any'}",
                "--cpp=gcc -E -D__signed__=signed",
                str(tree / "any-linux-any/linux/vfio.h"),
                "-o",
                str(tmp / "ctg_vfio.py"),
            ],
            check=True,
            capture_output=True,
        )
        print(
            f"  ctypesgen 1.1.1 output of vfio.h     {import_us('ctg_vfio', tmp, 'ctg_vfio') / 1000:6.2f} ms"
        )
        shutil.rmtree(tmp)

    print("encode/decode, ns per operation (best of 5)")
    region = struct.Struct("=IIIIQQ")
    raw = region.pack(32, 7, 0, 0, 0x100000, 0x70000000000)
    cls = abi.vfio_region_info
    rows = [
        (
            "vfio_region_info decode, generated codec",
            lambda: cls.unpack(raw),
            lambda: region.unpack(raw),
        ),
        (
            "vfio_region_info encode, generated codec",
            lambda: cls.pack(32, 0, 3, 0, 0, 0),
            lambda: region.pack(32, 0, 3, 0, 0, 0),
        ),
        (
            "vfio_region_info decode, ctypes object",
            lambda: _decode_ctypes(raw),
            lambda: region.unpack(raw),
        ),
        (
            "vfio_region_info encode, ctypes object",
            _encode_ctypes,
            lambda: region.pack(32, 0, 3, 0, 0, 0),
        ),
    ]
    chain = _chain_buffer()
    rows.append(
        (
            "capability chain walk (sparse mmap, 2 areas)",
            lambda: caps.walk("region_info", chain, 32),
            lambda: _walk_struct(chain, 32),
        )
    )
    for name, ours, hand in rows:
        a, b = ns(ours), ns(hand)
        print(f"  {name:46} vfio {a:8.0f}   struct.Struct {b:8.0f}   ratio {a / b:4.2f}x")


def _decode_ctypes(raw: bytes) -> tuple[int, int, int, int, int, int]:
    r = abi.vfio_region_info.from_buffer_copy(raw)
    return r.argsz, r.flags, r.index, r.cap_offset, r.size, r.offset


def _encode_ctypes() -> bytes:
    r = abi.vfio_region_info(argsz=32, index=3)
    return bytes(r)


HDR = struct.Struct("=HHI")
SPARSE = struct.Struct("=II")
AREA = struct.Struct("=QQ")


def _chain_buffer() -> bytes:
    body = HDR.pack(1, 1, 0) + SPARSE.pack(2, 0) + AREA.pack(0, 4096) + AREA.pack(8192, 4096)
    return bytes(32) + body


def _walk_struct(data: bytes, first: int) -> list[tuple[int, list[tuple[int, int]]]]:
    """A hand-written walker with the same checks."""
    out = []
    offset, seen = first, set()
    while offset:
        if offset in seen or offset % 4 or offset < 32 or offset + 8 > len(data):
            raise ValueError("bad chain")
        seen.add(offset)
        cid, _version, nxt = HDR.unpack_from(data, offset)
        areas = []
        if cid == 1:
            n, _ = SPARSE.unpack_from(data, offset + 8)
            if offset + 16 + n * 16 > len(data):
                raise ValueError("bad tail")
            areas = [AREA.unpack_from(data, offset + 16 + 16 * i) for i in range(n)]
        out.append((cid, areas))
        offset = nxt
    return out


if __name__ == "__main__":
    main()
