"""The generated vfio package against real VFIO (container/group path) and
QEMU's edu device, inside the rig's guest.

Everything goes through vfio.api / vfio.requests; the only hand-written
numbers are edu's own registers (QEMU's docs/specs/edu.rst). The edu checks
(`check_*`) take any opened Device and DMA space, so that the iommufd/cdev
tests (test_vfio_iommufd.py) run the very same ones."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import select
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BINDINGS = Path(os.environ.get("VFIO_BINDINGS", Path(__file__).parents[3] / "generated"))
sys.path.insert(0, str(BINDINGS))

from vfio import abi, api  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import VfioError  # noqa: E402

PROOF_MODE = "type1v2"  # what these tests prove (guest/proof.py)
EDU_ID, EDU_LIVE, EDU_FACT, EDU_STATUS = 0x00, 0x04, 0x08, 0x20
EDU_IRQ_STATUS, EDU_IRQ_RAISE, EDU_IRQ_ACK = 0x24, 0x60, 0x64
EDU_DMA_SRC, EDU_DMA_DST, EDU_DMA_CNT, EDU_DMA_CMD = 0x80, 0x88, 0x90, 0x98
EDU_DMA_BUF = 0x40000
IOVA = 0x100000
DMA_BYTES = 2048  # QEMU 7.2's edu aborts on a full 4096-byte transfer


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


class Mmio:
    """Exact-width accesses to an mmap()ed BAR (edu wants 4/8-byte loads)."""

    def __init__(self, mm: mmap.mmap) -> None:
        self.mm = mm
        self._anchor = ctypes.c_char.from_buffer(mm)
        self.base = ctypes.addressof(self._anchor)

    def r32(self, off: int) -> int:
        return ctypes.c_uint32.from_address(self.base + off).value

    def w32(self, off: int, value: int) -> None:
        ctypes.c_uint32.from_address(self.base + off).value = value

    def r64(self, off: int) -> int:
        return ctypes.c_uint64.from_address(self.base + off).value

    def w64(self, off: int, value: int) -> None:
        ctypes.c_uint64.from_address(self.base + off).value = value

    def close(self) -> None:
        del self._anchor
        self.mm.close()


def wait_eventfd(efd: int, timeout: float = 5.0) -> int | None:
    ready, _, _ = select.select([efd], [], [], timeout)
    return int.from_bytes(os.read(efd, 8), "little") if ready else None


@pytest.fixture(scope="module")
def stack(edu) -> Iterator[tuple[api.Container, api.Group, api.Device]]:
    before = open_fds()
    container = api.Container()
    group = api.Group(edu.group)
    group.set_container(container)
    container.set_iommu()
    device = group.open_device(edu.bdf)
    yield container, group, device
    device.close()
    group.unset_container()
    group.close()
    container.close()
    assert open_fds() == before, "file descriptors leaked"


@pytest.fixture()
def bar0(stack) -> Iterator[Mmio]:
    mm = Mmio(stack[2].mmap(abi.VFIO_PCI_BAR0_REGION_INDEX))
    yield mm
    mm.close()


def test_container_group_and_iommu(edu) -> None:
    before = open_fds()
    with api.Container() as c, api.Group(edu.group) as g:
        assert c.api_version == abi.VFIO_API_VERSION
        assert {abi.VFIO_TYPE1_IOMMU, abi.VFIO_TYPE1v2_IOMMU} <= set(c.supported_iommus())
        assert api.Group.number_of(edu.bdf) == edu.group
        assert g.group_status().viable and not g.group_status().container_set
        g.set_container(c)
        assert (
            g.group_status().flags
            == abi.VFIO_GROUP_FLAGS_VIABLE | abi.VFIO_GROUP_FLAGS_CONTAINER_SET
        )
        assert c.set_iommu() == abi.VFIO_TYPE1v2_IOMMU
        info = c.iommu_info()
        assert info.iova_pgsizes & 0x1000
        assert info.iova_ranges and info.iova_ranges[0][0] == 0
        assert all(start <= end for start, end in info.iova_ranges)
        assert any(cap.name == "VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE" for cap in info.capabilities)
        g.unset_container()
        assert not g.group_status().container_set
    assert open_fds() == before


def test_device_info_and_regions(stack) -> None:
    check_device_info_and_regions(stack[2])


def check_device_info_and_regions(dev: api.Device) -> None:
    """Device info, BAR0 and config region infos, edu's IDs in config space."""
    info = dev.info
    assert info.flags & abi.VFIO_DEVICE_FLAGS_PCI
    assert info.num_regions >= abi.VFIO_PCI_NUM_REGIONS - 1 and info.num_irqs >= 2
    regions = {r.index: r for r in dev.regions()}
    bar0 = regions[abi.VFIO_PCI_BAR0_REGION_INDEX]
    assert bar0.size == 1 << 20
    # vfio_pci_core_ioctl_get_info() (drivers/vfio/pci/vfio_pci_core.c): a
    # BAR of nonzero size is READ | WRITE, plus MMAP when page-aligned (edu's
    # 1 MiB BAR0 is); CAPS only for an MSI-X BAR, and edu has MSI, no MSI-X.
    assert bar0.flags == (
        abi.VFIO_REGION_INFO_FLAG_READ
        | abi.VFIO_REGION_INFO_FLAG_WRITE
        | abi.VFIO_REGION_INFO_FLAG_MMAP
    ), hex(bar0.flags)
    config = regions[abi.VFIO_PCI_CONFIG_REGION_INDEX]
    assert config.size >= 256 and config.offset == abi.VFIO_PCI_CONFIG_REGION_INDEX << 40
    # the config region is READ | WRITE only: never mmap()ed
    assert config.flags == abi.VFIO_REGION_INFO_FLAG_READ | abi.VFIO_REGION_INFO_FLAG_WRITE
    assert (dev.config_read(0, 2), dev.config_read(2, 2)) == (0x1234, 0x11E8)


def test_edu_registers_through_mmap_and_pread(stack, bar0: Mmio) -> None:
    check_edu_registers(stack[2], bar0)


def check_edu_registers(dev: api.Device, bar0: Mmio) -> None:
    """edu's ID, liveness (inverted echo) and factorial, through both the
    mmap()ed BAR0 and pread/pwrite on the device fd."""
    assert bar0.r32(EDU_ID) == 0x010000ED
    assert dev.read_int(abi.VFIO_PCI_BAR0_REGION_INDEX, EDU_ID) == 0x010000ED
    bar0.w32(EDU_LIVE, 0x12345678)
    assert bar0.r32(EDU_LIVE) == ~0x12345678 & 0xFFFFFFFF
    dev.write_int(abi.VFIO_PCI_BAR0_REGION_INDEX, EDU_FACT, 10)
    deadline = time.monotonic() + 5
    while bar0.r32(EDU_STATUS) & 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert dev.read_int(abi.VFIO_PCI_BAR0_REGION_INDEX, EDU_FACT) == 3628800


def run_dma(bar: Mmio, src: int, dst: int, count: int, cmd: int) -> None:
    bar.w64(EDU_DMA_SRC, src)
    bar.w64(EDU_DMA_DST, dst)
    bar.w64(EDU_DMA_CNT, count)
    bar.w64(EDU_DMA_CMD, cmd)
    deadline = time.monotonic() + 5
    while bar.r64(EDU_DMA_CMD) & 1:
        assert time.monotonic() < deadline, "edu DMA did not finish"
        time.sleep(0.002)


def test_dma_round_trip(stack, bar0: Mmio) -> None:
    check_dma_round_trip(stack[2], stack[0], bar0)


def check_dma_round_trip(dev: api.Device, space: api.Container | api.Ioas, bar0: Mmio) -> None:
    """edu DMAs a pattern from a buffer mapped through `space` into itself
    and back to another page of it; the bytes must match."""
    dev.enable_bus_master()
    assert dev.config_read(0x04, 2) & 0x4
    pattern = bytes((i * 7 + 3) & 0xFF for i in range(DMA_BYTES))
    with space.dma_buffer(0x2000, IOVA) as buf:
        buf.view[:DMA_BYTES] = pattern
        buf.view[0x1000 : 0x1000 + DMA_BYTES] = bytes(DMA_BYTES)
        run_dma(bar0, IOVA, EDU_DMA_BUF, DMA_BYTES, 0x1)  # RAM -> device
        run_dma(bar0, EDU_DMA_BUF, IOVA + 0x1000, DMA_BYTES, 0x1 | 0x2)  # device -> RAM
        assert bytes(buf.view[0x1000 : 0x1000 + DMA_BYTES]) == pattern
    assert not buf.mapped


def test_dma_errors(stack) -> None:
    container = stack[0]
    with container.dma_buffer(0x2000, IOVA) as buf:
        with pytest.raises(VfioError) as err:  # the same IOVA range again
            container.map_dma(IOVA, 0x1000, buf.vaddr)
        assert err.value.errno == errno.EEXIST and err.value.request == "VFIO_IOMMU_MAP_DMA"
        with pytest.raises(VfioError) as err:  # beyond the IOMMU's address width
            container.map_dma(1 << 60, 0x1000, buf.vaddr)
        assert err.value.errno in (errno.EINVAL, errno.ENOSPC, errno.EFAULT)
    # nothing is mapped there any more: the kernel unmaps nothing
    assert container.unmap_dma(IOVA, 0x2000) == 0
    with pytest.raises(ValueError):  # checked before the call
        container.map_dma(IOVA + 1, 0x1000, 0)


def test_msi_and_intx_interrupts(stack, bar0: Mmio) -> None:
    check_msi_and_intx(stack[2], bar0)


def check_msi_and_intx(dev: api.Device, bar0: Mmio) -> None:
    """MSI and INTx into eventfds, fired by edu and by VFIO's trigger; INTx
    masked and unmasked; disabled interrupts are not delivered."""
    assert dev.irq_info(abi.VFIO_PCI_MSI_IRQ_INDEX).count == 1
    assert dev.irq_info(abi.VFIO_PCI_INTX_IRQ_INDEX).flags & abi.VFIO_IRQ_INFO_EVENTFD
    for index in (abi.VFIO_PCI_MSI_IRQ_INDEX, abi.VFIO_PCI_INTX_IRQ_INDEX):
        efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            dev.enable_irq(index, [efd])
            bar0.w32(EDU_IRQ_RAISE, 0x1)  # fired by the device
            assert wait_eventfd(efd) == 1, f"no interrupt from edu on index {index}"
            bar0.w32(EDU_IRQ_ACK, bar0.r32(EDU_IRQ_STATUS))
            if index == abi.VFIO_PCI_INTX_IRQ_INDEX:
                dev.unmask_irq(index)  # vfio-pci masks INTx when it fires
            dev.trigger_irq(index)  # fired by VFIO itself
            assert wait_eventfd(efd) == 1, f"no loopback interrupt on index {index}"
            if index == abi.VFIO_PCI_INTX_IRQ_INDEX:
                dev.mask_irq(index)
                bar0.w32(EDU_IRQ_RAISE, 0x1)
                assert wait_eventfd(efd, 0.3) is None, "a masked INTx was delivered"
                dev.unmask_irq(index)  # the line is still up: now it arrives
                assert wait_eventfd(efd) == 1
                bar0.w32(EDU_IRQ_ACK, bar0.r32(EDU_IRQ_STATUS))
                dev.unmask_irq(index)
            dev.disable_irq(index)
            bar0.w32(EDU_IRQ_RAISE, 0x1)
            assert wait_eventfd(efd, 0.3) is None, "a disabled interrupt was delivered"
            bar0.w32(EDU_IRQ_ACK, bar0.r32(EDU_IRQ_STATUS))
        finally:
            os.close(efd)


def test_errors_are_clean_and_the_process_goes_on(stack) -> None:
    container, group, dev = stack
    with pytest.raises(VfioError) as err:
        dev.reset()  # edu has no reset method
    assert err.value.errno == errno.EINVAL and "EINVAL" in str(err.value)
    assert err.value.request == "VFIO_DEVICE_RESET" and err.value.fd_kind == "device"
    with pytest.raises(VfioError) as err:
        dev.region_info(100)
    assert err.value.errno == errno.EINVAL
    with pytest.raises(VfioError) as err:
        dev.irq_info(100)
    assert err.value.errno == errno.EINVAL
    info = abi.vfio_device_info()
    info.argsz = ctypes.sizeof(info)
    with pytest.raises(VfioError) as err:  # a device request on the container
        rq.vfio_device_get_info(container.fd, info)
    assert err.value.errno == errno.ENOTTY
    with pytest.raises(VfioError) as err:  # a container request on a device
        rq.vfio_get_api_version(dev.fd)
    assert err.value.errno == errno.ENOTTY
    assert (
        container.api_version == 0
        and dev.info.num_regions > 0
        and group.group_status().container_set
    )
