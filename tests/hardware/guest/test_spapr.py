"""The sPAPR TCE IOMMU of POWER, through the generated runtime (the 7.2-ppc64
flavor: pseries under TCG, edu alone on its own PHB; guest/conftest.py
collects this module only on ppc64).

- v1 (VFIO_SPAPR_TCE_IOMMU): the 32-bit window's info, VFIO_IOMMU_ENABLE /
  DISABLE, and edu DMA through the window;
- v2 (VFIO_SPAPR_TCE_v2_IOMMU): the dynamic-window info, preregistered
  memory (VFIO_IOMMU_SPAPR_REGISTER_MEMORY / UNREGISTER_MEMORY), a 64 KiB-page
  window made and removed (VFIO_IOMMU_SPAPR_TCE_CREATE / REMOVE: RTAS
  ibm,create-pe-dma-window in QEMU), edu DMA from preregistered memory;
- EEH: QEMU offers it only on a PHB with a VFIO device of its own, so Linux
  finds no EEH-capable adapter: VFIO_CHECK_EXTENSION(VFIO_EEH) is 0 and
  VFIO_EEH_PE_OP is ENODEV (vfio_spapr_ioctl_eeh_pe_op: no PE for the group).
Facts from Linux 7.2's drivers/vfio/vfio_iommu_spapr_tce.c and
arch/powerpc/platforms/pseries/iommu.c, QEMU 7.2's hw/ppc/spapr_pci.c."""

from __future__ import annotations

import ctypes
import errno
import mmap
from collections.abc import Iterator

import proof
import pytest
from test_vfio_legacy import DMA_BYTES, EDU_DMA_BUF, EDU_ID, IOVA, Mmio, open_fds, run_dma
from vfio import abi, api
from vfio import requests as rq
from vfio.errors import VfioError

PROOF_V1, PROOF_V2 = "spapr", "spapr-v2"  # guest/proof.py MODES
WINDOW_SHIFT = 16  # a 64 KiB-page dynamic window (the PHB offers 4K, 64K, 16M)
WINDOW_SIZE = 1 << 30


def errno_of(call, *args) -> int:
    with pytest.raises(VfioError) as err:
        call(*args)
    return err.value.errno


@pytest.fixture()
def group(edu) -> Iterator[api.Group]:
    before = open_fds()
    g = api.Group(edu.group)
    yield g
    g.close()
    assert open_fds() == before, "file descriptors leaked"


def attached(group: api.Group, iommu: int) -> api.Container:
    container = api.Container()
    group.set_container(container)
    assert container.set_iommu(iommu) == iommu
    return container


def tce_info(container: api.Container) -> abi.vfio_iommu_spapr_tce_info:
    info = abi.vfio_iommu_spapr_tce_info()
    info.argsz = ctypes.sizeof(info)
    assert rq.vfio_iommu_spapr_tce_get_info(container.fd, info) == 0
    return info


class SwappedMmio(Mmio):
    """edu's registers on qemu-system-ppc64: edu's MMIO is DEVICE_NATIVE_ENDIAN,
    and that target's native order is big-endian, so a little-endian guest
    reads its ID as 0xed000001 and must byte-swap what it writes."""

    def r32(self, off: int) -> int:
        return int.from_bytes(super().r32(off).to_bytes(4, "little"), "big")

    def w32(self, off: int, value: int) -> None:
        super().w32(off, int.from_bytes(value.to_bytes(4, "little"), "big"))

    def r64(self, off: int) -> int:
        return int.from_bytes(super().r64(off).to_bytes(8, "little"), "big")

    def w64(self, off: int, value: int) -> None:
        super().w64(off, int.from_bytes(value.to_bytes(8, "little"), "big"))


def edu_round_trip(group: api.Group, bdf: str, view: memoryview) -> None:
    """edu DMAs a pattern from IOVA into itself and back to IOVA + 4 KiB."""
    device = group.open_device(bdf)
    bar = SwappedMmio(device.mmap(abi.VFIO_PCI_BAR0_REGION_INDEX))
    try:
        assert bar.r32(EDU_ID) == 0x010000ED
        device.enable_bus_master()
        pattern = bytes((i * 5 + 1) & 0xFF for i in range(DMA_BYTES))
        view[:DMA_BYTES] = pattern
        view[0x1000 : 0x1000 + DMA_BYTES] = bytes(DMA_BYTES)
        run_dma(bar, IOVA, EDU_DMA_BUF, DMA_BYTES, 0x1)  # RAM -> device
        run_dma(bar, EDU_DMA_BUF, IOVA + 0x1000, DMA_BYTES, 0x1 | 0x2)  # device -> RAM
        assert bytes(view[0x1000 : 0x1000 + DMA_BYTES]) == pattern
    finally:
        bar.close()
        device.close()


def test_v1_window_enable_disable_and_dma(group: api.Group, edu) -> None:
    assert group.group_status().viable, "edu must be alone in its group (its own PHB)"
    with proof.mode(PROOF_V1):
        container = attached(group, abi.VFIO_SPAPR_TCE_IOMMU)
        try:
            assert container.check_extension(abi.VFIO_SPAPR_TCE_IOMMU) == 1
            info = tce_info(container)
            assert info.flags == 0  # v1 reports no dynamic windows
            assert info.dma32_window_start == 0 and info.dma32_window_size >= 1 << 28
            with pytest.raises(VfioError) as err:  # no window before ENABLE
                container.map_dma(IOVA, 0x10000, 0)
            assert err.value.errno == errno.EPERM
            rq.vfio_iommu_enable(container.fd)
            assert errno_of(rq.vfio_iommu_enable, container.fd) == errno.EBUSY
            with container.dma_buffer(0x10000, IOVA) as buf:
                edu_round_trip(group, edu.bdf, buf.view)
            # the v2-only requests: not this IOMMU's (the kernel breaks to ENOTTY)
            reg = abi.vfio_iommu_spapr_register_memory()
            reg.argsz = ctypes.sizeof(reg)
            assert errno_of(rq.vfio_iommu_spapr_register_memory, container.fd, reg) == errno.ENOTTY
            rq.vfio_iommu_disable(container.fd)
            rq.vfio_iommu_disable(container.fd)  # disabling twice is fine
        finally:
            group.unset_container()
            container.close()


def test_v2_registered_memory_windows_and_dma(group: api.Group, edu) -> None:
    with proof.mode(PROOF_V2):
        container = attached(group, abi.VFIO_SPAPR_TCE_v2_IOMMU)
        memory = mmap.mmap(-1, 1 << 20)
        anchor = ctypes.c_char.from_buffer(memory)
        reg = abi.vfio_iommu_spapr_register_memory()
        reg.argsz, reg.vaddr, reg.size = ctypes.sizeof(reg), ctypes.addressof(anchor), 1 << 20
        try:
            info = tce_info(container)
            assert info.flags & abi.VFIO_IOMMU_SPAPR_INFO_DDW
            assert info.ddw.max_dynamic_windows_supported >= 1
            assert info.ddw.pgsizes & (1 << WINDOW_SHIFT) and info.ddw.levels >= 1
            # v1's requests are not v2's
            assert errno_of(rq.vfio_iommu_enable, container.fd) == errno.ENOTTY
            assert rq.vfio_iommu_spapr_register_memory(container.fd, reg) == 0
            assert errno_of(rq.vfio_iommu_spapr_register_memory, container.fd, reg) == errno.EBUSY

            create = abi.vfio_iommu_spapr_tce_create()
            create.argsz, create.page_shift = ctypes.sizeof(create), WINDOW_SHIFT
            create.window_size, create.levels = WINDOW_SIZE, 1
            assert rq.vfio_iommu_spapr_tce_create(container.fd, create) == 0
            assert create.start_addr >= info.dma32_window_size  # above the default window
            remove = abi.vfio_iommu_spapr_tce_remove()
            remove.argsz, remove.start_addr = ctypes.sizeof(remove), create.start_addr
            assert rq.vfio_iommu_spapr_tce_remove(container.fd, remove) == 0
            assert errno_of(rq.vfio_iommu_spapr_tce_remove, container.fd, remove) == errno.EINVAL

            # DMA from preregistered memory through the default 32-bit window
            container.map_dma(IOVA, 0x10000, reg.vaddr)
            with memoryview(memory) as view:
                edu_round_trip(group, edu.bdf, view[:0x10000])
            assert container.unmap_dma(IOVA, 0x10000) == 0x10000
            assert rq.vfio_iommu_spapr_unregister_memory(container.fd, reg) == 0
            assert errno_of(rq.vfio_iommu_spapr_unregister_memory, container.fd, reg) == (
                errno.ENOENT
            )
        finally:
            group.unset_container()
            container.close()
            del anchor
            memory.close()


def test_the_default_iommu_on_power_is_spapr_v2(group: api.Group) -> None:
    """vfio.api's Container.set_iommu() picks the best model the kernel offers."""
    with proof.mode(PROOF_V2), api.Container() as container:
        assert set(container.supported_iommus()) == {
            abi.VFIO_SPAPR_TCE_IOMMU,
            abi.VFIO_SPAPR_TCE_v2_IOMMU,
        }
        group.set_container(container)
        try:
            assert container.set_iommu() == abi.VFIO_SPAPR_TCE_v2_IOMMU
            assert tce_info(container).flags & abi.VFIO_IOMMU_SPAPR_INFO_DDW
        finally:
            group.unset_container()


def test_eeh_is_not_offered_on_an_emulated_phb(group: api.Group) -> None:
    with proof.mode(PROOF_V1):
        container = attached(group, abi.VFIO_SPAPR_TCE_IOMMU)
        try:
            assert container.check_extension(abi.VFIO_EEH) == 0
            op = abi.vfio_eeh_pe_op()
            op.argsz, op.op = ctypes.sizeof(op), abi.VFIO_EEH_PE_GET_STATE
            assert errno_of(rq.vfio_eeh_pe_op, container.fd, op) == errno.ENODEV
        finally:
            group.unset_container()
            container.close()
