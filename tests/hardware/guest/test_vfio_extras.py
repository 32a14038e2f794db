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
from vfio import requests as rq

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


def dirty_pages(container: api.Container, flags: int, get: object = None) -> None:
    head = ctypes.sizeof(abi.vfio_iommu_type1_dirty_bitmap)
    body = bytes(get) if get is not None else b""  # type: ignore[call-overload]
    buf = bytearray(head) + bytearray(body)
    d = abi.vfio_iommu_type1_dirty_bitmap.from_buffer(buf)
    d.argsz, d.flags = len(buf), flags
    del d
    rq.vfio_iommu_dirty_pages(container.fd, buf)


def test_dirty_page_tracking(type1v2: tuple[api.Container, api.Device]) -> None:
    """START, then GET_BITMAP over a mapped buffer: with no page pinned by a
    vendor driver, type1 must report every mapped page dirty; STOP."""
    container, _ = type1v2
    info = container.iommu_info()
    assert info.migration is not None, "type1 advertises dirty tracking (CAP_MIGRATION)"
    with container.dma_buffer(8 * PAGE, IOVA) as buf:
        dirty_pages(container, abi.VFIO_IOMMU_DIRTY_PAGES_FLAG_START)
        bitmap = (ctypes.c_uint64 * 1)()
        get = abi.vfio_iommu_type1_dirty_bitmap_get(iova=buf.iova, size=buf.size)
        get.bitmap.pgsize, get.bitmap.size = PAGE, ctypes.sizeof(bitmap)
        get.bitmap.data = ctypes.addressof(bitmap)
        dirty_pages(container, abi.VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP, get)
        assert bitmap[0] == 0xFF, hex(bitmap[0])
        dirty_pages(container, abi.VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP)


def test_ioeventfd_writes_the_register(type1v2: tuple[api.Container, api.Device]) -> None:
    """An ioeventfd on edu's liveness register: signalling the eventfd makes
    the kernel write the value, which edu answers inverted."""
    _, dev = type1v2
    bar = dev.region_info(abi.VFIO_PCI_BAR0_REGION_INDEX)
    bar0 = Mmio(dev.mmap(abi.VFIO_PCI_BAR0_REGION_INDEX))
    efd = os.eventfd(0, os.EFD_CLOEXEC)
    try:
        req = abi.vfio_device_ioeventfd()
        req.argsz = ctypes.sizeof(req)
        req.flags = abi.VFIO_DEVICE_IOEVENTFD_32
        req.offset, req.data, req.fd = bar.offset + EDU_LIVE, 0x5A5A1234, efd
        rq.vfio_device_ioeventfd(dev.fd, req)
        bar0.w32(EDU_LIVE, 0)
        os.eventfd_write(efd, 1)
        deadline = time.monotonic() + 5
        while bar0.r32(EDU_LIVE) != ~0x5A5A1234 & 0xFFFFFFFF:
            assert time.monotonic() < deadline, "the ioeventfd did not write the register"
            time.sleep(0.01)
        req.fd = -1  # tear it down
        rq.vfio_device_ioeventfd(dev.fd, req)
    finally:
        os.close(efd)
        bar0.close()
