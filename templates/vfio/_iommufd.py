# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""iommufd (/dev/iommu): the object space, I/O address spaces, and the
device side of it (a VFIO cdev bound to an iommufd, attached to an IOAS)."""

from __future__ import annotations

import ctypes
import errno
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, Protocol, Self

from vfio import _ioctl, abi
from vfio import requests as rq
from vfio._base import (
    MAX_ARGSZ,
    MISSING_HINTS,
    PAGE_SIZE,
    Owned,
    OwnedId,
    fields_packer,
    open_rw,
    page_aligned,
    ranges_cover,
    ranges_text,
    span_text,
    uint,
)
from vfio._device import Device
from vfio._dma import DmaBuffer
from vfio import devices
from vfio.errors import DecodeError, IommuModeError, NotBoundError, VfioError

__all__ = ["HwInfo", "Ioas", "Iommufd", "IovaRanges"]
__device_part__ = "CdevDevice"
"""The Device subclass this module adds; vfio.api.Device combines the parts."""

__requires__ = ("IOMMU_IOAS_ALLOC", "VFIO_DEVICE_BIND_IOMMUFD", "VFIO_DEVICE_ATTACH_IOMMUFD_PT")
"""What the headers must define for vfiogen to ship this module."""


class Iommufd(Owned):
    """/dev/iommu: the iommufd object space."""

    kind = "iommufd"

    def __init__(self, path: str | Path = "/dev/iommu") -> None:
        super().__init__(open_rw(path, "iommufd"))

    def ioas(self) -> Ioas:
        """A new I/O address space (destroyed by Ioas.close())."""
        a = abi.iommu_ioas_alloc()
        a.size = ctypes.sizeof(a)
        rq.iommu_ioas_alloc(self.fd, a)
        return Ioas(self, int(a.out_ioas_id))

    def destroy(self, object_id: int) -> None:
        d = abi.iommu_destroy()
        d.size = ctypes.sizeof(d)
        d.id = uint(object_id, "object id")
        rq.iommu_destroy(self.fd, d)

    def option(self, option_id: int, *, object_id: int = 0, value: int | None = None) -> int:
        """IOMMU_OPTION: GET (value None) returns the option's value; SET
        `value` returns it back. Global options take object_id 0, per-IOAS
        ones the IOAS id. The typed forms are rlimit_mode() and
        Ioas.huge_pages(); this one passes any 64-bit value to the kernel."""
        o = abi.iommu_option()
        o.size = ctypes.sizeof(o)
        o.option_id = uint(option_id, "option_id")
        o.object_id = uint(object_id, "object_id")
        if value is None:
            o.op = abi.IOMMU_OPTION_OP_GET
        else:
            o.op, o.val64 = abi.IOMMU_OPTION_OP_SET, uint(value, "value", 64)
        rq.iommu_option(self.fd, o)
        return int(o.val64)

    def rlimit_mode(self) -> int:
        """How pinned pages count against RLIMIT_MEMLOCK (IOMMU_OPTION_RLIMIT_MODE):
        0 per user (the default), 1 per process."""
        return self.option(abi.IOMMU_OPTION_RLIMIT_MODE)

    def set_rlimit_mode(self, per_process: bool) -> None:
        """Count pinned pages per process (True) or per user (False); needs
        CAP_SYS_RESOURCE and an iommufd with no objects yet (EBUSY)."""
        self.option(abi.IOMMU_OPTION_RLIMIT_MODE, value=int(boolean(per_process, "per_process")))

    def compat_ioas(self) -> int | None:
        """IOMMU_VFIO_IOAS GET: the id of the IOAS that VFIO container
        compatibility uses on this iommufd; None while there is none (ENODEV)."""
        try:
            return self._vfio_ioas(abi.IOMMU_VFIO_IOAS_GET)
        except VfioError as exc:
            if exc.errno != errno.ENODEV:
                raise
            return None

    def set_compat_ioas(self, ioas: Ioas) -> None:
        """IOMMU_VFIO_IOAS SET: make `ioas` the one VFIO_GROUP_SET_CONTAINER
        on this iommufd attaches to (instead of an auto-created one)."""
        if ioas.iommufd is not self:
            raise ValueError(f"{ioas!r} belongs to another iommufd")
        self._vfio_ioas(abi.IOMMU_VFIO_IOAS_SET, ioas.id)

    def clear_compat_ioas(self) -> None:
        """IOMMU_VFIO_IOAS CLEAR: no compat IOAS (an auto-created one is not destroyed)."""
        self._vfio_ioas(abi.IOMMU_VFIO_IOAS_CLEAR)

    def _vfio_ioas(self, op: int, ioas_id: int = 0) -> int:
        v = abi.iommu_vfio_ioas()
        v.size = ctypes.sizeof(v)
        v.op, v.ioas_id = op, ioas_id
        rq.iommu_vfio_ioas(self.fd, v)
        return int(v.ioas_id)

    def change_process(self) -> None:
        """IOMMU_IOAS_CHANGE_PROCESS: charge the pages pinned by every IOAS of
        this iommufd to the calling process (after a fork, or a hand-over
        through a unix socket). The kernel refuses (EINVAL, nothing changed)
        while any map is not file-backed (Ioas.map_file)."""
        needs("IOMMU_IOAS_CHANGE_PROCESS")
        c = abi.iommu_ioas_change_process()
        c.size = ctypes.sizeof(c)
        rq.iommu_ioas_change_process(self.fd, c)

    def hw_info(
        self, dev: Dev, *, data_type: int | None = None, data: type[ctypes.Structure] | None = None
    ) -> HwInfo:
        """IOMMU_GET_HW_INFO for device `dev` (bound to this iommufd): the
        IOMMU's info type, its type-specific data, the generic capabilities
        and the PASID width. `data_type` asks for a given type (the kernel's
        default otherwise); `data` is the struct to decode the data as (by
        default the one vfio.abi.HW_INFO_TYPES names for the type, if any)."""
        i = abi.iommu_hw_info()
        i.size = ctypes.sizeof(i)
        i.dev_id = dev_id(dev)
        if data_type is not None:
            flag = getattr(abi, "IOMMU_HW_INFO_FLAG_INPUT_TYPE", None)
            if flag is None:
                raise NotImplementedError("these headers' IOMMU_GET_HW_INFO takes no data_type")
            i.flags = flag
            i.in_data_type = uint(data_type, "data_type")
        length = 256
        for _ in range(4):  # data_len returns the length the kernel has: grow to it
            buf = ctypes.create_string_buffer(length)
            i.data_len, i.data_uptr = length, ctypes.addressof(buf)
            rq.iommu_get_hw_info(self.fd, i)
            if int(i.data_len) <= length:
                break
            if int(i.data_len) > MAX_ARGSZ:
                raise DecodeError("iommu_hw_info", 0, f"the kernel has {i.data_len} bytes")
            length = int(i.data_len)
        raw = buf.raw[: int(i.data_len)]
        return HwInfo(
            int(i.out_data_type),
            raw,
            int(getattr(i, "out_capabilities", 0)),
            int(getattr(i, "out_max_pasid_log2", 0)),
            data or _hw_info_struct(int(i.out_data_type)),
        )


def needs(request: str) -> None:
    """Refuse a verb whose request is newer than the headers this package was
    generated from (this module ships from an older release than the verb)."""
    if request not in rq.REQUESTS:
        raise NotImplementedError(
            f"{request} is not in the headers this vfio package was generated from: "
            "regenerate it from a newer linux/iommufd.h"
        )


def boolean(value: object, what: str) -> bool:
    """A bool argument (an int is refused: 2 is not a yes)."""
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be a bool, not {type(value).__name__}")
    return value


def span(iova: int, length: int, what: str) -> None:
    """A range of the 64-bit IOVA (or file) space: not empty, not wrapping."""
    uint(iova, what, 64)
    if uint(length, "length", 64) == 0:
        raise ValueError("length must not be 0")
    if iova + length > 1 << 64:
        raise ValueError(f"{what} {iova:#x} + length {length:#x} wraps past 2**64")


def map_flags(readable: bool, writable: bool, iova: int | None) -> int:
    """enum iommufd_ioas_map_flags of a map or copy: FIXED_IOVA when the caller
    gives the IOVA; the kernel needs at least one of READABLE and WRITEABLE."""
    if not boolean(readable, "readable") and not boolean(writable, "writable"):
        raise ValueError("a mapping must be readable or writable (or both)")
    return (
        (abi.IOMMU_IOAS_MAP_FIXED_IOVA if iova is not None else 0)
        | (abi.IOMMU_IOAS_MAP_READABLE if readable else 0)
        | (abi.IOMMU_IOAS_MAP_WRITEABLE if writable else 0)
    )


class IovaRanges(NamedTuple):
    """IOMMU_IOAS_IOVA_RANGES: the usable (start, last) ranges of an IOAS,
    and the alignment every IOVA mapped in it must have (the largest
    minimum page size of the attached IOMMUs; 1 while nothing limits it)."""

    ranges: list[tuple[int, int]]
    alignment: int

    def covers(self, iova: int, length: int) -> bool:
        """Whether [iova, iova + length) lies inside one range."""
        return ranges_cover(self.ranges, iova, length)


# What Ioas.map_dma/unmap_dma use on every call (the same approach as
# vfio._legacy's Container: a blank request per IOAS with size, flags and
# ioas_id in place, copied, and only the addresses packed by struct's C code).
_IoasMap, _IoasUnmap = abi.iommu_ioas_map, abi.iommu_ioas_unmap
_MAP_ADDRS_AT, _pack_map_addrs = fields_packer(_IoasMap, "user_va", "iova")
_UNMAP_RANGE_AT, _pack_unmap_range = fields_packer(_IoasUnmap, "iova", "length")
_UNMAPPED_AT = getattr(_IoasUnmap, "length").offset
_unpack_u64 = struct.Struct("=Q").unpack_from
_PAGE_MASK = PAGE_SIZE - 1
# the fast paths' requests go through vfio._ioctl.inline_ioctl: checked here
_IOAS_MAP = _ioctl.inline("IOMMU_IOAS_MAP", abi.IOMMU_IOAS_MAP, "iommufd")
_IOAS_UNMAP = _ioctl.inline("IOMMU_IOAS_UNMAP", abi.IOMMU_IOAS_UNMAP, "iommufd")


class HasFileno(Protocol):
    def fileno(self) -> int: ...


class Ioas(OwnedId):
    """An iommufd I/O address space: map, unmap, the usable IOVA ranges.
    close() destroys it; EBUSY while a device is attached, and then the IOAS
    stays open so close() can be retried after detaching."""

    kind = "ioas"
    iommufd: Iommufd
    chooses_iova = True
    """map_dma(None, ...) lets the kernel choose the IOVA: so does dma_buffer."""

    def __init__(self, iommufd: Iommufd, ioas_id: int) -> None:
        super().__init__(iommufd, ioas_id)
        m = _IoasMap(size=ctypes.sizeof(_IoasMap), ioas_id=ioas_id)
        m.flags = map_flags(True, True, 0)
        self._map_fixed_rw = bytearray(m)  # map_dma's common request, addresses to come
        self._unmap_blank = bytearray(_IoasUnmap(size=ctypes.sizeof(_IoasUnmap), ioas_id=ioas_id))

    def map_dma(
        self,
        iova: int | None,
        size: int,
        vaddr: int,
        *,
        readable: bool = True,
        writable: bool = True,
    ) -> int:
        """IOMMU_IOAS_MAP: map `size` bytes at user address `vaddr` at
        `iova` (FIXED_IOVA), or, with iova=None, where the kernel chooses
        inside the usable ranges; returns the IOVA. The memory must stay
        allocated while mapped: prefer dma_buffer()."""
        if (  # the common case, a fixed IOVA read-write, straight in
            iova.__class__ is int
            and size.__class__ is int
            and vaddr.__class__ is int
            and not (iova | size) & _PAGE_MASK
            and readable is True
            and writable is True
            and self._open
            and (fd := self.iommufd._fd) >= 0
        ):
            buf = self._map_fixed_rw.copy()
            try:
                _pack_map_addrs(buf, _MAP_ADDRS_AT, vaddr, size, iova)
            except struct.error:
                pass  # out of range: the checks below say which
            else:
                try:
                    _ioctl.inline_ioctl(fd, _IOAS_MAP, buf, True)
                except OSError as exc:
                    error = _ioctl.inline_failed(exc, _IOAS_MAP)
                    if error.errno == errno.EINVAL:
                        self._hint_outside(error, iova, size)
                    raise error from exc
                return iova
        m = abi.iommu_ioas_map()
        m.size = ctypes.sizeof(m)
        m.flags = map_flags(readable, writable, iova)
        m.ioas_id = self.id
        m.user_va = uint(vaddr, "vaddr", 64)
        m.length = page_aligned(size, "size")
        m.iova = page_aligned(iova, "iova") if iova is not None else 0
        try:
            rq.iommu_ioas_map(self.iommufd.fd, m)
        except VfioError as exc:
            if iova is not None and exc.errno == errno.EINVAL:
                self._hint_outside(exc, iova, int(m.length))
            raise
        return int(m.iova)

    def _hint_outside(self, exc: VfioError, iova: int, length: int) -> None:
        """The kernel's EINVAL for a fixed IOVA it does not offer: outside
        the usable ranges, or not aligned as the attached IOMMUs need."""
        try:
            usable = self.iova_ranges()
        except VfioError:
            return
        if not usable.covers(iova, length):
            exc.add_hint(
                f"{span_text(iova, length)} is outside the usable IOVA ranges of this IOAS "
                f"({ranges_text(usable.ranges)}: Ioas.iova_ranges()); or pass iova=None"
            )
        elif usable.alignment > 1 and (iova | length) % usable.alignment:
            exc.add_hint(
                f"the attached IOMMUs need IOVAs and lengths aligned to {usable.alignment:#x} "
                "(Ioas.iova_ranges().alignment)"
            )

    def unmap_dma(self, iova: int, size: int) -> int:
        """IOMMU_IOAS_UNMAP; returns the number of bytes the kernel unmapped."""
        if (
            iova.__class__ is int
            and size.__class__ is int
            and self._open
            and (fd := self.iommufd._fd) >= 0
        ):
            buf = self._unmap_blank.copy()
            try:
                _pack_unmap_range(buf, _UNMAP_RANGE_AT, iova, size)
            except struct.error:
                pass  # out of range: the checks below say which
            else:
                try:
                    _ioctl.inline_ioctl(fd, _IOAS_UNMAP, buf, True)
                except OSError as exc:
                    raise _ioctl.inline_failed(exc, _IOAS_UNMAP) from exc
                unmapped: int = _unpack_u64(buf, _UNMAPPED_AT)[0]
                return unmapped
        u = abi.iommu_ioas_unmap()
        u.size = ctypes.sizeof(u)
        u.ioas_id = self.id
        u.iova = uint(iova, "iova", 64)
        u.length = uint(size, "size", 64)
        rq.iommu_ioas_unmap(self.iommufd.fd, u)
        return int(u.length)

    def copy(
        self,
        src: Ioas,
        src_iova: int,
        length: int,
        *,
        iova: int | None = None,
        readable: bool = True,
        writable: bool = True,
    ) -> int:
        """IOMMU_IOAS_COPY: map here the pages that `src` maps at
        [src_iova, src_iova + length), which must be exactly one of its maps
        (pinned once, shared). At `iova`, or where the kernel chooses
        (inside the allowed ranges); returns the IOVA."""
        if not isinstance(src, Ioas):
            raise TypeError(f"src must be an Ioas, not {type(src).__name__}")
        if src.iommufd is not self.iommufd:
            raise ValueError(f"{src!r} belongs to another iommufd")
        span(src_iova, length, "src_iova")
        if iova is not None:
            span(iova, length, "iova")
        c = abi.iommu_ioas_copy()
        c.size = ctypes.sizeof(c)
        c.flags = map_flags(readable, writable, iova)
        c.dst_ioas_id, c.src_ioas_id = self.id, src.id
        c.length, c.src_iova, c.dst_iova = length, src_iova, iova or 0
        rq.iommu_ioas_copy(self.iommufd.fd, c)
        return int(c.dst_iova)

    def map_file(
        self,
        file: int | HasFileno,
        length: int,
        *,
        start: int = 0,
        iova: int | None = None,
        readable: bool = True,
        writable: bool = True,
    ) -> int:
        """IOMMU_IOAS_MAP_FILE: map `length` bytes of a memfd (or a dma-buf
        the kernel supports) from offset `start`, at `iova` or where the
        kernel chooses; returns the IOVA. Only file-backed maps survive
        Iommufd.change_process()."""
        needs("IOMMU_IOAS_MAP_FILE")
        fd = file if isinstance(file, int) else file.fileno()
        if isinstance(fd, bool) or not isinstance(fd, int) or not 0 <= fd < 1 << 31:
            raise ValueError(f"file {fd!r} is not a file descriptor")
        span(start, length, "start")
        if iova is not None:
            span(iova, length, "iova")
        m = abi.iommu_ioas_map_file()
        m.size = ctypes.sizeof(m)
        m.flags = map_flags(readable, writable, iova)
        m.ioas_id, m.fd = self.id, fd
        m.start, m.length, m.iova = start, length, iova or 0
        rq.iommu_ioas_map_file(self.iommufd.fd, m)
        return int(m.iova)

    def allow_iovas(self, ranges: Sequence[tuple[int, int]]) -> None:
        """IOMMU_IOAS_ALLOW_IOVAS: keep these (start, last) ranges usable
        (attaching a device that would narrow them fails) and make the
        kernel pick IOVAs inside them; replaces the list, [] clears it.
        Each range needs start < last; ranges must not overlap."""
        checked = sorted((uint(a, "start", 64), uint(b, "last", 64)) for a, b in ranges)
        for (a, b), later in zip(checked, checked[1:] + [None]):
            if a >= b:
                raise ValueError(f"range ({a:#x}, {b:#x}): start must be below last")
            if later is not None and later[0] <= b:
                raise ValueError(
                    f"ranges ({a:#x}, {b:#x}) and ({later[0]:#x}, {later[1]:#x}) overlap"
                )
        array = (abi.iommu_iova_range * max(len(checked), 1))(
            *(abi.iommu_iova_range(start=a, last=b) for a, b in checked)
        )
        allow = abi.iommu_ioas_allow_iovas()
        allow.size = ctypes.sizeof(allow)
        allow.ioas_id, allow.num_iovas = self.id, uint(len(checked), "number of ranges")
        allow.allowed_iovas = ctypes.addressof(array)
        rq.iommu_ioas_allow_iovas(self.iommufd.fd, allow)

    def huge_pages(self) -> bool:
        """IOMMU_OPTION_HUGE_PAGES: whether contiguous pages are combined
        into large IOMMU mappings (the default) or mapped page by page."""
        return bool(self.iommufd.option(abi.IOMMU_OPTION_HUGE_PAGES, object_id=self.id))

    def set_huge_pages(self, enabled: bool) -> None:
        """Combine contiguous pages into large mappings (True) or map each
        PAGE_SIZE page alone (False: what the dirty-tracking selftests need)."""
        value = int(boolean(enabled, "enabled"))
        self.iommufd.option(abi.IOMMU_OPTION_HUGE_PAGES, object_id=self.id, value=value)

    def dma_buffer(
        self,
        size: int,
        iova: int | None = None,
        *,
        readable: bool = True,
        writable: bool = True,
        huge_pages: bool = False,
    ) -> DmaBuffer:
        """`size` bytes mapped at `iova`, or with iova=None where the kernel
        chooses (the buffer's `.iova` says where); of huge pages with
        huge_pages=True (DmaBuffer)."""
        return DmaBuffer(
            self, size, iova, readable=readable, writable=writable, huge_pages=huge_pages
        )

    def iova_ranges(self) -> IovaRanges:
        """The usable (start, last) ranges and the IOVA alignment
        (EMSGSIZE negotiation of num_iovas)."""
        count = 0
        for _ in range(8):
            ranges = (abi.iommu_iova_range * max(count, 1))()
            r = abi.iommu_ioas_iova_ranges()
            r.size = ctypes.sizeof(r)
            r.ioas_id = self.id
            r.num_iovas = count
            r.allowed_iovas = ctypes.addressof(ranges)
            try:
                rq.iommu_ioas_iova_ranges(self.iommufd.fd, r)
            except VfioError as exc:
                # EMSGSIZE: num_iovas says how many
                if exc.errno != 90 or int(r.num_iovas) <= count:
                    raise
                count = int(r.num_iovas)
                continue
            return IovaRanges(
                [(int(x.start), int(x.last)) for x in ranges[: int(r.num_iovas)]],
                int(r.out_iova_alignment),
            )
        raise DecodeError("iommu_ioas_iova_ranges", 0, "num_iovas kept growing")


def _hw_info_struct(data_type: int) -> type[ctypes.Structure] | None:
    """The struct the headers give for an IOMMU_GET_HW_INFO data type (the
    overlay's cases of iommu_hw_info.data_uptr, in vfio.abi.POINTEES)."""
    _, cases = abi.POINTEES.get(("iommu_hw_info", "data_uptr"), ("", {}))
    return cases.get(data_type)


class HwInfo(NamedTuple):
    """What IOMMU_GET_HW_INFO says about the IOMMU behind a device:
    `data_type` (enum iommu_hw_info_type), its raw `data`, the generic
    `capabilities` (enum iommufd_hw_capabilities) and `max_pasid_log2`
    (0: no PASID). decoded() reads the data as `struct`, when known."""

    data_type: int
    data: bytes
    capabilities: int
    max_pasid_log2: int
    struct: type[ctypes.Structure] | None

    def has(self, capability: int) -> bool:
        """Whether the IOMMU reports `capability` (an IOMMU_HW_CAP_* flag)."""
        return bool(self.capabilities & uint(capability, "capability", 64))

    def decoded(self) -> ctypes.Structure | None:
        """The data as its struct (None when the type has none known);
        DecodeError when the kernel gave fewer bytes than the struct has."""
        if self.struct is None:
            return None
        if len(self.data) < ctypes.sizeof(self.struct):
            raise DecodeError(
                self.struct.__name__, len(self.data), f"{len(self.data)} bytes of hw info data"
            )
        return self.struct.from_buffer_copy(self.data)


class CdevDevice(Device):
    """The VFIO cdev part of vfio.api.Device: bind to an iommufd, attach to an IOAS."""

    @classmethod
    def open_cdev(cls, path: str | Path) -> Self:
        """/dev/vfio/devices/vfioN: bind it to an iommufd before use."""
        return cls(open_rw(path), str(path))

    @classmethod
    def open_pci_cdev(cls, bdf: str, root: str | Path = "/") -> Self:
        """The device at `bdf` through its VFIO cdev, bound to a new iommufd
        and attached to a new IOAS (the device owns both; dma_buffer() maps
        there), as `open_pci(bdf, mode="iommufd")` opens it."""
        return cls._open_pci_found(devices.device(bdf, root), root)

    @classmethod
    def _open_pci_found(cls, found: devices.PciDevice, root: str | Path = "/") -> Self:
        """open_pci_cdev of a device sysfs was read for already (open_pci
        passes it: one scan). What the cdev needs is checked here, and only
        here, before any request: bound to a vfio driver (NotBoundError),
        /dev/iommu and the device's cdev present (IommuModeError)."""
        where = str(Path(root) / "sys/bus/pci/devices" / found.bdf)
        if not found.bound_to_vfio:
            raise NotBoundError(found.bdf, found.driver, where + "/driver")
        node = Path(root) / "dev/iommu"
        if not node.exists():
            raise IommuModeError("iommufd", str(node), MISSING_HINTS["iommufd"])
        if found.cdev is None:
            hint = "this device has no VFIO cdev: the kernel needs CONFIG_VFIO_DEVICE_CDEV"
            raise IommuModeError("iommufd", where + "/vfio-dev", hint)
        iommufd = Iommufd(node)
        try:
            dev = cls(open_rw(Path(root) / found.cdev.lstrip("/")), found.bdf)
        except BaseException:
            iommufd.close()
            raise
        dev.own(iommufd.close)  # after the device: its binding ends first
        try:
            ioas = iommufd.ioas()
            dev.bind_iommufd(iommufd)
            dev.attach_ioas(ioas)
        except BaseException:
            dev.close()
            raise
        dev.dma_space = ioas
        return dev

    dev_id: int | None = None
    """The device's id in the iommufd it is bound to (bind_iommufd), which
    IOMMU_HWPT_ALLOC, IOMMU_VIOMMU_ALLOC and the like take; None until bound."""

    def bind_iommufd(self, iommufd: Iommufd) -> int:
        """Returns the device id inside that iommufd (kept as `dev_id`). A
        cdev fd binds once: a second bind is refused locally."""
        self.refuse_second_bind()
        b = abi.vfio_device_bind_iommufd()
        b.argsz = ctypes.sizeof(b)
        b.iommufd = iommufd.fd
        rq.vfio_device_bind_iommufd(self.fd, b)
        return self.bound(iommufd, int(b.out_devid))

    def refuse_second_bind(self) -> None:
        """ValueError when this fd is bound already (the kernel would say EINVAL)."""
        if self.dev_id is not None:
            raise ValueError(
                f"this device is already bound to an iommufd (dev_id {self.dev_id}): a VFIO "
                "cdev fd binds once; open the cdev again (Device.open_cdev) for another binding"
            )

    def bound(self, iommufd: Iommufd, devid: int) -> int:
        """Record a successful bind: `iommufd` and the device id in it."""
        self.dev_id, self.iommufd = devid, iommufd
        return devid

    iommufd: Iommufd | None = None
    """The iommufd the device is bound to (bind_iommufd)."""

    def hw_info(
        self, *, data_type: int | None = None, data: type[ctypes.Structure] | None = None
    ) -> HwInfo:
        """IOMMU_GET_HW_INFO about the IOMMU behind this device (bound first):
        see Iommufd.hw_info."""
        if self.iommufd is None:
            raise ValueError(f"device {self.name or self} is not bound to an iommufd")
        return self.iommufd.hw_info(self, data_type=data_type, data=data)

    def attach_ioas(self, ioas: Ioas) -> int:
        """Attach to the IOAS; returns the id of the page table (HWPT) the
        kernel made for it, which is not the IOAS id."""
        return self.attach(ioas)

    def attach(self, pt: OwnedId) -> int:
        """Attach to a page table: an IOAS (the kernel makes a HWPT for it,
        whose id is returned) or a HWPT the caller allocated (its own id
        comes back). Attaching again replaces the page table."""
        a = abi.vfio_device_attach_iommufd_pt()
        a.argsz = ctypes.sizeof(a)
        a.pt_id = pt.id
        rq.vfio_device_attach_iommufd_pt(self.fd, a)
        return int(a.pt_id)

    def detach_ioas(self) -> None:
        """Detach from whatever page table the device is attached to."""
        d = abi.vfio_device_detach_iommufd_pt()
        d.argsz = ctypes.sizeof(d)
        rq.vfio_device_detach_iommufd_pt(self.fd, d)


Dev = int | CdevDevice
"""A device of an iommufd: its id, or a cdev Device bound to it."""


def dev_id(dev: Dev) -> int:
    """The iommufd device id of `dev` (ValueError for an unbound device)."""
    if isinstance(dev, CdevDevice):
        if dev.dev_id is None:
            raise ValueError(f"device {dev.name or dev} is not bound to an iommufd")
        return dev.dev_id
    return uint(dev, "dev_id")
