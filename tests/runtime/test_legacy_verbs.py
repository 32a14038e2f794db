"""The legacy-side verbs without a kernel: api.DirtyTracking (type1's
VFIO_IOMMU_DIRTY_PAGES, also made by Container.dirty_tracking()), Device.ioeventfd and api.precopy_info: what each
sends, and what each refuses before the request, at the exact boundary.
The kernel's answers are the hardware tier's (guest/test_vfio_extras.py,
guest/test_mdev.py)."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import _legacy, abi, api  # noqa: E402
from vfio import requests as rq  # noqa: E402

PAGE = 4096
HEAD = ctypes.sizeof(abi.vfio_iommu_type1_dirty_bitmap)


def migration_cap(pgsizes: int, max_bytes: int) -> Any:
    cap = abi.vfio_iommu_type1_info_cap_migration()
    cap.pgsize_bitmap, cap.max_dirty_bitmap_size = pgsizes, max_bytes
    return _legacy.IommuInfo(abi.VfioIommuType1InfoFlags(0), 0, [], None, cap, [])


@pytest.fixture()
def container(monkeypatch: pytest.MonkeyPatch) -> Any:
    sent: list[tuple[int, bytes]] = []

    def dirty_pages(fd: int, buf: bytearray) -> int:
        d = abi.vfio_iommu_type1_dirty_bitmap.from_buffer_copy(bytes(buf[:HEAD]))
        assert d.argsz == len(buf)
        sent.append((int(d.flags), bytes(buf[HEAD:])))
        if d.flags == abi.VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP:
            get = abi.vfio_iommu_type1_dirty_bitmap_get.from_buffer_copy(bytes(buf[HEAD:]))
            (ctypes.c_uint64 * 1).from_address(get.bitmap.data)[0] = 0b1001
        return 0

    monkeypatch.setattr(rq, "vfio_iommu_dirty_pages", dirty_pages)
    c = api.Container("/dev/null")
    monkeypatch.setattr(c, "iommu_info", lambda: migration_cap(0x40201000, 8))
    yield c, sent
    c.close()


@pytest.mark.parametrize("make", ["DirtyTracking(c)", "c.dirty_tracking()"])
def test_dirty_tracking_starts_reads_and_stops_once(container: Any, make: str) -> None:
    c, sent = container
    tracking = api.DirtyTracking(c) if make == "DirtyTracking(c)" else c.dirty_tracking()
    assert type(tracking) is api.DirtyTracking and tracking.container is c
    with tracking:
        assert (tracking.page_size, tracking.max_bitmap_bytes) == (PAGE, 8)  # the smallest size
        assert sent == [(abi.VFIO_IOMMU_DIRTY_PAGES_FLAG_START, b"")]
        bitmap = tracking.bitmap(0x100000, 64 * PAGE)  # 64 pages: the 8-byte maximum
        get = abi.vfio_iommu_type1_dirty_bitmap_get.from_buffer_copy(sent[-1][1])
        assert (get.iova, get.size, get.bitmap.pgsize, get.bitmap.size) == (
            0x100000,
            64 * PAGE,
            PAGE,
            8,
        )
        assert bitmap.dirty_pages() == [0, 3]
        with pytest.raises(ValueError, match="reads at most 8"):
            tracking.bitmap(0, 65 * PAGE)
        with pytest.raises(ValueError, match="not a multiple of page_size"):
            tracking.bitmap(PAGE // 2, PAGE)
        with pytest.raises(ValueError, match="length must not be 0"):
            tracking.bitmap(0, 0)
        with pytest.raises(ValueError, match="wraps"):
            tracking.bitmap((1 << 64) - PAGE, 2 * PAGE)
        assert len(sent) == 2
    tracking.close()
    assert [f for f, _ in sent] == [
        abi.VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
        abi.VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
        abi.VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
    ]
    with pytest.raises(ValueError, match="stopped"):
        tracking.bitmap(0, PAGE)


def test_dirty_tracking_needs_the_migration_capability(
    container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c, sent = container
    info = migration_cap(0, 8)._replace(migration=None)
    monkeypatch.setattr(c, "iommu_info", lambda: info)
    with pytest.raises(ValueError, match="CAP_MIGRATION"):
        api.DirtyTracking(c)
    monkeypatch.setattr(c, "iommu_info", lambda: migration_cap(0, 8))
    with pytest.raises(ValueError, match="no IOMMU page size"):
        api.DirtyTracking(c)
    assert sent == []


def test_ioeventfd_is_set_and_removed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[abi.vfio_device_ioeventfd] = []

    def request(fd: int, req: abi.vfio_device_ioeventfd) -> int:
        sent.append(abi.vfio_device_ioeventfd.from_buffer_copy(bytes(req)))
        return 0

    monkeypatch.setattr(rq, "vfio_device_ioeventfd", request)
    with api.Device(os.open("/dev/null", os.O_RDWR)) as dev:
        region = api.RegionInfo(0, abi.VfioRegionInfoFlags(0), 0x100, 0x10000000000, [])
        monkeypatch.setattr(dev, "region_info", lambda index: region)
        with dev.ioeventfd(0, 0xFC, 0xFFFFFFFF, 4, 7) as ev:  # ends at the region's end
            assert not ev.closed
        assert ev.closed
        ev.close()
        assert [(r.flags, r.offset, r.data, r.fd) for r in sent] == [
            (abi.VFIO_DEVICE_IOEVENTFD_32, 0x100000000FC, 0xFFFFFFFF, 7),
            (abi.VFIO_DEVICE_IOEVENTFD_32, 0x100000000FC, 0xFFFFFFFF, -1),
        ]
        dev.ioeventfd(0, 0xF8, (1 << 64) - 1, 8, (1 << 31) - 1)
        assert sent[-1].flags == abi.VFIO_DEVICE_IOEVENTFD_64
        count = len(sent)
        with pytest.raises(ValueError, match="past region 0"):
            dev.ioeventfd(0, 0xFD, 0, 4, 7)
        with pytest.raises(ValueError, match="out of range for a 16-bit"):
            dev.ioeventfd(0, 0, 1 << 16, 2, 7)
        with pytest.raises(ValueError, match="width 3"):
            dev.ioeventfd(0, 0, 0, 3, 7)
        with pytest.raises(ValueError, match="width True"):
            dev.ioeventfd(0, 0, 0, True, 7)
        for fd in (-1, 1 << 31):
            with pytest.raises(ValueError, match="not a file descriptor"):
                dev.ioeventfd(0, 0, 0, 4, fd)
        assert len(sent) == count


def test_precopy_info(monkeypatch: pytest.MonkeyPatch) -> None:
    fds: list[int] = []

    def request(fd: int, info: abi.vfio_precopy_info) -> int:
        assert info.argsz == ctypes.sizeof(info)
        fds.append(fd)
        info.initial_bytes, info.dirty_bytes = 4096, 12
        return 0

    monkeypatch.setattr(rq, "vfio_mig_get_precopy_info", request)
    assert api.precopy_info(5) == api.PrecopyInfo(4096, 12)
    with open(os.devnull, "rb") as f:
        assert api.precopy_info(f).initial_bytes == 4096
        assert fds == [5, f.fileno()]
    for bad in (-1, 1 << 31):
        with pytest.raises(ValueError, match="not a file descriptor"):
            api.precopy_info(bad)
    assert len(fds) == 2
