# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""The exceptions of the vfio package.

Every failed request raises `VfioError`, an OSError that names the request,
the kind of file descriptor it went to, and the errno; callers can catch
OSError and test `.errno` as with any system call. Getting to a VFIO fd
(a PCI address, sysfs, the /dev nodes) fails with a `SetupError` subclass
whose `.hint` says what to do. Malformed data from the
kernel (capability chains, tails) raises `DecodeError`; wrong arguments raise
TypeError or ValueError before any system call is made.
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Mapping
from typing import ClassVar

_ALIASES: dict[int, tuple[str, ...]] = {}
"""errno value -> every name it has (EOPNOTSUPP is ENOTSUP, EAGAIN EWOULDBLOCK)."""
for _name in dir(_errno):
    if _name.startswith("E") and isinstance(getattr(_errno, _name), int):
        _ALIASES[getattr(_errno, _name)] = _ALIASES.get(getattr(_errno, _name), ()) + (_name,)


class VfioError(OSError):
    """A VFIO/iommufd request failed: `.request`, `.fd_kind`, `.errno`;
    `.reason` is what the kernel means by this errno from this request (the
    overlay's table, "" when it has none) and `.hint` what the API knows of
    this particular misuse ("" when nothing)."""

    reasons: ClassVar[Mapping[str, Mapping[str, str]]] = {}
    """request -> errno name -> when the kernel returns it: the spec's table,
    installed by vfio.requests (generated) when it is imported."""

    def __init__(
        self, code: int, request: str, fd_kind: str, detail: str = "", hint: str = ""
    ) -> None:
        name = _errno.errorcode.get(code, str(code))
        article = "an" if fd_kind[:1] in "aeiou" else "a"
        message = f"{request} on {article} {fd_kind} fd failed: {name} ({os.strerror(code)})"
        table = self.reasons.get(request, {})
        said, reason = next(((n, table[n]) for n in _ALIASES.get(code, ()) if n in table), ("", ""))
        if detail:
            message += f": {detail}"
        if reason:
            message += f"; the kernel says {said} here when {reason}"
        if hint:
            message += f"; hint: {hint}"
        super().__init__(code, message)
        self.request = request
        self.fd_kind = fd_kind
        self.detail = detail
        self.reason = reason
        self.hint = hint

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self) -> tuple[type[VfioError], tuple[object, ...]]:
        return (type(self), (self.errno or 0, self.request, self.fd_kind, self.detail, self.hint))

    def add_hint(self, hint: str) -> None:
        """Say what the API knows of this misuse (then re-raise this error)."""
        self.hint = hint
        self.strerror = f"{self.strerror}; hint: {hint}"
        self.args = (self.errno, self.strerror)


class DecodeError(ValueError):
    """Data from the kernel does not decode: `.what` and `.offset` say where."""

    def __init__(self, what: str, offset: int, reason: str) -> None:
        super().__init__(f"{what} at offset {offset}: {reason}")
        self.what = what
        self.offset = offset
        self.reason = reason


class SetupError(VfioError):
    """Getting to a VFIO fd failed before any request: `.path` is the file
    that said so, `.hint` what to do about it."""

    def __init__(self, code: int, path: str, hint: str, fd_kind: str = "device") -> None:
        name = _errno.errorcode.get(code, str(code))
        OSError.__init__(self, code, f"{path}: {name} ({os.strerror(code)}): {hint}")
        self.request = "open"
        self.fd_kind = fd_kind
        self.path = path
        self.hint = hint
        self.detail = ""
        self.reason = ""
        self.init_args: tuple[object, ...] = (code, path, hint, fd_kind)

    def __reduce__(self) -> tuple[type[VfioError], tuple[object, ...]]:
        return (type(self), self.init_args)


class DeviceNotFoundError(SetupError):
    """No PCI device at that address."""

    def __init__(self, bdf: str, path: str) -> None:
        super().__init__(
            _errno.ENODEV, path, f"no PCI device {bdf}: `python -m vfio list` shows them"
        )
        self.init_args = (bdf, path)


class NotBoundError(SetupError):
    """The device is bound to another driver (or none), not to a vfio driver."""

    def __init__(self, bdf: str, driver: str | None, path: str) -> None:
        now = f"bound to {driver}" if driver else "bound to no driver"
        hint = f"{now}, not vfio-pci: python -m vfio bind {bdf}"
        super().__init__(_errno.ENODEV, path, hint)
        self.driver = driver
        self.init_args = (bdf, driver, path)


class NoIommuGroupError(SetupError):
    """The device is in no IOMMU group: the IOMMU is off (or absent)."""

    def __init__(self, bdf: str, path: str) -> None:
        hint = (
            f"{bdf} has no IOMMU group: turn the IOMMU on (intel_iommu=on / amd_iommu=on, "
            "firmware VT-d/AMD-Vi); `python -m vfio doctor` says more"
        )
        super().__init__(_errno.ENODEV, path, hint, "group")
        self.init_args = (bdf, path)


class NodeError(SetupError):
    """A /dev node of VFIO or iommufd cannot be opened (missing, no access, busy)."""


class NodeMissingError(NodeError, FileNotFoundError):
    """The node does not exist (a module not loaded, a device not bound)."""


class NodeAccessError(NodeError, PermissionError):
    """This user may not open the node."""


class NodeBusyError(NodeError):
    """Another process holds the node (EBUSY)."""


class NoiommuRefusedError(SetupError):
    """A no-IOMMU group (vfio's enable_unsafe_noiommu_mode) opened without
    saying so: nothing confines the device's DMA, so the API wants `noiommu=True`."""

    def __init__(self, path: str) -> None:
        hint = (
            "a no-IOMMU group: no IOMMU confines this device's DMA, which can read and write "
            "all of memory, and opening it taints the kernel; if that is what you want, pass "
            "noiommu=True (Group(..., noiommu=True), open_pci(..., noiommu=True), "
            "`python -m vfio info --noiommu`)"
        )
        super().__init__(_errno.EPERM, path, hint, "group")
        self.init_args = (path,)


class HugePagesError(SetupError):
    """A DMA buffer backed by huge pages cannot be had: the kernel has none
    (CONFIG_HUGETLBFS) or too few are free (/proc/sys/vm/nr_hugepages)."""

    def __init__(self, path: str, hint: str) -> None:
        super().__init__(_errno.ENOMEM, path, hint, "dma buffer")
        self.init_args = (path, hint)


class IommuModeError(SetupError):
    """The IOMMU mode asked of open_pci is one this kernel (or device) does
    not offer: `.mode` names it, the hint says what is missing."""

    def __init__(self, mode: str, path: str, hint: str) -> None:
        super().__init__(_errno.ENODEV, path, f"IOMMU mode {mode!r}: {hint}", "container")
        self.mode = mode
        self.init_args = (mode, path, hint)


class SysfsError(SetupError):
    """Writing sysfs (bind, unbind) failed."""

    def __init__(self, code: int, path: str, written: str, hint: str = "") -> None:
        super().__init__(code, path, hint or f"could not write {written!r}", "sysfs")
        self.written = written
        self.init_args = (code, path, written, hint)


class RefusedError(SetupError):
    """An action refused before it wrote anything (`python -m vfio unbind` of
    a device no vfio driver has): `.hint` is the reason, in one line."""

    def __init__(self, code: int, path: str, hint: str) -> None:
        super().__init__(code, path, hint, "sysfs")
        self.init_args = (code, path, hint)


class DeviceInUseError(RefusedError):
    """`bind` refused: the host uses the device (a network interface up or
    routed, a filesystem of it mounted); `.users` says what, one phrase each."""

    def __init__(self, bdf: str, users: list[str], path: str) -> None:
        hint = f"{bdf} is in use: {'; '.join(users)} (stop that first, or bind --force)"
        super().__init__(_errno.EBUSY, path, hint)
        self.users = users
        self.init_args = (bdf, users, path)
