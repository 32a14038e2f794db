"""Per-request cost inside the guest, on a real vfio-pci device (edu): a C
loop, raw fcntl.ioctl with a prepared buffer, the generated request
functions, and the high-level API, on region info (the request given its
struct, and given a bytearray: the escape hatch for a struct and its tail),
IRQ info, a device feature probe (probe_feature, and the general feature())
and a DMA map/unmap pair.

A tier test that asserts no timing (TCG timings say little about a real
machine): only that every number was measured. The table goes to the
output (`-s`), to bench-requests.json in the rig's work dir and to the junit
report (record_testsuite_property); BENCHMARKS.md quotes it. By hand:
  python tests/hardware/rig.py run 7.2-full -- tests/hardware/guest/test_bench_requests.py -s
The proof recorder wraps the request functions in the guest; the timed
calls run with the originals (the wrappers are not what users call).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from vfio import _ioctl, abi, api
from vfio import requests as rq

N = 200  # calls per run (map/unmap: N // 4)
ROUNDS = 40  # runs of each, interleaved, the best kept (map/unmap varies most)
HERE = Path(__file__).parent
PROOF_MODE = "type1v2"


def per_call_ns(calls: list[Callable[[], object]], n: int = N, rounds: int = ROUNDS) -> list[float]:
    """ns per call of each: the best of `rounds` short runs of n calls, the
    calls interleaved round by round (the guest shares the host's cores: the
    best short run is the one no other process interrupted)."""
    best = [float("inf")] * len(calls)
    for fn in calls:
        fn()
    for _ in range(rounds):
        for i, fn in enumerate(calls):
            start = time.perf_counter_ns()
            for _ in range(n):
                fn()
            best[i] = min(best[i], (time.perf_counter_ns() - start) / n)
    return best


@contextlib.contextmanager
def unwrapped(*modules: Any) -> Iterator[None]:
    """The modules' functions as shipped: the proof recorder's wrappers
    (conftest) set aside while timing."""
    saved = []
    for module in modules:
        for name, value in vars(module).copy().items():
            original = getattr(value, "__wrapped__", None)
            if getattr(value, "_proof", False) and original is not None:
                saved.append((module, name, value))
                setattr(module, name, original)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def test_request_costs(edu, record_testsuite_property) -> None:  # noqa: ANN001 (fixtures)
    work = Path(os.environ["VFIOGEN_RIG_WORK"])
    binary = work / "request_loop"
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(HERE / "request_loop.c")], check=True)
    with api.Container() as c, api.Group(edu.group) as g:
        g.set_container(c)
        if c.set_iommu() != abi.VFIO_TYPE1v2_IOMMU:
            pytest.skip("the benchmark's map/unmap rows are type1v2's (POWER has sPAPR)")
        with g.open_device(edu.bdf) as dev, c.dma_buffer(4096, 0x300000) as buf:
            out = subprocess.run(
                [str(binary), str(dev.fd), str(c.fd), str(N * 10)],
                pass_fds=(dev.fd, c.fd),
                capture_output=True,
                text=True,
                check=True,
            )
            c_region, c_irq, c_map = (float(x) for x in out.stdout.split())
            with unwrapped(rq, _ioctl):
                rows = measure(dev, c, buf.vaddr, c_region, c_irq, c_map)
                if Path("/dev/iommu").exists():  # iommufd: the same pages in an IOAS
                    rows["ioas map+unmap"] = measure_ioas(buf.vaddr)
    lines = [f"ns per request, TCG guest, best of {ROUNDS} runs of {N} calls (map/unmap {N // 4})"]
    lines.append(
        f"{'request':20}{'C':>8}{'fcntl':>8}{'request':>9}{'built':>8}{'api':>8}"
        "  req/fcntl api/req api/built"
    )
    for name, row in rows.items():
        cc = f"{row['C']:8.0f}" if row["C"] else f"{'-':>8}"
        built = row.get("request_built")
        per_call = f"{built:8.0f}" if built else f"{'-':>8}"
        versus = f"{row['api'] / built:10.2f}" if built else f"{'-':>10}"
        lines.append(
            f"{name:20}{cc}{row['fcntl']:8.0f}{row['request']:9.0f}{per_call}{row['api']:8.0f}"
            f"  {row['request'] / row['fcntl']:9.2f} {row['api'] / row['request']:7.2f}{versus}"
        )
    print("\n" + "\n".join(lines))
    (work / "bench-requests.json").write_text(json.dumps(rows, indent=1) + "\n")
    record_testsuite_property("bench_requests", json.dumps(rows))
    measured = [v for row in rows.values() for k, v in row.items() if k != "C" or v]
    expected = 24 + (4 if Path("/dev/iommu").exists() else 0)
    assert len(measured) == expected and all(v > 0 for v in measured)


def measure_ioas(vaddr: int) -> dict[str, float]:
    """IOMMU_IOAS_MAP + UNMAP of one page at a fixed IOVA (no C loop)."""
    with api.Iommufd() as iommufd, iommufd.ioas() as ioas:
        fd, iova = iommufd.fd, 0x400000
        m = abi.iommu_ioas_map(size=40, ioas_id=ioas.id, user_va=vaddr, length=4096, iova=iova)
        m.flags = (
            abi.IOMMU_IOAS_MAP_FIXED_IOVA
            | abi.IOMMU_IOAS_MAP_READABLE
            | abi.IOMMU_IOAS_MAP_WRITEABLE
        )
        u = abi.iommu_ioas_unmap(size=24, ioas_id=ioas.id, iova=iova, length=4096)
        map_buf, unmap_buf = bytearray(m), bytearray(u)
        n_map, n_unmap = abi.IOMMU_IOAS_MAP, abi.IOMMU_IOAS_UNMAP

        def raw() -> None:
            fcntl.ioctl(fd, n_map, map_buf, True)
            fcntl.ioctl(fd, n_unmap, unmap_buf, True)

        def typed() -> None:  # the kernel writes back the length it unmapped: 4096 again
            rq.iommu_ioas_map(fd, m)
            rq.iommu_ioas_unmap(fd, u)

        def built() -> None:
            m = abi.iommu_ioas_map(size=40, ioas_id=ioas.id, user_va=vaddr, length=4096, iova=iova)
            m.flags = fixed_rw
            rq.iommu_ioas_map(fd, m)
            rq.iommu_ioas_unmap(
                fd, abi.iommu_ioas_unmap(size=24, ioas_id=ioas.id, iova=iova, length=4096)
            )

        def high() -> None:
            ioas.map_dma(iova, 4096, vaddr)
            ioas.unmap_dma(iova, 4096)

        fixed_rw = m.flags
        fcntl_ns, request_ns, built_ns, api_ns = per_call_ns([raw, typed, built, high], N // 4)
    return {
        "C": 0.0,
        "fcntl": fcntl_ns,
        "request": request_ns,
        "request_built": built_ns,
        "api": api_ns,
    }


def measure(
    dev: api.Device, c: api.Container, vaddr: int, c_region: float, c_irq: float, c_map: float
) -> dict[str, dict[str, float]]:
    bar0, msi = abi.VFIO_PCI_BAR0_REGION_INDEX, abi.VFIO_PCI_MSI_IRQ_INDEX
    region_buf = bytearray(struct.pack("=IIIIQQ", 32, 0, bar0, 0, 0, 0))
    irq_buf = bytearray(struct.pack("=IIII", 16, 0, msi, 0))
    low_power = abi.VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY
    probe = abi.VFIO_DEVICE_FEATURE_PROBE | abi.VFIO_DEVICE_FEATURE_SET | low_power
    feature_buf = bytearray(struct.pack("=II", 8, probe))
    feature = abi.vfio_device_feature(argsz=8, flags=probe)
    map_buf = bytearray(struct.pack("=IIQQQ", 32, 3, vaddr, 0x200000, 4096))
    unmap_buf = bytearray(struct.pack("=IIQQ", 24, 0, 0x200000, 4096))
    region = abi.vfio_region_info(argsz=32, index=bar0)
    irq = abi.vfio_irq_info(argsz=16, index=msi)
    m = abi.vfio_iommu_type1_dma_map(argsz=32, flags=3, vaddr=vaddr, iova=0x200000, size=4096)
    u = abi.vfio_iommu_type1_dma_unmap(argsz=24, iova=0x200000, size=4096)
    fd, cfd = dev.fd, c.fd
    # every number in a local: the raw calls do not pay for vfio.abi's attribute loads
    n_region, n_irq = abi.VFIO_DEVICE_GET_REGION_INFO, abi.VFIO_DEVICE_GET_IRQ_INFO
    n_feature, n_map, n_unmap = (
        abi.VFIO_DEVICE_FEATURE,
        abi.VFIO_IOMMU_MAP_DMA,
        abi.VFIO_IOMMU_UNMAP_DMA,
    )
    probe_set = abi.VFIO_DEVICE_FEATURE_PROBE | abi.VFIO_DEVICE_FEATURE_SET

    def raw_map_unmap() -> None:
        fcntl.ioctl(cfd, n_map, map_buf, True)
        fcntl.ioctl(cfd, n_unmap, unmap_buf, True)

    def typed_map_unmap() -> None:  # the kernel writes back the size it unmapped: 4096 again
        rq.vfio_iommu_map_dma(cfd, m)
        rq.vfio_iommu_unmap_dma(cfd, u)

    def built_map_unmap() -> None:  # the typed requests as code with changing addresses writes them
        rq.vfio_iommu_map_dma(
            cfd,
            abi.vfio_iommu_type1_dma_map(argsz=32, flags=3, vaddr=vaddr, iova=0x200000, size=4096),
        )
        rq.vfio_iommu_unmap_dma(
            cfd, abi.vfio_iommu_type1_dma_unmap(argsz=24, iova=0x200000, size=4096)
        )

    def api_map_unmap() -> None:
        c.map_dma(0x200000, 4096, vaddr)
        c.unmap_dma(0x200000, 4096)

    def row(
        cc: float,
        raw: Callable[[], object],
        typed: Callable[[], object],
        high: Callable[[], object],
        n: int = N,
        built: Callable[[], object] | None = None,
    ) -> dict[str, float]:
        """One row; `built`: the typed request with its argument made per
        call, for the verbs that also make theirs on every call."""
        if built is None:
            fcntl_ns, request_ns, api_ns = per_call_ns([raw, typed, high], n)
            return {"C": cc, "fcntl": fcntl_ns, "request": request_ns, "api": api_ns}
        fcntl_ns, request_ns, built_ns, api_ns = per_call_ns([raw, typed, built, high], n)
        return {
            "C": cc,
            "fcntl": fcntl_ns,
            "request": request_ns,
            "request_built": built_ns,
            "api": api_ns,
        }

    return {
        "region info": row(
            c_region,
            lambda: fcntl.ioctl(fd, n_region, region_buf, True),
            lambda: rq.vfio_device_get_region_info(fd, region),
            lambda: dev.region_info(bar0),
        ),
        "irq info": row(
            c_irq,
            lambda: fcntl.ioctl(fd, n_irq, irq_buf, True),
            lambda: rq.vfio_device_get_irq_info(fd, irq),
            lambda: dev.irq_info(msi),
        ),
        "region info, bytes": row(  # the typed request given a bytearray (a struct + tail)
            c_region,
            lambda: fcntl.ioctl(fd, n_region, region_buf, True),
            lambda: rq.vfio_device_get_region_info(fd, region_buf),
            lambda: dev.region_info(bar0),
        ),
        "feature probe": row(  # the verb asks once: a driver's features do not change
            0.0,
            lambda: fcntl.ioctl(fd, n_feature, feature_buf, True),
            lambda: rq.vfio_device_feature(fd, feature),
            lambda: dev.probe_feature(low_power, abi.VFIO_DEVICE_FEATURE_SET),
        ),
        "feature()": row(  # the general verb: a buffer built and a request made per call
            0.0,
            lambda: fcntl.ioctl(fd, n_feature, feature_buf, True),
            lambda: rq.vfio_device_feature(fd, feature),
            lambda: dev.feature(low_power, probe_set),
            built=lambda: rq.vfio_device_feature(fd, abi.vfio_device_feature(argsz=8, flags=probe)),
        ),
        "dma map+unmap": row(
            c_map, raw_map_unmap, typed_map_unmap, api_map_unmap, N // 4, built_map_unmap
        ),
    }
