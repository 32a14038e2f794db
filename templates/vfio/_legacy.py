# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""The legacy VFIO model: a container (/dev/vfio/vfio) with its type1 IOMMU,
and the IOMMU groups (/dev/vfio/$GROUP) attached to it. A Group is generic
in the device class it opens: vfio.api binds it to the Device that has every
part this release's headers allow."""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, Literal, NamedTuple, TypeAlias, TypeVar, get_args

from vfio import _ioctl, abi, caps
from vfio import requests as rq
from vfio._base import (
    MISSING_HINTS,
    PAGE_SIZE,
    Owned,
    chain,
    deprecated,
    fields_packer,
    find,
    negotiate,
    open_rw,
    page_aligned,
    ranges_cover,
    ranges_text,
    scope_flag,
    span_text,
    uint,
)
from vfio._device import Device
from vfio._dma import DmaBuffer
from vfio import devices
from vfio.errors import (
    DeviceNotFoundError,
    IommuModeError,
    NoIommuGroupError,
    NoiommuRefusedError,
    NodeError,
    NotBoundError,
    SetupError,
    VfioError,
)

# vfio.api.Container combines Container's parts
__all__ = ["GroupStatus", "IommuInfo", "IommuMode", "IOMMU_MODES"]

_D = TypeVar("_D", bound=Device)

IommuMode: TypeAlias = Literal[
    "vfio_type1_iommu",
    "vfio_type1v2_iommu",
    "iommufd_compat_type1",
    "iommufd_compat_type1v2",
    "iommufd",
]
"""One of "vfio_type1_iommu", "vfio_type1v2_iommu", "iommufd_compat_type1",
"iommufd_compat_type1v2", "iommufd" (IOMMU_MODES): how open_pci reaches a
device's IOMMU, as the kernel's VFIO selftests name their variants
(FIXTURE_VARIANT_ADD_ALL_IOMMU_MODES): a type1 (v1 or v2) container on
/dev/vfio/vfio, the same through iommufd's VFIO compatibility (/dev/iommu
given to VFIO_GROUP_SET_CONTAINER), or the device's VFIO cdev bound to an
iommufd and attached to an IOAS."""

IOMMU_MODES: tuple[IommuMode, ...] = get_args(IommuMode)
"""Every IommuMode, in the selftests' order (a test's parametrize list)."""

# the container modes: the node (under the root) and the IOMMU model to set
_CONTAINER_MODES: dict[str, tuple[str, int]] = {
    "vfio_type1_iommu": ("dev/vfio/vfio", abi.VFIO_TYPE1_IOMMU),
    "vfio_type1v2_iommu": ("dev/vfio/vfio", abi.VFIO_TYPE1v2_IOMMU),
    "iommufd_compat_type1": ("dev/iommu", abi.VFIO_TYPE1_IOMMU),
    "iommufd_compat_type1v2": ("dev/iommu", abi.VFIO_TYPE1v2_IOMMU),
}
_NO_IOMMUFD = MISSING_HINTS["iommufd"]


class IommuInfo(NamedTuple):
    """VFIO_IOMMU_GET_INFO, with its capabilities decoded."""

    flags: abi.VfioIommuType1InfoFlags
    iova_pgsizes: int
    iova_ranges: list[tuple[int, int]]  # (start, end) inclusive
    dma_avail: int | None
    migration: ctypes.Structure | ctypes.Union | None
    capabilities: list[caps.Capability]


# What map_dma/unmap_dma use on every call, looked up once (vfio.abi's
# attributes go through its module __getattr__ machinery, slower to load).
# Each call copies a blank request with argsz and flags in place (a
# bytearray's copy() is the cheapest new buffer) and packs the addresses
# into it with struct, whose C code also refuses a negative or too wide
# value. Measured in the guest (tests/hardware/guest/test_bench_requests.py):
# building the request was most of what the verbs cost over the typed
# request, and each field packed counts.
_DmaMap, _DmaUnmap = abi.vfio_iommu_type1_dma_map, abi.vfio_iommu_type1_dma_unmap
_DMA_MAP_SIZE, _DMA_UNMAP_SIZE = ctypes.sizeof(_DmaMap), ctypes.sizeof(_DmaUnmap)
_MAP_CODEC, _UNMAP_CODEC = _DmaMap.codec(), _DmaUnmap.codec()
assert _MAP_CODEC is not None and _UNMAP_CODEC is not None  # integer members only
_DMA_READ, _DMA_WRITE = abi.VFIO_DMA_MAP_FLAG_READ, abi.VFIO_DMA_MAP_FLAG_WRITE
_MAP_BLANKS = {
    flags: bytearray(_MAP_CODEC.pack(_DMA_MAP_SIZE, flags, 0, 0, 0))
    for flags in (0, _DMA_READ, _DMA_WRITE, _DMA_READ | _DMA_WRITE)
}
_MAP_READ_WRITE = _MAP_BLANKS[_DMA_READ | _DMA_WRITE]
_UNMAP_BLANK = bytearray(_UNMAP_CODEC.pack(_DMA_UNMAP_SIZE, 0, 0, 0))
_pack_unmap_into = _UNMAP_CODEC.pack_into  # the whole request: flags too
_PAGE_MASK = PAGE_SIZE - 1


_ADDRS_AT, _pack_addrs = fields_packer(_DmaMap, "vaddr", "size")
_RANGE_AT, _pack_range = fields_packer(_DmaUnmap, "iova", "size")
_UNMAPPED_AT = getattr(_DmaUnmap, "size").offset
_unpack_u64 = struct.Struct("=Q").unpack_from
# issued through vfio._ioctl.inline_ioctl: the verbs check their requests themselves
_MAP_DMA = _ioctl.inline("VFIO_IOMMU_MAP_DMA", abi.VFIO_IOMMU_MAP_DMA, "container")
_UNMAP_DMA = _ioctl.inline("VFIO_IOMMU_UNMAP_DMA", abi.VFIO_IOMMU_UNMAP_DMA, "container")


def _map_args(iova: object, size: object, vaddr: object) -> tuple[int, int, int]:
    """map_dma's slow path: the arguments as plain ints, or why not."""
    return page_aligned(iova, "iova"), page_aligned(size, "size"), int(uint(vaddr, "vaddr", 64))


def _unmap_args(iova: object, size: object, flags: object) -> tuple[int, int, int]:
    """unmap_dma's slow path: the arguments as plain ints, or why not."""
    return int(uint(iova, "iova", 64)), int(uint(size, "size", 64)), int(uint(flags, "flags"))


class Container(Owned):
    """/dev/vfio/vfio: the legacy container of groups and their IOMMU."""

    kind = "container"
    chooses_iova = False
    """type1 has no IOVA allocator: a DMA buffer here needs its iova."""

    def __init__(self, path: str | Path = "/dev/vfio/vfio") -> None:
        super().__init__(open_rw(path, "container"))
        self.groups: list[Group[Any]] = []  # attached through Group.set_container
        self.iommu: int | None = None  # the model set_iommu set

    @property
    def api_version(self) -> int:
        """VFIO_GET_API_VERSION, asked once (it does not change)."""
        return self.answer("api_version", lambda: rq.vfio_get_api_version(self.fd))

    def check_extension(self, extension: int) -> int:
        """0 when unsupported, > 0 when supported (VFIO_TYPE1v2_IOMMU, VFIO_UNMAP_ALL...)."""
        return rq.vfio_check_extension(self.fd, uint(extension, "extension"))

    def supported_iommus(self) -> list[int]:
        """The IOMMU models (abi.IOMMU_MODELS) CHECK_EXTENSION says it has."""
        kinds = [abi.CONTAINER_EXTENSIONS[name] for name in abi.IOMMU_MODELS]
        return [k for k in kinds if self.check_extension(k)]

    def set_iommu(self, iommu: int | None = None) -> int:
        """Set the IOMMU model (default: the best the kernel offers: type1v2,
        type1, or on POWER sPAPR TCE v2, then v1); needs at least one group
        attached. Returns the model set."""
        if iommu is None:
            preferred = (
                abi.VFIO_TYPE1v2_IOMMU,
                abi.VFIO_TYPE1_IOMMU,
                abi.VFIO_SPAPR_TCE_v2_IOMMU,
                abi.VFIO_SPAPR_TCE_IOMMU,
            )
            iommu = next((k for k in preferred if self.check_extension(k)), None)
            if iommu is None:
                raise VfioError(
                    95, "VFIO_SET_IOMMU", self.kind, "neither a type1 nor a sPAPR TCE IOMMU"
                )
        try:
            rq.vfio_set_iommu(self.fd, uint(iommu, "iommu"))
        except VfioError as exc:
            if exc.errno == errno.EINVAL and self.iommu is not None:
                exc.add_hint(
                    f"this container's IOMMU model is already set (model {self.iommu}): only once"
                )
            elif exc.errno == errno.EINVAL and not self.groups:
                exc.add_hint(
                    "no group is attached to this container yet: "
                    "group.set_container(container) first, then set_iommu()"
                )
            raise
        self.iommu = iommu
        return iommu

    def iommu_info(self) -> IommuInfo:
        info, whole = negotiate(
            lambda b: rq.vfio_iommu_get_info(self.fd, b), abi.vfio_iommu_type1_info
        )
        capabilities = chain("iommu_type1_info", info, whole, scope_flag("iommu_type1_info"))
        ranges = find(capabilities, "VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE")
        avail = find(capabilities, "VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL")
        mig = find(capabilities, "VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION")
        return IommuInfo(
            abi.VfioIommuType1InfoFlags(info.flags),
            int(info.iova_pgsizes),
            [(int(r.start), int(r.end)) for r in ranges.tail] if ranges else [],
            int(avail.value.avail) if avail and avail.value is not None else None,
            mig.value if mig else None,
            capabilities,
        )

    def map_dma(
        self, iova: int, size: int, vaddr: int, *, readable: bool = True, writable: bool = True
    ) -> None:
        """Map `size` bytes at user address `vaddr` to device address `iova`.
        The memory must stay allocated while mapped: prefer dma_buffer()."""
        if (
            iova.__class__ is not int
            or size.__class__ is not int
            or vaddr.__class__ is not int
            or (iova | size) & _PAGE_MASK
        ):
            iova, size, vaddr = _map_args(iova, size, vaddr)
        if (fd := self._fd) < 0:
            fd = self.fd  # raises: this container is closed
        if readable and writable:
            buf = _MAP_READ_WRITE.copy()
        else:
            buf = _MAP_BLANKS[
                (_DMA_READ if readable else 0) | (_DMA_WRITE if writable else 0)
            ].copy()
        try:  # struct refuses what is negative or over 64 bits
            _pack_addrs(buf, _ADDRS_AT, vaddr, iova, size)
        except struct.error:
            _map_args(iova, size, vaddr)  # says which is out of range
            raise
        try:  # free while nothing is raised
            _ioctl.inline_ioctl(fd, _MAP_DMA, buf, True)
        except OSError as exc:
            error = _ioctl.inline_failed(exc, _MAP_DMA)
            self._hint_map(error, iova, size)
            raise error from exc

    def _hint_map(self, exc: VfioError, iova: int, size: int) -> None:
        """What the API knows of a refused map: no IOMMU model set yet, or an
        IOVA range the IOMMU does not offer (iommu_info().iova_ranges)."""
        if exc.errno not in (errno.EINVAL, errno.ENODEV):
            return
        if self.iommu is None:
            exc.add_hint(
                "this container has no IOMMU model yet: group.set_container(container), "
                "then container.set_iommu(), then map"
            )
            return
        try:
            ranges = self.iommu_info().iova_ranges
        except (VfioError, ValueError):
            return
        if ranges and not ranges_cover(ranges, iova, size):
            exc.add_hint(
                f"{span_text(iova, size)} is outside the IOVA ranges the IOMMU offers "
                f"({ranges_text(ranges)}: Container.iommu_info().iova_ranges)"
            )

    def unmap_dma(self, iova: int, size: int, flags: int = 0) -> int:
        """Unmap; returns the number of bytes the kernel unmapped."""
        if iova.__class__ is not int or size.__class__ is not int or flags.__class__ is not int:
            iova, size, flags = _unmap_args(iova, size, flags)
        if (fd := self._fd) < 0:
            fd = self.fd  # raises: this container is closed
        buf = _UNMAP_BLANK.copy()
        try:  # struct refuses what is negative or too wide
            if flags:
                _pack_unmap_into(buf, 0, _DMA_UNMAP_SIZE, flags, iova, size)
            else:
                _pack_range(buf, _RANGE_AT, iova, size)
        except struct.error:
            _unmap_args(iova, size, flags)  # says which is out of range
            raise
        try:
            _ioctl.inline_ioctl(fd, _UNMAP_DMA, buf, True)
        except OSError as exc:
            raise _ioctl.inline_failed(exc, _UNMAP_DMA) from exc
        unmapped: int = _unpack_u64(buf, _UNMAPPED_AT)[0]  # the size the kernel unmapped
        return unmapped

    def dma_buffer(
        self,
        size: int,
        iova: int | None,
        *,
        readable: bool = True,
        writable: bool = True,
        huge_pages: bool = False,
    ) -> DmaBuffer:
        """`size` bytes mapped at `iova` (given: type1 cannot choose one, and
        None is refused), of huge pages with huge_pages=True (DmaBuffer)."""
        return DmaBuffer(
            self, size, iova, readable=readable, writable=writable, huge_pages=huge_pages
        )


class GroupStatus(NamedTuple):
    flags: abi.VfioGroupStatusFlags

    @property
    def viable(self) -> bool:
        return bool(self.flags & abi.VFIO_GROUP_FLAGS_VIABLE)

    @property
    def container_set(self) -> bool:
        return bool(self.flags & abi.VFIO_GROUP_FLAGS_CONTAINER_SET)


class Group(Owned, Generic[_D]):
    """/dev/vfio/$GROUP: the devices behind one IOMMU group."""

    kind = "group"
    device_class: type[_D]

    def __init__(self, group: int | str | Path, *, noiommu: bool = False) -> None:
        """`group` is a number (/dev/vfio/N, or /dev/vfio/noiommu-N when that is
        the node) or a path. A no-IOMMU group opens only with noiommu=True."""
        path = Path(f"/dev/vfio/{group}" if isinstance(group, int) else group)
        if isinstance(group, int) and not path.exists():
            unsafe = path.with_name(f"noiommu-{group}")
            path = unsafe if unsafe.exists() else path
        if path.name.startswith("noiommu-") and not noiommu:
            raise NoiommuRefusedError(str(path))
        super().__init__(open_rw(path, "group"))
        self.container: Container | None = None  # set by set_container

    @staticmethod
    def number_of(device: str, sysfs: str | Path = "/sys/bus/pci/devices") -> int:
        """The IOMMU group number of a PCI device ("0000:00:03.0")."""
        path = Path(sysfs) / device
        if not path.is_dir():
            raise DeviceNotFoundError(device, str(path))
        try:
            return int(os.path.basename(os.readlink(path / "iommu_group")))
        except OSError:
            raise NoIommuGroupError(device, str(path / "iommu_group")) from None

    def group_status(self) -> GroupStatus:
        """VFIO_GROUP_GET_STATUS: viable, container set (each call asks the
        kernel: both change as devices and containers come and go)."""
        st = abi.vfio_group_status()
        st.argsz = ctypes.sizeof(st)
        rq.vfio_group_get_status(self.fd, st)
        return GroupStatus(abi.VfioGroupStatusFlags(st.flags))

    @property
    def status(self) -> GroupStatus:
        """Deprecated: group_status() (each call asks the kernel)."""
        deprecated("Group.status", "Group.group_status()")
        return self.group_status()

    def set_container(self, container: Container) -> None:
        if not isinstance(container, Container):
            raise TypeError(f"set_container takes a Container, not {type(container).__name__}")
        try:
            rq.vfio_group_set_container(self.fd, container.fd)
        except VfioError as exc:
            if exc.errno == errno.EINVAL and self._container_set():
                exc.add_hint(
                    "this group already has a container (a group joins one container): "
                    "unset_container() first"
                )
            raise
        self.container = container
        container.groups.append(self)

    def _container_set(self) -> bool:
        """What the kernel says (the group may have been attached without this object)."""
        try:
            return self.group_status().container_set
        except VfioError:
            return False

    def unset_container(self) -> None:
        """Only after every device fd of the group is closed."""
        try:
            rq.vfio_group_unset_container(self.fd)
        except VfioError as exc:
            if exc.errno == errno.EINVAL and not self._container_set():
                exc.add_hint("this group has no container to leave")
            raise
        if self.container is not None and self in self.container.groups:
            self.container.groups.remove(self)
        self.container = None

    def open_device(self, name: str) -> _D:
        """The device `name` of this group: a PCI address ("0000:00:03.0",
        or "00:03.0" for domain 0, as open_pci takes), or any name the
        driver knows (an mdev's UUID, "<bdf> vf_token=<uuid>")."""
        try:
            name = devices.normalize_bdf(name)
        except ValueError:
            pass  # not a PCI address: the kernel matches it as it is
        try:
            fd = rq.vfio_group_get_device_fd(self.fd, name)
        except VfioError as exc:
            if exc.errno == errno.EINVAL:
                if not self._container_set():
                    exc.add_hint(
                        "the group has no container: group.set_container(container) and "
                        "container.set_iommu() first"
                    )
                elif self.container is not None and self.container.iommu is None:
                    exc.add_hint("the container has no IOMMU model yet: container.set_iommu()")
            raise
        return self.device_class(fd, name)


def open_pci(
    device_class: type[_D],
    bdf: str,
    root: str | Path = "/",
    *,
    noiommu: bool = False,
    mode: IommuMode | None = None,
    container_class: type[Container] = Container,
    cdev: Callable[[devices.PciDevice, str | Path], _D] | None = None,
) -> _D:
    """The device at `bdf` in IOMMU mode `mode` (None: the legacy container
    with the best model set_iommu() finds), checked against sysfs first so
    that each way to fail says what to do; the device owns its group and
    container, or its iommufd (closing it closes them), and maps DMA there
    (`dma_space`). `cdev` opens mode "iommufd" from the device sysfs showed
    (vfio.api passes Device._open_pci_found, which checks what the cdev
    needs, when the headers have it). A device in a no-IOMMU group opens
    only with noiommu=True, and in no mode but None."""
    if mode is not None and mode not in IOMMU_MODES:
        raise ValueError(f"mode {mode!r} is not an IOMMU mode: one of {', '.join(IOMMU_MODES)}")
    found = devices.device(bdf, root)
    where = str(Path(root) / "sys/bus/pci/devices" / found.bdf)
    if found.iommu_group is None:
        raise NoIommuGroupError(found.bdf, where + "/iommu_group")
    if found.noiommu:  # refused unless asked for, and then in mode None only (the cdev too)
        noiommu_node = str(Path(root) / (found.group_node or "dev/vfio").lstrip("/"))
        if not noiommu:
            raise NoiommuRefusedError(noiommu_node)
        if mode is not None:
            hint = "a no-IOMMU group has no IOMMU to choose a mode of: open it with mode=None"
            raise IommuModeError(mode, noiommu_node, hint)
    if mode == "iommufd":
        if cdev is None:
            hint = "these headers have no VFIO cdev binding to iommufd: regenerate from Linux 6.6+"
            raise IommuModeError("iommufd", where, hint)
        return cdev(found, root)
    if not found.bound_to_vfio:
        raise NotBoundError(found.bdf, found.driver, where + "/driver")
    if found.group_node is None:
        node = str(Path(root) / "dev/vfio" / str(found.iommu_group))
        raise NodeError(2, node, "the group has no node: is vfio-pci loaded? (modprobe vfio-pci)")
    group_node = Path(root) / found.group_node.lstrip("/")
    node, iommu = _CONTAINER_MODES[mode] if mode is not None else ("dev/vfio/vfio", None)
    container_path = Path(root) / node
    if mode is not None and mode.startswith("iommufd") and not container_path.exists():
        raise IommuModeError(mode, str(container_path), _NO_IOMMUFD)
    container = container_class(container_path)
    try:
        group: Group[_D] = Group(group_node, noiommu=found.noiommu)
        try:
            _attach(group, container, found, root, mode, iommu)
            dev = device_class(rq.vfio_group_get_device_fd(group.fd, found.bdf), found.bdf)
        except BaseException:
            group.close()
            raise
    except BaseException:
        container.close()
        raise
    dev.dma_space = container
    dev.own(container.close)

    def leave() -> None:
        """Run first on close, after the device fd: the group leaves its
        container (VFIO_GROUP_UNSET_CONTAINER, as the selftests' cleanup
        does) before the container goes, then closes."""
        try:
            group.unset_container()
        except VfioError:
            pass  # closing the group's fd detaches it all the same
        finally:
            group.close()

    dev.own(leave)
    return dev


def _attach(
    group: Group[_D],
    container: Container,
    found: devices.PciDevice,
    root: str | Path,
    mode: str | None,
    iommu: int | None,
) -> None:
    if not group.group_status().viable:
        others = [
            f"{d.bdf} ({d.driver or 'no driver'})"
            for d in devices.iter_group(found, root)
            if d.driver and not devices.is_vfio_driver(d.driver)
        ]
        raise SetupError(
            16,
            found.group_node or "",
            f"group {found.iommu_group} is not viable: bind every device of it to vfio-pci"
            + (f" ({', '.join(others)})" if others else ""),
            "group",
        )
    group.set_container(container)
    if mode is not None and iommu is not None and not container.check_extension(iommu):
        hint = f"this container does not offer IOMMU model {iommu} (VFIO_CHECK_EXTENSION)"
        raise IommuModeError(mode, str(found.group_node), hint)
    container.set_iommu(abi.VFIO_NOIOMMU_IOMMU if found.noiommu else iommu)
