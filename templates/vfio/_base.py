# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""What every object of vfio.api shares: argument checks, the owned file
descriptor, argsz negotiation and the capability chain of an INFO struct.

The shapes of vfio.api, one rule each:

- What a request answers is a NamedTuple (DeviceInfo, RegionInfo, IrqInfo,
  IommuInfo, GroupStatus, HwInfo, ...): immutable, so a cached answer cannot
  be changed under its cache; unpackable; its repr shows the field values.
  RegionInfo.index and IrqInfo.count are fields: they shadow tuple's index()
  and count() methods there. A value that is a sequence of its own items
  (DirtyBitmap: one bool per page) is a Record instead.
- An attribute without arguments is a property when it is answered from what
  the object already knows: local state, or an answer the first request
  kept (Device.info, Container.api_version: Owned.answer(), which close()
  empties, so a closed object answers nothing). It is a method when each
  call asks the kernel (Container.iommu_info(), Group.group_status(),
  Device.get_mig_state(), Iommufd.hw_info()), named after what it returns,
  or get_x() when it pairs with set_x(). The old property spellings
  (Group.status, Device.mig_state) still work and warn (DeprecationWarning).
- What hands out a file descriptor returns an object that owns it (closed by
  close(), at the end of a `with` block, or on garbage collection; fileno()
  for select/poll), never a bare int the caller must remember to close."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import struct
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from vfio import caps
from vfio.errors import (
    DecodeError,
    NodeAccessError,
    NodeBusyError,
    NodeError,
    NodeMissingError,
)

__all__ = ["MAX_ARGSZ", "PAGE_SIZE"]

PAGE_SIZE = mmap.PAGESIZE
MAX_ARGSZ = 1 << 20  # a kernel asking for more than this for an INFO struct is broken
_S = TypeVar("_S", bound=ctypes.Structure)
_T = TypeVar("_T")


def uint(value: object, what: str, bits: int = 32) -> int:
    """An unsigned integer argument, checked before it reaches a C field."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{what} {value} is out of range for a {bits}-bit field")
    return value


def fields_packer(cls: Any, first: str, last: str) -> tuple[int, Callable[..., None]]:
    """Where field `first` of `cls` starts, and a pack_into for the fields
    `first` to `last` from there (C's offsets and sizes; gaps as pad bytes)."""
    names = [field[0] for field in cls._fields_]
    start = at = getattr(cls, first).offset
    form = "="
    for name in names[names.index(first) : names.index(last) + 1]:
        field = getattr(cls, name)
        form += "x" * (field.offset - at) + {4: "I", 8: "Q"}[field.size]
        at = field.offset + field.size
    return start, struct.Struct(form).pack_into


def ranges_cover(ranges: Sequence[tuple[int, int]], iova: int, length: int) -> bool:
    """Whether [iova, iova + length) lies inside one of the inclusive (start, last) ranges."""
    return any(a <= iova and iova + length - 1 <= b for a, b in ranges)


def span_text(iova: int, length: int) -> str:
    """[iova, iova + length) as a hint prints it."""
    return f"[{iova:#x}, {iova + length:#x})"


def ranges_text(ranges: Sequence[tuple[int, int]]) -> str:
    """Inclusive IOVA ranges as a hint prints them."""
    return ", ".join(f"[{a:#x}, {b:#x}]" for a, b in ranges) or "none"


def page_aligned(value: object, what: str) -> int:
    """A 64-bit argument that must be a multiple of the page size."""
    checked = int(uint(value, what, 64))  # a plain int, from an int subclass too
    if checked % PAGE_SIZE:
        raise ValueError(f"{what} {checked:#x} is not a multiple of the page size ({PAGE_SIZE:#x})")
    return checked


class Closing:
    """close() at the end of a `with` block (on error paths too), written
    once for every object that owns something."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Owned(Closing):
    """Owns one file descriptor and closes it exactly once; keeps what the
    kernel answered on it that cannot change while it is open (answer())."""

    kind = "fd"

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._answers: dict[object, Any] = {}

    def answer(self, key: object, ask: Callable[..., _T], *args: Any) -> _T:
        """`ask(*args)`'s value (never None), asked once per open fd and kept
        under `key`. The one way a kept answer ends: close() drops them all,
        so a closed fd answers nothing, from a cache neither (ask() finds
        the fd closed: ValueError)."""
        answers = self._answers
        known = answers.get(key)
        if known is None:
            known = ask(*args)
            if answers is self._answers and self._fd >= 0:  # not closed meanwhile (a thread)
                answers[key] = known
        return known

    @property
    def fd(self) -> int:
        if self._fd < 0:
            raise ValueError(f"this {self.kind} is closed")
        return self._fd

    def fileno(self) -> int:
        return self.fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        self._answers = {}
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} fd={self._fd}>"


class ObjectSpace(Protocol):
    """Where an object id lives (an Iommufd): its fd, and IOMMU_DESTROY."""

    @property
    def fd(self) -> int: ...

    @property
    def closed(self) -> bool: ...

    def destroy(self, object_id: int) -> None: ...


class OwnedId(Closing):
    """Owns one object id of an iommufd and destroys it (IOMMU_DESTROY)
    exactly once. A destroy the kernel refuses (EBUSY: another object still
    uses it) raises and leaves the object open, so close() can be retried;
    once the iommufd is closed, its objects are gone with it."""

    kind = "object"

    def __init__(self, space: ObjectSpace, object_id: int) -> None:
        self.iommufd = space
        self._id = object_id
        self._open = True

    @property
    def id(self) -> int:
        """The object's id; ValueError once closed (no request goes to the kernel)."""
        if self.closed:
            raise ValueError(f"this {self.kind} is closed")
        return self._id

    @property
    def closed(self) -> bool:
        return not self._open or self.iommufd.closed

    def close(self) -> None:
        if self._open and not self.iommufd.closed:
            self.iommufd.destroy(self._id)
        self._open = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self._id}{' closed' if self.closed else ''}>"


class OwnedIdFd(OwnedId):
    """An iommufd object that also hands out a file descriptor (a fault
    queue, a vEVENTQ): close() closes the fd, then destroys the id, as the
    kernel's selftests do; fileno() makes it usable with select/poll."""

    def __init__(self, space: ObjectSpace, object_id: int, fd: int) -> None:
        super().__init__(space, object_id)
        self._file = Owned(fd)  # closes the fd on garbage collection too
        self._file.kind = self.kind

    @property
    def fd(self) -> int:
        return self._file.fd

    def fileno(self) -> int:
        return self._file.fd

    def close(self) -> None:
        self._file.close()
        super().close()


MISSING_HINTS = {
    # what to do when a VFIO or iommufd node is missing, by its kind
    "container": "VFIO is not loaded: modprobe vfio-pci vfio_iommu_type1",
    "group": "no such group node: bind a device of the group to vfio-pci "
    "(python -m vfio bind BDF); python -m vfio list shows the groups",
    "iommufd": "no /dev/iommu: the kernel needs CONFIG_IOMMUFD (Linux 6.2 or later; "
    "modprobe iommufd when it is a module)",
    "device": "no such VFIO cdev: bind the device to vfio-pci (python -m vfio bind BDF); "
    "the cdev needs CONFIG_VFIO_DEVICE_CDEV",
}


def open_rw(path: str | Path, kind: str = "device") -> int:
    """A VFIO or iommufd node opened read-write, close-on-exec; a failure is
    a NodeError that says what to do."""
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        code = exc.errno or 0
        if code == errno.ENOENT:
            raise NodeMissingError(
                code, str(path), MISSING_HINTS.get(kind, "no such file"), kind
            ) from exc
        if code in (errno.EACCES, errno.EPERM):
            hint = f"no access: run as root, or give this user the {kind} node (chown/udev rule)"
            raise NodeAccessError(code, str(path), hint, kind) from exc
        if code == errno.EBUSY:
            hint = f"the {kind} is in use by another process (a VM? another python -m vfio?)"
            raise NodeBusyError(code, str(path), hint, kind) from exc
        raise NodeError(code, str(path), f"cannot open the {kind} node", kind) from exc


def negotiate(
    call: Callable[[bytearray], object], cls: type[_S], prepare: Callable[[_S], None] | None = None
) -> tuple[_S, bytes]:
    """argsz "grow": call with the struct's size; while the kernel answers
    with a larger argsz (a capability chain did not fit), call again with a
    buffer that big. Returns the fixed struct and the whole buffer."""
    size = ctypes.sizeof(cls)
    for _ in range(8):
        buf = bytearray(size)
        head = cls.from_buffer(buf)
        head.argsz = size
        if prepare is not None:
            prepare(head)
        del head
        call(buf)
        wanted = int(cls.from_buffer(buf).argsz)
        if wanted <= size:
            return cls.from_buffer_copy(bytes(buf[: ctypes.sizeof(cls)])), bytes(buf)
        if wanted > MAX_ARGSZ:
            raise DecodeError(cls.__name__, 0, f"the kernel asks for argsz {wanted}")
        size = wanted
    raise DecodeError(cls.__name__, 0, "argsz kept growing")


def chain(scope: str, info: ctypes.Structure, whole: bytes, flag: int) -> list[caps.Capability]:
    """The capabilities of an INFO buffer, when its flags say it has some."""
    if not int(info.flags) & flag:
        return []
    return caps.walk(scope, whole, int(info.cap_offset))


def scope_flag(scope: str) -> int:
    """The flag that says an INFO struct carries a chain (0: this release's
    headers have no chain there)."""
    known = caps.SCOPES.get(scope)
    return known.flag if known is not None else 0


def deprecated(old: str, new: str) -> None:
    """Warn that `old` is the former spelling of `new` (at the caller's line)."""
    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


def find(capabilities: Sequence[caps.Capability], name: str) -> caps.Capability | None:
    return next((c for c in capabilities if c.name == name), None)


class Record:
    """A value that is not a tuple because it is a sequence of its own items
    (DirtyBitmap's pages): field-value repr and equality, no unpacking."""

    __slots__: tuple[str, ...] = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__
        )

    __hash__ = None  # type: ignore[assignment]
