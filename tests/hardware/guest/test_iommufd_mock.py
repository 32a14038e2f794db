"""iommufd's objects beyond the IOAS, on the mock IOMMU of CONFIG_IOMMUFD_TEST:
HWPTs (paging, nested, dirty tracking), invalidation, the fault queue, the
vIOMMU, vdevice, vEVENTQ and hw queue, IOAS copy / map_file /
change_process, GET_HW_INFO, OPTION and VFIO_IOAS. The flows follow the
kernel's own tools/testing/selftests/iommu/iommufd.c; every iommufd request
goes through the generated vfio.api (its Hwpt, Viommu, Vdevice, VeventQueue,
FaultQueue and HwQueue objects, Ioas.copy / map_file / allow_iovas /
huge_pages, Iommufd.option / compat_ioas / change_process / hw_info),
IOMMU_TEST_CMD through the bindings vfiogen generated from iommufd_test.h
(iommufd_selftest.py).

Skipped on a kernel without the mock IOMMU; failed on the -full flavor, which
is built with it."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from collections.abc import Iterator
from typing import NamedTuple

import iommufd_selftest
import pytest
from vfio import abi, api
from vfio.errors import VfioError

PROOF_MODE = "cdev"  # iommufd native (guest/proof.py)
PAGE = mmap.PAGESIZE


@pytest.fixture(scope="module")
def t() -> iommufd_selftest.TestBindings:
    root = iommufd_selftest.bindings_dir()
    present = iommufd_selftest.SELFTEST_IOMMU.exists()
    if not present or not (root / "vfio" / "abi.py").exists():
        message = (
            f"no mock IOMMU ({iommufd_selftest.SELFTEST_IOMMU}: CONFIG_IOMMUFD_TEST)"
            if not present
            else f"no bindings of iommufd_test.h in {root} (rig_bindings.test_header_bindings)"
        )
        if os.environ.get("VFIOGEN_GUEST_KERNEL", "").endswith("-full"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return iommufd_selftest.load(root)


class Mock(NamedTuple):
    iommufd: api.Iommufd
    ioas: api.Ioas
    test: iommufd_selftest.Selftest
    dom: iommufd_selftest.MockDomain


@pytest.fixture()
def mock(t: iommufd_selftest.TestBindings) -> Iterator[Mock]:
    """An iommufd, an IOAS and a mock device on a mock domain for it; the
    iommufd's close destroys every object, and no fd is left behind."""
    before = set(os.listdir("/proc/self/fd"))
    with api.Iommufd() as iommufd:
        ioas = iommufd.ioas()
        test = iommufd_selftest.Selftest(t, iommufd)
        yield Mock(iommufd, ioas, test, test.mock_domain(ioas))
    assert set(os.listdir("/proc/self/fd")) == before, "file descriptors leaked"


def anon(size: int) -> tuple[mmap.mmap, int]:
    mem = mmap.mmap(-1, size, mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    return mem, ctypes.addressof(ctypes.c_char.from_buffer(mem))


def test_get_hw_info_of_the_mock_device(mock: Mock) -> None:
    t = mock.test.t.abi
    info = mock.iommufd.hw_info(mock.dom.idev_id, data=t.iommu_test_hw_info)
    assert info.data_type == t.IOMMU_HW_INFO_TYPE_SELFTEST
    assert len(info.data) == ctypes.sizeof(t.iommu_test_hw_info)  # the length the kernel has
    data = info.decoded()
    assert data is not None and data.test_reg == t.IOMMU_HW_INFO_SELFTEST_REGVAL
    assert data.flags == 0
    assert info.has(abi.IOMMU_HW_CAP_DIRTY_TRACKING)  # the mock tracks dirty pages
    with pytest.raises(VfioError) as err:  # not a device: no such object of that type
        mock.iommufd.hw_info(mock.ioas.id)
    assert err.value.errno == errno.ENOENT


def test_options_global_and_per_ioas(mock: Mock) -> None:
    assert mock.iommufd.rlimit_mode() == 0  # accounting per user, the default
    assert mock.ioas.huge_pages()
    mock.ioas.set_huge_pages(False)
    assert not mock.ioas.huge_pages()
    mock.ioas.set_huge_pages(True)
    assert mock.ioas.huge_pages()
    with pytest.raises(TypeError):  # refused before the kernel: 2 is not a bool
        mock.ioas.set_huge_pages(2)  # type: ignore[arg-type]
    with pytest.raises(VfioError) as err:  # the kernel takes only 0 and 1
        mock.iommufd.option(abi.IOMMU_OPTION_HUGE_PAGES, object_id=mock.ioas.id, value=2)
    assert err.value.errno == errno.EINVAL


def test_vfio_ioas_get_set_clear(mock: Mock) -> None:
    """The IOAS that /dev/iommu's VFIO compat mode uses."""
    assert mock.iommufd.compat_ioas() is None  # none chosen yet (the kernel: ENODEV)
    mock.iommufd.set_compat_ioas(mock.ioas)
    assert mock.iommufd.compat_ioas() == mock.ioas.id
    mock.iommufd.clear_compat_ioas()
    assert mock.iommufd.compat_ioas() is None


def test_allow_iovas_copy_and_map_file(mock: Mock) -> None:
    """ALLOW_IOVAS limits an IOAS; IOAS_COPY maps the pages of one IOAS's
    map into another; MAP_FILE maps a memfd; the mock domain sees the pages."""
    t = mock.test.t.abi
    start = t.MOCK_APERTURE_START
    mem, va = anon(4 * PAGE)
    mem[:4] = b"mock"
    mock.ioas.map_dma(start, 4 * PAGE, va)
    mock.test.cmd(  # the mock domain maps those pages
        t.IOMMU_TEST_OP_MD_CHECK_MAP,
        mock.dom.hwpt_id,
        check_map={"iova": start, "length": 4 * PAGE, "uptr": va},
    )
    with mock.iommufd.ioas() as dst:
        dst.allow_iovas([(1 << 30, (2 << 30) - 1)])
        dst_iova = dst.copy(mock.ioas, start, 4 * PAGE)  # the kernel picks the IOVA
        assert (1 << 30) <= dst_iova < (2 << 30), hex(dst_iova)
        with pytest.raises(VfioError) as err:  # again, over the copy
            dst.copy(mock.ioas, start, 4 * PAGE, iova=dst_iova)
        assert err.value.errno == errno.EEXIST
        assert dst.unmap_dma(dst_iova, 4 * PAGE) == 4 * PAGE
    assert mock.ioas.unmap_dma(start, 4 * PAGE) == 4 * PAGE
    mem.close()
    memfd = os.memfd_create("vfiogen-map-file")
    try:
        os.ftruncate(memfd, 2 * PAGE)
        view = mmap.mmap(memfd, 2 * PAGE, mmap.MAP_SHARED)
        view[:4] = b"file"
        assert mock.ioas.map_file(memfd, 2 * PAGE, iova=start, writable=False) == start
        mock.test.cmd(  # the mock domain maps the memfd's own pages
            t.IOMMU_TEST_OP_MD_CHECK_MAP,
            mock.dom.hwpt_id,
            check_map={
                "iova": start,
                "length": 2 * PAGE,
                "uptr": ctypes.addressof(ctypes.c_char.from_buffer(view)),
            },
        )
        assert mock.ioas.unmap_dma(start, 2 * PAGE) == 2 * PAGE
        view.close()
    finally:
        os.close(memfd)


def test_change_process_here_and_in_a_forked_child(mock: Mock) -> None:
    """IOAS_CHANGE_PROCESS moves the pinned-page accounting to the caller's
    mm: refused while a non-file map exists, then done here and in a child."""
    start = mock.test.t.abi.MOCK_APERTURE_START
    mem, va = anon(PAGE)
    mock.ioas.map_dma(start, PAGE, va)
    with pytest.raises(VfioError) as err:
        mock.iommufd.change_process()
    assert err.value.errno == errno.EINVAL
    mock.ioas.unmap_dma(start, PAGE)
    mem.close()
    memfd = os.memfd_create("vfiogen-change-process")
    try:
        os.ftruncate(memfd, PAGE)
        mock.ioas.map_file(memfd, PAGE, iova=start, writable=False)
        mock.iommufd.change_process()
        child = os.fork()
        if child == 0:  # the child owns the pages afterwards
            try:
                mock.iommufd.change_process()
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "IOAS_CHANGE_PROCESS failed in the child"
        mock.iommufd.change_process()  # and back
        mock.ioas.unmap_dma(start, PAGE)
    finally:
        os.close(memfd)


def test_dirty_tracking_bit_by_bit(mock: Mock) -> None:
    """A dirty-tracking HWPT (api.Hwpt): the mock domain marks every even
    page dirty (IOMMU_TEST_OP_DIRTY); dirty_bitmap() reports exactly those
    bits, keeps them with clear=False, and a read that clears finds none after."""
    t = mock.test.t.abi
    start, page = t.MOCK_APERTURE_START, t.MOCK_PAGE_SIZE
    length = 64 * 1024
    nbits = length // page
    mem, va = anon(length)
    mock.ioas.set_huge_pages(False)  # pages the size the dirty logic expects
    mock.ioas.map_dma(start, length, va)
    cfg = t.iommu_hwpt_selftest(pagetable_type=t.MOCK_IOMMUPT_DEFAULT)
    with api.Hwpt.paging(
        mock.ioas,
        mock.dom.idev_id,
        dirty_tracking=True,
        data=cfg,
        data_type=t.IOMMU_HWPT_DATA_SELFTEST,
    ) as hwpt:
        hwpt.set_dirty_tracking(True)
        marks = (ctypes.c_uint64 * (nbits // 64 or 1))()
        for bit in range(0, nbits, 2):
            marks[bit // 64] |= 1 << (bit % 64)
        assert mock.test.set_dirty(hwpt, start, length, page, marks) == nbits // 2
        even = list(range(0, nbits, 2))
        kept = hwpt.dirty_bitmap(start, length, page, clear=False)
        assert len(kept) == nbits and kept.dirty_pages() == even
        got = hwpt.dirty_bitmap(start, length, page)  # NO_CLEAR left them: read and clear
        for bit in range(nbits):
            assert got[bit] == (bit % 2 == 0), f"page {bit}"
        assert got.dirty_iovas() == [start + bit * page for bit in even]
        assert hwpt.dirty_bitmap(start, length, page).dirty_pages() == []  # cleared before
        hwpt.set_dirty_tracking(False)
    mock.ioas.unmap_dma(start, length)
    mem.close()


def test_nested_hwpt_and_invalidate(mock: Mock) -> None:
    """A NEST_PARENT paging HWPT, a nested HWPT on it with the selftest data
    type, and IOMMU_HWPT_INVALIDATE of all its mock IOTLB entries."""
    t = mock.test.t.abi
    dev = mock.dom.idev_id
    iotlb = t.iommu_hwpt_selftest(iotlb=t.IOMMU_TEST_IOTLB_DEFAULT)
    with (
        api.Hwpt.paging(mock.ioas, dev, nest_parent=True) as parent,
        api.Hwpt.nested(parent, dev, t.IOMMU_HWPT_DATA_SELFTEST, iotlb) as nested,
    ):
        mock.test.check_iotlb(nested, 0, t.IOMMU_TEST_IOTLB_DEFAULT)
        req = t.iommu_hwpt_invalidate_selftest(flags=t.IOMMU_TEST_INVALIDATE_FLAG_ALL)
        assert nested.invalidate(t.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, [req]) == 1
        for entry in range(t.MOCK_NESTED_DOMAIN_IOTLB_NUM):
            mock.test.check_iotlb(nested, entry, 0)
        with pytest.raises(VfioError) as err:  # a paging HWPT has no IOTLB to invalidate
            parent.invalidate(t.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, [req])
        assert err.value.errno in (errno.EINVAL, errno.EOPNOTSUPP)
        with pytest.raises(VfioError) as err:  # the nested HWPT still uses it
            parent.close()
        assert err.value.errno == errno.EBUSY and not parent.closed


def test_viommu_vdevice_fault_queue_and_veventq(mock: Mock) -> None:
    """vIOMMU on a nesting parent; a vdevice; a nested HWPT reporting faults
    to a fault queue: a page fault raised by the mock (TRIGGER_IOPF) is read
    from the fault fd and answered; a vEVENTQ delivers a mock event with the
    vdevice's virtual id; a hw queue is allocated on mapped memory."""
    t = mock.test.t.abi
    dev = mock.dom.idev_id
    data = t.iommu_hwpt_selftest(iotlb=t.IOMMU_TEST_IOTLB_DEFAULT)
    with (
        api.Hwpt.paging(mock.ioas, dev, nest_parent=True) as parent,
        api.Viommu.alloc(parent, dev, t.IOMMU_VIOMMU_TYPE_SELFTEST) as viommu,
        api.FaultQueue.alloc(mock.iommufd) as faults,
        viommu.veventq(t.IOMMU_VEVENTQ_TYPE_SELFTEST, 2, t.iommu_viommu_event_selftest) as events,
    ):
        assert events.read(timeout=0) == []  # nothing yet: select() on its fileno
        with (
            viommu.hwpt(dev, t.IOMMU_HWPT_DATA_SELFTEST, data, fault=faults) as iopf_hwpt,
            viommu.vdevice(dev, 0x99) as vdev,
        ):
            mock.test.replace(mock.dom.stdev_id, iopf_hwpt)
            mock.test.trigger_iopf(dev, 0x1, 0x2, 0xDEADBEEF)
            (fault,) = faults.read(timeout=5)
            assert (fault.dev_id, fault.pasid, fault.grpid) == (dev, 0x1, 0x2)
            assert fault.addr in (0xDEADBEEF & ~(PAGE - 1), 0xDEADBEEF)
            faults.respond(fault)
            mock.test.trigger_vevent(dev)
            (event,) = events.read(timeout=5)
            assert event.data is not None and event.data.virt_id == vdev.virt_id
            assert event.lost == 0
            mock.test.replace(mock.dom.stdev_id, mock.ioas)
        check_hw_queue(mock, viommu)


def check_hw_queue(mock: Mock, viommu: api.Viommu) -> None:
    t = mock.test.t.abi
    mem, va = anon(PAGE)
    iova = t.MOCK_APERTURE_START
    mock.ioas.map_dma(iova, PAGE, va)
    with viommu.hw_queue(t.IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova, PAGE) as queue:
        assert queue.id > 0
        with pytest.raises(VfioError) as err:  # the queue owns that IOVA now
            mock.ioas.unmap_dma(iova, PAGE)
        assert err.value.errno == errno.EBUSY
    mock.ioas.unmap_dma(iova, PAGE)
    mem.close()
