"""Interrupt objects against real vfio-pci: a vector has one owner (a
second routing is refused locally, the first keeps firing), an Interrupt
dropped without close() unroutes its vector (a dup of its eventfd, the
same file, sees the kernel stop signalling it), vectors and indexes the
device lacks are refused with its counts (edu: one MSI vector, no ERR
index), and Device.interrupts() routes several MSI-X vectors of QEMU's nvme
(the -full flavor's machine) in one VFIO_DEVICE_SET_IRQS, each to its own
eventfd."""

from __future__ import annotations

import gc
import os
import select
import warnings
from collections.abc import Iterator

import pytest
from pci import PciDevice, find_pci
from vfio import abi, api

EDU_IRQ_STATUS, EDU_IRQ_RAISE, EDU_IRQ_ACK = 0x24, 0x60, 0x64
MSI, MSIX, ERR = abi.VFIO_PCI_MSI_IRQ_INDEX, abi.VFIO_PCI_MSIX_IRQ_INDEX, abi.VFIO_PCI_ERR_IRQ_INDEX
NVME_VENDOR, NVME_DEVICE = 0x1B36, 0x0010


def fired(fd: int, timeout: float = 5.0) -> int:
    """What the eventfd counted within `timeout` (0: nothing); resets it."""
    ready, _, _ = select.select([fd], [], [], timeout)
    return int.from_bytes(os.read(fd, 8), "little") if ready else 0


def raise_edu_irq(bar0: api.Mmio) -> None:
    bar0.write32(EDU_IRQ_RAISE, 0x1)


def ack_edu_irq(bar0: api.Mmio) -> None:
    bar0.write32(EDU_IRQ_ACK, bar0.read32(EDU_IRQ_STATUS))


@pytest.fixture()
def edu_dev(edu: PciDevice) -> Iterator[tuple[api.Device, api.Mmio]]:
    with api.open_pci(edu.bdf) as dev, dev.map_region(abi.VFIO_PCI_BAR0_REGION_INDEX) as bar0:
        dev.enable_bus_master()  # an MSI is a memory write edu masters
        yield dev, bar0


def test_a_vector_has_one_owner(edu_dev: tuple[api.Device, api.Mmio]) -> None:
    dev, bar0 = edu_dev
    with dev.interrupt(MSI) as first:
        with pytest.raises(ValueError, match=r"vector 0 of irq index 1 \(MSI\) is already routed"):
            dev.interrupt(MSI)
        raise_edu_irq(bar0)
        assert first.wait(5) == 1, "the first Interrupt no longer fires"
        ack_edu_irq(bar0)
    with dev.interrupt(MSI) as second:  # closed: the vector is free again
        dev.trigger_irq(MSI)
        assert second.wait(5) == 1


def test_vectors_and_indexes_edu_lacks_are_refused(edu_dev: tuple[api.Device, api.Mmio]) -> None:
    dev, _ = edu_dev
    assert dev.irq_info(MSI).count == 1
    with pytest.raises(ValueError, match=r"irq index 1 \(MSI\) has 1 vector"):
        dev.interrupt(MSI, vector=1)
    with pytest.raises(ValueError, match=r"the device has no irq index 3 \(ERR\)"):
        dev.interrupt(ERR)  # edu is not PCIe: vfio-pci has no ERR index for it
    with dev.interrupt(MSI) as irq:  # nothing refused was routed
        dev.trigger_irq(MSI)
        assert irq.wait(5) == 1


def test_a_dropped_interrupt_unroutes_its_vector(edu_dev: tuple[api.Device, api.Mmio]) -> None:
    dev, bar0 = edu_dev
    irq = dev.interrupt(MSI)
    spy = os.dup(irq.fileno())  # the same eventfd file, kept past the Interrupt
    try:
        raise_edu_irq(bar0)
        assert fired(spy) == 1  # routed: the kernel signals the file
        ack_edu_irq(bar0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del irq
            gc.collect()
        assert [w.category for w in caught] == [ResourceWarning], caught
        raise_edu_irq(bar0)
        assert fired(spy, 0.3) == 0, "the kernel still signals a dropped Interrupt's eventfd"
        ack_edu_irq(bar0)
        with dev.interrupt(MSI) as again:  # and the vector is free
            raise_edu_irq(bar0)
            assert again.wait(5) == 1
            ack_edu_irq(bar0)
    finally:
        os.close(spy)


def test_raw_set_irqs_keeps_one_interrupt_per_vector(edu_dev: tuple[api.Device, api.Mmio]) -> None:
    """The raw verbs against real vfio-pci: routing a vector an Interrupt
    owns is refused (it keeps firing); a raw disable of the index detaches
    the Interrupt (open, silent), and its close() then leaves the vector a
    new Interrupt took since routed."""
    dev, bar0 = edu_dev
    spare = os.eventfd(0, os.EFD_NONBLOCK)
    try:
        old = dev.interrupt(MSI)
        with pytest.raises(ValueError, match=r"vector 0 of irq index 1 \(MSI\) is already routed"):
            dev.enable_irq(MSI, [spare])
        raise_edu_irq(bar0)
        assert old.wait(5) == 1 and fired(spare, 0) == 0, "the raw routing took the vector"
        ack_edu_irq(bar0)
        flags = abi.VFIO_IRQ_SET_DATA_NONE | abi.VFIO_IRQ_SET_ACTION_TRIGGER
        dev.set_irqs(MSI, flags, 0, 0)  # the kernel disables MSI
        assert not old.closed
        with dev.interrupt(MSI) as new:  # the vector is free: no refusal
            old.close()  # detached: unroutes nothing
            raise_edu_irq(bar0)
            assert new.wait(5) == 1, "closing the detached Interrupt unrouted the new one"
            ack_edu_irq(bar0)
    finally:
        os.close(spare)


@pytest.fixture(scope="module")
def nvme() -> PciDevice:
    found = [d for d in find_pci(NVME_VENDOR, NVME_DEVICE) if d.driver == "vfio-pci"]
    if not found:
        message = "no nvme on vfio-pci on this machine"
        if os.environ.get("VFIOGEN_GUEST_KERNEL", "").endswith("-full"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found[0]


def test_interrupts_routes_msix_vectors_at_once(nvme: PciDevice) -> None:
    """Four MSI-X vectors in one request; VFIO's loopback trigger of each
    reaches its own eventfd only; closing one unroutes it alone."""
    with api.open_pci(nvme.bdf) as dev:
        table = dev.irq_info(MSIX).count
        assert table >= 4, table
        with pytest.raises(ValueError, match=rf"irq index 2 \(MSI-X\) has {table} vectors"):
            dev.interrupts(MSIX, 2, start=table - 1)
        irqs = dev.interrupts(MSIX, 4)
        try:
            assert [(i.index, i.vector) for i in irqs] == [(MSIX, v) for v in range(4)]
            for vector in range(4):
                dev.trigger_irq(MSIX, vector)
                assert [i.wait(0 if i.vector != vector else 5) for i in irqs] == [
                    int(v == vector) for v in range(4)
                ]
            with pytest.raises(ValueError, match="vector 2 of irq index 2 .* already routed"):
                dev.interrupt(MSIX, 2)
            spy = os.dup(irqs[2].fileno())
            try:
                irqs[2].close()
                dev.trigger_irq(MSIX, 2)
                assert fired(spy, 0.3) == 0, "a closed Interrupt's vector still signals"
                dev.trigger_irq(MSIX, 3)
                assert irqs[3].wait(5) == 1
            finally:
                os.close(spy)
            with dev.interrupt(MSIX, 2) as again:
                dev.trigger_irq(MSIX, 2)
                assert again.wait(5) == 1
        finally:
            for irq in irqs:
                irq.close()
