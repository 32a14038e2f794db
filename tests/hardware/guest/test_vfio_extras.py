"""The type1 container's dirty page tracking and vfio-pci's ioeventfds, on
edu in a type1v2 container (any kernel with VFIO has both)."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator

import pytest
from pci import PciDevice
from test_vfio_legacy import EDU_LIVE, IOVA, Mmio, abi, api, open_fds

PROOF_MODE = "type1v2"  # guest/proof.py
PAGE = 4096


@pytest.fixture()
def type1v2(edu: PciDevice) -> Iterator[tuple[api.Container, api.Device]]:
    before = open_fds()
    with api.Container() as c, api.Group(edu.group) as g:
        g.set_container(c)
        c.set_iommu(abi.VFIO_TYPE1v2_IOMMU)
        with g.open_device(edu.bdf) as dev:
            yield c, dev
        g.unset_container()
    assert open_fds() == before, "file descriptors leaked"


def test_dirty_page_tracking(type1v2: tuple[api.Container, api.Device]) -> None:
    """Container.dirty_tracking(): START, then GET_BITMAP over a mapped buffer: with no
    page pinned by a vendor driver, type1 must report every mapped page
    dirty; arguments the kernel would refuse are refused before it; STOP."""
    container, _ = type1v2
    info = container.iommu_info()
    assert info.migration is not None, "type1 advertises dirty tracking (CAP_MIGRATION)"
    with container.dma_buffer(8 * PAGE, IOVA) as buf:
        with container.dirty_tracking() as tracking:
            assert tracking.page_size == PAGE
            bitmap = tracking.bitmap(buf.iova, buf.size)
            assert bitmap.words == (0xFF,), bitmap
            assert bitmap.dirty_iovas() == [buf.iova + i * PAGE for i in range(8)]
            with pytest.raises(ValueError):  # not a multiple of the IOMMU page
                tracking.bitmap(buf.iova + 512, buf.size)
        assert tracking.closed
        with pytest.raises(ValueError, match="stopped"):
            tracking.bitmap(buf.iova, buf.size)


def test_ioeventfd_writes_the_register(type1v2: tuple[api.Container, api.Device]) -> None:
    """An ioeventfd on edu's liveness register: signalling the eventfd makes
    the kernel write the value, which edu answers inverted."""
    _, dev = type1v2
    bar = dev.region_info(abi.VFIO_PCI_BAR0_REGION_INDEX)
    bar0 = Mmio(dev.mmap(abi.VFIO_PCI_BAR0_REGION_INDEX))
    efd = os.eventfd(0, os.EFD_CLOEXEC)
    try:
        with pytest.raises(ValueError):  # past the BAR: refused before the kernel
            dev.ioeventfd(abi.VFIO_PCI_BAR0_REGION_INDEX, bar.size - 2, 0, 4, efd)
        with dev.ioeventfd(abi.VFIO_PCI_BAR0_REGION_INDEX, EDU_LIVE, 0x5A5A1234, 4, efd) as ev:
            bar0.w32(EDU_LIVE, 0)
            os.eventfd_write(efd, 1)
            deadline = time.monotonic() + 5
            while bar0.r32(EDU_LIVE) != ~0x5A5A1234 & 0xFFFFFFFF:
                assert time.monotonic() < deadline, "the ioeventfd did not write the register"
                time.sleep(0.01)
        assert ev.closed  # torn down (fd -1)
    finally:
        os.close(efd)
        bar0.close()
