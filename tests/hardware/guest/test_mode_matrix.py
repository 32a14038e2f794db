"""edu's DMA and interrupts in every IOMMU mode the kernel offers, like the
kernel selftests' FIXTURE_VARIANT_ADD_ALL_IOMMU_MODES: the type1 container
(v1 and v2), iommufd's VFIO compat mode (/dev/iommu given to
VFIO_GROUP_SET_CONTAINER, v1 and v2), the cdev, and no-IOMMU (config space
and BAR only: no DMA without an IOMMU). A mode the kernel lacks is skipped;
on the -full flavor every mode must run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import proof
import pytest
from pci import PciDevice
from test_vfio_legacy import (
    EDU_ID,
    Mmio,
    abi,
    api,
    check_device_info_and_regions,
    check_dma_round_trip,
    check_edu_registers,
    check_msi_and_intx,
    open_fds,
)

IOMMU = Path("/dev/iommu")
DMA_MODES = {
    "type1": ("/dev/vfio/vfio", abi.VFIO_TYPE1_IOMMU),
    "type1v2": ("/dev/vfio/vfio", abi.VFIO_TYPE1v2_IOMMU),
    "iommufd-compat-type1": (str(IOMMU), abi.VFIO_TYPE1_IOMMU),
    "iommufd-compat-type1v2": (str(IOMMU), abi.VFIO_TYPE1v2_IOMMU),
}


def unavailable(mode: str) -> str | None:
    if mode.startswith("iommufd") and not IOMMU.exists():
        return "no /dev/iommu (CONFIG_IOMMUFD)"
    return None


def skip_or_fail(message: str) -> None:
    if os.environ.get("VFIOGEN_GUEST_KERNEL", "").endswith("-full"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@contextmanager
def grouped(edu: PciDevice, container_path: str, iommu: int) -> Iterator[tuple]:
    """edu's group in a container (type1's or iommufd's), the IOMMU set."""
    with ExitStack() as stack:
        container = stack.enter_context(api.Container(container_path))
        group = stack.enter_context(api.Group(edu.group_path, noiommu=edu.noiommu))
        group.set_container(container)
        assert container.set_iommu(iommu) == iommu
        device = stack.enter_context(group.open_device(edu.bdf))
        yield container, device
        device.close()
        group.unset_container()


@pytest.mark.parametrize("mode", list(DMA_MODES))
def test_dma_and_interrupts(edu: PciDevice, mode: str) -> None:
    why = unavailable(mode)
    if why:
        skip_or_fail(f"{mode}: {why}")
    before = open_fds()
    with proof.mode(mode), grouped(edu, *DMA_MODES[mode]) as (container, dev):
        assert container.api_version == abi.VFIO_API_VERSION
        check_device_info_and_regions(dev)
        bar0 = Mmio(dev.mmap(abi.VFIO_PCI_BAR0_REGION_INDEX))
        try:
            check_edu_registers(dev, bar0)
            check_dma_round_trip(dev, container, bar0)
            check_msi_and_intx(dev, bar0)
        finally:
            bar0.close()
    assert open_fds() == before, "file descriptors leaked"


def test_cdev_dma_and_interrupts(edu: PciDevice) -> None:
    """The cdev: bound to an iommufd, attached to an IOAS."""
    cdevs = sorted((edu.sysfs / "vfio-dev").glob("vfio*"))
    if not IOMMU.exists() or not cdevs:
        skip_or_fail("no iommufd or no VFIO cdev")
    before = open_fds()
    with proof.mode("cdev"), api.Iommufd() as iommufd, iommufd.ioas() as ioas:
        with api.Device.open_cdev(Path("/dev/vfio/devices") / cdevs[0].name) as dev:
            dev.bind_iommufd(iommufd)
            dev.attach_ioas(ioas)
            bar0 = Mmio(dev.mmap(abi.VFIO_PCI_BAR0_REGION_INDEX))
            try:
                check_dma_round_trip(dev, ioas, bar0)
                check_msi_and_intx(dev, bar0)
            finally:
                bar0.close()
            dev.detach_ioas()
    assert open_fds() == before, "file descriptors leaked"


def test_noiommu_config_and_bar(noiommu_edu: PciDevice) -> None:
    """The edu outside the IOMMU, through /dev/vfio/noiommu-N and the
    NOIOMMU "IOMMU": config space, BAR0, its interrupts' info; no DMA."""
    before = open_fds()
    with (
        proof.mode("noiommu"),
        grouped(noiommu_edu, "/dev/vfio/vfio", abi.VFIO_NOIOMMU_IOMMU) as (container, dev),
    ):
        assert container.check_extension(abi.VFIO_NOIOMMU_IOMMU) == 1
        assert dev.config_read(0, 2) == 0x1234
        assert dev.read_int(abi.VFIO_PCI_BAR0_REGION_INDEX, EDU_ID) == 0x010000ED
        assert dev.irq_info(abi.VFIO_PCI_MSI_IRQ_INDEX).count == 1
    assert open_fds() == before, "file descriptors leaked"
