"""Per-request cost inside the guest: a C loop, raw fcntl.ioctl with a
prepared buffer, the generated request functions and the high-level API, on
three real requests (region info, IRQ info, a DMA map/unmap pair).

Not part of the tier (the file name is not test_*): run it by name,
  python tests/hardware/rig.py run 7.2 -- tests/hardware/guest/bench_requests.py -s
It prints a table and writes bench-requests.json into the rig's work dir.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[3] / "generated"))

from vfio import abi, api  # noqa: E402
from vfio import requests as rq  # noqa: E402

N = 2000
HERE = Path(__file__).parent


def per_call_ns(fn, n: int = N) -> float:
    fn()
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n


def test_request_costs(edu) -> None:  # noqa: ANN001 (the guest conftest's fixture)
    work = Path(os.environ["VFIOGEN_RIG_WORK"])
    binary = work / "request_loop"
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(HERE / "request_loop.c")], check=True)
    with api.Container() as c, api.Group(edu.group) as g:
        g.set_container(c)
        c.set_iommu()
        with g.open_device(edu.bdf) as dev, c.dma_buffer(4096, 0x300000) as buf:
            out = subprocess.run(
                [str(binary), str(dev.fd), str(c.fd), str(N)],
                pass_fds=(dev.fd, c.fd),
                capture_output=True,
                text=True,
                check=True,
            )
            c_region, c_irq, c_map = (float(x) for x in out.stdout.split())

            region_buf = bytearray(
                struct.pack("=IIIIQQ", 32, 0, abi.VFIO_PCI_BAR0_REGION_INDEX, 0, 0, 0)
            )
            irq_buf = bytearray(struct.pack("=IIII", 16, 0, abi.VFIO_PCI_MSI_IRQ_INDEX, 0))
            map_buf = bytearray(struct.pack("=IIQQQ", 32, 3, buf.vaddr, 0x200000, 4096))
            unmap_buf = bytearray(struct.pack("=IIQQ", 24, 0, 0x200000, 4096))

            def raw_map_unmap() -> None:
                fcntl.ioctl(c.fd, abi.VFIO_IOMMU_MAP_DMA, map_buf, True)
                fcntl.ioctl(c.fd, abi.VFIO_IOMMU_UNMAP_DMA, unmap_buf, True)

            region = abi.vfio_region_info(argsz=32, index=abi.VFIO_PCI_BAR0_REGION_INDEX)
            irq = abi.vfio_irq_info(argsz=16, index=abi.VFIO_PCI_MSI_IRQ_INDEX)
            m = abi.vfio_iommu_type1_dma_map(
                argsz=32, flags=3, vaddr=buf.vaddr, iova=0x200000, size=4096
            )
            u = abi.vfio_iommu_type1_dma_unmap(argsz=24, iova=0x200000, size=4096)

            def typed_map_unmap() -> None:
                rq.vfio_iommu_map_dma(c.fd, m)
                u.size = 4096
                rq.vfio_iommu_unmap_dma(c.fd, u)

            rows = {
                "region info": (
                    c_region,
                    per_call_ns(
                        lambda: fcntl.ioctl(
                            dev.fd, abi.VFIO_DEVICE_GET_REGION_INFO, region_buf, True
                        )
                    ),
                    per_call_ns(lambda: rq.vfio_device_get_region_info(dev.fd, region)),
                    per_call_ns(lambda: dev.region_info(abi.VFIO_PCI_BAR0_REGION_INDEX)),
                ),
                "irq info": (
                    c_irq,
                    per_call_ns(
                        lambda: fcntl.ioctl(dev.fd, abi.VFIO_DEVICE_GET_IRQ_INFO, irq_buf, True)
                    ),
                    per_call_ns(lambda: rq.vfio_device_get_irq_info(dev.fd, irq)),
                    per_call_ns(lambda: dev.irq_info(abi.VFIO_PCI_MSI_IRQ_INDEX)),
                ),
                "dma map+unmap": (
                    c_map,
                    per_call_ns(raw_map_unmap, N // 4),
                    per_call_ns(typed_map_unmap, N // 4),
                    per_call_ns(
                        lambda: (c.map_dma(0x200000, 4096, buf.vaddr), c.unmap_dma(0x200000, 4096)),
                        N // 4,
                    ),
                ),
            }
    print(f"\nns per request, TCG guest, {N} iterations (map/unmap {N // 4})")
    print(f"{'request':16}{'C':>10}{'fcntl':>10}{'requests':>10}{'api':>10}   ratios to C")
    for name, (cc, raw, typed, high) in rows.items():
        print(
            f"{name:16}{cc:10.0f}{raw:10.0f}{typed:10.0f}{high:10.0f}   "
            f"{raw / cc:.2f} {typed / cc:.2f} {high / cc:.2f}"
        )
    (work / "bench-requests.json").write_text(json.dumps(rows, indent=1))
    assert all(v > 0 for row in rows.values() for v in row)
