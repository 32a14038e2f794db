"""The generated vfio package on the iommufd / VFIO cdev path, inside the rig's guest.

These need /dev/iommu and edu's VFIO cdev (/dev/vfio/devices/vfioN). No
Debian kernel has them, so there the tests skip; the rig's own "7.2-full"
flavor (kbuild.py) is built for them, so there a missing node fails.

The edu checks are test_vfio_legacy's own (`check_*`), run on a device bound
to an iommufd and attached to an IOAS instead of a group in a container.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_vfio_legacy import (
    DMA_BYTES,
    EDU_DMA_BUF,
    IOVA,
    Mmio,
    abi,
    api,
    check_device_info_and_regions,
    check_dma_round_trip,
    check_edu_registers,
    check_msi_and_intx,
    open_fds,
    rq,
    run_dma,
)
from vfio.errors import VfioError

PROOF_MODE = "cdev"  # what these tests prove (guest/proof.py)
IOMMU = Path("/dev/iommu")
CDEV_DIR = Path("/dev/vfio/devices")
U64_MAX = (1 << 64) - 1
# x86's interrupt address window: the IOMMU driver reserves it (MSI writes),
# so an IOAS with a device attached must not offer it for DMA.
MSI_WINDOW = (0xFEE00000, 0xFEEFFFFF)

Stack = tuple[api.Iommufd, api.Ioas, api.Device]


def iommufd_required() -> bool:
    """The rig's built "-full" flavor has iommufd and the cdev by
    construction (kbuild-7.2-full.fragment): there a missing node is a failure."""
    return os.environ.get("VFIOGEN_GUEST_KERNEL", "").endswith("-full")


def edu_cdev(edu) -> Path | None:
    """edu's cdev, as sysfs names it (<device>/vfio-dev/vfioN)."""
    names = sorted(p.name for p in (edu.sysfs / "vfio-dev").glob("vfio*"))
    return CDEV_DIR / names[0] if len(names) == 1 else None


def is_char_device(path: Path) -> bool:
    return path.exists() and stat.S_ISCHR(path.stat().st_mode)


def covered(ranges: list[tuple[int, int]], first: int, last: int) -> bool:
    """Whether [first, last] lies inside one of the (start, last) ranges."""
    return any(start <= first and last <= end for start, end in ranges)


def overlaps(ranges: list[tuple[int, int]], first: int, last: int) -> bool:
    return any(start <= last and first <= end for start, end in ranges)


@pytest.fixture(scope="module")
def cdev(edu) -> Path:
    """edu's /dev/vfio/devices/vfioN; skip (fail on the -full kernel) when
    the kernel has no iommufd or no VFIO cdev."""
    node = edu_cdev(edu)
    missing = [
        what
        for what, present in (
            (f"{IOMMU} (CONFIG_IOMMUFD)", is_char_device(IOMMU)),
            (
                f"edu's VFIO cdev {node or CDEV_DIR / 'vfio*'} (CONFIG_VFIO_DEVICE_CDEV)",
                node is not None and is_char_device(node),
            ),
        )
        if not present
    ]
    if missing:
        kernel = os.environ.get("VFIOGEN_GUEST_KERNEL", "?")
        message = f"kernel {kernel} ({os.uname().release}) has no {' and no '.join(missing)}"
        if iommufd_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    assert node is not None
    return node


@pytest.fixture(scope="module")
def stack(cdev: Path) -> Iterator[Stack]:
    """An iommufd, an IOAS in it, and edu's cdev bound to the iommufd and
    attached to the IOAS; all closed afterwards, leaving no fd behind."""
    before = open_fds()
    iommufd = api.Iommufd()
    ioas = iommufd.ioas()
    dev = api.Device.open_cdev(cdev)
    dev.bind_iommufd(iommufd)
    dev.attach_ioas(ioas)
    yield iommufd, ioas, dev
    dev.detach_ioas()
    ioas.close()
    dev.close()
    iommufd.close()
    assert open_fds() == before, "file descriptors leaked"


@pytest.fixture()
def bar0(stack: Stack) -> Iterator[Mmio]:
    mm = Mmio(stack[2].mmap(abi.VFIO_PCI_BAR0_REGION_INDEX))
    yield mm
    mm.close()


def test_nodes_match_sysfs(edu, cdev: Path) -> None:
    """The cdev node is the device sysfs names for edu (same dev_t)."""
    major, minor = (edu.sysfs / "vfio-dev" / cdev.name / "dev").read_text().split(":")
    assert cdev.stat().st_rdev == os.makedev(int(major), int(minor))
    assert edu.driver == "vfio-pci"


def test_bind_alloc_attach_detach(cdev: Path) -> None:
    """The whole life cycle: requests before bind fail, bind gives a device
    id, a fresh IOAS is unrestricted until a device is attached, attach
    narrows its IOVA ranges to what the IOMMU allows, detach widens them
    again; closing everything leaves no fd behind. (The device closes first:
    that detaches it, so the IOAS can be destroyed even after a failure.)"""
    before = open_fds()
    with (
        api.Iommufd() as iommufd,
        iommufd.ioas() as ioas,
        api.Device.open_cdev(cdev) as dev,
    ):
        with pytest.raises(VfioError) as err:  # no access before VFIO_DEVICE_BIND_IOMMUFD
            _ = dev.info
        assert err.value.errno == errno.EINVAL and err.value.fd_kind == "device"
        devid = dev.bind_iommufd(iommufd)
        assert devid > 0 and ioas.id > 0 and ioas.id != devid
        with pytest.raises(ValueError, match="already bound"):  # bound once only: refused here
            dev.bind_iommufd(iommufd)
        again = abi.vfio_device_bind_iommufd(argsz=ctypes.sizeof(abi.vfio_device_bind_iommufd))
        again.iommufd = iommufd.fd
        with pytest.raises(VfioError) as err:  # and by the kernel
            rq.vfio_device_bind_iommufd(dev.fd, again)
        assert err.value.errno in (errno.EINVAL, errno.EBUSY)
        assert err.value.request == "VFIO_DEVICE_BIND_IOMMUFD"
        # nothing attached: no limits, no alignment
        assert ioas.iova_ranges() == api.IovaRanges([(0, U64_MAX)], 1)
        hwpt = dev.attach_ioas(ioas)  # the kernel made a page table for the IOAS: its id
        assert hwpt > 0 and hwpt not in (ioas.id, devid)
        usable = ioas.iova_ranges()
        assert usable.alignment == mmap.PAGESIZE, usable  # intel-iommu's smallest page: 4 KiB
        ranges = usable.ranges
        assert ranges and all(s <= e for s, e in ranges), ranges
        assert all(e1 < s2 for (_, e1), (s2, _) in zip(ranges, ranges[1:])), ranges
        assert ranges[-1][1] < U64_MAX, f"the IOMMU's address width limits the IOAS: {ranges}"
        assert not overlaps(ranges, *MSI_WINDOW), f"MSI window offered: {ranges}"
        assert covered(ranges, IOVA, IOVA + 0x2000 - 1), ranges
        with pytest.raises(VfioError) as err:  # attached: the IOAS is in use
            iommufd.destroy(ioas.id)
        assert err.value.errno == errno.EBUSY and err.value.request == "IOMMU_DESTROY"
        assert err.value.fd_kind == "iommufd"
        dev.detach_ioas()
        assert ioas.iova_ranges() == api.IovaRanges([(0, U64_MAX)], 1)
        assert dev.attach_ioas(ioas) > 0  # attachable again
        dev.detach_ioas()
        assert dev.info.num_regions > 0  # still bound: usable without an IOAS
    assert open_fds() == before, "file descriptors leaked"


def test_hw_info_of_the_intel_iommu(cdev: Path) -> None:
    """IOMMU_GET_HW_INFO on edu's cdev: QEMU's intel-iommu answers with the
    VT-d type, which vfio.api decodes as the overlay says (iommu_hw_info_vtd);
    its capability register's MGAW is the machine's aw-bits (48) - 1."""
    with api.Iommufd() as iommufd, api.Device.open_cdev(cdev) as dev:
        dev.bind_iommufd(iommufd)
        info = dev.hw_info()
        assert info.data_type == abi.IOMMU_HW_INFO_TYPE_INTEL_VTD
        vtd = info.decoded()
        assert isinstance(vtd, abi.iommu_hw_info_vtd), vtd
        assert (vtd.cap_reg >> 16) & 0x3F == 47, hex(vtd.cap_reg)  # VT-d spec 11.4.2: MGAW
        assert len(info.data) == ctypes.sizeof(abi.iommu_hw_info_vtd)


def test_ioas_close_can_be_retried_after_ebusy(cdev: Path) -> None:
    with api.Iommufd() as iommufd, api.Device.open_cdev(cdev) as dev:
        dev.bind_iommufd(iommufd)
        ioas = iommufd.ioas()
        dev.attach_ioas(ioas)
        with pytest.raises(VfioError) as err:
            ioas.close()
        assert err.value.errno == errno.EBUSY
        dev.detach_ioas()
        ioas_id = ioas.id
        ioas.close()  # must destroy it now
        with pytest.raises(VfioError) as err:  # so it is gone from the kernel
            iommufd.destroy(ioas_id)
        assert err.value.errno == errno.ENOENT
        with pytest.raises(ValueError, match="closed"):  # and refused locally
            ioas.id


def test_attach_to_a_paging_hwpt_and_dma_through_it(cdev: Path) -> None:
    """A page table the caller allocates (api.Hwpt.paging, IOMMU_HWPT_ALLOC
    on intel-iommu): attaching edu's cdev to it answers with its own id,
    edu's DMA goes through it, and it cannot be destroyed while attached."""
    before = open_fds()
    with (
        api.Iommufd() as iommufd,
        iommufd.ioas() as ioas,
        api.Device.open_cdev(cdev) as dev,
    ):
        dev.bind_iommufd(iommufd)
        with api.Hwpt.paging(ioas, dev) as hwpt:
            assert dev.attach(hwpt) == hwpt.id
            with pytest.raises(VfioError) as err:
                hwpt.close()
            assert err.value.errno == errno.EBUSY and not hwpt.closed
            bar0 = Mmio(dev.mmap(abi.VFIO_PCI_BAR0_REGION_INDEX))
            try:
                check_dma_round_trip(dev, ioas, bar0)
            finally:
                bar0.close()
            dev.detach_ioas()
        assert hwpt.closed
    assert open_fds() == before, "file descriptors leaked"


def test_device_info_and_regions(stack: Stack) -> None:
    check_device_info_and_regions(stack[2])


def test_edu_registers_through_mmap_and_pread(stack: Stack, bar0: Mmio) -> None:
    check_edu_registers(stack[2], bar0)


def test_dma_round_trip(stack: Stack, bar0: Mmio) -> None:
    _, ioas, dev = stack
    assert covered(ioas.iova_ranges().ranges, IOVA, IOVA + 0x2000 - 1)
    check_dma_round_trip(dev, ioas, bar0)


def test_dma_at_an_iova_the_kernel_chooses(stack: Stack, bar0: Mmio) -> None:
    """Ioas.map_dma(None, ...) (no FIXED_IOVA): the kernel picks an IOVA
    inside the usable ranges, aligned as they say; edu's DMA goes through it."""
    _, ioas, dev = stack
    dev.enable_bus_master()
    usable = ioas.iova_ranges()
    pattern = bytes((i * 5 + 1) & 0xFF for i in range(DMA_BYTES))
    mem = mmap.mmap(-1, 0x2000)
    anchor = ctypes.c_char.from_buffer(mem)
    try:
        iova = ioas.map_dma(None, 0x2000, ctypes.addressof(anchor))
        try:
            assert usable.covers(iova, 0x2000) and iova % usable.alignment == 0, hex(iova)
            second = ioas.map_dma(None, 0x1000, ctypes.addressof(anchor))  # the same memory
            assert not (iova <= second < iova + 0x2000), "the kernel chose a mapped IOVA"
            assert ioas.unmap_dma(second, 0x1000) == 0x1000
            mem[:DMA_BYTES] = pattern
            run_dma(bar0, iova, EDU_DMA_BUF, DMA_BYTES, 0x1)  # RAM -> device
            run_dma(bar0, EDU_DMA_BUF, iova + 0x1000, DMA_BYTES, 0x1 | 0x2)  # device -> RAM
            assert mem[0x1000 : 0x1000 + DMA_BYTES] == pattern
        finally:
            assert ioas.unmap_dma(iova, 0x2000) == 0x2000
    finally:
        del anchor
        mem.close()


def test_dma_from_a_read_only_mapping(stack: Stack, bar0: Mmio) -> None:
    """writable=False maps the page for device reads only: edu reads it,
    and writes what it read into a second, writable buffer."""
    _, ioas, dev = stack
    dev.enable_bus_master()
    pattern = bytes(range(256)) * (DMA_BYTES // 256)
    with (
        ioas.dma_buffer(0x1000, IOVA + 0x4000, writable=False) as src,
        ioas.dma_buffer(0x1000, IOVA + 0x8000) as dst,
    ):
        src.view[:DMA_BYTES] = pattern  # read-only for the device, not for us
        dst.view[:DMA_BYTES] = bytes(DMA_BYTES)
        run_dma(bar0, src.iova, EDU_DMA_BUF, DMA_BYTES, 0x1)  # RAM -> device
        run_dma(bar0, EDU_DMA_BUF, dst.iova, DMA_BYTES, 0x1 | 0x2)  # device -> RAM
        assert bytes(dst.view[:DMA_BYTES]) == pattern
    assert not src.mapped and not dst.mapped


def test_dma_errors(stack: Stack) -> None:
    _, ioas, _ = stack
    with ioas.dma_buffer(0x2000, IOVA) as buf:
        with pytest.raises(VfioError) as err:  # the same IOVA range again
            ioas.map_dma(IOVA, 0x1000, buf.vaddr)
        assert err.value.errno == errno.EEXIST and err.value.request == "IOMMU_IOAS_MAP"
        assert err.value.fd_kind == "iommufd"
        with pytest.raises(VfioError) as err:  # the IOMMU-reserved MSI window
            ioas.map_dma(MSI_WINDOW[0], 0x1000, buf.vaddr)
        assert err.value.errno == errno.EINVAL
        assert "is outside the usable IOVA ranges of this IOAS" in err.value.hint
        with pytest.raises(VfioError) as err:  # beyond the IOMMU's address width
            ioas.dma_buffer(0x1000, 1 << 60)
        assert err.value.errno == errno.EINVAL
        assert err.value.hint.startswith("[0x1000000000000000, 0x1000000000001000) is outside")
    # unlike type1 (which unmaps 0 bytes), iommufd refuses to unmap nothing
    with pytest.raises(VfioError) as err:
        ioas.unmap_dma(IOVA, 0x2000)
    assert err.value.errno == errno.ENOENT and err.value.request == "IOMMU_IOAS_UNMAP"
    with pytest.raises(ValueError):  # checked before the call
        ioas.map_dma(IOVA + 1, 0x1000, 0)


def test_msi_and_intx_interrupts(stack: Stack, bar0: Mmio) -> None:
    check_msi_and_intx(stack[2], bar0)


def test_errors_are_clean_and_the_process_goes_on(stack: Stack) -> None:
    iommufd, ioas, dev = stack
    with pytest.raises(VfioError) as err:
        dev.reset()  # edu has no reset method
    assert err.value.errno == errno.EINVAL and err.value.request == "VFIO_DEVICE_RESET"
    with pytest.raises(VfioError) as err:
        dev.region_info(100)
    assert err.value.errno == errno.EINVAL
    with pytest.raises(VfioError) as err:  # a VFIO device request on the iommufd
        rq.vfio_device_reset(iommufd.fd)
    assert err.value.errno == errno.ENOTTY
    with pytest.raises(VfioError) as err:  # an iommufd request on the device
        rq.iommu_destroy(dev.fd, abi.iommu_destroy(size=8, id=ioas.id))
    assert err.value.errno == errno.ENOTTY
    assert dev.info.num_regions > 0 and ioas.iova_ranges().ranges
