"""edu's DMA and interrupts in every IOMMU mode, through the API's own
`api.open_pci(bdf, mode=...)`, like the kernel selftests'
FIXTURE_VARIANT_ADD_ALL_IOMMU_MODES: the type1 container (v1 and v2),
iommufd's VFIO compat mode (/dev/iommu given to VFIO_GROUP_SET_CONTAINER,
v1 and v2), the cdev bound to an iommufd; and no-IOMMU (config space and BAR
only: no DMA without an IOMMU). Each test is written once and runs in each
mode: the device's DMA interface (dma_space, dma_buffer) is the same. A mode
the kernel lacks (the API's IommuModeError says why) is skipped; on the
-full flavor every mode must run."""

from __future__ import annotations

import os

import proof
import pytest
from pci import PciDevice
from test_vfio_legacy import (
    DMA_BYTES,
    EDU_DMA_BUF,
    EDU_ID,
    IOVA,
    Mmio,
    abi,
    api,
    check_device_info_and_regions,
    check_dma_round_trip,
    check_edu_registers,
    check_msi_and_intx,
    open_fds,
    run_dma,
)
from vfio.errors import HugePagesError, IommuModeError

# the proof's name of each mode (guest/proof.py MODES)
PROOF_MODES = {
    "vfio_type1_iommu": "type1",
    "vfio_type1v2_iommu": "type1v2",
    "iommufd_compat_type1": "iommufd-compat-type1",
    "iommufd_compat_type1v2": "iommufd-compat-type1v2",
    "iommufd": "cdev",
}
HUGE_IOVA = 0x200000  # a 2 MiB IOVA page, under edu's 28-bit DMA mask


def test_the_matrix_covers_every_mode_of_the_api() -> None:
    assert tuple(PROOF_MODES) == api.IOMMU_MODES


def skip_or_fail(message: str) -> None:
    if os.environ.get("VFIOGEN_GUEST_KERNEL", "").endswith("-full"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def open_in(edu: PciDevice, mode: api.IommuMode) -> api.Device:
    """edu opened in `mode`, or the test skipped (failed on -full) with the
    API's word for what the kernel lacks."""
    try:
        return api.open_pci(edu.bdf, mode=mode)
    except IommuModeError as exc:
        skip_or_fail(exc.hint)
        raise


def round_trip(bar0: Mmio, buf: api.DmaBuffer, offset: int) -> None:
    """edu DMAs a pattern from the buffer into itself and back `offset`
    bytes further; the bytes must match."""
    pattern = bytes((i * 11 + 5) & 0xFF for i in range(DMA_BYTES))
    buf.view[:DMA_BYTES] = pattern
    buf.view[offset : offset + DMA_BYTES] = bytes(DMA_BYTES)
    run_dma(bar0, buf.iova, EDU_DMA_BUF, DMA_BYTES, 0x1)  # RAM -> device
    run_dma(bar0, EDU_DMA_BUF, buf.iova + offset, DMA_BYTES, 0x1 | 0x2)  # device -> RAM
    assert bytes(buf.view[offset : offset + DMA_BYTES]) == pattern


@pytest.mark.parametrize("mode", api.IOMMU_MODES)
def test_dma_and_interrupts(edu: PciDevice, mode: api.IommuMode) -> None:
    before = open_fds()
    with proof.mode(PROOF_MODES[mode]), open_in(edu, mode) as dev:
        space = dev.dma_space
        assert isinstance(space, api.Ioas if mode == "iommufd" else api.Container)
        if isinstance(space, api.Container):
            assert space.api_version == abi.VFIO_API_VERSION
        check_device_info_and_regions(dev)
        bar0 = Mmio(dev.mmap(abi.VFIO_PCI_BAR0_REGION_INDEX))
        try:
            check_edu_registers(dev, bar0)
            check_dma_round_trip(dev, space, bar0)
            if space.chooses_iova:  # an IOAS: the kernel places the buffer
                with dev.dma_buffer(0x2000) as buf:
                    assert buf.iova < 1 << 28, f"past edu's 28-bit DMA mask: {buf.iova:#x}"
                    round_trip(bar0, buf, 0x1000)
            else:
                with pytest.raises(ValueError, match="cannot choose an IOVA"):
                    dev.dma_buffer(0x2000)
            check_msi_and_intx(dev, bar0)
        finally:
            bar0.close()
        if mode == "iommufd":
            dev.detach_ioas()
    assert open_fds() == before, "file descriptors leaked"


@pytest.mark.parametrize("mode", api.IOMMU_MODES)
def test_dma_from_huge_pages(edu: PciDevice, mode: api.IommuMode) -> None:
    """A 2 MiB buffer of huge pages (MAP_HUGETLB), as the selftests'
    anonymous_hugetlb_2mb variant: edu DMAs across it."""
    before = open_fds()
    with proof.mode(PROOF_MODES[mode]), open_in(edu, mode) as dev:
        dev.enable_bus_master()
        bar0 = Mmio(dev.mmap(abi.VFIO_PCI_BAR0_REGION_INDEX))
        try:
            try:
                buf = dev.dma_buffer(4096, HUGE_IOVA, huge_pages=True)
            except HugePagesError as exc:
                pytest.skip(f"no huge pages: {exc.hint}")
            with buf:
                assert buf.size == buf.page_size >= 2 << 20, buf
                round_trip(bar0, buf, buf.size - 0x1000)  # the far end of the page
            assert not buf.mapped
        finally:
            bar0.close()
    assert open_fds() == before, "file descriptors leaked"


def test_noiommu_config_and_bar(noiommu_edu: PciDevice) -> None:
    """The edu outside the IOMMU, through /dev/vfio/noiommu-N and the
    NOIOMMU "IOMMU": config space, BAR0, its interrupts' info; no DMA."""
    before = open_fds()
    with proof.mode("noiommu"), api.open_pci(noiommu_edu.bdf, noiommu=True) as dev:
        container = dev.dma_space
        assert isinstance(container, api.Container)
        assert container.check_extension(abi.VFIO_NOIOMMU_IOMMU) == 1
        assert container.iommu == abi.VFIO_NOIOMMU_IOMMU
        assert dev.config_read(0, 2) == 0x1234
        assert dev.read_int(abi.VFIO_PCI_BAR0_REGION_INDEX, EDU_ID) == 0x010000ED
        assert dev.irq_info(abi.VFIO_PCI_MSI_IRQ_INDEX).count == 1
        with pytest.raises(IommuModeError, match="no-IOMMU group has no IOMMU"):
            api.open_pci(noiommu_edu.bdf, noiommu=True, mode="vfio_type1v2_iommu")
    assert open_fds() == before, "file descriptors leaked"
