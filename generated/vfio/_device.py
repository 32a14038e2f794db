# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""A device fd: info, regions, PCI config space, interrupts, reset. The
parts only some releases have (device features, migration, the VFIO cdev)
extend this class in their own modules; vfio.api.Device combines them."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple, cast

from vfio import abi, caps
from vfio import requests as rq
from vfio._base import (
    MAX_ARGSZ,
    Owned,
    chain,
    find,
    negotiate,
    page_aligned,
    scope_flag,
    uint,
)
from vfio._dma import DmaBuffer
from vfio._irq import Interrupt, Routes
from vfio._mmio import Mmio
from vfio.devices import BDF
from vfio.errors import DecodeError, VfioError

if TYPE_CHECKING:
    from vfio._dma import DmaSpace

__all__ = ["DeviceInfo", "HotResetInfo", "IrqInfo", "RegionInfo", "RegionType"]

# Headers before 6.5 define no hot reset flag (their kernels leave the field 0).
_HOT_RESET_DEV_ID: int = getattr(abi, "VFIO_PCI_HOT_RESET_FLAG_DEV_ID", 0)
_HOT_RESET_DEV_ID_OWNED: int = getattr(abi, "VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED", 0)


class DeviceInfo(NamedTuple):
    flags: abi.VfioDeviceInfoFlags
    num_regions: int
    num_irqs: int
    capabilities: list[caps.Capability]


class HotResetInfo(NamedTuple):
    """VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: the devices a bus reset affects.
    Opened through a group, `flags` is empty and each device names its IOMMU
    group (`group_id`). Opened through the cdev, `dev_id` is set and each
    names its iommufd device id (`devid`; abi.VFIO_PCI_DEVID_OWNED: the
    user's but not bound to this iommufd; abi.VFIO_PCI_DEVID_NOT_OWNED, as
    a u32: not the user's), and `dev_id_owned` says whether the user owns
    them all (the reset then takes no group fds)."""

    flags: abi.VfioPciHotResetInfoFlags
    devices: list[abi.vfio_pci_dependent_device]

    @property
    def dev_id(self) -> bool:
        return bool(self.flags & _HOT_RESET_DEV_ID)

    @property
    def dev_id_owned(self) -> bool:
        return bool(self.flags & _HOT_RESET_DEV_ID_OWNED)


def _hot_reset_flags(value: int) -> abi.VfioPciHotResetInfoFlags:
    """`value` as its flag set (a plain int with headers that define none)."""
    values = abi.vfio_pci_hot_reset_info.FIELD_VALUES.get("flags")
    return cast("abi.VfioPciHotResetInfoFlags", values(value) if values is not None else value)


_U32 = 0xFFFFFFFF


def _abi_names(prefix: str) -> dict[str, int]:
    """vfio.abi's integer constants whose names start with `prefix`."""
    return {
        k: int(v) & _U32
        for k, v in vars(abi).items()
        if k.startswith(prefix) and isinstance(v, int) and not isinstance(v, bool)
    }


class RegionType(NamedTuple):
    """VFIO_REGION_INFO_CAP_TYPE: a region's `type` and `subtype` (a tuple,
    so `== (type, subtype)` as before), named after the headers'
    VFIO_REGION_TYPE_* and, per type, VFIO_REGION_SUBTYPE_* where they name
    them; a vendor type is VFIO_REGION_TYPE_PCI_VENDOR_TYPE | its PCI vendor."""

    type: int
    subtype: int

    @property
    def vendor(self) -> int | None:
        """The PCI vendor ID of a vendor-specific type (None otherwise)."""
        flag = getattr(abi, "VFIO_REGION_TYPE_PCI_VENDOR_TYPE", 1 << 31) & _U32
        mask = int(getattr(abi, "VFIO_REGION_TYPE_PCI_VENDOR_MASK", 0xFFFF))
        return self.type & mask if self.type & flag else None

    @property
    def type_name(self) -> str | None:
        """VFIO_REGION_TYPE_GFX, "VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086",
        or None for a type these headers do not name."""
        if self.vendor is not None:
            return f"VFIO_REGION_TYPE_PCI_VENDOR_TYPE | {self.vendor:#06x}"
        types = _abi_names("VFIO_REGION_TYPE_")
        return next((k for k, v in types.items() if v == self.type and "PCI_VENDOR" not in k), None)

    @property
    def subtype_name(self) -> str | None:
        """The VFIO_REGION_SUBTYPE_* these headers give this subtype of this
        type (None when they give none)."""
        if self.vendor is not None:
            family = abi.REGION_VENDORS.get(self.vendor)  # the overlay's [region_vendors]
        else:
            named = self.type_name
            family = named.removeprefix("VFIO_REGION_TYPE_") if named else None
        if family is None:
            return None
        prefix = f"VFIO_REGION_SUBTYPE_{family}"
        return next(
            (
                k
                for k, v in _abi_names(prefix).items()
                if v == self.subtype and (k == prefix or k.startswith(prefix + "_"))
            ),
            None,
        )

    def __repr__(self) -> str:
        def shown(value: int, name: str | None) -> str:
            return f"{value:#x} ({name})" if name else f"{value:#x}"

        return (
            f"RegionType(type={shown(self.type, self.type_name)},"
            f" subtype={shown(self.subtype, self.subtype_name)})"
        )


class RegionInfo(NamedTuple):
    """One region: `offset` is where it starts in the device fd."""

    index: int  # type: ignore[assignment]  # a field: shadows tuple.index()
    flags: abi.VfioRegionInfoFlags
    size: int
    offset: int
    capabilities: list[caps.Capability]

    @property
    def sparse_areas(self) -> list[tuple[int, int]]:
        """(offset, size) of the mmap-able areas, when the region says so."""
        cap = find(self.capabilities, "VFIO_REGION_INFO_CAP_SPARSE_MMAP")
        return [(int(a.offset), int(a.size)) for a in cap.tail] if cap else []

    @property
    def type(self) -> RegionType | None:
        """The region's type and subtype (VFIO_REGION_INFO_CAP_TYPE), if it has one."""
        cap = find(self.capabilities, "VFIO_REGION_INFO_CAP_TYPE")
        if cap is None or cap.value is None:
            return None
        return RegionType(int(cap.value.type), int(cap.value.subtype))

    @property
    def msix_mappable(self) -> bool:
        return find(self.capabilities, "VFIO_REGION_INFO_CAP_MSIX_MAPPABLE") is not None


class IrqInfo(NamedTuple):
    """One IRQ index: its flags and how many vectors it has."""

    index: int  # type: ignore[assignment]  # a field: shadows tuple.index()
    flags: abi.VfioIrqInfoFlags
    count: int  # type: ignore[assignment]  # a field: shadows tuple.count()


_PCI_IRQ_NAMES = {
    abi.VFIO_PCI_INTX_IRQ_INDEX: "INTx",
    abi.VFIO_PCI_MSI_IRQ_INDEX: "MSI",
    abi.VFIO_PCI_MSIX_IRQ_INDEX: "MSI-X",
    abi.VFIO_PCI_ERR_IRQ_INDEX: "ERR",
    abi.VFIO_PCI_REQ_IRQ_INDEX: "REQ",
}


def _width(width: int) -> int:
    if width not in (1, 2, 4, 8):
        raise ValueError(f"width must be 1, 2, 4 or 8, not {width}")
    return width


class Device(Owned):
    """A device fd (from a group, or a VFIO cdev): regions, interrupts, reset."""

    kind = "device"

    def __init__(self, fd: int, name: str = "") -> None:
        super().__init__(fd)
        self.name = name
        self.dma_space: DmaSpace | None = None  # set when opened with its IOMMU (open_pci)
        self._closers: list[Callable[[], None]] = []
        self._routed = Routes()  # the vectors interrupt()/interrupts() routed

    def own(self, closer: Callable[[], None]) -> None:
        """Run `closer` when this device closes, after its fd (the group and
        container, or the iommufd, it was opened through)."""
        self._closers.append(closer)

    def close(self) -> None:
        """Close the device fd (the kernel unroutes its interrupts), then what
        it was opened through."""
        closers, self._closers = self._closers, []
        self._routed.clear()
        try:
            super().close()
        finally:
            for closer in reversed(closers):
                closer()

    def dma_buffer(
        self,
        size: int,
        iova: int | None = None,
        *,
        readable: bool = True,
        writable: bool = True,
        huge_pages: bool = False,
    ) -> DmaBuffer:
        """A DMA buffer in the IOMMU this device was opened with (open_pci, in
        any mode): at `iova`, or where the kernel chooses with iova=None (an
        iommufd IOAS only: a type1 container refuses None); of huge pages
        with huge_pages=True."""
        if self.dma_space is None:
            raise ValueError(
                "no IOMMU known for this device: use its Container's or Ioas' dma_buffer"
            )
        return DmaBuffer(
            self.dma_space,
            size,
            iova,
            readable=readable,
            writable=writable,
            huge_pages=huge_pages,
        )

    # info, regions, IRQ indexes (none changes while the device is open: asked once)

    @property
    def info(self) -> DeviceInfo:
        return self.answer("info", self._device_info)

    def _device_info(self) -> DeviceInfo:
        info, whole = negotiate(lambda b: rq.vfio_device_get_info(self.fd, b), abi.vfio_device_info)
        capabilities = chain("device_info", info, whole, scope_flag("device_info"))
        return DeviceInfo(
            abi.VfioDeviceInfoFlags(info.flags),
            int(info.num_regions),
            int(info.num_irqs),
            capabilities,
        )

    def region_info(self, index: int) -> RegionInfo:
        if index.__class__ is not int:  # checked first: True or 1.0 would find index 1's answer
            index = int(uint(index, "region index"))
        known = self._answers.get(("region", index))  # kept: no call (measured in the guest)
        return (
            known if known is not None else self.answer(("region", index), self._region_info, index)
        )

    def _region_info(self, index: int) -> RegionInfo:
        uint(index, "region index")

        def prepare(r: abi.vfio_region_info) -> None:
            r.index = index

        try:
            info, whole = negotiate(
                lambda b: rq.vfio_device_get_region_info(self.fd, b),
                abi.vfio_region_info,
                prepare,
            )
        except VfioError as exc:
            self._hint_index(exc, index, "regions", "regions()")
            raise
        capabilities = chain("region_info", info, whole, abi.VFIO_REGION_INFO_FLAG_CAPS)
        return RegionInfo(
            index,
            abi.VfioRegionInfoFlags(info.flags),
            int(info.size),
            int(info.offset),
            capabilities,
        )

    def regions(self) -> Iterator[RegionInfo]:
        """Every region the device has (indexes the driver rejects are skipped)."""
        for index in range(self.info.num_regions):
            try:
                yield self.region_info(index)
            except VfioError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: no such region on this device
                    raise

    def _span(self, index: int, offset: int, size: int) -> RegionInfo:
        region = self.region_info(index)
        uint(offset, "offset", 64)
        if size < 0 or offset + size > region.size:
            raise ValueError(
                f"[{offset:#x}, {offset + size:#x}) is outside region {index}"
                f" of size {region.size:#x}"
            )
        return region

    def read(self, index: int, offset: int, size: int) -> bytes:
        region = self._span(index, offset, size)
        return os.pread(self.fd, size, region.offset + offset)

    def write(self, index: int, offset: int, data: bytes) -> None:
        region = self._span(index, offset, len(data))
        written = os.pwrite(self.fd, data, region.offset + offset)
        if written != len(data):
            raise OSError(5, f"short write to region {index}: {written} of {len(data)} bytes")

    def read_int(self, index: int, offset: int, width: int = 4) -> int:
        """One access of exactly `width` bytes (1, 2, 4, 8), little-endian as PCI is."""
        return int.from_bytes(self.read(index, offset, _width(width)), "little")

    def write_int(self, index: int, offset: int, value: int, width: int = 4) -> None:
        _width(width)
        self.write(index, offset, uint(value, "value", width * 8).to_bytes(width, "little"))

    def mmap(self, index: int, offset: int = 0, length: int | None = None) -> mmap.mmap:
        """Map (part of) a region that allows it; the mmap keeps working
        after the device object is closed, as mmaps do."""
        region = self.region_info(index)
        if not region.flags & abi.VFIO_REGION_INFO_FLAG_MMAP:
            raise ValueError(f"region {index} cannot be mmap()ed (flags {region.flags!r})")
        if length is None:
            length = region.size - offset
        page_aligned(offset, "offset")
        self._span(index, offset, length)
        prot = mmap.PROT_READ | mmap.PROT_WRITE
        return mmap.mmap(self.fd, length, mmap.MAP_SHARED, prot, offset=region.offset + offset)

    def map_region(self, index: int) -> Mmio:
        """The whole region mapped, with typed register access (read32, write32...)."""
        return Mmio(self.mmap(index), index)

    # PCI config space

    def config_read(self, offset: int, width: int = 4) -> int:
        return self.read_int(abi.VFIO_PCI_CONFIG_REGION_INDEX, offset, width)

    def config_write(self, offset: int, value: int, width: int = 4) -> None:
        self.write_int(abi.VFIO_PCI_CONFIG_REGION_INDEX, offset, value, width)

    def enable_bus_master(self) -> None:
        """Set the Bus Master bit of the PCI command register (before DMA)."""
        self.config_write(0x04, self.config_read(0x04, 2) | 0x4, 2)

    # interrupts

    def irq_info(self, index: int) -> IrqInfo:
        if index.__class__ is not int:  # checked first, as region_info
            index = int(uint(index, "irq index"))
        known = self._answers.get(("irq", index))  # kept: no call, as region_info
        return known if known is not None else self.answer(("irq", index), self._irq_info, index)

    def _irq_info(self, index: int) -> IrqInfo:
        info = abi.vfio_irq_info()
        info.argsz = ctypes.sizeof(info)
        info.index = uint(index, "irq index")
        try:
            rq.vfio_device_get_irq_info(self.fd, info)
        except VfioError as exc:
            self._hint_index(exc, index, "irqs", "irqs()")
            raise
        return IrqInfo(index, abi.VfioIrqInfoFlags(info.flags), int(info.count))

    def _hint_index(self, exc: VfioError, index: int, what: str, lister: str) -> None:
        """EINVAL for an index at or past the count the device reports."""
        if exc.errno != errno.EINVAL:
            return
        try:
            count = self.info.num_regions if what == "regions" else self.info.num_irqs
        except VfioError:
            return  # the device answers nothing (a cdev not bound yet): the reason says so
        if index >= count:
            exc.add_hint(
                f"index {index} is out of range: the device has {count} {what} "
                f"(0..{count - 1}); Device.{lister} lists those it has"
            )

    def irqs(self) -> Iterator[IrqInfo]:
        """Every IRQ index the device has (indexes the driver rejects are skipped)."""
        for index in range(self.info.num_irqs):
            try:
                yield self.irq_info(index)
            except VfioError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: no such index on this device (edu's ERR)
                    raise

    def interrupt(self, index: int, vector: int = 0) -> Interrupt:
        """Route one vector of `index` (e.g. VFIO_PCI_MSI_IRQ_INDEX) to a new
        eventfd; closing the Interrupt unroutes it. A vector the device does
        not have, or one an open Interrupt already owns, is refused locally
        (ValueError). MSI is enabled with as many vectors as the first
        routing asks for: route several with interrupts()."""
        return self.interrupts(index, 1, start=vector)[0]

    def interrupts(self, index: int, count: int, *, start: int = 0) -> list[Interrupt]:
        """Route vectors start..start+count-1 of `index` to new eventfds in
        one VFIO_DEVICE_SET_IRQS (the kernel enables MSI/MSI-X with that
        many vectors); one Interrupt per vector, each unrouting its own on
        close(). Refused locally as interrupt() is."""
        _check_vectors(self, index, start, count)
        irqs: list[Interrupt] = []
        try:
            for vector in range(start, start + count):
                irqs.append(Interrupt(index, vector))
            self.enable_irq(index, [irq.fileno() for irq in irqs], start)
        except BaseException:
            for irq in irqs:
                irq.close()
            raise
        for irq in irqs:
            irq.release = self._releaser(index, irq.vector)
            self._routed.add(irq)
        return irqs

    def _releaser(self, index: int, vector: int) -> Callable[[], None]:
        """What closing the Interrupt of (index, vector) calls (it holds the
        device, never the Interrupt: no reference cycle delays collection)."""
        return lambda: self._unroute(index, vector)

    def _unroute(self, index: int, vector: int) -> None:
        self._routed.forget(index, vector)
        if not self.closed:
            self.enable_irq(index, [-1], start=vector)

    def set_irqs(self, index: int, flags: int, start: int, count: int, data: bytes = b"") -> None:
        """VFIO_DEVICE_SET_IRQS with exactly one DATA_* and one ACTION_* flag.
        It keeps each vector's one open Interrupt true, as interrupt() does:
        routing eventfds (ACTION_TRIGGER with DATA_EVENTFD, as enable_irq
        does, -1 included) to a vector an open Interrupt owns is refused
        (ValueError, nothing sent: close that Interrupt first); unrouting a
        whole index (ACTION_TRIGGER with DATA_NONE and count 0, as
        disable_irq does) leaves its Interrupts open but routing nothing, and
        their close() then unroutes nothing. Vectors no Interrupt owns are
        the caller's to route."""
        dtype = flags & abi.VFIO_IRQ_SET_DATA_TYPE_MASK
        action = flags & abi.VFIO_IRQ_SET_ACTION_TYPE_MASK
        if bin(dtype).count("1") != 1 or bin(action).count("1") != 1:
            raise ValueError(f"flags {flags:#x} need exactly one DATA_* and one ACTION_* bit")
        per = {
            abi.VFIO_IRQ_SET_DATA_NONE: 0,
            abi.VFIO_IRQ_SET_DATA_BOOL: 1,
            abi.VFIO_IRQ_SET_DATA_EVENTFD: 4,
        }[dtype]
        if len(data) != per * count:
            raise ValueError(f"{count} entries need {per * count} bytes of data, got {len(data)}")
        s = abi.vfio_irq_set()  # copied into the buffer: cheaper than from_buffer
        s.argsz, s.flags = ctypes.sizeof(s) + len(data), flags
        s.index, s.start = uint(index, "irq index"), uint(start, "start")
        s.count = uint(count, "count")
        trigger = action == abi.VFIO_IRQ_SET_ACTION_TRIGGER
        if trigger and dtype == abi.VFIO_IRQ_SET_DATA_EVENTFD:
            _refuse_owned(self, index, start, count)
        buf = bytearray(s)
        buf += data
        rq.vfio_device_set_irqs(self.fd, buf)
        if trigger and dtype == abi.VFIO_IRQ_SET_DATA_NONE and count == 0:
            self._routed.detach(index)  # the kernel unrouted every vector of it

    def enable_irq(self, index: int, eventfds: Sequence[int], start: int = 0) -> None:
        """Route vectors start.. of `index` to the eventfds (-1 leaves one
        unset); a vector an open Interrupt owns is refused (set_irqs)."""
        data = b"".join(int(fd).to_bytes(4, "little", signed=True) for fd in eventfds)
        flags = abi.VFIO_IRQ_SET_DATA_EVENTFD | abi.VFIO_IRQ_SET_ACTION_TRIGGER
        self.set_irqs(index, flags, start, len(eventfds), data)

    def trigger_irq(self, index: int, start: int = 0, count: int = 1) -> None:
        """Fire the interrupts from software (loopback through VFIO)."""
        flags = abi.VFIO_IRQ_SET_DATA_NONE | abi.VFIO_IRQ_SET_ACTION_TRIGGER
        self.set_irqs(index, flags, start, count)

    def mask_irq(self, index: int, start: int = 0, count: int = 1) -> None:
        self.set_irqs(
            index, abi.VFIO_IRQ_SET_DATA_NONE | abi.VFIO_IRQ_SET_ACTION_MASK, start, count
        )

    def unmask_irq(self, index: int, start: int = 0, count: int = 1) -> None:
        self.set_irqs(
            index, abi.VFIO_IRQ_SET_DATA_NONE | abi.VFIO_IRQ_SET_ACTION_UNMASK, start, count
        )

    def disable_irq(self, index: int) -> None:
        """Unroute every vector of `index` (MSI/MSI-X: disabled). The
        Interrupts routed there stay open but route nothing any more."""
        self.set_irqs(index, abi.VFIO_IRQ_SET_DATA_NONE | abi.VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0)

    # reset, hot reset

    def reset(self) -> None:
        try:
            rq.vfio_device_reset(self.fd)
        except VfioError as exc:
            if exc.errno == errno.EINVAL and not self._flag(abi.VFIO_DEVICE_FLAGS_RESET):
                exc.add_hint("this device has no reset method (Device.info.flags has no RESET)")
            raise

    def _flag(self, flag: int) -> bool:
        """Whether the device info has `flag` (True when the device cannot say)."""
        try:
            return bool(self.info.flags & flag)
        except VfioError:
            return True

    def hot_reset_info(self) -> HotResetInfo:
        """The devices a bus reset would affect and how they are named
        (HotResetInfo: by group, or by iommufd device id through the cdev);
        count is negotiated (ENOSPC, grow and retry).

            info = dev.hot_reset_info()
            if info.dev_id_owned:
                dev.hot_reset()  # cdev: every affected device is the user's
            else:
                groups = {d.group_id for d in info.devices}  # open each, pass them
        """
        count = 0
        head = ctypes.sizeof(abi.vfio_pci_hot_reset_info)
        elem = ctypes.sizeof(abi.vfio_pci_dependent_device)
        for _ in range(8):
            buf = bytearray(head + count * elem)
            h = abi.vfio_pci_hot_reset_info.from_buffer(buf)
            h.argsz = len(buf)
            del h
            try:
                rq.vfio_device_get_pci_hot_reset_info(self.fd, buf)
            except VfioError as exc:
                if exc.errno != 28:  # ENOSPC: count now says how many
                    raise
                wanted = int(abi.vfio_pci_hot_reset_info.from_buffer(buf).count)
                if wanted <= count or wanted * elem > MAX_ARGSZ:
                    raise DecodeError(
                        "vfio_pci_hot_reset_info", 0, f"count {wanted} after ENOSPC"
                    ) from None
                count = wanted
                continue
            info = abi.vfio_pci_hot_reset_info.from_buffer_copy(bytes(buf[:head]))
            devices = [d for d in caps.counted_tail(info, buf, 0)]
            return HotResetInfo(_hot_reset_flags(int(info.flags)), devices)
        raise DecodeError("vfio_pci_hot_reset_info", 0, "count kept growing")


def _refuse_owned(dev: Device, index: int, start: int, count: int) -> None:
    """A vector routed to an open Interrupt: routing it again would silently
    take it from that Interrupt (which close() would then unroute)."""
    live = dev._routed.first_owner(index, start, count)
    if live is not None:
        raise ValueError(
            f"vector {live.vector} of {_irq_name(dev, index)} is already routed to {live!r}:"
            " close that Interrupt first (one Interrupt per vector)"
        )


def _check_vectors(dev: Device, index: int, start: int, count: int) -> None:
    """Refuse what the API knows the kernel would get wrong or refuse: a
    vector already routed to an open Interrupt, an index the device does
    not have, a vector past the index's count."""
    uint(index, "irq index")
    uint(start, "start")
    if uint(count, "count") == 0:
        raise ValueError("count must be at least 1")
    _refuse_owned(dev, index, start, count)
    try:
        have = dev.irq_info(index).count
    except VfioError as exc:
        if exc.errno != errno.EINVAL or not _answers(dev):
            return  # the kernel's own answer will say more
        raise ValueError(
            f"the device has no {_irq_name(dev, index)}: Device.irqs() lists those it has"
        ) from None
    if start + count > have:
        raise ValueError(
            f"vector {start + count - 1} is out of range: {_irq_name(dev, index)} has "
            f"{have} vector{'' if have == 1 else 's'} (Device.irq_info({index}).count)"
        )


def _answers(dev: Device) -> bool:
    """After GET_IRQ_INFO's EINVAL: whether the device answers other
    requests (then the index is one it does not have)."""
    try:
        dev.info
    except VfioError:
        return False  # nothing answers (a cdev not bound yet)
    return True


def _irq_name(dev: Device, index: int) -> str:
    """ "irq index 1 (MSI)": the PCI name when the device is a PCI one (its
    info says so, or, not asked yet, its name is a PCI address); asks the
    kernel nothing, so a refusal issues no request."""
    info: DeviceInfo | None = dev._answers.get("info")
    pci = bool(info.flags & abi.VFIO_DEVICE_FLAGS_PCI) if info else bool(BDF.match(dev.name))
    name = _PCI_IRQ_NAMES.get(index) if pci else None
    return f"irq index {index} ({name})" if name else f"irq index {index}"
